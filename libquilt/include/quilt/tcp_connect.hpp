// A plain TCP connect with a deadline, for finding out what a library
// that keeps no errno (CAF's middleman) ran into.
#pragma once

#include <cstdint>
#include <string>

namespace quilt {

/// Connects to host:port within `timeout_ms`. Returns the socket
/// (non-blocking, close-on-exec; the caller closes it), or -1 with `why`
/// set: "cannot resolve HOST: ..." or the socket's error in lower-case
/// words ("connection refused", "connection timed out").
int tcp_connect(const std::string& host, uint16_t port, int timeout_ms,
                std::string& why);

} // namespace quilt

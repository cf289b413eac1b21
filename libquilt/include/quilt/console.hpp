// Publishing a console: what quiltd and quilt-sim share.
#pragma once

#include <cstdint>
#include <string>

namespace quilt {

/// Tries to bind host:port before anything starts: CAF's publish error does
/// not say why a port could not be opened, this does ("Address already in
/// use"). Empty when the port is free.
std::string console_port_problem(const std::string& host, uint16_t port);

/// Why a TCP connection to host:port fails, in plain lower-case words
/// ("connection refused", "no route to host", "timed out"), waiting at most
/// `timeout_ms`: CAF's connect error does not keep the reason. Empty when
/// a connection can be made.
std::string tcp_connect_problem(const std::string& host, uint16_t port,
                                int timeout_ms);

} // namespace quilt

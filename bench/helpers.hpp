// quilt-bench's helper processes (hidden subcommands of the same program,
// started with child::spawn) and the link layer's sending side.
//
//   __relay            raw ROUTER -> DEALER forwarder, frames untouched; the
//                      end of a chain turns a ping around as a pong (echo)
//   __raw-node PORT    the least a process can do to answer a ping: bind,
//                      dial back on server_connect, pong (startup baseline)
//   __link-recv raw|quilt PORT N TIMEOUT_S
//                      counts N messages on a raw ROUTER or a Quilt listener
//   __memory raw|quilt N
//                      N idle raw socket rings or N idle Quilt nodes in one
//                      process, prints RSS before and after
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

/// Runs the helper mode args[0] (one of the above); returns the exit status.
int run_helper(const std::vector<std::string>& args);

/// Sends `n` bench messages to 127.0.0.1:port from a raw DEALER (raw) or a
/// Quilt zmq_transport link (quilt), as fast as the link takes them. Returns
/// when they are queued; `wait_done` is called before the sockets close.
template <class F>
void link_send(bool quilt, uint16_t port, uint64_t n,
               const std::string& payload, F wait_done);

/// Non-template core of link_send.
void link_send_impl(bool quilt, uint16_t port, uint64_t n,
                    const std::string& payload, void (*wait_done)(void*),
                    void* arg);

template <class F>
void link_send(bool quilt, uint16_t port, uint64_t n,
               const std::string& payload, F wait_done) {
  link_send_impl(
      quilt, port, n, payload, [](void* f) { (*static_cast<F*>(f))(); },
      &wait_done);
}

} // namespace bench

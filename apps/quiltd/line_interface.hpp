// quiltd's line interface, the successor of the original's user prompt.
#pragma once

#include <atomic>
#include <ostream>
#include <sstream>

#include <caf/actor_system.hpp>

#include "quilt/actors.hpp"
#include "quilt/config.hpp"

namespace quilt {

/// Terminal output written in one piece when the statement ends: the line
/// interface (its own thread) and the event printer (a CAF thread) both
/// write to stdout, and a reply must not be cut in two by an event line
/// ("pong from b in peer b is up"), which the harness cannot read.
class terminal_out {
public:
  terminal_out() = default;
  terminal_out(const terminal_out&) = delete;
  terminal_out& operator=(const terminal_out&) = delete;
  ~terminal_out();

  template <class T>
  terminal_out& operator<<(const T& x) {
    buf_ << x;
    return *this;
  }

  /// std::endl, std::flush.
  terminal_out& operator<<(std::ostream& (*f)(std::ostream&)) {
    f(buf_);
    return *this;
  }

  /// std::left, std::right.
  terminal_out& operator<<(std::ios_base& (*f)(std::ios_base&)) {
    f(buf_);
    return *this;
  }

private:
  std::ostringstream buf_;
};

/// Reads commands from stdin until `/quit`, end of input or `stop`, and
/// performs them on `node`. Runs on its own thread, never a CAF one.
void run_line_interface(caf::actor_system& sys, node_actor node,
                        const node_config& cfg, const std::atomic<bool>& stop);

} // namespace quilt

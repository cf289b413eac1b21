// The library's one clock. Every deadline, timer and timestamp of the
// protocol, the transports and the simulator is a point of it: the
// simulator drives protocol code with points of its own virtual time, so
// nothing below the node may read the clock itself where it can be given
// `now`. Wall-clock time (for logs and the console's timestamps) is
// std::chrono::system_clock, named where it is used.
#pragma once

#include <chrono>

namespace quilt {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;

} // namespace quilt

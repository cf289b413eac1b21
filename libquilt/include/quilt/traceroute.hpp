// Traceroute: pings with ttl 1, 2, 3... whose `error ttl_expired` replies
// name each hop (SPEC §6).
#pragma once

#include <chrono>
#include <string>

#include <caf/scoped_actor.hpp>

#include "quilt/actors.hpp"

namespace quilt {

/// Records the answer `r` to the ping sent with ttl `ttl` in `result`, and
/// returns false when the trace is over: the target answered, there is no
/// route, or `silent` (consecutive silent hops, updated here) reached 3.
/// Shared by every way of sending the pings (a blocking console, the
/// simulator's probe actors).
bool trace_step(traceroute_result& result, uint32_t ttl, const ping_result& r,
                int& silent);

/// Traces the path from `node` to `target`: stops at the target, after
/// `max_hops`, at an `unreachable`, or after 3 silent hops in a row. Waits
/// up to `per_hop` for each answer. Blocks the calling thread, so call it
/// from a program's own thread, never from an actor.
traceroute_result traceroute(caf::scoped_actor& self, const node_actor& node,
                             const std::string& target, uint8_t max_hops,
                             std::chrono::milliseconds per_hop
                             = std::chrono::seconds(2));

} // namespace quilt

#include "quilt/traceroute.hpp"

#include <caf/all.hpp>

namespace quilt {

bool trace_step(traceroute_result& result, uint32_t ttl, const ping_result& r,
                int& silent) {
  trace_hop hop;
  hop.hop = ttl;
  bool more = true;
  if (r.replied) {
    hop.node = r.from;
    hop.rtt_us = r.rtt_us;
    result.reached = true;
    more = false;
  } else if (r.error == "ttl_expired" && !r.from.empty()) {
    hop.node = r.from;
    hop.rtt_us = r.rtt_us;
  } else if (r.error != "timeout") {
    // unreachable (here or on the way), or a bad target: no further hop
    // will answer differently.
    if (r.from.empty())
      return false; // no route from here at all: no hop to list
    hop.node = r.from;
    hop.rtt_us = r.rtt_us;
    more = false;
  }
  silent = hop.node ? 0 : silent + 1;
  result.hops.push_back(std::move(hop));
  return more && silent < 3;
}

traceroute_result traceroute(caf::scoped_actor& self, const node_actor& node,
                             const std::string& target, uint8_t max_hops,
                             std::chrono::milliseconds per_hop) {
  traceroute_result result;
  result.target = target;
  int silent = 0;
  for (uint32_t ttl = 1; ttl <= max_hops; ++ttl) {
    ping_result answer;
    answer.error = "timeout";
    self
      ->request(node, per_hop + std::chrono::seconds(1), ping_atom::value,
                target, static_cast<uint8_t>(ttl),
                static_cast<uint32_t>(per_hop.count()))
      .receive([&](const ping_result& r) { answer = r; },
               [&](const caf::error&) { answer.error = "failed"; });
    if (!trace_step(result, ttl, answer, silent))
      break;
  }
  return result;
}

} // namespace quilt

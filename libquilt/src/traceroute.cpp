#include "quilt/traceroute.hpp"

#include <caf/all.hpp>

namespace quilt {

traceroute_result traceroute(caf::scoped_actor& self, const node_actor& node,
                             const std::string& target, uint8_t max_hops,
                             std::chrono::milliseconds per_hop) {
  traceroute_result result;
  result.target = target;
  int silent = 0;
  for (uint32_t ttl = 1; ttl <= max_hops; ++ttl) {
    trace_hop hop;
    hop.hop = ttl;
    bool stop = false;
    bool no_hop = false;
    self
      ->request(node, per_hop + std::chrono::seconds(1), ping_atom::value,
                target, static_cast<uint8_t>(ttl),
                static_cast<uint32_t>(per_hop.count()))
      .receive(
        [&](const ping_result& r) {
          if (r.replied) {
            hop.node = r.from;
            hop.rtt_us = r.rtt_us;
            result.reached = true;
            stop = true;
          } else if (r.error == "ttl_expired" && !r.from.empty()) {
            hop.node = r.from;
            hop.rtt_us = r.rtt_us;
          } else if (r.error == "timeout") {
            // silent hop
          } else {
            // unreachable (here or on the way), or a bad target: no further
            // hop will answer differently.
            if (r.from.empty()) {
              // No route from here at all: there is no hop to list.
              stop = true;
              no_hop = true;
              return;
            }
            hop.node = r.from;
            hop.rtt_us = r.rtt_us;
            stop = true;
          }
        },
        [&](const caf::error&) { stop = true; });
    if (no_hop)
      break;
    silent = hop.node ? 0 : silent + 1;
    result.hops.push_back(std::move(hop));
    if (stop || silent >= 3)
      break;
  }
  return result;
}

} // namespace quilt

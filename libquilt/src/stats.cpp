#include "quilt/stats.hpp"

namespace quilt {

node_stats& node_stats::operator+=(const node_stats& other) {
  rx += other.rx;
  tx += other.tx;
  forwarded += other.forwarded;
  delivered += other.delivered;
  dropped_invalid += other.dropped_invalid;
  dropped_duplicate += other.dropped_duplicate;
  dropped_loop += other.dropped_loop;
  dropped_ttl += other.dropped_ttl;
  dropped_unroutable += other.dropped_unroutable;
  dropped_queue_full += other.dropped_queue_full;
  dropped_overload += other.dropped_overload;
  name_conflicts += other.name_conflicts;
  rejected_auth += other.rejected_auth;
  rejected_dial += other.rejected_dial;
  dropped_spoofed += other.dropped_spoofed;
  broadcast_tx += other.broadcast_tx;
  retransmitted += other.retransmitted;
  not_delivered += other.not_delivered;
  for (size_t i = 0; i < tx_by_command.size(); ++i)
    tx_by_command[i] += other.tx_by_command[i];
  return *this;
}

std::vector<std::pair<const char*, uint64_t>>
stats_fields(const node_stats& x) {
  return {
    {"rx", x.rx},
    {"tx", x.tx},
    {"forwarded", x.forwarded},
    {"delivered", x.delivered},
    {"dropped_invalid", x.dropped_invalid},
    {"dropped_duplicate", x.dropped_duplicate},
    {"dropped_loop", x.dropped_loop},
    {"dropped_ttl", x.dropped_ttl},
    {"dropped_unroutable", x.dropped_unroutable},
    {"dropped_queue_full", x.dropped_queue_full},
    {"dropped_overload", x.dropped_overload},
    {"name_conflicts", x.name_conflicts},
    {"rejected_auth", x.rejected_auth},
    {"rejected_dial", x.rejected_dial},
    {"dropped_spoofed", x.dropped_spoofed},
    {"retransmitted", x.retransmitted},
    {"not_delivered", x.not_delivered},
  };
}

} // namespace quilt

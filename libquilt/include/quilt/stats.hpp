// Counters of SPEC §8 `stats`, kept separately by each stage of a node
// (processors, protocol, outgoing links) and summed on request.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "quilt/message.hpp"

namespace quilt {

/// One node's (or one stage's) counters.
struct node_stats {
  uint64_t rx = 0;
  uint64_t tx = 0;
  uint64_t forwarded = 0;
  uint64_t delivered = 0;
  uint64_t dropped_invalid = 0;
  uint64_t dropped_duplicate = 0;
  uint64_t dropped_loop = 0;
  uint64_t dropped_ttl = 0;
  uint64_t dropped_unroutable = 0;
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_overload = 0;
  uint64_t name_conflicts = 0;
  /// Connections refused in the CURVE handshake (SPEC §10).
  uint64_t rejected_auth = 0;
  /// server_connects not dialled back under the dial policy (SPEC §10).
  uint64_t rejected_dial = 0;
  /// Routing messages from clients, and client messages that speak for a
  /// node of the mesh (SPEC §12).
  uint64_t dropped_spoofed = 0;
  /// Copies of broadcasts sent (originated or forwarded): divided by the
  /// number of broadcasts it measures the cost of broadcasting.
  uint64_t broadcast_tx = 0;
  /// Copies a node sent again because they were not acknowledged: unicast
  /// messages waiting for their msg_ack (SPEC §14), and routing's own.
  uint64_t retransmitted = 0;
  /// Unicast messages this node originated and gave up on: no msg_ack
  /// within limits.delivery_timeout_ms (SPEC §14).
  uint64_t not_delivered = 0;
  /// Transmissions by command, indexed by quilt::command.
  std::array<uint64_t, command_count> tx_by_command{};


  node_stats& operator+=(const node_stats& other);
};

/// The counters of SPEC §8 `stats`, named and in their documented order.
std::vector<std::pair<const char*, uint64_t>> stats_fields(const node_stats& x);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_stats& x) {
  return f(x.rx, x.tx, x.forwarded, x.delivered, x.dropped_invalid,
           x.dropped_duplicate, x.dropped_loop, x.dropped_ttl,
           x.dropped_unroutable, x.dropped_queue_full, x.dropped_overload,
           x.name_conflicts, x.rejected_auth, x.rejected_dial, x.dropped_spoofed,
           x.broadcast_tx, x.retransmitted, x.not_delivered, x.tx_by_command);
}

} // namespace quilt

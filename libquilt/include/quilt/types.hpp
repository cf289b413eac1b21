// Value types exchanged between a node's actors and with its users.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/none.hpp>

#include "quilt/events.hpp"
#include "quilt/message.hpp"
#include "quilt/link.hpp"
#include "quilt/protocol.hpp"

namespace quilt {

/// A validated message and the neighbour it came from.
struct decoded {
  std::string prev_hop; ///< Empty for a foreign client.
  message msg;
  connection_info_ptr via; ///< Where a server_connect's connection came from.
};

using decoded_batch = std::vector<decoded>;

/// Messages handed towards a node's protocol actor and not yet handled by
/// it; past a limit the node refuses more (dropped_overload), which bounds
/// the protocol actor's mailbox. Each message counted here is held by a
/// backlog_credit that travels with its batch, so the count comes back down
/// however the batch ends, also in the mailbox of a protocol actor that
/// failed: nothing ever resets it. Thread-safe.
class message_backlog {
public:
  int64_t pending() const {
    return pending_.load(std::memory_order_relaxed);
  }

  /// Messages whose credit went without being settled and that no other
  /// credit counted: lost with the mailbox of an actor that stopped.
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }

  void take(int64_t n) { pending_.fetch_add(n, std::memory_order_relaxed); }

  void give_back(int64_t n) {
    pending_.fetch_sub(n, std::memory_order_relaxed);
  }

  void count_lost(int64_t n) {
    lost_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }

private:
  std::atomic<int64_t> pending_{0};
  std::atomic<uint64_t> lost_{0};
};

using backlog_credit = counted_credit<message_backlog>;

/// Counts `n` messages into `backlog`; the credit gives them back. With
/// `count_loss` false, a loss is counted by another credit of the batch.
inline backlog_credit take_backlog(const std::shared_ptr<message_backlog>& b,
                                   int64_t n, bool count_loss) {
  b->take(n);
  return backlog_credit{b, n, count_loss};
}

/// Raw messages on their way from the listener to a processor, holding
/// their share of the listener's flow until they are done with.
struct inbound_frames {
  inbound_batch msgs;
  flow_credit credit;
};

/// Validated messages on their way to the protocol actor, likewise, and
/// holding their place in its backlog (a loss is counted by `credit`).
struct decoded_frames {
  decoded_batch msgs;
  flow_credit credit;
  backlog_credit backlog;
};

/// Typed messages from one node over a direct link (the direct transport):
/// no frames, no decoding. `in_flight` is the sending link's count of
/// messages on their way, released when the receiver takes the batch, or
/// when the batch is destroyed untaken (a receiver that stopped), so a dead
/// receiver never shrinks its senders' room for good. Once admitted, it
/// holds its place in the protocol actor's backlog; lost with a failed
/// protocol actor, its messages count as lost there (dropped_overload).
struct direct_batch {
  std::string from;
  message_batch msgs;
  std::shared_ptr<std::atomic<uint64_t>> in_flight;
  uint64_t held = 0; ///< What this batch counts in `in_flight`.
  backlog_credit backlog;
  /// The messages' bytes in the process's and the link's budgets: given
  /// back once the receiving protocol actor handled them (or dropped).
  bytes_credit bytes;

  direct_batch() = default;
  direct_batch(std::string f, message_batch m,
               std::shared_ptr<std::atomic<uint64_t>> counter,
               bytes_credit b = {})
    : from(std::move(f)), msgs(std::move(m)), in_flight(std::move(counter)),
      held(msgs.size()), bytes(std::move(b)) {
  }
  direct_batch(direct_batch&&) = default;
  direct_batch& operator=(direct_batch&& x) noexcept {
    release();
    from = std::move(x.from);
    msgs = std::move(x.msgs);
    in_flight = std::move(x.in_flight);
    held = x.held;
    backlog = std::move(x.backlog);
    bytes = std::move(x.bytes);
    return *this;
  }
  /// A copy (CAF may make one) holds nothing: the original releases.
  direct_batch(const direct_batch& x)
    : from(x.from), msgs(x.msgs), in_flight(), held(0), backlog(), bytes() {
  }
  direct_batch& operator=(const direct_batch&) = delete;
  ~direct_batch() { release(); }

  /// Gives the room back to the sending link.
  void release() {
    if (in_flight) {
      *in_flight -= held;
      in_flight.reset();
    }
  }
};

/// The outcome of a ping request.
struct ping_result {
  bool replied = false;
  std::string from;     ///< Who answered: the target, or the hop of an error.
  uint64_t rtt_us = 0;
  std::string error;    ///< "timeout", "unreachable", "ttl_expired", ...
};

/// The outcome of a send request, or of waiting for its confirmation
/// (SPEC §14): `delivered` and `rtt_us` once the destination confirmed it;
/// `error` "not_delivered" when the node gave up on it, "not_confirmed" when
/// nothing waits for that id (a broadcast, confirmation off, an unknown id).
struct send_result {
  bool accepted = false;
  uint64_t id = 0;
  std::string error;
  bool delivered = false;
  uint64_t rtt_us = 0;
};

/// A node's view of the mesh (console `topology`).
struct mesh_topology {
  std::vector<std::string> nodes;
  std::vector<std::pair<std::string, std::string>> links;
};

/// The outcome of a traceroute: one entry per ttl tried.
struct trace_hop {
  uint32_t hop = 0;
  std::optional<std::string> node; ///< Empty when the hop stayed silent.
  std::optional<uint64_t> rtt_us;
};

struct traceroute_result {
  std::string target;
  bool reached = false;
  std::vector<trace_hop> hops;
};

/// One node of a simulation (console `nodes`), and what a simulation checks
/// convergence with: route count and hop sum against its own shortest paths.
struct node_summary {
  std::string name;
  uint32_t peers_up = 0;
  uint32_t routes = 0;
  uint64_t hop_sum = 0; ///< Sum of the hop counts of every route.
};

/// A node's identity and summary (console `status`).
struct node_status {
  std::string name;
  std::string listen;
  uint32_t processors = 0;
  uint64_t uptime_ms = 0;
  uint32_t peers_up = 0;
  uint32_t routes = 0;
  std::string version;
  uint32_t default_ttl = 32; ///< Hops a console traceroute may take.
};


template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message& x) {
  return f(caf::meta::type_name("quilt::message"), x.destination, x.cmd,
           x.origin, x.id, x.ttl, x.args, x.wire);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decoded& x) {
  return f(caf::meta::type_name("quilt::decoded"), x.prev_hop, x.msg);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping_result& x) {
  return f(caf::meta::type_name("quilt::ping_result"), x.replied, x.from,
           x.rtt_us, x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, send_result& x) {
  return f(caf::meta::type_name("quilt::send_result"), x.accepted, x.id,
           x.error, x.delivered, x.rtt_us);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("quilt::node_status"), x.name, x.listen,
           x.processors, x.uptime_ms, x.peers_up, x.routes, x.version,
           x.default_ttl);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_event& x) {
  return f(caf::meta::type_name("quilt::node_event"), x.kind, x.ts_ms,
           x.peer, x.destination, x.next_hop, x.hops, x.from, x.to, x.id,
           x.text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_batch& x) {
  return f(caf::meta::type_name("quilt::event_batch"), x.events, x.dropped);
}

/// CAF 0.17 cannot serialize std::optional: carry it as a flag and a value.
struct optional_u64_view {
  bool has = false;
  uint64_t value = 0;
  explicit optional_u64_view(const std::optional<uint64_t>& x)
    : has(x.has_value()), value(x.value_or(0)) {
  }
  std::optional<uint64_t> get() const {
    return has ? std::optional<uint64_t>{value} : std::nullopt;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_info& x) {
  optional_u64_view rtt{x.rtt_us};
  optional_u64_view seen{x.last_seen_ms};
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.rtt_us = rtt.get();
    x.last_seen_ms = seen.get();
    return caf::none;
  });
  return f(caf::meta::type_name("quilt::peer_info"), x.name, x.address,
           x.port, x.state, rtt.has, rtt.value, seen.has, seen.value,
           x.configured, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_summary& x) {
  return f(caf::meta::type_name("quilt::node_summary"), x.name, x.peers_up,
           x.routes, x.hop_sum);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_entry& x) {
  return f(caf::meta::type_name("quilt::route_entry"), x.destination,
           x.next_hop, x.hops);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mesh_topology& x) {
  return f(caf::meta::type_name("quilt::mesh_topology"), x.nodes, x.links);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbox_entry& x) {
  return f(caf::meta::type_name("quilt::inbox_entry"), x.from, x.to, x.id,
           x.text, x.received_ms);
}

} // namespace quilt

namespace quilt {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbound& x) {
  return f(caf::meta::type_name("quilt::inbound"), x.peer, x.req, x.packed);
}

} // namespace quilt

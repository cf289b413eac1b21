// Internal: what the actors of one node share. No public header includes
// this file. It holds configuration and counters only; the actors find each
// other through the handles their supervisor hands them, never through here.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "quilt/actors.hpp"
#include "quilt/config.hpp"
#include "quilt/link.hpp"
#include "quilt/node.hpp"

namespace quilt {

/// Counters that several actors of a node bump; summed into `stats`.
struct shared_counters {
  std::atomic<uint64_t> rx{0};
  std::atomic<uint64_t> dropped_invalid{0};
  std::atomic<uint64_t> dropped_overload{0};
  std::atomic<uint64_t> dropped_queue_full{0};
};

/// One node's configuration, transport and counters.
struct node_context {
  caf::actor_system& sys;
  node_config cfg;
  node_options opts;
  std::shared_ptr<transport> net;
  listener_id listener = 0;
  /// When the node started, on its actor system's clock.
  time_point started;
  /// Unix time is the actor clock plus this.
  std::chrono::microseconds unix_offset{0};
  shared_counters counters;
  /// The listener's own counters (CURVE refusals), bumped by the transport.
  std::shared_ptr<listener_counters> listen_counters =
    std::make_shared<listener_counters>();
  /// What the listener handed over and the node has not finished with.
  std::shared_ptr<inbound_flow> inbound;
  /// Messages handed towards the protocol actor and not yet handled by it,
  /// each held by a credit in its batch (never reset: see message_backlog).
  /// Shared: a batch may outlive the node's actors in a mailbox.
  std::shared_ptr<message_backlog> backlog
    = std::make_shared<message_backlog>();
  /// The bytes of messages in flight that this node shares with every
  /// node of its process (node_options::budget, else byte_budget::process).
  std::shared_ptr<byte_budget> budget;

  /// Each link's byte budget: what its messages on their way may hold
  /// (limits.queue_limit counts them, this weighs them).
  int64_t link_bytes() const;

  node_context(caf::actor_system& s, node_config c, node_options o,
               std::shared_ptr<transport> n);
};

using node_context_ptr = std::shared_ptr<node_context>;

/// Spawns the node's incoming link actor.
incoming_link_actor spawn_incoming_link(const node_context_ptr& node);

/// Spawns a processor that hands valid messages to `protocol`.
processor_actor spawn_processor(const node_context_ptr& node,
                                protocol_actor protocol);

/// Spawns the protocol actor, which asks `supervisor` for its links.
protocol_actor spawn_protocol(const node_context_ptr& node,
                              supervisor_actor supervisor);

/// Spawns an outgoing peer actor that sends over `link`.
peer_link_actor spawn_peer_link(const node_context_ptr& node,
                                outgoing_link_ptr link,
                                std::shared_ptr<std::atomic<int64_t>> inflight);

/// The listener's sink: posts what arrives to the incoming link actor.
inbound_sink_ptr make_sink(incoming_link_actor incoming);

} // namespace quilt

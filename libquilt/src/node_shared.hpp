// Internal: state shared by the actors of one node. No public header
// includes this file.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>

#include "quilt/actors.hpp"
#include "quilt/config.hpp"
#include "quilt/link.hpp"

namespace quilt {

/// Counters that several actors of a node bump; summed into `stats`.
struct shared_counters {
  std::atomic<uint64_t> rx{0};
  std::atomic<uint64_t> dropped_invalid{0};
  std::atomic<uint64_t> dropped_overload{0};
  std::atomic<uint64_t> dropped_queue_full{0};
  std::array<std::atomic<uint64_t>, command_count> tx_by_command{};
};

/// Decoded messages waiting for the protocol actor past this are dropped as
/// overload: it bounds the protocol actor's mailbox.
constexpr int64_t protocol_backlog_limit = 200000;

/// Foreign clients (routing ids that are no node name) share this key.
inline const std::string foreign_peer_key = "\x01foreign";

/// The wiring of one node: configuration, transport and the handles the
/// transport thread and the actors use to find each other.
struct node_shared : std::enable_shared_from_this<node_shared> {
  caf::actor_system& sys;
  node_config cfg;
  std::shared_ptr<transport> net;
  listener_id listener = 0;
  std::chrono::steady_clock::time_point started;
  shared_counters counters;
  std::atomic<int64_t> backlog{0};

  node_shared(caf::actor_system& s, node_config c, std::shared_ptr<transport> n)
    : sys(s), cfg(std::move(c)), net(std::move(n)),
      started(std::chrono::steady_clock::now()) {
  }

  // -- handles, guarded by mtx -----------------------------------------------

  std::mutex mtx;
  std::vector<processor_actor> processors;
  protocol_actor protocol;
  std::unordered_map<std::string, incoming_link_actor> incoming;
  bool closed = false;

  /// Called on the transport thread: hands each sender's messages to its
  /// incoming link actor, spawning one for a new sender.
  void dispatch(inbound_batch&& batch);

  processor_actor processor_for(const std::string& peer);
  std::shared_ptr<node_shared> self_ptr() { return shared_from_this(); }

  /// Counters of every outgoing link, live ones and those already closed.
  std::vector<std::shared_ptr<const link_counters>> links;
  uint64_t retired_tx = 0;
  uint64_t retired_dropped = 0;
  protocol_actor protocol_handle();
};

/// Spawns an incoming link actor for messages from `peer`.
incoming_link_actor spawn_incoming_link(std::shared_ptr<node_shared> node,
                                        std::string peer);

/// Spawns processor number `index`.
processor_actor spawn_processor(std::shared_ptr<node_shared> node,
                                size_t index);

/// Spawns the protocol actor.
protocol_actor spawn_protocol(std::shared_ptr<node_shared> node);

/// Spawns an outgoing peer actor for a link to `endpoint`.
peer_link_actor spawn_peer_link(caf::actor_system& sys,
                                std::shared_ptr<node_shared> node,
                                std::string endpoint,
                                std::shared_ptr<std::atomic<int64_t>> inflight);

} // namespace quilt

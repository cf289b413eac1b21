// Internal: the console a simulation publishes (quilt-sim --console-port).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>

#include "quilt/actors.hpp"

namespace quilt {

/// The simulation's nodes as the console sees them. The driver updates it
/// when a node starts or is killed; the console actor reads it.
class sim_directory {
public:
  explicit sim_directory(std::vector<std::string> names);

  /// Node `i` runs as `node` (an empty handle: it is not running).
  void set(size_t i, node_actor node);

  /// The running nodes, in the scenario's order.
  std::vector<std::pair<std::string, node_actor>> running() const;

  /// The running node called `name`, or an empty handle.
  node_actor find(const std::string& name) const;

  /// Set by the console's `shutdown`.
  std::atomic<bool> shutdown_requested{false};

private:
  mutable std::mutex mtx_;
  std::vector<std::string> names_;
  std::vector<node_actor> nodes_;
};

/// Spawns the console actor: `nodes`, `select` (for --node NAME) and
/// `shutdown`; node commands without a node answer ec::needs_node.
node_actor spawn_sim_console(caf::actor_system& sys,
                             std::shared_ptr<sim_directory> dir);

} // namespace quilt

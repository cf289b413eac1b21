// Starting a node: the one entry point that quiltd, the simulator and tests
// share.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <caf/actor_system.hpp>

#include "quilt/actors.hpp"
#include "quilt/config.hpp"
#include "quilt/link.hpp"

namespace quilt {

/// The library's version string.
const char* version();

/// How a node tells time and picks ids, and how patient its supervisor is:
/// what an embedder such as a simulation sets beyond the TOML config.
struct node_options {
  /// Unix time minus the actor system's clock. Empty: read the system clock
  /// at start. A deterministic simulation sets it, so that inbox times and
  /// message ids follow virtual time.
  std::optional<std::chrono::microseconds> unix_offset;
  /// Mixed into the first message id (a simulation passes its seed).
  uint64_t id_salt = 0;
  /// Children the supervisor replaces within `restart_window` before it
  /// gives up and stops the node.
  uint32_t max_restarts = 5;
  std::chrono::milliseconds restart_window{10000};
  /// Messages on their way to the protocol actor past which the node
  /// refuses more as dropped_overload: bounds the protocol actor's mailbox.
  int64_t backlog_limit = 200000;
  /// The byte budget of messages in flight this node shares (SPEC §14
  /// "Memory"); none: the process's (byte_budget::process). A simulation
  /// gives all its nodes one of its own.
  std::shared_ptr<byte_budget> budget;
  /// Called (on the protocol actor's thread) with a neighbour's name when
  /// the node declares it down: a simulation judges these (false_downs).
  std::function<void(const std::string&)> on_peer_down;
  /// Reads the node's config file again for a reload (SPEC §15), with the
  /// command line's overrides; empty: the node has no file to reload (a
  /// simulated node), and `reload` says so. Called on a thread of its
  /// own, never on a scheduler thread: it reads files.
  std::function<std::variant<node_config, config_error>()> load_config;
};

/// Binds the node's listening endpoint on `net` and spawns its supervisor,
/// which spawns the node's actors and dials the configured peers. Returns
/// the supervisor, or a one-line reason why the node could not start (e.g.
/// the port is in use). Binding is a quick, non-blocking socket call. `net`
/// must outlive the node. To tear down: shut the nodes down, wait for their
/// actors, destroy the transport, then the actor system.
std::variant<node_actor, std::string>
start_node(caf::actor_system& sys, const node_config& cfg,
           std::shared_ptr<transport> net, node_options opts = {});

/// Registers Quilt's message types with an actor system config.
void add_quilt_types(caf::actor_system_config& cfg);

/// Registers the types and picks the scheduler settings Quilt is tuned for:
/// a shared queue whose idle workers sleep on a condition variable, so a
/// message to an idle node is handled at once instead of after the
/// work-stealing scheduler's polling sleep (up to 10 ms).
void configure_actor_system(caf::actor_system_config& cfg);

} // namespace quilt

// Starting a node: the one entry point that quiltd, the simulator and tests
// share.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include <caf/actor_system.hpp>

#include "quilt/actors.hpp"
#include "quilt/config.hpp"
#include "quilt/link.hpp"

namespace quilt {

/// The library's version string.
const char* version();

/// Binds the node's listening endpoint on `net` and spawns its supervisor,
/// which dials the configured peers. Returns the supervisor, or a one-line
/// reason why the node could not start (e.g. the port is in use). Binding is
/// a quick, non-blocking socket call. `net` must outlive the node. To tear
/// down: shut the nodes down, wait for their actors, destroy the transport,
/// then the actor system (the transport's thread spawns actors).
std::variant<node_actor, std::string>
start_node(caf::actor_system& sys, const node_config& cfg,
           std::shared_ptr<transport> net);

/// Registers Quilt's message types with an actor system config.
void add_quilt_types(caf::actor_system_config& cfg);

/// Registers the types and picks the scheduler settings Quilt is tuned for:
/// a shared queue whose idle workers sleep on a condition variable, so a
/// message to an idle node is handled at once instead of after the
/// work-stealing scheduler's polling sleep (up to 10 ms).
void configure_actor_system(caf::actor_system_config& cfg);

} // namespace quilt

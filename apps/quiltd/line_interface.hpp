// quiltd's line interface, the successor of the original's user prompt.
#pragma once

#include <atomic>
#include <string_view>

#include <caf/actor_system.hpp>

#include "quilt/actors.hpp"
#include "quilt/config.hpp"

namespace quilt {

/// Reads commands from stdin until `/quit`, end of input or `stop`, and
/// performs them on `node`. Runs on its own thread, never a CAF one.
void run_line_interface(caf::actor_system& sys, node_actor node,
                        const node_config& cfg, const std::atomic<bool>& stop);

/// Spawns the actor that prints the node's events (subscribe it to the node)
/// in the one-line form of `quilt-console watch`, through say().
caf::actor spawn_event_printer(caf::actor_system& sys);

/// Writes `text` to stdout in one piece: the line interface's answers and
/// the node's events (any thread) never interleave.
void say(std::string_view text);

} // namespace quilt

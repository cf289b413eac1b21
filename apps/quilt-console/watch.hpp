// quilt-console's `watch` (a node's events as they happen, SPEC §11).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace quilt::console {

/// Subscribes to `node`'s events; the outcome's stream prints them until
/// SIGINT (exit 0) or until the node goes away (exit 3).
outcome watch(caf::scoped_actor& self, const node_actor& node);

/// One event as the NDJSON line of `watch --json` (without newline).
nlohmann::ordered_json event_json(const node_event& x);

} // namespace quilt::console

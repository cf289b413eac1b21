// quilt-console's `watch` (a node's events as they happen) and the
// Prometheus form of `stats` (SPEC §11).
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

/// Counters in the Prometheus text exposition format: a TYPE line and a
/// sample `quilt_KEY_total{node="NAME"} N` per counter.
std::string prometheus_text(
  const std::string& node,
  const std::vector<std::pair<const char*, uint64_t>>& counters);

/// `x` escaped as a Prometheus label value (backslash, quote, newline).
std::string prometheus_label(const std::string& x);

} // namespace quilt::console

// The node's documents as users read them: the JSON of SPEC §8 (status,
// peers, routes, topology, stats) and the Prometheus text of SPEC §11/§15.
// quilt-console and the HTTP endpoint (SPEC §15) both print these, so the
// two cannot drift apart.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "quilt/protocol.hpp"
#include "quilt/routing.hpp"
#include "quilt/stats.hpp"
#include "quilt/types.hpp"

namespace quilt {

/// `status`: {"name", "listen", "processors", "uptime_ms", "peers_up",
/// "routes", "version"}.
nlohmann::json status_json(const node_status& x);

/// `peers`: one object per peer, null where a field is not known yet.
nlohmann::json peers_json(const std::vector<peer_info>& xs);

/// `routes`: [{"destination", "next_hop", "hops"}].
nlohmann::json routes_json(const std::vector<route_entry>& xs);

/// `topology`: {"nodes": [...], "links": [[a, b], ...]}.
nlohmann::json topology_json(const mesh_topology& x);

/// `stats`: every counter of stats_fields() by name.
nlohmann::json stats_json(const node_stats& x);

/// `x` escaped as a Prometheus label value (backslash, quote, newline).
std::string prometheus_label(const std::string& x);

/// Counters in the Prometheus text exposition format: a TYPE line and a
/// sample `quilt_KEY_total{node="NAME"} N` per counter.
std::string prometheus_text(
  const std::string& node,
  const std::vector<std::pair<const char*, uint64_t>>& counters);

/// What GET /metrics serves (SPEC §15): every counter as prometheus_text()
/// gives it, then the gauges quilt_peers_up, quilt_routes and
/// quilt_uptime_seconds from `status`.
std::string metrics_text(const node_status& status, const node_stats& stats);

} // namespace quilt

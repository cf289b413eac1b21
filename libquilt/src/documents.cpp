#include "quilt/documents.hpp"

#include <cstdio>

namespace quilt {

namespace {

using nlohmann::json;

template <class T>
json or_null(const std::optional<T>& x) {
  return x ? json(*x) : json(nullptr);
}

} // namespace

json status_json(const node_status& s) {
  return {{"name", s.name},         {"listen", s.listen},
          {"processors", s.processors}, {"uptime_ms", s.uptime_ms},
          {"peers_up", s.peers_up}, {"routes", s.routes},
          {"version", s.version}};
}

json peers_json(const std::vector<peer_info>& ps) {
  json out = json::array();
  for (auto& p : ps)
    out.push_back(
      {{"name", p.name.empty() ? json(nullptr) : json(p.name)},
       {"address", p.address.empty() ? json(nullptr) : json(p.address)},
       {"port", p.port == 0 ? json(nullptr) : json(p.port)},
       {"state", to_string(p.state)},
       {"rtt_us", or_null(p.rtt_us)},
       {"last_seen_ms", or_null(p.last_seen_ms)}});
  return out;
}

json routes_json(const std::vector<route_entry>& rs) {
  json out = json::array();
  for (auto& r : rs)
    out.push_back({{"destination", r.destination},
                   {"next_hop", r.next_hop},
                   {"hops", r.hops}});
  return out;
}

json topology_json(const mesh_topology& t) {
  json links = json::array();
  for (auto& [a, b] : t.links)
    links.push_back({a, b});
  return {{"nodes", t.nodes}, {"links", links}};
}

json stats_json(const node_stats& s) {
  json out = json::object();
  for (auto& [k, v] : stats_fields(s))
    out[k] = v;
  return out;
}

std::string prometheus_label(const std::string& x) {
  std::string out;
  for (char c : x) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string prometheus_text(
  const std::string& node,
  const std::vector<std::pair<const char*, uint64_t>>& counters) {
  std::string out;
  auto label = "{node=\"" + prometheus_label(node) + "\"} ";
  for (auto& [key, value] : counters) {
    auto name = std::string{"quilt_"} + key + "_total";
    out += "# TYPE " + name + " counter\n";
    out += name + label + std::to_string(value) + '\n';
  }
  return out;
}

std::string metrics_text(const node_status& status, const node_stats& stats) {
  auto out = prometheus_text(status.name, stats_fields(stats));
  auto label = "{node=\"" + prometheus_label(status.name) + "\"} ";
  auto gauge = [&](const char* name, const std::string& value) {
    out += std::string{"# TYPE "} + name + " gauge\n";
    out += name + label + value + '\n';
  };
  gauge("quilt_peers_up", std::to_string(status.peers_up));
  gauge("quilt_routes", std::to_string(status.routes));
  // Milliseconds kept: Prometheus takes a decimal fraction.
  char uptime[32];
  std::snprintf(uptime, sizeof(uptime), "%llu.%03llu",
                static_cast<unsigned long long>(status.uptime_ms / 1000),
                static_cast<unsigned long long>(status.uptime_ms % 1000));
  gauge("quilt_uptime_seconds", uptime);
  return out;
}

} // namespace quilt

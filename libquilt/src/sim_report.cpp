// quilt-sim's report (SPEC §9) as JSON, and its topology as Graphviz.
#include <sstream>

#include <nlohmann/json.hpp>

#include "quilt/sim.hpp"

namespace quilt {

std::string sim_report::to_json() const {
  using json = nlohmann::ordered_json;
  json top;
  top["scenario"] = scenario;
  top["seed"] = seed;
  top["transport"] = to_string(transport);
  top["deterministic"] = deterministic;
  top["nodes"] = nodes;
  top["links"] = links;
  json links_json = json::array();
  for (auto& [a, b] : topology_links)
    links_json.push_back({a, b});
  top["topology"] = {{"nodes", topology_nodes}, {"links", links_json}};
  top["converged_ms"] = converged_ms ? json(*converged_ms) : json(nullptr);
  json evs = json::array();
  auto or_null = [](const std::optional<uint64_t>& x) {
    return x ? json(*x) : json(nullptr);
  };
  for (auto& e : events) {
    json ev = {{"at_ms", e.at_ms},
               {"action", to_string(e.action)},
               {"ok", e.ok},
               {"detail", e.detail},
               {"latency_us", or_null(e.latency_us)}};
    if (e.fault)
      ev["reconverged_ms"] = or_null(e.reconverged_ms);
    evs.push_back(std::move(ev));
  }
  top["events"] = evs;
  json msgs;
  for (size_t i = 0; i < command_count; ++i)
    msgs[to_string(static_cast<command>(i))] = messages[i];
  top["messages"] = msgs;
  top["deliveries"] = deliveries;
  top["duplicate_deliveries"] = duplicate_deliveries;
  top["drops"] = {{"invalid", drops.dropped_invalid},
                  {"duplicate", drops.dropped_duplicate},
                  {"loop", drops.dropped_loop},
                  {"ttl", drops.dropped_ttl},
                  {"unroutable", drops.dropped_unroutable},
                  {"queue_full", drops.dropped_queue_full},
                  {"overload", drops.dropped_overload},
                  {"spoofed", drops.dropped_spoofed}};
  top["network_lost"] = network_lost;
  top["false_downs"] = false_downs;
  top["peak_rss_bytes"] = peak_rss_bytes;
  top["wall_ms"] = wall_ms;
  // Last: the longest part, and the one a reader looks at least by eye.
  json samples = json::array();
  for (auto& x : timeline)
    samples.push_back({{"t_ms", x.t_ms},
                       {"nodes_converged", x.nodes_converged},
                       {"messages", x.messages},
                       {"lost", x.lost}});
  top["timeline"] = samples;
  return top.dump();
}

std::string sim_dot(const scenario& sc, const std::vector<bool>& alive,
                    const std::vector<bool>& link_cut,
                    const std::string& caption) {
  std::ostringstream out;
  auto quoted = [](const std::string& s) { return '"' + s + '"'; };
  out << "graph quilt {\n  node [shape=circle];\n";
  if (!caption.empty())
    out << "  label=" << quoted(caption) << ";\n";
  auto is_dead = [&](size_t i) { return i < alive.size() && !alive[i]; };
  for (size_t i = 0; i < sc.graph.nodes.size(); ++i) {
    out << "  " << quoted(sc.graph.nodes[i]);
    if (is_dead(i))
      out << " [style=\"dashed,filled\", fillcolor=gray90, fontcolor=gray45]";
    out << ";\n";
  }
  for (size_t k = 0; k < sc.graph.links.size(); ++k) {
    auto [a, b] = sc.graph.links[k];
    bool cut = k < link_cut.size() && link_cut[k];
    out << "  " << quoted(sc.graph.nodes[a]) << " -- "
        << quoted(sc.graph.nodes[b]);
    if (cut)
      out << " [style=dashed, color=red]";
    else if (is_dead(a) || is_dead(b))
      out << " [style=dashed, color=gray60]";
    out << ";\n";
  }
  out << "}\n";
  return out.str();
}

std::string sim_dot(const scenario& sc, const std::vector<bool>& alive,
                    const std::vector<bool>& link_cut) {
  return sim_dot(sc, alive, link_cut, "");
}

} // namespace quilt

// What the simulator's tests share: scenarios written as quilt-sim's TOML
// (deterministic, direct) and run through quilt::run_simulation.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "quilt/message.hpp"
#include "quilt/scenario.hpp"
#include "quilt/sim.hpp"
#include "quilt/topology.hpp"

namespace quilt::test {


inline std::string n(size_t i) {
  return "n" + std::to_string(i);
}

inline std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

/// SPEC §9's [topology] section for a generated graph.
inline std::string topology(const std::string& kind, size_t nodes,
                     const std::string& extra = "") {
  return "kind = " + quoted(kind) + "\nnodes = " + std::to_string(nodes)
         + "\n" + extra;
}
inline std::string line(size_t nodes) { return topology("line", nodes); }
inline std::string ring(size_t nodes) { return topology("ring", nodes); }
inline std::string star(size_t nodes) { return topology("star", nodes); }
inline std::string full(size_t nodes) { return topology("full", nodes); }
inline std::string grid(size_t nodes, size_t width) {
  return topology("grid", nodes, "width = " + std::to_string(width) + "\n");
}
inline std::string random_graph(size_t nodes, size_t degree) {
  return topology("random", nodes,
                  "degree = " + std::to_string(degree) + "\n");
}
inline std::string scale_free(size_t nodes, size_t m) {
  return topology("scale-free", nodes, "m = " + std::to_string(m) + "\n");
}

/// A deterministic direct scenario, written as quilt-sim's TOML. Events are
/// added in time order, so an event's index is its place in the report.
struct scenario_text {
  std::string topo;
  uint64_t seed = 1;
  uint64_t settle_ms = 500;
  /// [defaults]: the small timing of SPEC's fault drill.
  std::string defaults = "heartbeat_ms = 100\ndead_after_ms = 500\n";
  std::string events;
  /// [network] and [[network.links]] as TOML, when not empty (SPEC §13).
  std::string network;
  /// false: real time (direct links, the scheduler's threads).
  bool deterministic = true;
  /// [simulation] sample_ms when set.
  std::optional<uint64_t> sample_ms;
  size_t count = 0;
  uint64_t last_at = 0;

  explicit scenario_text(std::string t, uint64_t s = 1)
    : topo(std::move(t)), seed(s) {
  }

  size_t event(uint64_t at_ms, const std::string& action,
               const std::string& keys, const std::string& expect = "") {
    REQUIRE(at_ms >= last_at);
    last_at = at_ms;
    events += "[[events]]\nat_ms = " + std::to_string(at_ms)
              + "\naction = " + quoted(action) + "\n" + keys;
    if (!expect.empty())
      events += "expect = " + quoted(expect) + "\n";
    return count++;
  }
  size_t ping(uint64_t at, const std::string& from, const std::string& to,
              const std::string& expect = "") {
    return event(at, "ping",
                 "from = " + quoted(from) + "\nto = " + quoted(to) + "\n",
                 expect);
  }
  size_t traceroute(uint64_t at, const std::string& from,
                    const std::string& to, const std::string& expect = "") {
    return event(at, "traceroute",
                 "from = " + quoted(from) + "\nto = " + quoted(to) + "\n",
                 expect);
  }
  size_t send(uint64_t at, const std::string& from, const std::string& to,
              const std::string& text, const std::string& expect = "") {
    return event(at, "send",
                 "from = " + quoted(from) + "\nto = " + quoted(to)
                   + "\ntext = " + quoted(text) + "\n",
                 expect);
  }
  size_t broadcast(uint64_t at, const std::string& from,
                   const std::string& text, const std::string& expect = "all") {
    return event(at, "broadcast",
                 "from = " + quoted(from) + "\ntext = " + quoted(text) + "\n",
                 expect);
  }
  size_t kill(uint64_t at, const std::string& node) {
    return event(at, "kill", "node = " + quoted(node) + "\n");
  }
  size_t restart(uint64_t at, const std::string& node) {
    return event(at, "restart", "node = " + quoted(node) + "\n");
  }
  size_t cut(uint64_t at, const std::string& a, const std::string& b) {
    return event(at, "cut", "a = " + quoted(a) + "\nb = " + quoted(b) + "\n");
  }
  size_t heal(uint64_t at, const std::string& a, const std::string& b) {
    return event(at, "heal", "a = " + quoted(a) + "\nb = " + quoted(b) + "\n");
  }
  size_t partition(uint64_t at, const std::vector<std::string>& side) {
    std::string list;
    for (auto& s : side)
      list += (list.empty() ? "" : ", ") + quoted(s);
    return event(at, "partition", "side = [" + list + "]\n");
  }
  size_t heal_all(uint64_t at) {
    return event(at, "heal_all", "");
  }
  /// `keys`: e.g. "latency_ms = 50\nloss = 0.1\n"; a and b empty: every link.
  size_t degrade(uint64_t at, const std::string& a, const std::string& b,
                 const std::string& keys) {
    return event(at, "degrade",
                 (a.empty() ? std::string{}
                            : "a = " + quoted(a) + "\nb = " + quoted(b) + "\n")
                   + keys);
  }
  size_t stall(uint64_t at, const std::string& node, uint64_t duration_ms) {
    return event(at, "stall",
                 "node = " + quoted(node) + "\nduration_ms = "
                   + std::to_string(duration_ms) + "\n");
  }
  /// The last event waits this long for its outcome (within_ms).
  void within(uint64_t ms) {
    events += "within_ms = " + std::to_string(ms) + "\n";
  }

  std::string toml() const {
    return "[simulation]\nseed = " + std::to_string(seed)
           + "\ntransport = \"direct\"\ndeterministic = "
           + (deterministic ? "true" : "false") + "\nsettle_ms = "
           + std::to_string(settle_ms)
           + (sample_ms ? "\nsample_ms = " + std::to_string(*sample_ms) : "")
           + "\n\n[defaults]\n" + defaults + "\n[topology]\n" + topo + "\n"
           + network + "\n" + events;
  }
};

struct sim_run {
  int status = -1;
  sim_report report;
  std::string progress;

  const sim_outcome& event(size_t i) const { return report.events.at(i); }
  uint64_t sent(command c) const {
    return report.messages[static_cast<size_t>(c)];
  }
};

inline scenario parse(const scenario_text& text) {
  auto parsed = parse_scenario(text.toml(), "sim_test.toml", std::nullopt);
  if (auto* e = std::get_if<config_error>(&parsed))
    FAIL("bad scenario: " << e->text << "\n" << text.toml());
  return std::get<scenario>(std::move(parsed));
}

inline sim_run simulate(const scenario& sc, sim_options opts = {}) {
  sim_run r;
  opts.report_path = "/dev/null"; // not stdout: the tests read the struct
  std::ostringstream progress;
  r.status = run_simulation(sc, opts, progress, r.report);
  r.progress = progress.str();
  return r;
}

inline sim_run simulate(const scenario_text& text) {
  return simulate(parse(text));
}

/// Runs `text` and requires it to have converged; every event outcome is
/// in the INFO of later checks through the progress text.
inline sim_run simulate_ok(const scenario_text& text) {
  auto r = simulate(text);
  INFO(r.progress);
  REQUIRE(r.report.converged_ms.has_value());
  return r;
}

/// Checks event `i`'s outcome, printing the progress log when it fails.
inline void check_event(const sim_run& r, size_t i) {
  INFO("event " << i << ": " << to_string(r.event(i).action) << ": "
                << r.event(i).detail);
  CHECK(r.event(i).ok);
}

inline void check_all_events(const sim_run& r) {
  INFO(r.progress);
  for (size_t i = 0; i < r.report.events.size(); ++i)
    check_event(r, i);
  CHECK(r.report.duplicate_deliveries == 0);
  CHECK(r.status == 0);
}

/// "n1 n2 ... nK" for the traceroute detail of a path.
inline std::string path_text(const std::vector<std::string>& hops) {
  std::string s;
  for (auto& h : hops)
    s += (s.empty() ? "" : " ") + h;
  return s;
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

/// The graph a scenario's [topology] generates (same kind, size and seed).
inline mesh_graph graph_of(const scenario_text& text) {
  return parse(text).graph;
}

} // namespace quilt::test

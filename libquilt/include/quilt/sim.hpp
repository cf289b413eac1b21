// quilt-sim's engine (SPEC §8-§9): runs a scenario's nodes, the same node
// actors quiltd runs, many times over in one process, on ZeroMQ inproc,
// ZeroMQ tcp on loopback, or direct actor links; drives its events and
// writes the report.
//
// Time: every node and the driver read the actor system's clock. A
// deterministic scenario (direct links) runs on CAF's test coordinator: one
// thread, virtual time that jumps from one due timer to the next, so the
// same scenario and seed give the same run and the same report (but for
// wall_ms and peak_rss_bytes). Otherwise the clock is real time.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "quilt/message.hpp"
#include "quilt/scenario.hpp"
#include "quilt/stats.hpp"

namespace quilt {

/// Command-line options of quilt-sim beyond the scenario.
struct sim_options {
  std::string report_path; ///< --report; empty: the report goes to stdout.
  std::string dot_path;    ///< --dot; empty: no picture.
  /// --dot-at: the picture shows the mesh as it stood at this time (after
  /// the events up to it), not at the end: a kill or cut healed later
  /// still shows.
  std::optional<uint64_t> dot_at_ms;
  /// --console-port: publish a console and keep running after the report
  /// until its `shutdown`, SIGINT or SIGTERM.
  std::optional<uint16_t> console_port;
  /// Routes must converge within this much simulated time.
  uint64_t converge_limit_ms = 60000;
  /// The byte budget of messages in flight, all nodes together (SPEC §14
  /// "Memory"); none: byte_budget::default_process_bytes(). Tests set a
  /// small one.
  std::optional<int64_t> budget_bytes;
};

/// One event's outcome in the report.
struct sim_outcome {
  uint64_t at_ms = 0;
  sim_action action = sim_action::ping;
  bool ok = false;
  std::string detail;
  std::optional<uint64_t> latency_us; ///< ping, traceroute, send, broadcast
  /// Fault events (kill, restart, cut, heal, partition, heal_all, degrade,
  /// stall): whether reconverged_ms belongs in the report.
  bool fault = false;
  /// From the event until every live node's routes were right again; none
  /// when that never held before the report (SPEC §13).
  std::optional<uint64_t> reconverged_ms;
};

/// One sample of the report's timeline (SPEC §13).
struct sim_sample {
  int64_t t_ms = 0;           ///< On the events' clock: 0 at full routes.
  uint64_t nodes_converged = 0; ///< Live nodes whose routes are right.
  uint64_t messages = 0;      ///< Transmissions since the sample before.
  uint64_t lost = 0;          ///< Of those, lost by the network model.
};

/// What quilt-sim reports (SPEC §9).
struct sim_report {
  std::string scenario;
  uint64_t seed = 0;
  sim_transport transport = sim_transport::inproc;
  bool deterministic = false;
  size_t nodes = 0;
  size_t links = 0;
  /// The final topology: live nodes and the links among them not cut.
  std::vector<std::string> topology_nodes;
  std::vector<std::pair<std::string, std::string>> topology_links;
  std::optional<uint64_t> converged_ms;
  std::vector<sim_outcome> events;
  std::array<uint64_t, command_count> messages{};
  uint64_t deliveries = 0;
  uint64_t duplicate_deliveries = 0;
  node_stats drops; ///< Only the dropped_* counters are used.
  uint64_t network_lost = 0; ///< Messages the network model lost.
  /// A node declared a neighbour down that was alive, not stalled, over a
  /// link neither cut nor at loss 1.0.
  uint64_t false_downs = 0;
  std::vector<sim_sample> timeline;
  uint64_t peak_rss_bytes = 0;
  uint64_t wall_ms = 0;
  /// The byte budget of messages in flight: its limit, the most it held,
  /// how many messages it refused, and what it still held after the
  /// nodes stopped (0: every credit came back). Not in the JSON report.
  int64_t budget_limit_bytes = 0;
  int64_t budget_peak_bytes = 0;
  uint64_t budget_refused = 0;
  int64_t budget_left_bytes = 0;

  /// The report as one JSON document, keys in SPEC §9 order.
  std::string to_json() const;
};

/// The topology as Graphviz: every node and link of the scenario, dead
/// nodes (greyed) and cut links (red) dashed, and the links of dead nodes
/// dashed grey. `caption` (e.g. "t=1200 ms") labels the picture.
std::string sim_dot(const scenario& sc, const std::vector<bool>& alive,
                    const std::vector<bool>& link_cut,
                    const std::string& caption);

/// The same without a caption.
std::string sim_dot(const scenario& sc, const std::vector<bool>& alive,
                    const std::vector<bool>& link_cut);

/// Runs `sc`, printing progress to `progress`, and fills `report`. Returns
/// the exit status: 0 when routes converged and every expectation held, 1
/// otherwise. Writes --report and --dot itself; a failure to write them
/// (or to publish the console) is reported on `progress` with status 1.
int run_simulation(const scenario& sc, const sim_options& opts,
                   std::ostream& progress, sim_report& report);

} // namespace quilt

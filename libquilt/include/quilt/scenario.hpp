// Simulation scenarios (SPEC §9): a quilt-sim TOML file -> scenario, with
// every rejection reported as "FILE:LINE: what is wrong" (or "FILE: what is
// wrong" without a line), as the node configuration loader (SPEC §7) does.
// The rules SPEC leaves open are listed at the top of scenario.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "quilt/config.hpp"
#include "quilt/link_model.hpp"
#include "quilt/topology.hpp"

namespace quilt {

/// How the simulated nodes talk to each other.
enum class sim_transport : uint8_t {
  inproc, ///< ZeroMQ over inproc:// endpoints.
  tcp,    ///< ZeroMQ over TCP loopback, node i on base_port + i.
  direct, ///< Actor messages, no ZeroMQ.
};

/// "inproc", "tcp", "direct".
const char* to_string(sim_transport x);

/// What an [[events]] entry does.
enum class sim_action : uint8_t {
  ping,       ///< from pings to.
  traceroute, ///< from traces the route to to.
  send,       ///< from sends text to to.
  broadcast,  ///< from sends text to every node.
  kill,       ///< node stops.
  restart,    ///< node starts again.
  cut,        ///< The link a-b drops everything.
  heal,       ///< The link a-b works again.
  partition,  ///< Every link between side and the other nodes is cut.
  heal_all,   ///< Every cut link works again.
  degrade,    ///< Link a-b (or every link) takes new parameters (SPEC §13).
  stall,      ///< node freezes for duration_ms, as SIGSTOP would.
};

/// "ping", "traceroute", "send", "broadcast", "kill", "restart", "cut",
/// "heal", "partition", "heal_all", "degrade", "stall".
const char* to_string(sim_action x);

/// What an event's outcome should be.
enum class sim_expect : uint8_t {
  none,        ///< No expectation: the event is ok when it ran.
  delivered,   ///< ping, traceroute, send: the target answered / got it.
  unreachable, ///< ping, traceroute, send: it did not.
  all,         ///< broadcast: every live node got it.
};

/// "none", "delivered", "unreachable", "all".
const char* to_string(sim_expect x);

/// One [[events]] entry.
struct sim_event {
  uint32_t line = 0;  ///< Line of its [[events]] header in the file.
  uint64_t at_ms = 0; ///< Time after full routes, 0..86400000.
  sim_action action = sim_action::ping;   ///< What it does.
  std::string from, to, node, text, a, b; ///< As given; only those the
                                          ///< action uses are checked.
  std::vector<std::string> side;          ///< partition: one side.
  sim_expect expect = sim_expect::none;   ///< none when not given.
  /// How long a ping, traceroute, send or broadcast waits for its outcome,
  /// 1..600000 (every action takes the key).
  uint64_t within_ms = 2000;
  /// stall: how long the node is frozen, 1..600000.
  uint64_t duration_ms = 0;
  /// degrade: the keys it sets; on link a-b, or every link when a and b
  /// are both left out (then a and b are "").
  link_change change;
};

/// A [[network.links]] entry: link a-b (of the topology) differs from
/// [network].
struct network_link {
  uint32_t line = 0; ///< Line of its [[network.links]] header.
  std::string a, b;
  link_change change;
};

/// [network] and [[network.links]] (SPEC §13): direct transport only.
struct network_model {
  link_params defaults;            ///< [network]: every link, each way.
  std::vector<network_link> links; ///< Overrides, in file order.

  /// Whether the scenario models its network at all (any key given).
  bool given = false;
};

/// A generated topology may have at most this many links: a slip such as
/// kind = "full" with 100000 nodes (5 billion links) would otherwise exhaust
/// memory before the simulation starts.
inline constexpr size_t max_scenario_links = 1000000;

/// A checked scenario file.
struct scenario {
  std::string path;  ///< As given.
  uint64_t seed = 1; ///< [simulation] seed, or the --seed override.
  sim_transport transport = sim_transport::inproc; ///< [simulation] transport.
  bool deterministic = false;    ///< Virtual time, one scheduler (direct only).
  uint64_t settle_ms = 2000;     ///< Wait after the last event, 0..3600000.
  uint16_t base_port = 30000;    ///< tcp: node i listens on base_port + i.
  node_config defaults;          ///< [defaults]; processors defaults to 1
                                 ///< here (not 10), the rest as SPEC §7.
  std::string kind = "explicit"; ///< topology.kind as given.
  mesh_graph graph;              ///< The resolved nodes and links (generated
                                 ///< with `seed`, or explicit).
  std::vector<sim_event> events; ///< Sorted by at_ms, stable (file order for
                                 ///< equal at_ms).
  network_model network;         ///< [network], [[network.links]].
  /// [simulation] sample_ms: the report's timeline samples every this many
  /// ms; 0: no timeline; else 10..60000. Default 100.
  uint64_t sample_ms = 100;
};

/// Reads and checks the scenario file at `path` (as given on the command
/// line, which is also the FILE of error messages). `seed_override` (--seed)
/// replaces [simulation] seed.
std::variant<scenario, config_error>
load_scenario(const std::string& path, std::optional<uint64_t> seed_override);

/// Same as load_scenario, from TOML text; `path` names it in errors and is
/// stored in the result.
std::variant<scenario, config_error>
parse_scenario(std::string_view toml_text, const std::string& path,
               std::optional<uint64_t> seed_override);

} // namespace quilt

// Simulation scenarios (SPEC §9): the example scenario, generated and
// explicit topologies, --seed, [defaults], events in time order, and every
// rejection with its exact "FILE:LINE: message".
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "quilt/scenario.hpp"

using namespace quilt;

namespace {

const std::string data_dir = QUILT_TEST_DATA "/scenario/";

const std::string name_rule = "(up to 64 letters, digits and . _ : -, "
                              "starting with a letter or digit, not 'all')";

scenario expect_scenario(std::variant<scenario, config_error> result) {
  if (auto* e = std::get_if<config_error>(&result))
    FAIL("unexpected error: " << e->text);
  return std::get<scenario>(std::move(result));
}

std::string expect_error(std::variant<scenario, config_error> result) {
  if (auto* s = std::get_if<scenario>(&result))
    FAIL("unexpected success, " << s->graph.nodes.size() << " nodes");
  return std::get<config_error>(std::move(result)).text;
}

scenario parse_ok(const std::string& text,
                  std::optional<uint64_t> seed = std::nullopt) {
  return expect_scenario(parse_scenario(text, "sim.toml", seed));
}

std::string parse_error(const std::string& text,
                        std::optional<uint64_t> seed = std::nullopt) {
  return expect_error(parse_scenario(text, "sim.toml", seed));
}

/// Lines 1-3: a ring of 10 nodes, n0..n9.
const std::string ring10 = "[topology]\n"
                           "kind = \"ring\"\n"
                           "nodes = 10\n";

/// Lines 1-6: nodes a, b, c, explicit, no links.
const std::string abc = "[topology]\n"
                        "kind = \"explicit\"\n"
                        "[[nodes]]\n"
                        "name = \"a\"\n"
                        "[[nodes]]\n"
                        "name = \"b\"\n"
                        "[[nodes]]\n"
                        "name = \"c\"\n";

using links_t = std::vector<std::pair<size_t, size_t>>;

} // namespace

// -- the example --------------------------------------------------------------

TEST_CASE("the SPEC §9 example scenario (kind = ring) loads") {
  auto path = data_dir + "spec_ring.toml";
  auto sc = expect_scenario(load_scenario(path, std::nullopt));
  CHECK(sc.path == path);
  CHECK(sc.seed == 42);
  CHECK(sc.transport == sim_transport::inproc);
  CHECK_FALSE(sc.deterministic);
  CHECK(sc.settle_ms == 2000);
  CHECK(sc.base_port == 30000);
  CHECK(sc.defaults.processors == 1);
  CHECK(sc.defaults.heartbeat_ms == 200);
  CHECK(sc.defaults.dead_after_ms == 1000);
  CHECK(sc.kind == "ring");
  CHECK(sc.graph.nodes.size() == 100);
  CHECK(sc.graph.nodes.front() == "n0");
  CHECK(sc.graph.nodes.back() == "n99");
  CHECK(sc.graph.links == make_ring(100).links);
  REQUIRE(sc.events.size() == 1);
  auto& ev = sc.events[0];
  CHECK(ev.line == 22);
  CHECK(ev.at_ms == 500);
  CHECK(ev.action == sim_action::ping);
  CHECK(ev.from == "n0");
  CHECK(ev.to == "n50");
  CHECK(ev.node == "n7");
  CHECK(ev.text == "hello");
  CHECK(ev.side == std::vector<std::string>{"n0", "n1"});
  CHECK(ev.a.empty());
  CHECK(ev.b.empty());
  CHECK(ev.expect == sim_expect::delivered);
}

TEST_CASE("an explicit scenario: nodes in file order, links normalised") {
  auto sc =
      expect_scenario(load_scenario(data_dir + "explicit.toml", std::nullopt));
  CHECK(sc.seed == 1);
  CHECK(sc.transport == sim_transport::direct);
  CHECK(sc.deterministic);
  CHECK(sc.settle_ms == 500);
  CHECK(sc.defaults.heartbeat_ms == 100);
  CHECK(sc.defaults.dead_after_ms == 500);
  CHECK(sc.kind == "explicit");
  CHECK(sc.graph.nodes ==
        std::vector<std::string>{"alpha", "beta", "gamma", "delta"});
  // alpha-beta, gamma-beta, gamma-delta, delta-alpha, alpha-gamma
  CHECK(sc.graph.links == links_t{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {2, 3}});
  REQUIRE(sc.events.size() == 11);
  std::vector<sim_action> actions;
  for (auto& ev : sc.events)
    actions.push_back(ev.action);
  CHECK(actions ==
        std::vector<sim_action>{
            sim_action::ping, sim_action::cut, sim_action::traceroute,
            sim_action::send, sim_action::kill, sim_action::broadcast,
            sim_action::partition, sim_action::ping, sim_action::heal,
            sim_action::restart, sim_action::heal_all});
  CHECK(sc.events[3].text == "over two hops");
  CHECK(sc.events[5].expect == sim_expect::all);
  CHECK(sc.events[7].expect == sim_expect::unreachable);
  CHECK(sc.events[6].side == std::vector<std::string>{"alpha", "delta"});
}

TEST_CASE("a file's errors name the path as given") {
  auto path = data_dir + "bad_event.toml";
  CHECK(expect_error(load_scenario(path, std::nullopt)) ==
        path + ":9: n0-n5 is not a link of the topology");
  auto missing = data_dir + "no-such-file.toml";
  CHECK(expect_error(load_scenario(missing, std::nullopt)) ==
        missing + ": cannot open: No such file or directory");
  CHECK(expect_error(load_scenario(data_dir, std::nullopt)) ==
        data_dir + ": cannot read: Is a directory");
}

TEST_CASE("only [topology] is required; the rest has defaults") {
  auto sc = parse_ok(ring10);
  CHECK(sc.path == "sim.toml");
  CHECK(sc.seed == 1);
  CHECK(sc.transport == sim_transport::inproc);
  CHECK_FALSE(sc.deterministic);
  CHECK(sc.settle_ms == 2000);
  CHECK(sc.base_port == 30000);
  CHECK(sc.defaults.processors == 1);
  CHECK(sc.defaults.heartbeat_ms == 1000);
  CHECK(sc.defaults.dead_after_ms == 5000);
  CHECK(sc.defaults.default_ttl == 32);
  CHECK(sc.defaults.max_message_bytes == 65536);
  CHECK(sc.defaults.queue_limit == 10000);
  CHECK(sc.events.empty());
  CHECK(sc.graph.links == make_ring(10).links);
}

TEST_CASE("[defaults]: processors 1 unless set, the rest from the file") {
  auto sc = parse_ok(ring10 + "[defaults]\n"
                              "heartbeat_ms = 250\n"
                              "default_ttl = 9\n");
  CHECK(sc.defaults.processors == 1);
  CHECK(sc.defaults.heartbeat_ms == 250);
  CHECK(sc.defaults.dead_after_ms == 5000);
  CHECK(sc.defaults.default_ttl == 9);
  auto all = parse_ok(ring10 + "[defaults]\n"
                               "processors = 3\n"
                               "heartbeat_ms = 20\n"
                               "dead_after_ms = 50\n"
                               "default_ttl = 4\n"
                               "max_message_bytes = 1024\n"
                               "queue_limit = 7\n");
  CHECK(all.defaults.processors == 3);
  CHECK(all.defaults.heartbeat_ms == 20);
  CHECK(all.defaults.dead_after_ms == 50);
  CHECK(all.defaults.default_ttl == 4);
  CHECK(all.defaults.max_message_bytes == 1024);
  CHECK(all.defaults.queue_limit == 7);
}

TEST_CASE("to_string names") {
  CHECK(std::string{to_string(sim_transport::inproc)} == "inproc");
  CHECK(std::string{to_string(sim_transport::tcp)} == "tcp");
  CHECK(std::string{to_string(sim_transport::direct)} == "direct");
  std::vector<std::string> actions;
  for (auto a : {sim_action::ping, sim_action::traceroute, sim_action::send,
                 sim_action::broadcast, sim_action::kill, sim_action::restart,
                 sim_action::cut, sim_action::heal, sim_action::partition,
                 sim_action::heal_all, sim_action::degrade, sim_action::stall})
    actions.push_back(to_string(a));
  CHECK(actions == std::vector<std::string>{"ping", "traceroute", "send",
                                            "broadcast", "kill", "restart",
                                            "cut", "heal", "partition",
                                            "heal_all", "degrade", "stall"});
  CHECK(std::string{to_string(sim_expect::none)} == "none");
  CHECK(std::string{to_string(sim_expect::delivered)} == "delivered");
  CHECK(std::string{to_string(sim_expect::unreachable)} == "unreachable");
  CHECK(std::string{to_string(sim_expect::all)} == "all");
}

// -- topologies ---------------------------------------------------------------

TEST_CASE("generated graphs are make_topology's with the scenario's seed") {
  struct row {
    std::string keys;
    std::string kind;
    size_t n, degree, width, m;
  };
  std::vector<row> rows = {
      {"kind = \"line\"\nnodes = 7\n", "line", 7, 0, 0, 0},
      {"kind = \"ring\"\nnodes = 12\n", "ring", 12, 0, 0, 0},
      {"kind = \"star\"\nnodes = 9\n", "star", 9, 0, 0, 0},
      {"kind = \"grid\"\nnodes = 10\nwidth = 4\n", "grid", 10, 0, 4, 0},
      {"kind = \"full\"\nnodes = 8\n", "full", 8, 0, 0, 0},
      {"kind = \"random\"\nnodes = 60\ndegree = 4\n", "random", 60, 4, 0, 0},
      {"kind = \"scale-free\"\nnodes = 60\nm = 2\n", "scale-free", 60, 0, 0, 2},
  };
  for (auto& r : rows) {
    for (uint64_t seed : {1, 7, 42}) {
      INFO(r.kind << " seed " << seed);
      auto sc = parse_ok("[simulation]\nseed = " + std::to_string(seed) +
                         "\n[topology]\n" + r.keys);
      CHECK(sc.seed == seed);
      CHECK(sc.kind == r.kind);
      auto want = make_topology(r.kind, r.n, r.degree, r.width, r.m, seed);
      CHECK(sc.graph.nodes == want.nodes);
      CHECK(sc.graph.links == want.links);
    }
  }
}

TEST_CASE("a --seed override replaces the file's seed") {
  const std::string text = "[simulation]\n"
                           "seed = 5\n"
                           "[topology]\n"
                           "kind = \"random\"\n"
                           "nodes = 50\n"
                           "degree = 4\n";
  auto file = parse_ok(text);
  auto over = parse_ok(text, 6);
  CHECK(file.seed == 5);
  CHECK(over.seed == 6);
  CHECK(file.graph.links == make_random(50, 4, 5).links);
  CHECK(over.graph.links == make_random(50, 4, 6).links);
  CHECK(file.graph.links != over.graph.links);
  // Without a seed key the default is 1; the override still applies.
  auto plain = parse_ok("[topology]\nkind = \"scale-free\"\nnodes = 40\n"
                        "m = 2\n",
                        0);
  CHECK(plain.seed == 0);
  CHECK(plain.graph.links == make_scale_free(40, 2, 0).links);
  CHECK(
      parse_ok("[topology]\nkind = \"scale-free\"\nnodes = 40\nm = 2\n").seed ==
      1);
  // The file's seed is checked even when overridden.
  CHECK(parse_error("[simulation]\nseed = -3\n" + ring10, 6) ==
        "sim.toml:2: simulation.seed must be at least 0, got -3");
  // Any 64-bit override.
  CHECK(parse_ok(ring10, UINT64_MAX).seed == UINT64_MAX);
}

TEST_CASE("keys of other kinds are accepted and ignored (SPEC's example)") {
  auto sc = parse_ok("[topology]\nkind = \"ring\"\nnodes = 5\ndegree = 40\n"
                     "width = 0\nm = -1\n");
  CHECK(sc.graph.links == make_ring(5).links);
  auto ex = parse_ok("[topology]\nkind = \"explicit\"\ndegree = 3\n"
                     "[[nodes]]\nname = \"a\"\n");
  CHECK(ex.graph.nodes == std::vector<std::string>{"a"});
}

TEST_CASE("small and boundary topologies") {
  CHECK(parse_ok("[topology]\nkind = \"random\"\nnodes = 1\ndegree = 5\n")
            .graph.nodes.size() == 1);
  CHECK(parse_ok("[topology]\nkind = \"scale-free\"\nnodes = 1\nm = 9\n")
            .graph.nodes.size() == 1);
  CHECK(parse_ok("[topology]\nkind = \"random\"\nnodes = 2\ndegree = 1\n")
            .graph.links == links_t{{0, 1}});
  CHECK(parse_ok("[topology]\nkind = \"random\"\nnodes = 10\ndegree = 9\n")
            .graph.links == make_full(10).links);
  CHECK(parse_ok("[topology]\nkind = \"grid\"\nnodes = 3\nwidth = 100000\n")
            .graph.links == make_line(3).links);
  CHECK(parse_ok("[topology]\nkind = \"full\"\nnodes = 1414\n")
            .graph.links.size() == 1414 * 1413 / 2);
  CHECK(parse_ok("[topology]\nkind = \"line\"\nnodes = 100000\n")
            .graph.nodes.back() == "n99999");
  // An explicit graph need not be connected.
  CHECK(parse_ok(abc).graph.links.empty());
}

TEST_CASE("tcp: base_port + nodes - 1 up to 65535") {
  CHECK(parse_ok("[simulation]\ntransport = \"tcp\"\nbase_port = 65000\n"
                 "[topology]\nkind = \"line\"\nnodes = 536\n")
            .base_port == 65000);
  CHECK(parse_ok("[simulation]\ntransport = \"tcp\"\nbase_port = 65535\n"
                 "[topology]\nkind = \"line\"\nnodes = 1\n")
            .transport == sim_transport::tcp);
  CHECK(parse_ok("[simulation]\ntransport = \"tcp\"\n"
                 "[topology]\nkind = \"line\"\nnodes = 35536\n")
            .graph.nodes.size() == 35536);
  // Other transports take any number of nodes.
  CHECK(parse_ok("[simulation]\nbase_port = 65535\n"
                 "[topology]\nkind = \"line\"\nnodes = 40000\n")
            .graph.nodes.size() == 40000);
}

TEST_CASE("tcp: explicit nodes past the last port name their [[nodes]] line") {
  std::string text = "[simulation]\ntransport = \"tcp\"\n"
                     "[topology]\nkind = \"explicit\"\n";
  // Line 5 onwards: two lines per node; node i's entry is on line 5 + 2i.
  for (int i = 0; i < 35537; ++i)
    text += "[[nodes]]\nname = \"x" + std::to_string(i) + "\"\n";
  CHECK(parse_error(text) ==
        "sim.toml:" + std::to_string(5 + 2 * 35536) +
            ": simulation.base_port 30000 (default) leaves no port for "
            "node x35536 (ports go up to 65535)");
}

// -- events -------------------------------------------------------------------

TEST_CASE("events are sorted by at_ms, file order kept for equal times") {
  auto sc = parse_ok(ring10 + "[[events]]\n" // 4
                              "at_ms = 300\naction = \"heal_all\"\n"
                              "[[events]]\n" // 7
                              "at_ms = 100\naction = \"kill\"\nnode = \"n1\"\n"
                              "[[events]]\n" // 11
                              "at_ms = 300\naction = \"kill\"\nnode = \"n2\"\n"
                              "[[events]]\n" // 15
                              "at_ms = 0\naction = \"restart\"\n"
                              "node = \"n3\"\n"
                              "[[events]]\n" // 19
                              "at_ms = 100\naction = \"restart\"\n"
                              "node = \"n1\"\n");
  std::vector<std::pair<uint64_t, uint32_t>> order;
  for (auto& ev : sc.events)
    order.emplace_back(ev.at_ms, ev.line);
  CHECK(order == std::vector<std::pair<uint64_t, uint32_t>>{
                     {0, 15}, {100, 7}, {100, 19}, {300, 4}, {300, 11}});
}

TEST_CASE("every action with what it needs") {
  auto sc = parse_ok(ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\n"
                              "from = \"n0\"\nto = \"n5\"\n"
                              "expect = \"unreachable\"\n"
                              "[[events]]\nat_ms = 2\naction = \"traceroute\"\n"
                              "from = \"n0\"\nto = \"n5\"\n"
                              "[[events]]\nat_ms = 3\naction = \"send\"\n"
                              "from = \"n9\"\nto = \"n1\"\n"
                              "[[events]]\nat_ms = 4\naction = \"broadcast\"\n"
                              "from = \"n3\"\nexpect = \"all\"\n"
                              "[[events]]\nat_ms = 5\naction = \"kill\"\n"
                              "node = \"n3\"\n"
                              "[[events]]\nat_ms = 6\naction = \"restart\"\n"
                              "node = \"n3\"\n"
                              "[[events]]\nat_ms = 7\naction = \"cut\"\n"
                              "a = \"n0\"\nb = \"n9\"\n"
                              "[[events]]\nat_ms = 8\naction = \"heal\"\n"
                              "a = \"n9\"\nb = \"n0\"\n"
                              "[[events]]\nat_ms = 9\naction = \"partition\"\n"
                              "side = [\"n0\", \"n1\", \"n2\"]\n"
                              "[[events]]\nat_ms = 86400000\n"
                              "action = \"heal_all\"\n");
  REQUIRE(sc.events.size() == 10);
  CHECK(sc.events[0].expect == sim_expect::unreachable);
  CHECK(sc.events[1].expect == sim_expect::none);
  CHECK(sc.events[2].text.empty()); // send without text: ""
  CHECK(sc.events[3].expect == sim_expect::all);
  CHECK(sc.events[6].a == "n0");
  CHECK(sc.events[7].a == "n9");
  CHECK(sc.events[8].side.size() == 3);
  CHECK(sc.events[9].at_ms == 86400000);
}

TEST_CASE("inline tables are events too") {
  // Top-level keys come before the first table header.
  auto sc = parse_ok("events = [\n"
                     "  {at_ms = 5, action = \"heal_all\"},\n"
                     "  {at_ms = 1, action = \"kill\", node = \"n4\"},\n"
                     "]\n" +
                     ring10);
  REQUIRE(sc.events.size() == 2);
  CHECK(sc.events[0].action == sim_action::kill);
  CHECK(sc.events[0].line == 3);
  CHECK(sc.events[1].line == 2);
  CHECK(parse_error("events = [\n"
                    "  {at_ms = 5, action = \"heal_all\"},\n"
                    "  {at_ms = 1, action = \"kill\", node = \"x\"},\n"
                    "]\n" +
                    ring10) == "sim.toml:3: unknown node 'x' in events.node");
}

TEST_CASE("deterministic with transport direct") {
  auto sc = parse_ok("[simulation]\ntransport = \"direct\"\n"
                     "deterministic = true\n" +
                     ring10);
  CHECK(sc.deterministic);
  CHECK(sc.transport == sim_transport::direct);
}

// -- rejections ---------------------------------------------------------------

TEST_CASE("every rejection rule, with its exact message") {
  struct rejection {
    const char* rule;
    std::string toml;
    std::string message; // what follows "sim.toml"
  };
  // clang-format off
  std::vector<rejection> cases = {
    // -- file and top level
    {"TOML syntax",
     "[topology]\nkind = \n",
     ":2: TOML syntax error in key-value pair: expected value, saw '\\n'"},
    {"TOML: a table defined twice",
     ring10 + "[topology]\n",
     ":4: TOML syntax error in table header: cannot redefine existing table "
     "'topology'"},
    {"[topology] is required",
     "[simulation]\nseed = 3\n",
     ": [topology] is missing"},
    {"an empty file has no topology",
     "",
     ": [topology] is missing"},
    {"unknown section",
     ring10 + "[netwrok]\nmtu = 1\n",
     ":4: unknown section [netwrok]"},
    {"unknown array of tables",
     ring10 + "[[pings]]\nat_ms = 1\n",
     ":4: unknown section [[pings]]"},
    {"unknown top-level key with a hint",
     "seed = 5\n" + ring10,
     ":1: unknown key 'seed' outside any section (it belongs in "
     "[simulation])"},
    {"unknown top-level key",
     "verbose = true\n" + ring10,
     ":1: unknown key 'verbose' outside any section"},
    {"a section that is not a table",
     "simulation = 5\n" + ring10,
     ":1: simulation must be a table, got integer"},
    {"a section given as an array of tables",
     "[[simulation]]\nseed = 1\n" + ring10,
     ":1: simulation must be a table, got array"},
    {"[topology] that is not a table",
     "topology = \"ring\"\n",
     ":1: topology must be a table, got string"},
    {"[[events]] given as a table",
     ring10 + "[events]\nat_ms = 1\n",
     ":4: events must be an array of tables ([[events]]), got table"},
    {"an events entry that is not a table",
     "events = [1]\n" + ring10,
     ":1: each events entry must be a table, got integer"},
    {"a nodes entry that is not a table",
     "nodes = [\"a\"]\n[topology]\nkind = \"explicit\"\n",
     ":1: each nodes entry must be a table, got string"},
    {"earliest line wins",
     "[simulation]\nsettle_ms = -1\nbase_port = 0\n" + ring10,
     ":2: simulation.settle_ms must be 0..3600000, got -1"},

    // -- [simulation]
    {"unknown key in [simulation]",
     "[simulation]\nx = 1\n" + ring10,
     ":2: unknown key 'x' in [simulation]"},
    {"a key of another section in [simulation]",
     "[simulation]\nnodes = 10\n" + ring10,
     ":2: unknown key 'nodes' in [simulation] (it belongs in [topology])"},
    {"a [defaults] key in [simulation]",
     "[simulation]\nheartbeat_ms = 100\n" + ring10,
     ":2: unknown key 'heartbeat_ms' in [simulation] (it belongs in "
     "[defaults])"},
    {"a sub-table of [simulation]",
     "[simulation.extra]\nx = 1\n" + ring10,
     ":1: unknown key 'extra' in [simulation]"},
    {"seed type",
     "[simulation]\nseed = \"42\"\n" + ring10,
     ":2: simulation.seed must be an integer, got string"},
    {"seed negative",
     "[simulation]\nseed = -1\n" + ring10,
     ":2: simulation.seed must be at least 0, got -1"},
    {"transport unknown",
     "[simulation]\ntransport = \"udp\"\n" + ring10,
     ":2: simulation.transport must be one of inproc, tcp, direct, got 'udp'"},
    {"transport is lower case",
     "[simulation]\ntransport = \"TCP\"\n" + ring10,
     ":2: simulation.transport must be one of inproc, tcp, direct, got 'TCP'"},
    {"transport type",
     "[simulation]\ntransport = 1\n" + ring10,
     ":2: simulation.transport must be a string, got integer"},
    {"deterministic type",
     "[simulation]\ndeterministic = \"yes\"\n" + ring10,
     ":2: simulation.deterministic must be a boolean, got string"},
    {"deterministic needs direct",
     "[simulation]\ndeterministic = true\ntransport = \"inproc\"\n" + ring10,
     ":2: simulation.deterministic = true needs transport = \"direct\""},
    {"deterministic needs direct, transport defaulted",
     "[simulation]\nseed = 1\ndeterministic = true\n" + ring10,
     ":3: simulation.deterministic = true needs transport = \"direct\""},
    {"deterministic needs direct, not tcp",
     "[simulation]\ntransport = \"tcp\"\ndeterministic = true\n" + ring10,
     ":3: simulation.deterministic = true needs transport = \"direct\""},
    {"settle_ms too large",
     "[simulation]\nsettle_ms = 3600001\n" + ring10,
     ":2: simulation.settle_ms must be 0..3600000, got 3600001"},
    {"settle_ms type",
     "[simulation]\nsettle_ms = 2.5\n" + ring10,
     ":2: simulation.settle_ms must be an integer, got float"},
    {"base_port zero",
     "[simulation]\nbase_port = 0\n" + ring10,
     ":2: simulation.base_port must be 1..65535, got 0"},
    {"base_port too large",
     "[simulation]\nbase_port = 65536\n" + ring10,
     ":2: simulation.base_port must be 1..65535, got 65536"},
    {"tcp: ports run out",
     "[simulation]\ntransport = \"tcp\"\nbase_port = 65000\n"
     "[topology]\nkind = \"line\"\nnodes = 1000\n",
     ":3: simulation.base_port 65000 leaves no port for node n536 (ports go "
     "up to 65535)"},
    {"tcp: ports run out with the default base_port",
     "[simulation]\ntransport = \"tcp\"\n"
     "[topology]\nkind = \"line\"\nnodes = 40000\n",
     ":5: simulation.base_port 30000 (default) leaves no port for node n35536 "
     "(ports go up to 65535)"},
    {"tcp: explicit nodes past the last port",
     "[simulation]\ntransport = \"tcp\"\nbase_port = 65535\n" + abc,
     ":3: simulation.base_port 65535 leaves no port for node b (ports go up "
     "to 65535)"},

    // -- [defaults]
    {"defaults range",
     ring10 + "[defaults]\nprocessors = 0\n",
     ":5: defaults.processors must be 1..256, got 0"},
    {"defaults unknown key",
     ring10 + "[defaults]\nport = 5501\n",
     ":5: unknown key 'port' in [defaults]"},
    {"defaults type",
     ring10 + "[defaults]\nheartbeat_ms = \"fast\"\n",
     ":5: defaults.heartbeat_ms must be an integer, got string"},
    {"defaults timing",
     ring10 + "[defaults]\nheartbeat_ms = 200\ndead_after_ms = 200\n",
     ":6: defaults.dead_after_ms must be greater than defaults.heartbeat_ms "
     "(200), got 200"},
    {"defaults timing against the default dead_after_ms",
     ring10 + "[defaults]\nheartbeat_ms = 9000\n",
     ":5: defaults.heartbeat_ms 9000 is not less than defaults.dead_after_ms "
     "(default 5000); set defaults.dead_after_ms greater than 9000"},

    // -- [topology]
    {"kind required",
     "[topology]\nnodes = 10\n",
     ":1: missing required key topology.kind"},
    {"a misspelt key is reported, not the missing one",
     "[topology]\nkidn = \"ring\"\nnodes = 10\n",
     ":2: unknown key 'kidn' in [topology]"},
    {"a [simulation] key in [topology]",
     "[topology]\nkind = \"ring\"\nnodes = 10\nseed = 4\n",
     ":4: unknown key 'seed' in [topology] (it belongs in [simulation])"},
    {"kind unknown",
     "[topology]\nkind = \"hexagon\"\nnodes = 10\n",
     ":2: topology.kind must be one of explicit, line, ring, star, grid, "
     "full, random, scale-free, got 'hexagon'"},
    {"kind type",
     "[topology]\nkind = 3\n",
     ":2: topology.kind must be a string, got integer"},
    {"nodes required by a generator",
     "[topology]\nkind = \"ring\"\n",
     ":1: missing required key topology.nodes for kind = \"ring\""},
    {"nodes zero",
     "[topology]\nkind = \"star\"\nnodes = 0\n",
     ":3: topology.nodes must be 1..100000, got 0"},
    {"nodes too many",
     "[topology]\nkind = \"line\"\nnodes = 100001\n",
     ":3: topology.nodes must be 1..100000, got 100001"},
    {"nodes type",
     "[topology]\nkind = \"line\"\nnodes = \"ten\"\n",
     ":3: topology.nodes must be an integer, got string"},
    {"nodes with explicit",
     "[topology]\nkind = \"explicit\"\nnodes = 3\n[[nodes]]\nname = \"a\"\n",
     ":3: topology.nodes is for generators; list [[nodes]] instead"},
    {"degree required by random",
     "[topology]\nkind = \"random\"\nnodes = 10\n",
     ":1: missing required key topology.degree for kind = \"random\""},
    {"degree zero",
     "[topology]\nkind = \"random\"\nnodes = 10\ndegree = 0\n",
     ":4: topology.degree must be 1..9 (less than topology.nodes), got 0"},
    {"degree as large as nodes",
     "[topology]\nkind = \"random\"\nnodes = 10\ndegree = 10\n",
     ":4: topology.degree must be 1..9 (less than topology.nodes), got 10"},
    {"degree zero with one node",
     "[topology]\nkind = \"random\"\nnodes = 1\ndegree = 0\n",
     ":4: topology.degree must be at least 1, got 0"},
    {"degree of another kind is still an integer",
     "[topology]\nkind = \"ring\"\nnodes = 10\ndegree = \"four\"\n",
     ":4: topology.degree must be an integer, got string"},
    {"width required by grid",
     "[topology]\nkind = \"grid\"\nnodes = 10\n",
     ":1: missing required key topology.width for kind = \"grid\""},
    {"width zero",
     "[topology]\nkind = \"grid\"\nnodes = 10\nwidth = 0\n",
     ":4: topology.width must be 1..100000, got 0"},
    {"width of another kind is still an integer",
     "[topology]\nkind = \"ring\"\nnodes = 10\nwidth = 1.5\n",
     ":4: topology.width must be an integer, got float"},
    {"m required by scale-free",
     "[topology]\nkind = \"scale-free\"\nnodes = 10\n",
     ":1: missing required key topology.m for kind = \"scale-free\""},
    {"m as large as nodes",
     "[topology]\nkind = \"scale-free\"\nnodes = 10\nm = 10\n",
     ":4: topology.m must be 1..9 (less than topology.nodes), got 10"},
    {"m of another kind is still an integer",
     "[topology]\nkind = \"ring\"\nnodes = 10\nm = true\n",
     ":4: topology.m must be an integer, got boolean"},
    {"full: too many links",
     "[topology]\nkind = \"full\"\nnodes = 2000\n",
     ":3: topology.nodes 2000 makes 1999000 links with kind = \"full\"; a "
     "scenario may have at most 1000000"},
    {"random: too many links",
     "[topology]\nkind = \"random\"\nnodes = 100000\ndegree = 50\n",
     ":4: topology.degree 50 makes 2500000 links with 100000 nodes; a "
     "scenario may have at most 1000000"},
    {"scale-free: too many links",
     "[topology]\nkind = \"scale-free\"\nm = 20\nnodes = 100000\n",
     ":3: topology.m 20 makes 1999790 links with 100000 nodes; a scenario "
     "may have at most 1000000"},
    {"explicit needs [[nodes]]",
     "[topology]\nkind = \"explicit\"\n",
     ":2: topology.kind = \"explicit\" needs [[nodes]] entries"},
    {"explicit needs [[nodes]], an empty array is none",
     "nodes = []\n[topology]\nkind = \"explicit\"\n",
     ":3: topology.kind = \"explicit\" needs [[nodes]] entries"},

    // -- [[nodes]]
    {"[[nodes]] with a generator",
     ring10 + "[[nodes]]\nname = \"a\"\n",
     ":4: [[nodes]] needs topology.kind = \"explicit\""},
    {"[[nodes]] as a table",
     "[topology]\nkind = \"explicit\"\n[nodes]\nname = \"a\"\n",
     ":3: nodes must be an array of tables ([[nodes]]), got table"},
    {"node name required",
     "[topology]\nkind = \"explicit\"\n[[nodes]]\n",
     ":3: missing required key nodes.name"},
    {"node entry unknown key",
     "[topology]\nkind = \"explicit\"\n[[nodes]]\nnmae = \"a\"\n",
     ":4: unknown key 'nmae' in [[nodes]]"},
    {"node name type",
     "[topology]\nkind = \"explicit\"\n[[nodes]]\nname = 5\n",
     ":4: nodes.name must be a string, got integer"},
    {"node name reserved",
     "[topology]\nkind = \"explicit\"\n[[nodes]]\nname = \"all\"\n",
     ":4: nodes.name must be a valid node name " + name_rule + ", got 'all'"},
    {"node name with a space",
     "[topology]\nkind = \"explicit\"\n[[nodes]]\nname = \"a b\"\n",
     ":4: nodes.name must be a valid node name " + name_rule + ", got 'a b'"},
    {"node name duplicate",
     abc + "[[nodes]]\nname = \"b\"\n",
     ":10: duplicate node name 'b'"},

    // -- [[links]]
    {"[[links]] with a generator",
     ring10 + "[[links]]\na = \"n0\"\nb = \"n1\"\n",
     ":4: [[links]] needs topology.kind = \"explicit\""},
    {"link needs b",
     abc + "[[links]]\na = \"a\"\n",
     ":9: missing required key links.b"},
    {"link needs a",
     abc + "[[links]]\nb = \"a\"\n",
     ":9: missing required key links.a"},
    {"link entry unknown key",
     abc + "[[links]]\na = \"a\"\nb = \"b\"\nweight = 3\n",
     ":12: unknown key 'weight' in [[links]]"},
    {"link end type",
     abc + "[[links]]\na = 1\nb = \"b\"\n",
     ":10: links.a must be a string, got integer"},
    {"link a unknown",
     abc + "[[links]]\na = \"x\"\nb = \"b\"\n",
     ":10: unknown node 'x' in links.a"},
    {"link b unknown",
     abc + "[[links]]\na = \"a\"\nb = \"d\"\n",
     ":11: unknown node 'd' in links.b"},
    {"link to itself",
     abc + "[[links]]\na = \"a\"\nb = \"a\"\n",
     ":11: links.a and links.b are the same node 'a'"},
    {"duplicate link",
     abc + "[[links]]\na = \"a\"\nb = \"b\"\n[[links]]\na = \"a\"\nb = \"b\"\n",
     ":12: duplicate link a-b (already listed at line 9)"},
    {"duplicate link the other way round",
     abc + "[[links]]\na = \"a\"\nb = \"b\"\n[[links]]\na = \"b\"\nb = \"a\"\n",
     ":12: duplicate link b-a (already listed at line 9)"},
    {"a link to a rejected node reports the node, not the link",
     "[[links]]\na = \"all\"\nb = \"b\"\n"
     "[topology]\nkind = \"explicit\"\n"
     "[[nodes]]\nname = \"all\"\n[[nodes]]\nname = \"b\"\n",
     ":7: nodes.name must be a valid node name " + name_rule + ", got 'all'"},

    // -- [[events]]: keys and types
    {"event needs at_ms",
     ring10 + "[[events]]\naction = \"heal_all\"\n",
     ":4: missing required key events.at_ms"},
    {"event needs action",
     ring10 + "[[events]]\nat_ms = 1\n",
     ":4: missing required key events.action"},
    {"event unknown key, not the missing key it causes",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n0\"\n"
              "too = \"n5\"\n",
     ":8: unknown key 'too' in [[events]]"},
    {"event key of another section",
     ring10 + "[[events]]\nat_ms = 1\naction = \"heal_all\"\nname = \"n1\"\n",
     ":7: unknown key 'name' in [[events]] (it belongs in [[nodes]])"},
    {"at_ms negative",
     ring10 + "[[events]]\nat_ms = -1\naction = \"heal_all\"\n",
     ":5: events.at_ms must be 0..86400000, got -1"},
    {"at_ms past a day",
     ring10 + "[[events]]\nat_ms = 86400001\naction = \"heal_all\"\n",
     ":5: events.at_ms must be 0..86400000, got 86400001"},
    {"at_ms type",
     ring10 + "[[events]]\nat_ms = \"soon\"\naction = \"heal_all\"\n",
     ":5: events.at_ms must be an integer, got string"},
    {"action unknown",
     ring10 + "[[events]]\nat_ms = 1\naction = \"explode\"\n",
     ":6: events.action must be one of ping, traceroute, send, broadcast, "
     "kill, restart, cut, heal, partition, heal_all, degrade, stall, got "
     "'explode'"},
    {"action type",
     ring10 + "[[events]]\nat_ms = 1\naction = [\"ping\"]\n",
     ":6: events.action must be a string, got array"},
    {"a key the action does not use is still type-checked",
     ring10 + "[[events]]\nat_ms = 1\naction = \"kill\"\nnode = \"n1\"\n"
              "text = 5\n",
     ":8: events.text must be a string, got integer"},
    {"another unused key, type-checked",
     ring10 + "[[events]]\nat_ms = 1\naction = \"heal_all\"\nfrom = 0\n",
     ":7: events.from must be a string, got integer"},
    {"side type",
     ring10 + "[[events]]\nat_ms = 1\naction = \"partition\"\n"
              "side = \"n0\"\n",
     ":7: events.side must be an array of strings, got string"},
    {"side entries are strings",
     ring10 + "[[events]]\nat_ms = 1\naction = \"partition\"\n"
              "side = [\"n0\",\n  1]\n",
     ":8: each events.side entry must be a string, got integer"},
    {"expect unknown",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n0\"\n"
              "to = \"n1\"\nexpect = \"maybe\"\n",
     ":9: events.expect must be one of delivered, unreachable, all, got "
     "'maybe'"},
    {"expect none is not a value",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n0\"\n"
              "to = \"n1\"\nexpect = \"none\"\n",
     ":9: events.expect must be one of delivered, unreachable, all, got "
     "'none'"},

    // -- [[events]]: what each action needs
    {"ping needs from",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nto = \"n1\"\n",
     ":4: missing required key events.from for action = \"ping\""},
    {"ping needs to",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n1\"\n",
     ":4: missing required key events.to for action = \"ping\""},
    {"traceroute needs to",
     ring10 + "[[events]]\nat_ms = 1\naction = \"traceroute\"\n"
              "from = \"n1\"\n",
     ":4: missing required key events.to for action = \"traceroute\""},
    {"send needs from",
     ring10 + "[[events]]\nat_ms = 1\naction = \"send\"\nto = \"n1\"\n"
              "text = \"hi\"\n",
     ":4: missing required key events.from for action = \"send\""},
    {"broadcast needs from",
     ring10 + "[[events]]\nat_ms = 1\naction = \"broadcast\"\n"
              "text = \"hi\"\n",
     ":4: missing required key events.from for action = \"broadcast\""},
    {"kill needs node",
     ring10 + "[[events]]\nat_ms = 1\naction = \"kill\"\n",
     ":4: missing required key events.node for action = \"kill\""},
    {"restart needs node",
     ring10 + "[[events]]\nat_ms = 1\naction = \"restart\"\nfrom = \"n1\"\n",
     ":4: missing required key events.node for action = \"restart\""},
    {"cut needs b",
     ring10 + "[[events]]\nat_ms = 1\naction = \"cut\"\na = \"n1\"\n",
     ":4: missing required key events.b for action = \"cut\""},
    {"heal needs a",
     ring10 + "[[events]]\nat_ms = 1\naction = \"heal\"\nb = \"n1\"\n",
     ":4: missing required key events.a for action = \"heal\""},
    {"partition needs side",
     ring10 + "[[events]]\nat_ms = 1\naction = \"partition\"\n",
     ":4: missing required key events.side for action = \"partition\""},

    // -- [[events]]: names
    {"from unknown",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n10\"\n"
              "to = \"n1\"\n",
     ":7: unknown node 'n10' in events.from"},
    {"to unknown",
     ring10 + "[[events]]\nat_ms = 1\naction = \"send\"\nfrom = \"n0\"\n"
              "to = \"zed\"\n",
     ":8: unknown node 'zed' in events.to"},
    {"to all",
     ring10 + "[[events]]\nat_ms = 1\naction = \"send\"\nfrom = \"n0\"\n"
              "to = \"all\"\n",
     ":8: events.to cannot be 'all': use action = \"broadcast\""},
    {"to *",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n0\"\n"
              "to = \"*\"\n",
     ":8: events.to cannot be '*': use action = \"broadcast\""},
    {"from and to the same",
     ring10 + "[[events]]\nat_ms = 1\naction = \"traceroute\"\n"
              "from = \"n3\"\nto = \"n3\"\n",
     ":8: events.from and events.to are the same node 'n3'"},
    {"broadcast from unknown",
     ring10 + "[[events]]\nat_ms = 1\naction = \"broadcast\"\n"
              "from = \"all\"\n",
     ":7: unknown node 'all' in events.from"},
    {"kill unknown",
     ring10 + "[[events]]\nat_ms = 1\naction = \"kill\"\nnode = \"N1\"\n",
     ":7: unknown node 'N1' in events.node"},
    {"cut a unknown",
     ring10 + "[[events]]\nat_ms = 1\naction = \"cut\"\na = \"n99\"\n"
              "b = \"n0\"\n",
     ":7: unknown node 'n99' in events.a"},
    {"cut not a link",
     ring10 + "[[events]]\nat_ms = 1\naction = \"cut\"\na = \"n0\"\n"
              "b = \"n5\"\n",
     ":8: n0-n5 is not a link of the topology"},
    {"heal not a link",
     abc + "[[events]]\nat_ms = 1\naction = \"heal\"\na = \"a\"\n"
           "b = \"c\"\n",
     ":13: a-c is not a link of the topology"},
    {"cut a node from itself",
     ring10 + "[[events]]\nat_ms = 1\naction = \"cut\"\na = \"n0\"\n"
              "b = \"n0\"\n",
     ":8: events.a and events.b are the same node 'n0'"},
    {"explicit: event names are [[nodes]] names",
     abc + "[[events]]\nat_ms = 1\naction = \"kill\"\nnode = \"n0\"\n",
     ":12: unknown node 'n0' in events.node"},
    {"partition side empty",
     ring10 + "[[events]]\nat_ms = 1\naction = \"partition\"\nside = []\n",
     ":7: events.side must not be empty"},
    {"partition side repeats a node",
     ring10 + "[[events]]\nat_ms = 1\naction = \"partition\"\n"
              "side = [\n  \"n1\",\n  \"n2\",\n  \"n1\",\n]\n",
     ":10: duplicate node 'n1' in events.side"},
    {"partition side unknown node",
     ring10 + "[[events]]\nat_ms = 1\naction = \"partition\"\n"
              "side = [\"n1\", \"q\"]\n",
     ":7: unknown node 'q' in events.side"},
    {"partition side is every node",
     abc + "[[events]]\nat_ms = 1\naction = \"partition\"\n"
           "side = [\"c\", \"a\", \"b\"]\n",
     ":12: events.side lists every node; the other side would be empty"},
    {"names are not checked against a topology that is invalid",
     "[[events]]\nat_ms = 1\naction = \"kill\"\nnode = \"zzz\"\n"
     "[topology]\nkind = \"ring\"\nnodes = 0\n",
     ":7: topology.nodes must be 1..100000, got 0"},

    // -- [[events]]: expect
    {"expect all is for broadcast",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n0\"\n"
              "to = \"n1\"\nexpect = \"all\"\n",
     ":9: events.expect = \"all\" is for action = \"broadcast\" only"},
    {"expect delivered is not for broadcast",
     ring10 + "[[events]]\nat_ms = 1\naction = \"broadcast\"\n"
              "from = \"n0\"\nexpect = \"delivered\"\n",
     ":8: events.expect = \"delivered\" is for action = \"ping\", "
     "\"traceroute\" or \"send\" only"},
    {"expect unreachable is not for kill",
     ring10 + "[[events]]\nat_ms = 1\naction = \"kill\"\nnode = \"n0\"\n"
              "expect = \"unreachable\"\n",
     ":8: events.expect = \"unreachable\" is for action = \"ping\", "
     "\"traceroute\" or \"send\" only"},
    {"expect all is not for heal_all",
     ring10 + "[[events]]\nat_ms = 1\naction = \"heal_all\"\n"
              "expect = \"all\"\n",
     ":7: events.expect = \"all\" is for action = \"broadcast\" only"},
  };
  // clang-format on
  for (auto& c : cases) {
    INFO(c.rule << "\n" << c.toml);
    CHECK(parse_error(c.toml) == "sim.toml" + c.message);
  }
  CHECK(cases.size() >= 60);
}

// -- networks that are not perfect (SPEC §13) ---------------------------------

namespace {

/// Lines 1-5: transport "direct", then a ring of 10 (lines 3-5).
const std::string direct10 = "[simulation]\n"
                             "transport = \"direct\"\n" +
                             ring10;

} // namespace

TEST_CASE("SPEC §13 defaults: no network, timeline every 100 ms, 2 s waits") {
  auto sc = parse_ok(ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\n"
                              "from = \"n0\"\nto = \"n5\"\n");
  CHECK(sc.sample_ms == 100);
  CHECK_FALSE(sc.network.given);
  CHECK(sc.network.defaults == link_params{});
  CHECK(sc.network.defaults.perfect());
  CHECK(sc.network.links.empty());
  REQUIRE(sc.events.size() == 1);
  CHECK(sc.events[0].within_ms == 2000);
  CHECK(sc.events[0].duration_ms == 0);
  CHECK(sc.events[0].change.empty());
}

TEST_CASE("simulation.sample_ms: 0, 10 and 60000") {
  for (uint64_t ms : {0, 10, 250, 60000}) {
    auto sc = parse_ok("[simulation]\nsample_ms = " + std::to_string(ms) +
                       "\n" + ring10);
    CHECK(sc.sample_ms == ms);
  }
}

TEST_CASE("[network] and [[network.links]]: every key") {
  auto sc = parse_ok(direct10 + "[network]\n"
                                "latency_ms = 20\n"
                                "jitter_ms = 5\n"
                                "loss = 0.01\n"
                                "bandwidth_kbps = 1000\n"
                                "[[network.links]]\n" // line 11
                                "a = \"n0\"\n"
                                "b = \"n1\"\n"
                                "latency_ms = 150\n"
                                "loss = 0.05\n"
                                "[[network.links]]\n" // line 16
                                "a = \"n5\"\n"
                                "b = \"n4\"\n"
                                "jitter_ms = 60000\n"
                                "bandwidth_kbps = 10000000\n"
                                "[[network.links]]\n" // line 21
                                "a = \"n9\"\n"
                                "b = \"n0\"\n"
                                "loss = 1.0\n");
  CHECK(sc.network.given);
  CHECK(sc.network.defaults == link_params{20, 5, 0.01, 1000});
  REQUIRE(sc.network.links.size() == 3);
  auto& l0 = sc.network.links[0];
  CHECK(l0.line == 11);
  CHECK(l0.a == "n0");
  CHECK(l0.b == "n1");
  CHECK(l0.change.latency_ms == std::optional<uint64_t>{150});
  CHECK_FALSE(l0.change.jitter_ms);
  CHECK(l0.change.loss == std::optional<double>{0.05});
  CHECK_FALSE(l0.change.bandwidth_kbps);
  // Keys left out follow [network].
  CHECK(l0.change.applied_to(sc.network.defaults) ==
        link_params{150, 5, 0.05, 1000});
  auto& l1 = sc.network.links[1];
  CHECK(l1.line == 16);
  CHECK(l1.a == "n5"); // as given, not normalised
  CHECK(l1.b == "n4");
  CHECK_FALSE(l1.change.latency_ms);
  CHECK(l1.change.jitter_ms == std::optional<uint64_t>{60000});
  CHECK_FALSE(l1.change.loss);
  CHECK(l1.change.bandwidth_kbps == std::optional<uint64_t>{10000000});
  auto& l2 = sc.network.links[2];
  CHECK(l2.line == 21);
  CHECK(l2.change.loss == std::optional<double>{1.0});
}

TEST_CASE("[network]: the bounds of every range, loss as 0 or 1") {
  auto sc = parse_ok(direct10 + "[network]\nlatency_ms = 60000\n"
                                "jitter_ms = 0\nloss = 1\n"
                                "bandwidth_kbps = 0\n");
  CHECK(sc.network.defaults == link_params{60000, 0, 1.0, 0});
  sc = parse_ok(direct10 + "[network]\nlatency_ms = 0\njitter_ms = 60000\n"
                           "loss = 0\nbandwidth_kbps = 10000000\n");
  CHECK(sc.network.defaults == link_params{0, 60000, 0.0, 10000000});
  sc = parse_ok(direct10 + "[network]\nloss = 0.0\n");
  CHECK(sc.network.defaults.loss == 0.0);
  sc = parse_ok(direct10 + "[network]\nloss = 1e-3\n");
  CHECK(sc.network.defaults.loss == 0.001);
}

TEST_CASE("[network] is given when present at all") {
  auto empty = parse_ok(direct10 + "[network]\n");
  CHECK(empty.network.given);
  CHECK(empty.network.defaults.perfect());
  auto only_links = parse_ok(direct10 + "[[network.links]]\na = \"n3\"\n"
                                        "b = \"n2\"\nlatency_ms = 7\n");
  CHECK(only_links.network.given);
  CHECK(only_links.network.defaults.perfect());
  REQUIRE(only_links.network.links.size() == 1);
  CHECK(only_links.network.links[0].change.latency_ms ==
        std::optional<uint64_t>{7});
  auto inline_table = parse_ok("network = {loss = 0.5, links = [\n"
                               "  {a = \"n0\", b = \"n1\", loss = 0.0}]}\n"
                               "[simulation]\ntransport = \"direct\"\n" +
                               ring10);
  CHECK(inline_table.network.defaults.loss == 0.5);
  REQUIRE(inline_table.network.links.size() == 1);
  CHECK(inline_table.network.links[0].line == 2);
  auto deterministic = parse_ok("[simulation]\ntransport = \"direct\"\n"
                                "deterministic = true\n" +
                                ring10 + "[network]\nlatency_ms = 10\n");
  CHECK(deterministic.network.defaults.latency_ms == 10);
}

TEST_CASE("degrade: one link or every link; stall; within_ms on every action") {
  auto sc = parse_ok(direct10 + "[[events]]\nat_ms = 1\naction = \"degrade\"\n"
                                "a = \"n0\"\nb = \"n1\"\nlatency_ms = 300\n"
                                "bandwidth_kbps = 1000\n"
                                "[[events]]\nat_ms = 2\naction = \"degrade\"\n"
                                "jitter_ms = 40\nloss = 0.2\nwithin_ms = 1\n"
                                "[[events]]\nat_ms = 3\naction = \"stall\"\n"
                                "node = \"n4\"\nduration_ms = 3000\n"
                                "[[events]]\nat_ms = 4\naction = \"stall\"\n"
                                "node = \"n5\"\nduration_ms = 600000\n"
                                "within_ms = 600000\n"
                                "[[events]]\nat_ms = 5\naction = \"ping\"\n"
                                "from = \"n0\"\nto = \"n5\"\nwithin_ms = 9000\n"
                                "[[events]]\nat_ms = 6\naction = \"degrade\"\n"
                                "a = \"n9\"\nb = \"n0\"\nloss = 1\n"
                                "[[events]]\nat_ms = 7\naction = \"stall\"\n"
                                "node = \"n0\"\nduration_ms = 1\n");
  REQUIRE(sc.events.size() == 7);
  auto& one = sc.events[0];
  CHECK(one.action == sim_action::degrade);
  CHECK(one.a == "n0");
  CHECK(one.b == "n1");
  CHECK(one.change.latency_ms == std::optional<uint64_t>{300});
  CHECK_FALSE(one.change.jitter_ms);
  CHECK_FALSE(one.change.loss);
  CHECK(one.change.bandwidth_kbps == std::optional<uint64_t>{1000});
  CHECK(one.within_ms == 2000);
  auto& every = sc.events[1];
  CHECK(every.a.empty());
  CHECK(every.b.empty());
  CHECK_FALSE(every.change.latency_ms);
  CHECK(every.change.jitter_ms == std::optional<uint64_t>{40});
  CHECK(every.change.loss == std::optional<double>{0.2});
  CHECK(every.within_ms == 1);
  CHECK(sc.events[2].action == sim_action::stall);
  CHECK(sc.events[2].node == "n4");
  CHECK(sc.events[2].duration_ms == 3000);
  CHECK(sc.events[2].change.empty());
  CHECK(sc.events[3].duration_ms == 600000);
  CHECK(sc.events[3].within_ms == 600000);
  CHECK(sc.events[4].within_ms == 9000);
  CHECK(sc.events[5].change.loss == std::optional<double>{1.0});
  CHECK(sc.events[6].duration_ms == 1);
}

TEST_CASE("§13 keys an action does not use are accepted, not stored") {
  // As rule 11: type-checked, not range-checked, and not stored.
  auto sc = parse_ok(ring10 + "[[events]]\nat_ms = 1\naction = \"kill\"\n"
                              "node = \"n1\"\nlatency_ms = 99999999\n"
                              "loss = 7\nduration_ms = 0\n"
                              "[[events]]\nat_ms = 2\naction = \"stall\"\n"
                              "node = \"n2\"\nduration_ms = 5\n"
                              "jitter_ms = 3\nbandwidth_kbps = -1\n"
                              "loss = 0.5\n");
  REQUIRE(sc.events.size() == 2);
  CHECK(sc.events[0].change.empty());
  CHECK(sc.events[0].duration_ms == 0);
  CHECK(sc.events[1].change.empty());
  CHECK(sc.events[1].duration_ms == 5);
  // stall is not a link key: every transport takes it.
  CHECK(sc.transport == sim_transport::inproc);
}

TEST_CASE("every §13 rejection, with its exact message") {
  struct rejection {
    const char* rule;
    std::string toml;
    std::string message; // what follows "sim.toml"
  };
  const std::string inproc10 = "[simulation]\ntransport = \"inproc\"\n" +
                               ring10; // lines 1-5, as direct10
  const std::string degrade_n0_n1 = "[[events]]\nat_ms = 1\n"
                                    "action = \"degrade\"\n"; // +3 lines
  // clang-format off
  std::vector<rejection> cases = {
    // -- simulation.sample_ms
    {"sample_ms 1..9",
     "[simulation]\nsample_ms = 9\n" + ring10,
     ":2: simulation.sample_ms must be 0 or 10..60000, got 9"},
    {"sample_ms 1",
     "[simulation]\nsample_ms = 1\n" + ring10,
     ":2: simulation.sample_ms must be 0 or 10..60000, got 1"},
    {"sample_ms too large",
     "[simulation]\nsample_ms = 60001\n" + ring10,
     ":2: simulation.sample_ms must be 0 or 10..60000, got 60001"},
    {"sample_ms negative",
     "[simulation]\nsample_ms = -10\n" + ring10,
     ":2: simulation.sample_ms must be 0 or 10..60000, got -10"},
    {"sample_ms type",
     "[simulation]\nsample_ms = 0.5\n" + ring10,
     ":2: simulation.sample_ms must be an integer, got float"},

    // -- [network]: keys, types, ranges
    {"network not a table",
     "network = 5\n" + ring10,
     ":1: network must be a table, got integer"},
    {"[[network]]",
     direct10 + "[[network]]\nloss = 0.1\n",
     ":6: network must be a table, got array"},
    {"unknown key in [network]",
     direct10 + "[network]\nmtu = 1500\n",
     ":7: unknown key 'mtu' in [network]"},
    {"a key of another section in [network]",
     direct10 + "[network]\nseed = 3\n",
     ":7: unknown key 'seed' in [network] (it belongs in [simulation])"},
    {"an event key in [network]",
     direct10 + "[network]\nduration_ms = 3\n",
     ":7: unknown key 'duration_ms' in [network] (it belongs in [[events]])"},
    {"a sub-table of [network]",
     direct10 + "[network.fast]\nlatency_ms = 1\n",
     ":6: unknown key 'fast' in [network]"},
    {"a [network] key elsewhere",
     "[simulation]\nlatency_ms = 5\n" + ring10,
     ":2: unknown key 'latency_ms' in [simulation] (it belongs in "
     "[[events]], [network] or [[network.links]])"},
    {"a [network] key at the top",
     "loss = 0.5\n" + ring10,
     ":1: unknown key 'loss' outside any section (it belongs in [[events]], "
     "[network] or [[network.links]])"},
    {"latency_ms too large",
     direct10 + "[network]\nlatency_ms = 60001\n",
     ":7: network.latency_ms must be 0..60000, got 60001"},
    {"latency_ms negative",
     direct10 + "[network]\nlatency_ms = -1\n",
     ":7: network.latency_ms must be 0..60000, got -1"},
    {"latency_ms type",
     direct10 + "[network]\nlatency_ms = 20.5\n",
     ":7: network.latency_ms must be an integer, got float"},
    {"jitter_ms too large",
     direct10 + "[network]\njitter_ms = 60001\n",
     ":7: network.jitter_ms must be 0..60000, got 60001"},
    {"jitter_ms negative",
     direct10 + "[network]\njitter_ms = -5\n",
     ":7: network.jitter_ms must be 0..60000, got -5"},
    {"jitter_ms type",
     direct10 + "[network]\njitter_ms = \"5\"\n",
     ":7: network.jitter_ms must be an integer, got string"},
    {"loss above 1",
     direct10 + "[network]\nloss = 1.5\n",
     ":7: network.loss must be 0.0..1.0, got 1.5"},
    {"loss just above 1",
     direct10 + "[network]\nloss = 1.0000001\n",
     ":7: network.loss must be 0.0..1.0, got 1.0000001"},
    {"loss negative",
     direct10 + "[network]\nloss = -0.01\n",
     ":7: network.loss must be 0.0..1.0, got -0.01"},
    {"loss 2.0",
     direct10 + "[network]\nloss = 2.0\n",
     ":7: network.loss must be 0.0..1.0, got 2.0"},
    {"loss an integer other than 0 or 1",
     direct10 + "[network]\nloss = 2\n",
     ":7: network.loss must be 0.0..1.0, got 2"},
    {"loss nan",
     direct10 + "[network]\nloss = nan\n",
     ":7: network.loss must be 0.0..1.0, got nan"},
    {"loss inf",
     direct10 + "[network]\nloss = inf\n",
     ":7: network.loss must be 0.0..1.0, got inf"},
    {"loss type",
     direct10 + "[network]\nloss = \"1%\"\n",
     ":7: network.loss must be a number, got string"},
    {"loss boolean",
     direct10 + "[network]\nloss = true\n",
     ":7: network.loss must be a number, got boolean"},
    {"bandwidth_kbps too large",
     direct10 + "[network]\nbandwidth_kbps = 10000001\n",
     ":7: network.bandwidth_kbps must be 0..10000000, got 10000001"},
    {"bandwidth_kbps negative",
     direct10 + "[network]\nbandwidth_kbps = -1\n",
     ":7: network.bandwidth_kbps must be 0..10000000, got -1"},
    {"bandwidth_kbps type",
     direct10 + "[network]\nbandwidth_kbps = \"1M\"\n",
     ":7: network.bandwidth_kbps must be an integer, got string"},
    {"earliest line wins in [network]",
     direct10 + "[network]\nloss = 3.0\nlatency_ms = -1\n",
     ":7: network.loss must be 0.0..1.0, got 3.0"},

    // -- [[network.links]]
    {"network.links as a table",
     direct10 + "[network.links]\na = \"n0\"\nb = \"n1\"\nloss = 0.1\n",
     ":6: network.links must be an array of tables ([[network.links]]), "
     "got table"},
    {"network.links as a number",
     direct10 + "[network]\nlinks = 3\n",
     ":7: network.links must be an array of tables ([[network.links]]), "
     "got integer"},
    {"a network.links entry that is not a table",
     direct10 + "[network]\nlinks = [\n  \"n0-n1\",\n]\n",
     ":8: each network.links entry must be a table, got string"},
    {"link needs a",
     direct10 + "[[network.links]]\nb = \"n1\"\nloss = 0.1\n",
     ":6: missing required key network.links.a"},
    {"link needs b",
     direct10 + "[[network.links]]\na = \"n1\"\nloss = 0.1\n",
     ":6: missing required key network.links.b"},
    {"link needs one of the four keys",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n",
     ":6: [[network.links]] needs one of latency_ms, jitter_ms, loss, "
     "bandwidth_kbps"},
    {"link unknown key, not the missing ones it causes",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\nlatncy_ms = 5\n",
     ":9: unknown key 'latncy_ms' in [[network.links]]"},
    {"link key of another section",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\nloss = 0.1\n"
                "within_ms = 5\n",
     ":10: unknown key 'within_ms' in [[network.links]] (it belongs in "
     "[[events]])"},
    {"link a type",
     direct10 + "[[network.links]]\na = 0\nb = \"n1\"\nloss = 0.1\n",
     ":7: network.links.a must be a string, got integer"},
    {"link a unknown",
     direct10 + "[[network.links]]\na = \"n10\"\nb = \"n1\"\nloss = 0.1\n",
     ":7: unknown node 'n10' in network.links.a"},
    {"link b unknown",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"x\"\nloss = 0.1\n",
     ":8: unknown node 'x' in network.links.b"},
    {"link a == b",
     direct10 + "[[network.links]]\na = \"n3\"\nb = \"n3\"\nloss = 0.1\n",
     ":8: network.links.a and network.links.b are the same node 'n3'"},
    {"link not of the topology",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n5\"\nloss = 0.1\n",
     ":8: n0-n5 is not a link of the topology"},
    {"explicit: link not of the topology",
     "[simulation]\ntransport = \"direct\"\n" + abc +
     "[[links]]\na = \"a\"\nb = \"b\"\n"
     "[[network.links]]\na = \"a\"\nb = \"c\"\nloss = 0.1\n",
     ":16: a-c is not a link of the topology"},
    {"link listed twice",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\nloss = 0.1\n"
                "[[network.links]]\na = \"n0\"\nb = \"n1\"\nlatency_ms = 1\n",
     ":10: duplicate link n0-n1 (already listed at line 6)"},
    {"link listed twice, the other way round",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\nloss = 0.1\n"
                "[[network.links]]\na = \"n1\"\nb = \"n0\"\nlatency_ms = 1\n",
     ":10: duplicate link n1-n0 (already listed at line 6)"},
    {"link latency_ms range",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
                "latency_ms = 60001\n",
     ":9: network.links.latency_ms must be 0..60000, got 60001"},
    {"link jitter_ms range",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
                "jitter_ms = -1\n",
     ":9: network.links.jitter_ms must be 0..60000, got -1"},
    {"link loss range",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\nloss = 1.01\n",
     ":9: network.links.loss must be 0.0..1.0, got 1.01"},
    {"link loss type",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\nloss = [0.1]\n",
     ":9: network.links.loss must be a number, got array"},
    {"link bandwidth_kbps range",
     direct10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\n"
                "bandwidth_kbps = 10000001\n",
     ":9: network.links.bandwidth_kbps must be 0..10000000, got 10000001"},
    {"link names are not checked against an invalid topology",
     "[[network.links]]\na = \"zz\"\nb = \"n1\"\nloss = 0.1\n"
     "[simulation]\ntransport = \"direct\"\n"
     "[topology]\nkind = \"ring\"\nnodes = 0\n",
     ":9: topology.nodes must be 1..100000, got 0"},

    // -- transport other than direct
    {"[network] with inproc",
     inproc10 + "[network]\nlatency_ms = 20\n",
     ":6: [network] needs transport = \"direct\""},
    {"[network] with the default transport",
     ring10 + "[network]\nloss = 0.1\n",
     ":4: [network] needs transport = \"direct\""},
    {"[network] with tcp",
     "[simulation]\ntransport = \"tcp\"\n" + ring10 +
     "[network]\nbandwidth_kbps = 8\n",
     ":6: [network] needs transport = \"direct\""},
    {"an empty [network] with inproc",
     inproc10 + "[network]\n",
     ":6: [network] needs transport = \"direct\""},
    {"[network] before [simulation]",
     "[network]\njitter_ms = 1\n[simulation]\ntransport = \"inproc\"\n" +
     ring10,
     ":1: [network] needs transport = \"direct\""},
    {"only [[network.links]] with inproc",
     inproc10 + "[[network.links]]\na = \"n0\"\nb = \"n1\"\nloss = 0.1\n",
     ":6: [[network.links]] needs transport = \"direct\""},
    {"[[network.links]] after [network] with inproc: [network] first",
     inproc10 + "[network]\nloss = 0.1\n"
                "[[network.links]]\na = \"n0\"\nb = \"n1\"\nloss = 0.2\n",
     ":6: [network] needs transport = \"direct\""},
    {"degrade with inproc",
     inproc10 + degrade_n0_n1 + "loss = 0.5\n",
     ":8: events.action = \"degrade\" needs transport = \"direct\""},
    {"degrade with the default transport",
     ring10 + "[[events]]\nat_ms = 1\naction = \"degrade\"\nloss = 0.5\n",
     ":6: events.action = \"degrade\" needs transport = \"direct\""},

    // -- [[events]]: within_ms
    {"within_ms zero",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n0\"\n"
              "to = \"n1\"\nwithin_ms = 0\n",
     ":9: events.within_ms must be 1..600000, got 0"},
    {"within_ms too large",
     ring10 + "[[events]]\nat_ms = 1\naction = \"broadcast\"\n"
              "from = \"n0\"\nwithin_ms = 600001\n",
     ":8: events.within_ms must be 1..600000, got 600001"},
    {"within_ms checked on every action",
     ring10 + "[[events]]\nat_ms = 1\naction = \"heal_all\"\n"
              "within_ms = -1\n",
     ":7: events.within_ms must be 1..600000, got -1"},
    {"within_ms type",
     ring10 + "[[events]]\nat_ms = 1\naction = \"kill\"\nnode = \"n0\"\n"
              "within_ms = \"2s\"\n",
     ":8: events.within_ms must be an integer, got string"},

    // -- [[events]]: degrade
    {"degrade needs one of the four keys",
     direct10 + degrade_n0_n1 + "a = \"n0\"\nb = \"n1\"\n",
     ":6: action = \"degrade\" needs one of events.latency_ms, "
     "events.jitter_ms, events.loss, events.bandwidth_kbps"},
    {"degrade of every link needs one of the four keys",
     direct10 + degrade_n0_n1,
     ":6: action = \"degrade\" needs one of events.latency_ms, "
     "events.jitter_ms, events.loss, events.bandwidth_kbps"},
    {"degrade with a misspelt key reports it, not the missing one",
     direct10 + degrade_n0_n1 + "los = 0.5\n",
     ":9: unknown key 'los' in [[events]]"},
    {"degrade a without b",
     direct10 + degrade_n0_n1 + "a = \"n0\"\nloss = 0.5\n",
     ":6: missing required key events.b for action = \"degrade\" with "
     "events.a (leave both out for every link)"},
    {"degrade b without a",
     direct10 + degrade_n0_n1 + "b = \"n0\"\nloss = 0.5\n",
     ":6: missing required key events.a for action = \"degrade\" with "
     "events.b (leave both out for every link)"},
    {"degrade a unknown",
     direct10 + degrade_n0_n1 + "a = \"n10\"\nb = \"n0\"\nloss = 0.5\n",
     ":9: unknown node 'n10' in events.a"},
    {"degrade not a link",
     direct10 + degrade_n0_n1 + "a = \"n2\"\nb = \"n7\"\nloss = 0.5\n",
     ":10: n2-n7 is not a link of the topology"},
    {"degrade a == b",
     direct10 + degrade_n0_n1 + "a = \"n2\"\nb = \"n2\"\nloss = 0.5\n",
     ":10: events.a and events.b are the same node 'n2'"},
    {"degrade a type",
     direct10 + degrade_n0_n1 + "a = 2\nb = \"n2\"\nloss = 0.5\n",
     ":9: events.a must be a string, got integer"},
    {"degrade latency_ms range",
     direct10 + degrade_n0_n1 + "latency_ms = 60001\n",
     ":9: events.latency_ms must be 0..60000, got 60001"},
    {"degrade jitter_ms range",
     direct10 + degrade_n0_n1 + "jitter_ms = -1\n",
     ":9: events.jitter_ms must be 0..60000, got -1"},
    {"degrade loss range",
     direct10 + degrade_n0_n1 + "loss = 1.25\n",
     ":9: events.loss must be 0.0..1.0, got 1.25"},
    {"degrade loss type",
     direct10 + degrade_n0_n1 + "loss = \"half\"\n",
     ":9: events.loss must be a number, got string"},
    {"degrade bandwidth_kbps range",
     direct10 + degrade_n0_n1 + "bandwidth_kbps = 10000001\n",
     ":9: events.bandwidth_kbps must be 0..10000000, got 10000001"},
    {"degrade bandwidth_kbps type",
     direct10 + degrade_n0_n1 + "bandwidth_kbps = 1.5\n",
     ":9: events.bandwidth_kbps must be an integer, got float"},
    {"expect is not for degrade",
     direct10 + degrade_n0_n1 + "loss = 0.5\nexpect = \"delivered\"\n",
     ":10: events.expect = \"delivered\" is for action = \"ping\", "
     "\"traceroute\" or \"send\" only"},

    // -- [[events]]: stall
    {"stall needs node",
     ring10 + "[[events]]\nat_ms = 1\naction = \"stall\"\n"
              "duration_ms = 100\n",
     ":4: missing required key events.node for action = \"stall\""},
    {"stall needs duration_ms",
     ring10 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n",
     ":4: missing required key events.duration_ms for action = \"stall\""},
    {"stall misspelt key, not the missing one",
     ring10 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n"
              "duration = 100\n",
     ":8: unknown key 'duration' in [[events]]"},
    {"stall node unknown",
     ring10 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n10\"\n"
              "duration_ms = 100\n",
     ":7: unknown node 'n10' in events.node"},
    {"stall duration_ms zero",
     ring10 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n"
              "duration_ms = 0\n",
     ":8: events.duration_ms must be 1..600000, got 0"},
    {"stall duration_ms too large",
     ring10 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n"
              "duration_ms = 600001\n",
     ":8: events.duration_ms must be 1..600000, got 600001"},
    {"stall duration_ms type",
     ring10 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n"
              "duration_ms = \"3s\"\n",
     ":8: events.duration_ms must be an integer, got string"},
    {"expect is not for stall",
     ring10 + "[[events]]\nat_ms = 1\naction = \"stall\"\nnode = \"n1\"\n"
              "duration_ms = 5\nexpect = \"all\"\n",
     ":9: events.expect = \"all\" is for action = \"broadcast\" only"},

    // -- [[events]]: §13 keys another action does not use, type-checked
    {"latency_ms on a ping is still an integer",
     ring10 + "[[events]]\nat_ms = 1\naction = \"ping\"\nfrom = \"n0\"\n"
              "to = \"n1\"\nlatency_ms = \"fast\"\n",
     ":9: events.latency_ms must be an integer, got string"},
    {"loss on a kill is still a number",
     ring10 + "[[events]]\nat_ms = 1\naction = \"kill\"\nnode = \"n0\"\n"
              "loss = \"all\"\n",
     ":8: events.loss must be a number, got string"},
    {"duration_ms on a degrade is still an integer",
     direct10 + degrade_n0_n1 + "loss = 0.1\nduration_ms = 1.5\n",
     ":10: events.duration_ms must be an integer, got float"},
  };
  // clang-format on
  for (auto& c : cases) {
    INFO(c.rule << "\n" << c.toml);
    CHECK(parse_error(c.toml) == "sim.toml" + c.message);
  }
}

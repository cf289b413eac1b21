// SPEC §14 on the simulator's lossy network: what routing promises (§6's
// bounds for routes after a start, a death and a heal) holds with loss 0.2
// on every link, because flooding is acknowledged (docs/PROTOCOL.md
// "Flooding"). Without acknowledgements a lost advertisement waited for
// its origin's refresh 30 s later, and these runs never reconverged.

#include <catch2/catch.hpp>

#include <string>

#include "sim_support.hpp"

using namespace quilt;
using namespace quilt::test;

namespace {

/// SPEC §14's timing: heartbeat 200 ms, dead after 1,000 ms.
constexpr uint64_t heartbeat_ms = 200;
constexpr uint64_t dead_after_ms = 1000;

scenario_text lossy(std::string topo, uint64_t seed, double loss = 0.2) {
  scenario_text text{std::move(topo), seed};
  text.defaults = "heartbeat_ms = " + std::to_string(heartbeat_ms)
                  + "\ndead_after_ms = " + std::to_string(dead_after_ms)
                  + "\n";
  text.network = "[network]\nlatency_ms = 5\njitter_ms = 5\nloss = "
                 + std::to_string(loss) + "\n";
  return text;
}

uint64_t reconverged(const sim_run& r, size_t event) {
  INFO(r.progress);
  REQUIRE(r.event(event).reconverged_ms.has_value());
  return *r.event(event).reconverged_ms;
}

} // namespace

TEST_CASE("loss 0.2: routes after a start, a death, a restart, a cut and a "
          "heal keep SPEC §6's bounds", "[sim][reliable]") {
  for (uint64_t seed : {1, 2, 3}) {
    auto text = lossy(random_graph(50, 4), seed);
    // n0..n49 of a random graph: a node with 4 or so links, then a link.
    auto kill = text.kill(1000, "n7");
    auto restart = text.restart(4000, "n7");
    auto g = graph_of(text);
    auto [a, b] = g.named_links().at(g.links.size() / 2);
    auto cut = text.cut(12000, a, b);
    auto heal = text.heal(16000, a, b);
    text.settle_ms = 10000;
    auto r = simulate(text);
    INFO("seed " << seed << "\n" << r.progress);
    REQUIRE(r.status == 0);
    REQUIRE(r.report.network_lost > 0);
    // Full routes within 5 s of the last node's start.
    REQUIRE(r.report.converged_ms.has_value());
    CHECK(*r.report.converged_ms < 5000);
    // Gone everywhere within dead_after_ms + 2 x heartbeat_ms.
    CHECK(reconverged(r, kill) <= dead_after_ms + 2 * heartbeat_ms);
    // Routed to again within the reconnect back-off (5 s) plus 5 s.
    CHECK(reconverged(r, restart) <= 10000);
    CHECK(reconverged(r, cut) <= dead_after_ms + 2 * heartbeat_ms);
    CHECK(reconverged(r, heal) <= 10000);
  }
}

TEST_CASE("loss 0.2: broadcasts reach every node exactly once, a kill "
          "while one travels cuts nobody off", "[sim][reliable]") {
  for (uint64_t seed : {1, 2}) {
    auto text = lossy(grid(25, 5), seed);
    // Routes settled: the broadcasts go down n0's and n12's trees.
    std::vector<size_t> all;
    for (int i = 0; i < 5; ++i)
      all.push_back(text.broadcast(500 + 100 * i, "n" + std::to_string(i * 6),
                                   "lossy " + std::to_string(i)));
    text.within(5000);
    // n6 dies 3 ms after n0's broadcast left, before n0's copy (5 to 10
    // ms a hop) reaches it: the nodes below it in n0's tree get it from
    // their new parents once its neighbours declare it dead.
    auto travel = text.broadcast(6000, "n0", "around the dead");
    text.kill(6003, "n6");
    text.within(8000);
    text.settle_ms = 1000;
    auto r = simulate(text);
    INFO("seed " << seed << "\n" << r.progress);
    REQUIRE(r.status == 0);
    for (auto i : all)
      CHECK(r.event(i).detail == "reached 24/24 live nodes");
    CHECK(r.event(travel).detail == "reached 23/23 live nodes");
    CHECK(r.report.duplicate_deliveries == 0);
  }
}

// Mesh tests through the simulator (SPEC §5-6, §9): quilt::run_simulation
// in deterministic direct mode runs the real node actors (supervisor,
// processors, protocol actor, links) on CAF's test coordinator with virtual
// time, so a simulated minute costs milliseconds and the same scenario
// always sees the same events. Convergence, unicast, traceroute, broadcast
// (flooding and reverse-path), dead and restarted nodes, cut links and
// partitions, and what one topology change costs in routing messages, all
// read from the report quilt-sim writes.

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>

#include <unistd.h>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "quilt/message.hpp"
#include "quilt/scenario.hpp"
#include "quilt/sim.hpp"
#include "quilt/topology.hpp"
#include "sim_support.hpp"

using namespace quilt;

using namespace quilt::test;

// -- convergence --------------------------------------------------------------

TEST_CASE("convergence: every kind of graph gets full shortest-path routes, "
          "small meshes within SPEC's 5 s", "[sim][convergence]") {
  struct row {
    std::string label;
    std::string topo;
  };
  std::vector<row> rows = {
    {"line 20", line(20)},
    {"ring 40", ring(40)},
    {"star 30", star(30)},
    {"grid 100/10", grid(100, 10)},
    {"full 20", full(20)},
    {"random 50/4", random_graph(50, 4)},
    {"scale-free 50/2", scale_free(50, 2)},
    {"random 100/4", random_graph(100, 4)},
    {"scale-free 100/2", scale_free(100, 2)},
    {"random 200/4", random_graph(200, 4)},
    {"scale-free 200/2", scale_free(200, 2)},
  };
  // converged_ms is set once the driver found every node's route count and
  // hop sum equal to a breadth-first search of the graph: shortest paths.
  for (auto& [label, topo] : rows) {
    INFO(label);
    scenario_text text{topo, 42};
    auto g = graph_of(text);
    auto last = n(g.nodes.size() - 1);
    // And they stay converged: a ping end to end long after.
    auto p = text.ping(3000, "n0", last, "delivered");
    auto back = text.ping(3000, last, "n0", "delivered");
    auto r = simulate_ok(text);
    std::printf("sim converged: %-17s N=%3zu L=%4zu in %5llu ms virtual, "
                "%llu ms wall\n",
                label.c_str(), g.nodes.size(), g.links.size(),
                static_cast<unsigned long long>(*r.report.converged_ms),
                static_cast<unsigned long long>(r.report.wall_ms));
    check_all_events(r);
    CHECK(r.report.nodes == g.nodes.size());
    CHECK(r.report.links == g.links.size());
    CHECK(r.report.topology_nodes.size() == g.nodes.size());
    CHECK(r.report.topology_links.size() == g.links.size());
    if (g.nodes.size() <= 50)
      CHECK(*r.report.converged_ms < 5000);
    CHECK(r.report.drops.dropped_invalid == 0);
    CHECK(r.report.drops.dropped_unroutable == 0);
    CHECK(r.report.drops.dropped_ttl == 0);
    CHECK(r.report.drops.dropped_loop == 0);
    CHECK(r.report.drops.dropped_queue_full == 0);
    CHECK(r.report.drops.dropped_overload == 0);
    CHECK(r.report.drops.name_conflicts == 0);
    CHECK(r.event(p).latency_us.has_value());
    CHECK(r.event(back).latency_us.has_value());
  }
}

TEST_CASE("SPEC §6: 50 nodes with default timing have full routes within "
          "5 s", "[sim][convergence]") {
  std::vector<std::pair<std::string, std::string>> rows = {
    {"random 50/4", random_graph(50, 4)}, {"line 50", line(50)},
    {"ring 50", ring(50)},                {"scale-free 50/2", scale_free(50, 2)},
    {"grid 49/7", grid(49, 7)},           {"star 50", star(50)}};
  for (auto& [label, topo] : rows) {
    INFO(label);
    scenario_text text{topo};
    text.defaults = ""; // heartbeat_ms 1000, dead_after_ms 5000, ttl 32
    text.ping(0, "n0", "n30", "delivered"); // 30 hops on the line: ttl 32
    auto r = simulate_ok(text);
    std::printf("sim SPEC figure: %-15s default timing: full routes after "
                "%llu ms virtual\n",
                label.c_str(),
                static_cast<unsigned long long>(*r.report.converged_ms));
    CHECK(*r.report.converged_ms < 5000);
    check_all_events(r);
  }
}

// -- determinism and status ---------------------------------------------------

TEST_CASE("a deterministic scenario runs the same way twice: identical "
          "reports but for wall_ms and peak_rss_bytes", "[sim]") {
  scenario_text text{random_graph(30, 3), 9};
  auto [x, y] = graph_of(text).named_links()[0];
  text.broadcast(0, "n3", "hello");
  text.kill(100, "n7");
  text.ping(200, "n0", "n29");
  text.cut(300, x, y);
  text.send(1000, x, y, "around");
  text.restart(1200, "n7");
  text.traceroute(2500, "n29", "n7");
  text.broadcast(3000, "n7", "back");
  auto sc = parse(text);
  auto a = simulate(sc);
  auto b = simulate(sc);
  INFO(a.progress);
  CHECK(a.status == 0);
  CHECK(b.status == a.status);
  a.report.wall_ms = b.report.wall_ms = 0;
  a.report.peak_rss_bytes = b.report.peak_rss_bytes = 0;
  CHECK(a.report.to_json() == b.report.to_json());
  CHECK(a.progress.size() > 0);
}

TEST_CASE("a failed expectation gives status 1 and a report, all held 0",
          "[sim]") {
  scenario_text text{line(3)};
  auto good = text.ping(0, "n0", "n2", "delivered");
  auto wrong = text.ping(100, "n0", "n2", "unreachable");
  text.kill(200, "n2");
  auto dead = text.send(900, "n0", "n2", "to the dead", "delivered");
  auto r = simulate_ok(text);
  CHECK(r.status == 1);
  CHECK(r.event(good).ok);
  CHECK_FALSE(r.event(wrong).ok);
  CHECK(starts_with(r.event(wrong).detail, "pong from n2"));
  CHECK_FALSE(r.event(dead).ok);
  CHECK(r.progress.find("FAILED") != std::string::npos);

  scenario_text fine{line(3)};
  fine.ping(0, "n0", "n2", "delivered");
  fine.kill(200, "n2");
  fine.send(900, "n0", "n2", "to the dead", "unreachable");
  auto ok = simulate_ok(fine);
  check_all_events(ok);

  // Routes that do not converge in time: status 1, no event runs. (The
  // driver checks as the nodes start, before they have exchanged anything,
  // then every 50 ms of virtual time: a limit of 0 allows only the first.)
  scenario_text slow{line(50)};
  slow.ping(0, "n0", "n2", "delivered");
  slow.kill(200, "n2");
  slow.send(900, "n0", "n2", "to the dead", "unreachable");
  sim_options impatient;
  impatient.converge_limit_ms = 0;
  auto never = simulate(parse(slow), impatient);
  CHECK(never.status == 1);
  CHECK_FALSE(never.report.converged_ms);
  REQUIRE(never.report.events.size() == 3);
  for (auto& e : never.report.events) {
    CHECK_FALSE(e.ok);
    CHECK(e.detail == "not run: routes never converged");
  }
}

TEST_CASE("a send to a killed node is never reported delivered, even while "
          "a route to it stands", "[sim][faults]") {
  // Within dead_after_ms of the kill its neighbour still routes to it, so
  // n0 can send; nothing can arrive.
  scenario_text text{line(4)};
  text.kill(100, "n3");
  auto soon = text.send(110, "n0", "n3", "too late", "unreachable");
  auto sure = text.send(120, "n0", "n3", "too late", "delivered");
  auto r = simulate_ok(text);
  CHECK(r.event(soon).ok);
  CHECK(starts_with(r.event(soon).detail, "unreachable"));
  CHECK_FALSE(r.event(sure).ok);
  CHECK_FALSE(r.event(sure).latency_us);
}

// -- unicast ------------------------------------------------------------------

TEST_CASE("pings across the mesh are answered both ways", "[sim][unicast]") {
  scenario_text text{random_graph(60, 4), 5};
  std::vector<std::pair<size_t, std::string>> pings;
  for (size_t i = 0; i < 60; i += 7)
    pings.emplace_back(text.ping(0, n(i), n(59 - i), "delivered"), n(59 - i));
  text.send(100, "n0", "n59", "hello", "delivered");
  text.send(100, "n59", "n0", "hello back", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  for (auto& [i, target] : pings) {
    CHECK(starts_with(r.event(i).detail, "pong from " + target + " in "));
    CHECK(r.event(i).latency_us.has_value());
  }
  // A ping, its pong and each msg are deliveries at their destination
  // (heartbeats and routing traffic add more).
  CHECK(r.report.deliveries >= 2 * pings.size() + 2);
  CHECK(r.report.drops.dropped_unroutable == 0);
}

TEST_CASE("traceroute on a line names every hop in order (ttl_expired from "
          "each), with a node gone the far side is unroutable",
          "[sim][unicast]") {
  scenario_text text{line(10)};
  std::vector<std::string> hops;
  for (size_t i = 1; i < 10; ++i)
    hops.push_back(n(i));
  auto to_end = text.traceroute(0, "n0", "n9", "delivered");
  auto to_mid = text.traceroute(0, "n0", "n5", "delivered");
  auto back = text.traceroute(0, "n9", "n0", "delivered");
  auto next = text.traceroute(0, "n3", "n4", "delivered");
  text.kill(3000, "n5");
  // dead_after + 2 heartbeats later n4 has dropped n5 and told everyone:
  // n0 has no route to anything past n4 any more, n4 itself still does.
  auto cut_off = text.traceroute(3700, "n0", "n9", "unreachable");
  auto ping_cut = text.ping(3700, "n0", "n9", "unreachable");
  auto to_n4 = text.traceroute(3700, "n0", "n4", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(r.event(to_end).detail == "reached in 9 hops: " + path_text(hops));
  CHECK(r.event(to_mid).detail
        == "reached in 5 hops: n1 n2 n3 n4 n5");
  CHECK(r.event(back).detail
        == "reached in 9 hops: n8 n7 n6 n5 n4 n3 n2 n1 n0");
  CHECK(r.event(next).detail == "reached in 1 hops: n4");
  CHECK(r.event(cut_off).detail == "not reached after 0 hops: ");
  CHECK(r.event(ping_cut).detail == "unreachable: no route (unreachable)");
  CHECK(r.event(to_n4).detail == "reached in 4 hops: n1 n2 n3 n4");
  // Every hop before the last of each trace dropped a ping (ttl) and sent
  // an error ttl_expired, which travelled back k hops from hop k: 8 + 4 +
  // 8 + 0 + 3 drops, 36 + 10 + 36 + 0 + 6 error transmissions.
  CHECK(r.report.drops.dropped_ttl == 8 + 4 + 8 + 0 + 3);
  CHECK(r.sent(command::error) == 36 + 10 + 36 + 0 + 6);
}

// -- broadcast ----------------------------------------------------------------

TEST_CASE("broadcast cost: exactly N-1 msg copies once routes have settled, "
          "2L-(N-1) while flooding", "[sim][broadcast]") {
  struct row {
    std::string label;
    std::string topo;
  };
  std::vector<row> rows = {{"ring 30", ring(30)},
                           {"grid 49/7", grid(49, 7)},
                           {"random 60/4", random_graph(60, 4)},
                           {"scale-free 60/2", scale_free(60, 2)},
                           {"full 12", full(12)},
                           {"random 200/4", random_graph(200, 4)},
                           {"scale-free 200/2", scale_free(200, 2)}};
  for (auto& [label, topo] : rows) {
    INFO(label);
    // t = 0 is when the last routes arrived: routes changed less than two
    // heartbeats ago everywhere, so every node floods.
    scenario_text early{topo, 5};
    early.broadcast(0, "n1", "early");
    // 1 s later no route has changed for 10 heartbeats: reverse-path.
    scenario_text late{topo, 5};
    late.broadcast(1000, "n1", "settled");
    auto g = graph_of(early);
    auto nodes = g.nodes.size();
    auto links = g.links.size();
    auto flood = simulate_ok(early);
    auto rpf = simulate_ok(late);
    check_all_events(flood);
    check_all_events(rpf);
    auto flood_copies = flood.sent(command::msg);
    auto rpf_copies = rpf.sent(command::msg);
    std::printf("sim broadcast %-16s N=%3zu L=%3zu: %4llu copies flooding "
                "(2L-(N-1) = %zu), %3llu reverse-path (N-1 = %zu)\n",
                label.c_str(), nodes, links,
                static_cast<unsigned long long>(flood_copies),
                2 * links - (nodes - 1),
                static_cast<unsigned long long>(rpf_copies), nodes - 1);
    CHECK(rpf_copies == nodes - 1);
    CHECK(flood_copies > nodes - 1);
    CHECK(flood_copies <= 2 * links);
    // Each node's first copy comes from its parent in the origin's BFS
    // tree: the origin sends deg(origin), every other node deg - 1 (not
    // back), and the origin's neighbours skip the origin too.
    CHECK(flood_copies == 2 * links - (nodes - 1));
    CHECK(flood.report.deliveries >= nodes - 1);
  }
}

TEST_CASE("broadcasts from several origins reach every other node exactly "
          "once", "[sim][broadcast]") {
  for (auto& topo : {ring(30), grid(49, 7), random_graph(60, 4),
                     scale_free(60, 2), star(20), line(15)}) {
    INFO(topo);
    scenario_text text{topo, 5};
    auto nodes = graph_of(text).nodes.size();
    std::vector<std::string> origins = {"n0", "n1", n(nodes / 2),
                                        n(nodes - 1)};
    uint64_t at = 1000;
    for (auto& o : origins) {
      text.broadcast(at, o, "from " + o);
      at += 100;
    }
    auto r = simulate_ok(text);
    check_all_events(r);
    CHECK(r.sent(command::msg) == origins.size() * (nodes - 1));
    for (size_t i = 0; i < origins.size(); ++i)
      CHECK(r.event(i).detail
            == "reached " + std::to_string(nodes - 1) + "/"
                 + std::to_string(nodes - 1) + " live nodes");
  }
}

TEST_CASE("broadcasts while routes change (flooding, reverse-path and the "
          "switch between them) reach every node exactly once",
          "[sim][broadcast]") {
  scenario_text text{random_graph(40, 4), 21};
  auto g = graph_of(text);
  auto [a, b] = g.named_links()[7];
  text.cut(0, a, b);
  // From 700 ms (the cut noticed and flooded) every 50 ms for 1 s, across
  // the two-heartbeat boundary where nodes switch to reverse-path.
  size_t sent = 0;
  for (uint64_t t = 700; t < 1700; t += 50, ++sent)
    text.broadcast(t, n((sent * 7) % 40), "after cut");
  text.heal(1700, a, b);
  // The healed link comes up while these run.
  for (uint64_t t = 1700; t < 2700; t += 50, ++sent)
    text.broadcast(t, n((sent * 7) % 40), "after heal");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(r.report.duplicate_deliveries == 0);
  CHECK(r.report.drops.dropped_duplicate > 0); // flooding dedupes
}

// -- dead and restarted nodes -------------------------------------------------

TEST_CASE("kill: routes to the dead node vanish everywhere within "
          "dead_after + 2 heartbeats, the others still reach each other, "
          "restart: routed to again", "[sim][faults]") {
  scenario_text text{random_graph(40, 4), 3};
  auto g = graph_of(text);
  // The busiest node whose loss leaves the graph connected: many routes go
  // through it and must move.
  std::string victim;
  size_t victim_degree = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    mesh_graph rest = g;
    rest.links.clear();
    size_t degree = 0;
    for (auto [x, y] : g.links) {
      if (x != i && y != i)
        rest.links.emplace_back(x < i ? x : x - 1, y < i ? y : y - 1);
      else
        ++degree;
    }
    rest.nodes.pop_back();
    if (is_connected(rest) && degree > victim_degree) {
      victim = n(i);
      victim_degree = degree;
    }
  }
  REQUIRE(!victim.empty());
  auto others = [&] {
    std::vector<std::string> v;
    for (auto& name : g.nodes)
      if (name != victim)
        v.push_back(name);
    return v;
  }();
  text.kill(0, victim);
  // dead_after + 2 heartbeats = 700 ms: no live node has a route left.
  std::vector<size_t> gone;
  for (auto& o : others)
    gone.push_back(text.ping(700, o, victim, "unreachable"));
  std::vector<size_t> around;
  for (auto [x, y] : {std::pair<size_t, size_t>{0, 39}, {5, 20}, {39, 1},
                      {10, 30}})
    if (n(x) != victim && n(y) != victim)
      around.push_back(text.ping(700, n(x), n(y), "delivered"));
  auto without = text.broadcast(1000, others.front(), "without the dead one");
  text.restart(1500, victim);
  // Routed to again: the first of these pings that is answered.
  std::vector<std::pair<uint64_t, size_t>> probes;
  for (uint64_t t = 1500; t <= 6500; t += 50)
    probes.emplace_back(t, text.ping(t, "n0", victim));
  auto from_victim = text.ping(6500, victim, "n0", "delivered");
  auto back = text.broadcast(7000, victim, "back again");
  auto r = simulate_ok(text);
  INFO(r.progress);
  for (size_t i = 0; i < gone.size(); ++i) {
    INFO("ping " << others[i] << " -> " << victim << ": "
                 << r.event(gone[i]).detail);
    CHECK(r.event(gone[i]).ok);
    // The origin itself has no route (not a timeout, not an error from a
    // hop that still had one).
    CHECK(starts_with(r.event(gone[i]).detail, "unreachable: no route"));
  }
  for (auto i : around)
    check_event(r, i);
  check_event(r, without);
  std::optional<uint64_t> routed_after;
  for (auto [t, i] : probes)
    if (r.event(i).latency_us) {
      routed_after = t - 1500;
      break;
    }
  REQUIRE(routed_after);
  std::printf("sim kill %s (degree %zu) of random 40/4: no routes to it at "
              "700 ms (dead_after 500 + 2 x heartbeat 100); restarted, "
              "answers pings after %llu ms\n",
              victim.c_str(), victim_degree,
              static_cast<unsigned long long>(*routed_after));
  CHECK(*routed_after <= 5000);
  check_event(r, from_victim);
  check_event(r, back);
  CHECK(r.report.duplicate_deliveries == 0);
  CHECK(r.report.drops.name_conflicts == 0);
  CHECK(r.report.topology_nodes.size() == 40);
}

TEST_CASE("the dead node is still routed to just before dead_after: the "
          "deadline is not met by accident", "[sim][faults]") {
  // n1 on a line of 3 dies at 0; n0 notices after dead_after (500 ms) and
  // drops its route; at 300 ms it still has one (the ping times out).
  scenario_text text{line(3)};
  text.kill(0, "n1");
  auto early = text.ping(300, "n0", "n2", "unreachable");
  auto late = text.ping(700, "n0", "n2", "unreachable");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(r.event(early).detail == "unreachable: no answer within 2 s");
  CHECK(starts_with(r.event(late).detail, "unreachable: no route"));
}

TEST_CASE("kill and restart a node that dials, one only dialled, and one in "
          "the middle", "[sim][faults]") {
  // Each link is dialled by its smaller-indexed end: on a line n0 only
  // dials, n5 is only dialled, n2 does both.
  scenario_text text{line(6)};
  std::vector<size_t> checks;
  uint64_t t = 0;
  for (auto victim : {"n0", "n5", "n2"}) {
    text.kill(t, victim);
    checks.push_back(text.ping(t + 700, victim == std::string{"n0"} ? "n1" : "n0",
                               victim, "unreachable"));
    text.restart(t + 800, victim);
    checks.push_back(text.ping(t + 2800, "n0", "n5", "delivered"));
    checks.push_back(text.ping(t + 2800, "n5", "n0", "delivered"));
    checks.push_back(text.traceroute(t + 2800, "n0", "n5", "delivered"));
    t += 3000;
  }
  auto r = simulate_ok(text);
  check_all_events(r);
}

TEST_CASE("a node restarted faster than dead_after (restart without kill) "
          "is found again", "[sim][faults]") {
  // The peers never see it go down. A peer it dials learns of the new
  // instance from its announcement at once. A peer that only dials it
  // keeps sending heartbeats the new instance cannot answer (it does not
  // know that peer's address yet) until it declares it dead and
  // re-announces: dead_after at most, well within SPEC §6's bound.
  struct row {
    std::string label;
    std::string topo;
    std::string victim;
    std::string prober; ///< A neighbour of the victim.
    uint64_t bound_ms;
  };
  std::vector<row> rows = {
    {"line 6", line(6), "n0", "n1", 100},  // n0 dials n1
    {"line 6", line(6), "n3", "n2", 700},  // n2 dials n3
    {"line 6", line(6), "n5", "n4", 700},  // n5 is only dialled
    {"ring 8", ring(8), "n0", "n1", 100},  // n0 dials n1 and n7
    {"ring 8", ring(8), "n0", "n7", 100},
    {"ring 8", ring(8), "n7", "n6", 700},  // n7 is only dialled
  };
  for (auto& [label, topo, victim, prober, bound] : rows) {
    INFO(label << ": restart " << victim << ", pings from " << prober);
    scenario_text text{topo};
    text.restart(0, victim);
    std::vector<std::pair<uint64_t, size_t>> probes;
    for (uint64_t d = 10; d <= 2000; d += 10)
      probes.emplace_back(d, text.ping(d, prober, victim));
    auto last = n(graph_of(text).nodes.size() - 1);
    text.ping(2500, "n0", last, "delivered");
    text.ping(2500, last, "n0", "delivered");
    text.traceroute(2500, prober, victim, "delivered");
    auto r = simulate_ok(text);
    check_all_events(r);
    std::optional<uint64_t> found;
    for (auto [d, i] : probes)
      if (r.event(i).latency_us) {
        found = d;
        break;
      }
    REQUIRE(found);
    std::printf("sim %s: %s restarted without a kill, %s's pings answered "
                "after %llu ms\n",
                label.c_str(), victim.c_str(), prober.c_str(),
                static_cast<unsigned long long>(*found));
    CHECK(*found <= bound);
    CHECK(r.event(r.report.events.size() - 1).detail
          == "reached in 1 hops: " + victim);
  }
}

TEST_CASE("a node restarted faster than dead_after is found at once by a "
          "peer that dials it when its new advertisement reaches that peer "
          "the other way round a ring", "[sim][faults]") {
  // PROTOCOL.md: "A node that sees a fresh advertisement from an up
  // neighbour that leaves it out knows the neighbour has lost it (it
  // restarted) and announces itself to it at once." n3 dials n4, n2 dials
  // n3: n3's new advertisement (listing n4 only) goes round the ring to n2,
  // which announces itself to n3 at once, well within one heartbeat.
  // KNOWN BUG (quilt-sim, deterministic): each node's unix clock starts at
  // the virtual epoch when *it* starts, so a restarted node's ids start
  // where its former self's did; its new advertisement looks older than
  // the one it replaces, nobody installs it, and n2 only finds n3 again
  // when it declares it dead (about 450 ms).
  scenario_text text{ring(8)};
  text.restart(0, "n3");
  std::vector<std::pair<uint64_t, size_t>> probes;
  for (uint64_t d = 10; d <= 2000; d += 10)
    probes.emplace_back(d, text.ping(d, "n2", "n3"));
  auto r = simulate_ok(text);
  std::optional<uint64_t> found;
  for (auto [d, i] : probes)
    if (r.event(i).latency_us) {
      found = d;
      break;
    }
  REQUIRE(found);
  std::printf("sim ring 8: n3 restarted without a kill, n2's pings answered "
              "after %llu ms (PROTOCOL.md: at once)\n",
              static_cast<unsigned long long>(*found));
  CHECK(*found <= 100);
}

TEST_CASE("a node restarted with other neighbours than its former self is "
          "routed to on shortest paths: its first advertisement replaces the "
          "old one everywhere", "[sim][faults]") {
  // n3 runs 10 s without its link to n2, then is killed; the link is healed
  // and n3 restarted. Its new advertisement lists n2 and n4, so n1 reaches
  // n3 in 2 hops through n2.
  // KNOWN BUG (quilt-sim, deterministic): the restarted n3's ids start
  // where its former self's did, its advertisements are older than the
  // former self's last one (which lists n4 only) and are dropped as
  // duplicates, so n1 keeps going the long way, 6 hops through n0 n7 n6 n5
  // n4, until the 30 s refresh; n3 itself routes to n1 in 2 hops.
  scenario_text text{ring(8)};
  text.cut(0, "n2", "n3");
  auto before = text.traceroute(1000, "n1", "n3", "delivered");
  text.kill(10000, "n3");
  text.heal(10000, "n2", "n3");
  text.restart(11000, "n3");
  auto there = text.traceroute(13000, "n1", "n3", "delivered");
  auto back = text.traceroute(13000, "n3", "n1", "delivered");
  auto later = text.traceroute(20000, "n1", "n3", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(r.event(before).detail == "reached in 6 hops: n0 n7 n6 n5 n4 n3");
  CHECK(r.event(back).detail == "reached in 2 hops: n2 n1");
  CHECK(r.event(there).detail == "reached in 2 hops: n2 n3");
  CHECK(r.event(later).detail == "reached in 2 hops: n2 n3");
}

TEST_CASE("a restarted node's broadcasts are new messages, not duplicates "
          "of its former self's", "[sim][faults][broadcast]") {
  // PROTOCOL.md: ids "start from a clock-derived value ... so a restarted
  // node never reuses its former self's ids". n0 on a line of 3 broadcasts
  // every 10 ms, is restarted, and goes on: each of the 100 broadcasts
  // costs 2 msg copies (n0 -> n1 -> n2), 200 in all.
  // KNOWN BUG (quilt-sim, deterministic): the restarted n0's ids start
  // where its former self's did, so 45 of its 50 broadcasts carry an id
  // the former self used within the last 60 s; n1 drops them as duplicates
  // and they reach nobody (155 msg copies, dropped_duplicate 46). The
  // events still report ok: the probe and the duplicate audit find the
  // former self's message with the same (origin, id) in the inboxes.
  scenario_text text{line(3)};
  for (uint64_t t = 0; t < 500; t += 10)
    text.broadcast(t, "n0", "old " + std::to_string(t));
  text.restart(600, "n0");
  for (uint64_t t = 600; t < 1100; t += 10)
    text.broadcast(t, "n0", "new " + std::to_string(t));
  auto r = simulate_ok(text);
  check_all_events(r);
  std::printf("sim line 3: 100 broadcasts from n0, restarted half way: %llu "
              "msg copies (200 expected), %llu dropped as duplicates\n",
              static_cast<unsigned long long>(r.sent(command::msg)),
              static_cast<unsigned long long>(
                r.report.drops.dropped_duplicate));
  CHECK(r.sent(command::msg) == 200);
}

TEST_CASE("SPEC timing with default heartbeat and dead_after: dead node "
          "unrouted within dead_after + 2 heartbeats, restarted node routed "
          "again within 5 s", "[sim][faults]") {
  scenario_text text{random_graph(50, 4), 8};
  text.defaults = ""; // heartbeat 1000, dead_after 5000: the bound is 7 s
  std::vector<size_t> gone;
  std::vector<size_t> again;
  uint64_t t = 0;
  for (auto victim : {"n49", "n10"}) {
    text.kill(t, victim);
    for (auto from : {"n0", "n20", "n48"})
      gone.push_back(text.ping(t + 7000, from, victim, "unreachable"));
    text.restart(t + 7000, victim);
    for (auto from : {"n0", "n20", "n48"})
      again.push_back(text.ping(t + 12000, from, victim, "delivered"));
    t += 13000;
  }
  // Killed and restarted at once: its peers never see it go down.
  text.restart(t, "n49");
  for (auto from : {"n0", "n20", "n48"})
    again.push_back(text.ping(t + 7000, from, "n49", "delivered"));
  auto r = simulate_ok(text);
  check_all_events(r);
  for (auto i : gone)
    CHECK(starts_with(r.event(i).detail, "unreachable: no route"));
}

// -- links and partitions -----------------------------------------------------

TEST_CASE("cut a link, heal it: the long way round, then the short way",
          "[sim][faults]") {
  scenario_text text{ring(20)};
  auto before = text.traceroute(0, "n0", "n1", "delivered");
  text.cut(1000, "n0", "n1");
  // Over the cut link at once: lost, no answer.
  auto lost = text.ping(1000, "n0", "n1", "unreachable");
  auto around = text.traceroute(1700, "n0", "n1", "delivered");
  text.send(1700, "n1", "n0", "around the long way", "delivered");
  auto b = text.broadcast(2000, "n0", "around the cut");
  text.heal(2500, "n0", "n1");
  auto after = text.traceroute(3200, "n0", "n1", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(r.event(before).detail == "reached in 1 hops: n1");
  CHECK(r.event(lost).detail == "unreachable: no answer within 2 s");
  std::vector<std::string> long_way;
  for (size_t i = 19; i >= 1; --i)
    long_way.push_back(n(i));
  CHECK(r.event(around).detail == "reached in 19 hops: " + path_text(long_way));
  CHECK(r.event(b).detail == "reached 19/19 live nodes");
  CHECK(r.event(after).detail == "reached in 1 hops: n1");
}

TEST_CASE("partition into two halves and heal: each half routes within "
          "itself, then the whole again", "[sim][faults]") {
  scenario_text text{grid(36, 6)};
  // Broadcasts are kept for repair only 400 ms: the bottom half's
  // broadcast is not given to the top half when the halves heal 500 ms
  // later (with the default 10 s it would be; see the test below).
  text.defaults += "delivery_timeout_ms = 400\n";
  std::vector<std::string> top;
  for (size_t i = 0; i < 18; ++i)
    top.push_back(n(i));
  text.partition(0, top);
  auto across = text.ping(700, "n0", "n35", "unreachable");
  text.ping(700, "n0", "n17", "delivered");
  text.ping(700, "n18", "n35", "delivered");
  auto half = text.broadcast(1000, "n20", "bottom half only");
  text.heal_all(1500);
  text.ping(2500, "n0", "n35", "delivered");
  auto trace = text.traceroute(2500, "n0", "n35", "delivered");
  auto all = text.broadcast(3000, "n0", "whole again");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(starts_with(r.event(across).detail, "unreachable: no route"));
  CHECK(r.event(half).detail == "reached 17/17 live nodes");
  CHECK(r.event(all).detail == "reached 35/35 live nodes");
  // n0 (0,0) to n35 (5,5): 10 hops.
  CHECK(starts_with(r.event(trace).detail, "reached in 10 hops: "));
  // Both broadcasts ran on settled routes: one copy per receiver.
  CHECK(r.sent(command::msg) == 17 + 35);
}

// -- cost ---------------------------------------------------------------------

TEST_CASE("cost: one link cut or heal costs at most 4L link_state messages, "
          "and at most as many link_acks; none over links that lose nothing",
          "[sim][cost]") {
  // Each end of the changed link floods one new advertisement; a flood
  // crosses each link at most once each way: <= 2 x 2L. A heal adds the
  // summaries over the healed link, and only what one side lacks: the two
  // new advertisements, which the flood carries anyway. Each link_ack
  // answers at least one link_state (or a summary part). Measured twice:
  // over direct links, which lose nothing and are not acknowledged, and
  // over links that may lose (loss 1e-9: never drawn in these runs, but
  // acknowledged as over ZeroMQ).
  bool may_lose = GENERATE(false, true);
  struct row {
    std::string label;
    std::string topo;
  };
  std::vector<row> rows = {{"ring 20", ring(20)},
                           {"ring 40", ring(40)},
                           {"ring 80", ring(80)},
                           {"random 25/4", random_graph(25, 4)},
                           {"random 50/4", random_graph(50, 4)},
                           {"random 100/4", random_graph(100, 4)}};
  for (auto& [label, topo] : rows) {
    INFO(label);
    // Three runs of the same length (well inside the 30 s refresh): none,
    // a cut at 500 ms, a cut at 500 ms and its heal at 2500 ms. Each ends
    // with the same no-op at 5000 ms.
    scenario_text base{topo, 11};
    if (may_lose)
      base.network = "[network]\nloss = 1e-9\n";
    auto g = graph_of(base);
    auto nodes = g.nodes.size();
    auto links = g.links.size();
    auto [a, b] = g.named_links()[links / 2];
    scenario_text cut_only = base;
    scenario_text cut_heal = base;
    base.heal_all(5000);
    cut_only.cut(500, a, b);
    cut_only.heal_all(5000);
    cut_heal.cut(500, a, b);
    cut_heal.heal(2500, a, b);
    cut_heal.heal_all(5000);
    // heal_all at 5000 heals cut_only's link too: keep the comparison at
    // the same instant by settling 0 after it.
    base.settle_ms = cut_only.settle_ms = cut_heal.settle_ms = 0;
    auto r0 = simulate_ok(base);
    auto r1 = simulate_ok(cut_only);
    auto r2 = simulate_ok(cut_heal);
    REQUIRE(*r0.report.converged_ms + 5000 < 30000);
    REQUIRE(r0.report.converged_ms == r1.report.converged_ms);
    REQUIRE(r0.report.converged_ms == r2.report.converged_ms);
    auto cost = [](const sim_run& x, const sim_run& y, command cmd) {
      return y.sent(cmd) - x.sent(cmd);
    };
    auto cut_cost = cost(r0, r1, command::link_state);
    auto heal_cost = cost(r1, r2, command::link_state);
    auto cut_acks = cost(r0, r1, command::link_ack);
    auto heal_acks = cost(r1, r2, command::link_ack);
    auto heal_summaries = cost(r1, r2, command::link_summary);
    std::printf("sim cost %-13s %-9s N=%3zu L=%3zu: cut %s-%s %4llu "
                "link_state (%.2f L) %4llu link_ack, heal %4llu (%.2f L) "
                "%4llu link_ack %llu link_summary\n",
                label.c_str(), may_lose ? "may lose" : "lossless", nodes, links, a.c_str(), b.c_str(),
                static_cast<unsigned long long>(cut_cost),
                double(cut_cost) / double(links),
                static_cast<unsigned long long>(cut_acks),
                static_cast<unsigned long long>(heal_cost),
                double(heal_cost) / double(links),
                static_cast<unsigned long long>(heal_acks),
                static_cast<unsigned long long>(heal_summaries));
    CHECK(r1.sent(command::link_state) >= r0.sent(command::link_state));
    CHECK(cut_cost > 0);
    CHECK(cut_cost <= 4 * links);
    CHECK(heal_cost <= 4 * links);
    CHECK(cut_acks <= cut_cost);
    CHECK(heal_acks <= heal_cost + heal_summaries);
    CHECK(heal_summaries == 2); // one part each way
    if (!may_lose) {
      // The summary parts of the heal are acknowledged; the flood is not.
      CHECK(cut_acks == 0);
      CHECK(heal_acks == heal_summaries);
    } else {
      CHECK(cut_acks > 0);
    }
  }
}

// -- pictures -----------------------------------------------------------------

TEST_CASE("a picture at --dot-at shows the mesh as it stood then: a dead node and a cut "
          "link that are healed later still show",
          "[sim][dot]") {
  scenario_text text{ring(6)};
  text.kill(0, "n3");
  text.cut(100, "n0", "n1");
  text.heal(300, "n0", "n1");
  text.restart(400, "n3");
  auto sc = parse(text);
  auto draw = [&](std::optional<uint64_t> at) {
    char path[] = "/tmp/quilt-sim-test-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    sim_options opts;
    opts.dot_path = path;
    opts.dot_at_ms = at;
    auto r = simulate(sc, opts);
    REQUIRE(r.status == 0);
    std::ifstream f{path};
    std::string dot{std::istreambuf_iterator<char>{f}, {}};
    unlink(path);
    return dot;
  };
  auto then = draw(200);
  INFO(then);
  CHECK(then.find("label=\"t=200 ms\"") != std::string::npos);
  CHECK(then.find("\"n3\" [style=\"dashed,filled\"") != std::string::npos);
  CHECK(then.find("\"n0\" -- \"n1\" [style=dashed, color=red]")
        != std::string::npos);
  CHECK(then.find("\"n2\" -- \"n3\" [style=dashed, color=gray60]")
        != std::string::npos);
  auto end = draw(std::nullopt);
  INFO(end);
  CHECK(end.find("dashed") == std::string::npos); // all healed by the end
}

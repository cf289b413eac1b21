// Mesh tests: many quilt::protocol instances wired by quilt::virtual_mesh
// (SPEC §5-6, §9): virtual time, direct links, every message encoded and
// decoded on its way. Convergence, unicast, traceroute, broadcast (flooding
// and reverse-path), dead and restarted nodes, cut links and partitions, and
// what one topology change costs in routing messages. Deterministic: the
// same test always sees the same events.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "quilt/log.hpp"
#include "quilt/message.hpp"
#include "quilt/protocol.hpp"
#include "quilt/topology.hpp"
#include "quilt/virtual_mesh.hpp"

using namespace quilt;
using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

namespace {

// Peers going up and down are logged at info: keep the output short.
const bool quiet_logs = (set_log_level(log_level::warning), true);

/// The simulation defaults of SPEC §9.
protocol_config sim_config() {
  protocol_config cfg;
  cfg.heartbeat_ms = 200;
  cfg.dead_after_ms = 1000;
  return cfg;
}

std::string n(size_t i) {
  return "n" + std::to_string(i);
}

long long ms(virtual_mesh::duration d) {
  return static_cast<long long>(duration_cast<milliseconds>(d).count());
}

/// A mesh built from `g`, converged: routes everywhere match the graph.
struct fixture {
  mesh_graph graph;
  protocol_config cfg;
  virtual_mesh mesh;
  virtual_mesh::duration converged_after{};

  explicit fixture(mesh_graph g, protocol_config c = sim_config())
    : graph(std::move(g)), cfg(c) {
    mesh.build(graph, cfg);
    auto t = mesh.run_until_converged(5s);
    INFO(mesh.convergence_problem());
    REQUIRE(t);
    converged_after = *t;
  }

  milliseconds heartbeat() const {
    return milliseconds(cfg.heartbeat_ms);
  }

  milliseconds dead_after() const {
    return milliseconds(cfg.dead_after_ms);
  }

  /// Runs until no node's routing table changed for `quiet`.
  void settle(virtual_mesh::duration quiet) {
    auto changes = mesh.routing_changes();
    auto since = mesh.now();
    while (mesh.now() - since < quiet) {
      mesh.run_for(10ms);
      if (mesh.routing_changes() != changes) {
        changes = mesh.routing_changes();
        since = mesh.now();
      }
    }
  }

  /// Routes have been stable for more than two heartbeats everywhere, so
  /// every node uses reverse-path broadcast.
  void settle_routes() {
    settle(2 * heartbeat() + heartbeat() / 2);
  }

  /// Every live node has a route to every other live node.
  bool full_routes() {
    size_t live = 0;
    for (auto& name : mesh.names())
      live += mesh.alive(name) ? 1 : 0;
    for (auto& name : mesh.names())
      if (mesh.alive(name) && mesh.node(name).routes().size() != live - 1)
        return false;
    return true;
  }
};

/// Broadcasts from `origin` and checks that every live node but the origin
/// (or every node of `only`, when given) got it exactly once, its inbox too,
/// and the others not at all. Returns the msg transmissions.
uint64_t broadcast_once(virtual_mesh& mesh, const std::string& origin,
                        const std::string& text,
                        const std::set<std::string>& only = {},
                        virtual_mesh::duration wait = 500ms) {
  auto before = mesh.transmissions(command::msg);
  auto dups = mesh.duplicate_deliveries();
  auto r = mesh.broadcast(origin, text);
  REQUIRE(r.accepted);
  mesh.run_for(wait);
  for (auto& name : mesh.names()) {
    if (!mesh.alive(name))
      continue;
    INFO("node " << name << ", broadcast from " << origin);
    if (name == origin || (!only.empty() && only.count(name) == 0)) {
      CHECK(mesh.delivery_count(name, origin, r.id) == 0);
      continue;
    }
    CHECK(mesh.delivery_count(name, origin, r.id) == 1);
    auto inbox = mesh.node(name).inbox(1000);
    auto hits = std::count_if(inbox.begin(), inbox.end(), [&](auto& e) {
      return e.from == origin && e.id == r.id;
    });
    CHECK(hits == 1);
    auto i = std::find_if(inbox.begin(), inbox.end(), [&](auto& e) {
      return e.from == origin && e.id == r.id;
    });
    if (i != inbox.end()) {
      CHECK(i->to == "all");
      CHECK(i->text == text);
    }
  }
  CHECK(mesh.duplicate_deliveries() == dups);
  return mesh.transmissions(command::msg) - before;
}

} // namespace

// -- convergence --------------------------------------------------------------

TEST_CASE("convergence: every node's routes are the graph's shortest paths "
          "within 5 s", "[mesh][convergence]") {
  for (auto& g :
       {make_line(20), make_ring(40), make_grid(100, 10), make_star(30),
        make_random(100, 4, 42), make_scale_free(100, 2, 42),
        make_full(20)}) {
    fixture f{g};
    std::printf("converged: %zu nodes, %zu links in %lld ms virtual\n",
                g.nodes.size(), g.links.size(), ms(f.converged_after));
    CHECK(f.converged_after < 5s);
    CHECK(f.full_routes());
    CHECK(f.mesh.invalid() == 0);
    CHECK(f.mesh.total_stats().dropped_invalid == 0);
    CHECK(f.mesh.total_stats().name_conflicts == 0);
    // And it stays so.
    f.mesh.run_for(3s);
    CHECK(f.mesh.convergence_problem() == "");
  }
}

TEST_CASE("SPEC: 50 nodes have full routes within 5 s of startup (default "
          "timing)", "[mesh][convergence]") {
  for (auto& g : {make_random(50, 4, 1), make_line(50), make_ring(50),
                  make_scale_free(50, 2, 1)}) {
    virtual_mesh mesh;
    mesh.build(g, protocol_config{});
    auto t = mesh.run_until_converged(5s);
    INFO(mesh.convergence_problem());
    REQUIRE(t);
    std::printf("SPEC figure: %zu nodes, %zu links, default timing: full "
                "routes after %lld ms virtual\n",
                g.nodes.size(), g.links.size(), ms(*t));
  }
}

TEST_CASE("the same scenario runs the same way twice", "[mesh]") {
  auto run = [] {
    virtual_mesh mesh;
    mesh.build(make_random(30, 3, 9), sim_config());
    auto t = mesh.run_until_converged(5s);
    mesh.broadcast("n3", "hello");
    mesh.kill("n7");
    mesh.run_for(2s);
    auto p = mesh.ping("n0", "n29");
    return std::make_tuple(t, mesh.transmissions(), mesh.total_stats().rx,
                           p.replied, p.rtt_us,
                           mesh.node("n0").routes().size());
  };
  CHECK(run() == run());
}

// -- unicast ------------------------------------------------------------------

TEST_CASE("ping end to end on a line of 10: pong back", "[mesh][unicast]") {
  fixture f{make_line(10)};
  auto r = f.mesh.ping("n0", "n9");
  CHECK(r.replied);
  CHECK(r.from == "n9");
  CHECK(r.rtt_us == 2 * 9 * 100); // 9 hops each way, 100 us a hop
  auto back = f.mesh.ping("n9", "n0");
  CHECK(back.replied);
  CHECK(back.from == "n0");
  auto self = f.mesh.ping("n4", "n4");
  CHECK(self.replied);
  CHECK(self.rtt_us == 0);
  auto d0 = f.mesh.stats("n5").forwarded;
  CHECK(f.mesh.ping("n0", "n9").replied);
  CHECK(f.mesh.stats("n5").forwarded == d0 + 2); // the ping and its pong
}

TEST_CASE("ping errors: unreachable for an unknown node, ttl_expired naming "
          "the hop; traceroute names each hop in order",
          "[mesh][unicast]") {
  fixture f{make_line(10)};
  auto unknown = f.mesh.ping("n0", "nobody");
  CHECK_FALSE(unknown.replied);
  CHECK(unknown.error == "unreachable");
  CHECK(f.mesh.stats("n0").dropped_unroutable >= 1);
  CHECK(f.mesh.ping("n0", "not a name").error == "bad_destination");

  for (uint8_t ttl = 1; ttl < 9; ++ttl) {
    INFO("ttl " << int(ttl));
    auto r = f.mesh.ping("n0", "n9", ttl);
    CHECK_FALSE(r.replied);
    CHECK(r.error == "ttl_expired");
    CHECK(r.from == n(ttl));
    CHECK(r.rtt_us == 2 * ttl * 100u);
  }
  CHECK(f.mesh.stats("n3").dropped_ttl >= 1);
  CHECK(f.mesh.ping("n0", "n9", 9).replied);

  auto trace = f.mesh.traceroute("n0", "n9");
  CHECK(trace.reached);
  REQUIRE(trace.hops.size() == 9);
  for (uint32_t i = 0; i < 9; ++i) {
    CHECK(trace.hops[i].hop == i + 1);
    CHECK(trace.hops[i].node == n(i + 1));
  }

  // An error from a hop on the way: n5 is gone, n4 still has no route.
  f.mesh.kill("n5");
  f.mesh.run_for(f.dead_after() + 2 * f.heartbeat());
  CHECK(f.mesh.ping("n0", "n9").error == "unreachable");
  auto cut_trace = f.mesh.traceroute("n0", "n9");
  CHECK_FALSE(cut_trace.reached);
}

TEST_CASE("invalid messages on the wire are counted, not handled",
          "[mesh][unicast]") {
  fixture f{make_line(3)};
  auto before = f.mesh.stats("n1");
  f.mesh.inject("n0", "n1", {"n2", "ping", "n0", "01", "5"}); // bad_id
  f.mesh.inject("n0", "n1", {"n2", "nonsense", "n0", "1", "5"});
  f.mesh.inject("n0", "n1", {"n2", "ping"});
  f.mesh.inject("n0", "n1", {"n1", "msg", "n0", "77", "5", "hi"}); // valid
  f.mesh.run_for(10ms);
  auto after = f.mesh.stats("n1");
  CHECK(after.dropped_invalid == before.dropped_invalid + 3);
  CHECK(after.rx >= before.rx + 4);
  CHECK(f.mesh.invalid() == 3);
  CHECK(f.mesh.stats("n2").dropped_invalid == 0);
  CHECK(f.mesh.node("n1").inbox(1).at(0).text == "hi");
}

// -- broadcast ----------------------------------------------------------------

TEST_CASE("broadcast reaches every live node exactly once: flooding before "
          "routes settle, reverse-path (N-1 copies) after",
          "[mesh][broadcast]") {
  for (auto& g :
       {make_ring(30), make_grid(49, 7), make_random(60, 4, 5),
        make_scale_free(60, 2, 5)}) {
    fixture f{g};
    auto nodes = g.nodes.size();
    auto links = g.links.size();
    // Right after convergence routes changed a moment ago: flooding.
    auto flood = broadcast_once(f.mesh, "n1", "early");
    f.settle_routes();
    auto rpf = broadcast_once(f.mesh, "n1", "settled");
    auto rpf2 = broadcast_once(f.mesh, n(nodes - 1), "from the other end");
    std::printf("broadcast on %zu nodes, %zu links: %llu copies flooding "
                "(2L = %zu), %llu and %llu reverse-path (N-1 = %zu)\n",
                nodes, links, static_cast<unsigned long long>(flood),
                2 * links, static_cast<unsigned long long>(rpf),
                static_cast<unsigned long long>(rpf2), nodes - 1);
    CHECK(flood > nodes - 1);
    CHECK(flood <= 2 * links);
    // With one latency on every link each node's first copy comes from its
    // parent in the origin's BFS tree: the origin sends deg(origin), every
    // other node deg - 1 (not back), and the origin's neighbours skip the
    // origin too: 2L - (N - 1) exactly.
    CHECK(flood == 2 * links - (nodes - 1));
    CHECK(rpf == nodes - 1);
    CHECK(rpf2 == nodes - 1);
    CHECK(f.mesh.duplicate_deliveries() == 0);
  }
}

TEST_CASE("broadcast ping is answered by every node once",
          "[mesh][broadcast]") {
  fixture f{make_grid(25, 5)};
  f.settle_routes();
  auto h = f.mesh.start_ping("n12", "all");
  f.mesh.run_for(100ms);
  CHECK(f.mesh.ping_result(h).replied);
  for (size_t i = 0; i < 25; ++i) {
    INFO(n(i));
    CHECK(f.mesh.deliveries(n(i)).size() == (i == 12 ? 0 : 1));
  }
  CHECK(f.mesh.duplicate_deliveries() == 0);
}

// -- dead and restarted nodes -------------------------------------------------

TEST_CASE("kill: routes to the dead node vanish within dead_after + 2 "
          "heartbeats, the others still reach each other; restart: routed "
          "to again within 5 s", "[mesh][faults]") {
  auto g = make_random(40, 4, 3);
  fixture f{g};
  f.settle_routes();
  // The busiest node whose loss leaves the graph connected: many routes go
  // through it and must move.
  std::string victim;
  size_t victim_degree = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    mesh_graph rest = g;
    rest.links.clear();
    size_t degree = 0;
    for (auto [a, b] : g.links) {
      if (a != i && b != i)
        rest.links.emplace_back(a < i ? a : a - 1, b < i ? b : b - 1);
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
  auto killed_at = f.mesh.now();
  f.mesh.kill(victim);
  auto routed_to_victim = [&] {
    for (auto& name : f.mesh.names())
      if (f.mesh.alive(name)
          && f.mesh.node(name).routing().lookup(victim) != nullptr)
        return true;
    return false;
  };
  while (routed_to_victim() && f.mesh.now() - killed_at < 10s)
    f.mesh.run_for(1ms);
  auto gone_after = f.mesh.now() - killed_at;
  std::printf("kill %s: routes to it gone from every node after %lld ms "
              "(dead_after %u + 2 x heartbeat %u)\n",
              victim.c_str(), ms(duration_cast<microseconds>(gone_after)),
              f.cfg.dead_after_ms, f.cfg.heartbeat_ms);
  CHECK(gone_after <= f.dead_after() + 2 * f.heartbeat());
  for (auto& name : f.mesh.names())
    if (f.mesh.alive(name))
      for (auto& r : f.mesh.node(name).routes())
        CHECK(r.next_hop != victim);
  f.mesh.run_for(f.heartbeat());
  INFO(f.mesh.convergence_problem());
  CHECK(f.mesh.converged());
  CHECK(f.full_routes());
  for (auto [a, b] : {std::pair<size_t, size_t>{0, 39}, {5, 20}, {39, 1}}) {
    if (n(a) == victim || n(b) == victim)
      continue;
    CHECK(f.mesh.ping(n(a), n(b)).replied);
  }
  CHECK(f.mesh.ping("n0", victim).error == "unreachable");
  broadcast_once(f.mesh, "n0", "without the dead one");

  auto restarted_at = f.mesh.now();
  f.mesh.restart(victim);
  auto back = f.mesh.run_until_converged(5s);
  INFO(f.mesh.convergence_problem());
  REQUIRE(back);
  std::printf("restart %s: full routes again after %lld ms\n",
              victim.c_str(), ms(*back));
  CHECK(f.mesh.now() - restarted_at <= 5s);
  CHECK(f.full_routes());
  auto r = f.mesh.ping("n0", victim);
  CHECK(r.replied);
  CHECK(f.mesh.ping(victim, "n0").replied);
  f.settle_routes();
  broadcast_once(f.mesh, victim, "back again");
  CHECK(f.mesh.total_stats().name_conflicts == 0);
}

TEST_CASE("restart a node that dials and one that is only dialled",
          "[mesh][faults]") {
  fixture f{make_line(6)};
  for (auto victim : {"n0", "n5", "n2"}) {
    INFO(victim);
    f.mesh.kill(victim);
    f.mesh.run_for(f.dead_after() + 2 * f.heartbeat());
    CHECK(f.mesh.converged());
    f.mesh.restart(victim);
    auto t = f.mesh.run_until_converged(5s);
    INFO(f.mesh.convergence_problem());
    REQUIRE(t);
    CHECK(f.full_routes());
    CHECK(f.mesh.ping("n0", "n5").replied);
  }
  // Restart without a kill, faster than dead_after: the peers never see
  // the node go down. One it dials learns of the new instance from its
  // announcement; one that dials it keeps sending heartbeats the new
  // instance cannot answer until it declares it dead and re-announces.
  for (auto victim : {"n3", "n0", "n5"}) {
    INFO("restart without kill: " << victim);
    f.mesh.restart(victim);
    auto t = f.mesh.run_until_converged(5s);
    INFO(f.mesh.convergence_problem());
    REQUIRE(t);
    std::printf("line 6: %s restarted without a kill, full routes again "
                "after %lld ms\n",
                victim, ms(*t));
    CHECK(f.mesh.ping("n0", "n5").replied);
    CHECK(f.mesh.ping("n5", "n0").replied);
  }
}

TEST_CASE("a node restarted faster than dead_after is found again at once "
          "when its advertisement reaches the peers that dial it",
          "[mesh][faults]") {
  // On a ring every node dials the next one and is dialled by the previous
  // one; the previous one still counts the restarted node as up, learns
  // from its new advertisement (around the ring) that it has lost us, and
  // re-announces.
  fixture f{make_ring(8)};
  f.mesh.restart("n3");
  auto t = f.mesh.run_until_converged(f.dead_after());
  INFO(f.mesh.convergence_problem());
  REQUIRE(t);
  std::printf("ring 8: n3 restarted without a kill, full routes again after "
              "%lld ms\n", ms(*t));
  CHECK(*t < f.heartbeat());
  CHECK(f.mesh.ping("n2", "n3").rtt_us == 200);
  CHECK(f.mesh.total_stats().name_conflicts == 0);
}

TEST_CASE("SPEC timing with default heartbeat and dead_after: dead node "
          "unrouted within dead_after + 2 heartbeats, restarted node routed "
          "again within 5 s (+ back-off)", "[mesh][faults]") {
  fixture f{make_random(50, 4, 8), protocol_config{}};
  auto limit = f.dead_after() + 2 * f.heartbeat();
  for (auto victim : {"n49", "n10"}) {
    INFO(victim);
    auto killed_at = f.mesh.now();
    f.mesh.kill(victim);
    auto t = f.mesh.run_until_converged(limit);
    REQUIRE(t);
    f.mesh.restart(victim);
    auto back = f.mesh.run_until_converged(5s);
    INFO(f.mesh.convergence_problem());
    REQUIRE(back);
    std::printf("random 50, default timing: %s unrouted after %lld ms, "
                "routed again %lld ms after its restart\n",
                victim, ms(*t), ms(*back));
    CHECK(f.mesh.now() - killed_at <= limit + 5s);
  }
  // Killed and restarted at once: a node only dialled by its peers is found
  // again when they give up on its former self and re-announce.
  f.mesh.kill("n49");
  f.mesh.restart("n49");
  auto quick = f.mesh.run_until_converged(f.dead_after() + 2 * f.heartbeat());
  REQUIRE(quick);
  std::printf("random 50, default timing: n49 restarted at once, routed "
              "again after %lld ms\n", ms(*quick));
}

TEST_CASE("broadcasts while routes change (flooding, reverse-path, and the "
          "switch between them) reach every node exactly once",
          "[mesh][broadcast]") {
  auto g = make_random(40, 4, 21);
  fixture f{g};
  f.settle_routes();
  auto [a, b] = g.named_links()[7];
  size_t sent = 0;
  f.mesh.cut(a, b);
  REQUIRE(f.mesh.run_until_converged(5s));
  // Every 50 ms for 1 s, across the 2-heartbeat boundary where nodes
  // switch from flooding to reverse-path.
  for (int i = 0; i < 20; ++i, ++sent) {
    INFO("after cut, broadcast " << i);
    broadcast_once(f.mesh, n((sent * 7) % g.nodes.size()), "x", {}, 50ms);
  }
  f.mesh.heal(a, b);
  REQUIRE(f.mesh.run_until_converged(5s));
  for (int i = 0; i < 20; ++i, ++sent) {
    INFO("after heal, broadcast " << i);
    broadcast_once(f.mesh, n((sent * 7) % g.nodes.size()), "y", {}, 50ms);
  }
  CHECK(f.mesh.duplicate_deliveries() == 0);
}

TEST_CASE("cut a link, heal it", "[mesh][faults]") {
  fixture f{make_ring(20)};
  REQUIRE(f.mesh.node("n0").routing().lookup("n1")->hops == 1);
  auto cut_at = f.mesh.now();
  f.mesh.cut("n0", "n1");
  auto lost = f.mesh.start_ping("n0", "n1"); // over the cut link: no answer
  auto t = f.mesh.run_until_converged(f.dead_after() + 2 * f.heartbeat());
  INFO(f.mesh.convergence_problem());
  REQUIRE(t);
  CHECK(f.mesh.now() - cut_at <= f.dead_after() + 2 * f.heartbeat());
  f.mesh.run_for(2s);
  CHECK(f.mesh.ping_result(lost).error == "timeout");
  CHECK(f.mesh.node("n0").routing().lookup("n1")->hops == 19);
  CHECK(f.mesh.node("n0").routing().lookup("n1")->next_hop == "n19");
  auto r = f.mesh.ping("n0", "n1");
  CHECK(r.replied);
  CHECK(r.rtt_us == 2 * 19 * 100);
  f.settle_routes();
  broadcast_once(f.mesh, "n0", "around the long way");

  f.mesh.heal("n0", "n1");
  auto healed = f.mesh.run_until_converged(5s);
  INFO(f.mesh.convergence_problem());
  REQUIRE(healed);
  std::printf("ring 20: cut detected in %lld ms, heal converged in %lld ms\n",
              ms(*t), ms(*healed));
  CHECK(f.mesh.node("n0").routing().lookup("n1")->hops == 1);
  CHECK(f.mesh.ping("n0", "n1").rtt_us == 200);
}

TEST_CASE("partition into two halves and heal: full routes again",
          "[mesh][faults]") {
  fixture f{make_grid(36, 6)};
  std::vector<std::string> top;
  for (size_t i = 0; i < 18; ++i)
    top.push_back(n(i));
  f.mesh.partition(top);
  auto t = f.mesh.run_until_converged(f.dead_after() + 2 * f.heartbeat());
  INFO(f.mesh.convergence_problem());
  REQUIRE(t);
  for (size_t i = 0; i < 36; ++i)
    CHECK(f.mesh.node(n(i)).routes().size() == 17);
  CHECK(f.mesh.ping("n0", "n35").error == "unreachable");
  CHECK(f.mesh.ping("n0", "n17").replied);
  CHECK(f.mesh.ping("n18", "n35").replied);
  f.settle_routes();
  std::set<std::string> bottom;
  for (size_t i = 18; i < 36; ++i)
    bottom.insert(n(i));
  CHECK(broadcast_once(f.mesh, "n20", "bottom half only", bottom) == 17);

  f.mesh.heal_all();
  auto healed = f.mesh.run_until_converged(5s);
  INFO(f.mesh.convergence_problem());
  REQUIRE(healed);
  std::printf("grid 36 partition: split in %lld ms, whole again in %lld ms\n",
              ms(*t), ms(*healed));
  CHECK(f.full_routes());
  CHECK(f.mesh.ping("n0", "n35").replied);
  f.settle_routes();
  CHECK(broadcast_once(f.mesh, "n0", "whole again") == 35);
}

// -- cost ---------------------------------------------------------------------

TEST_CASE("cost: one link cut costs at most 4 L link_state messages",
          "[mesh][cost]") {
  // Each end of the cut link floods one new advertisement; a flood crosses
  // each link at most once each way: <= 2 x 2L. Heal adds a database sync
  // (<= N advertisements each way) plus the two ends' new floods.
  struct row {
    std::string label;
    mesh_graph g;
  };
  std::vector<row> rows = {{"ring 20", make_ring(20)},
                           {"ring 40", make_ring(40)},
                           {"ring 80", make_ring(80)},
                           {"random 25/4", make_random(25, 4, 11)},
                           {"random 50/4", make_random(50, 4, 11)},
                           {"random 100/4", make_random(100, 4, 11)}};
  for (auto& [label, g] : rows) {
    fixture f{g};
    f.settle_routes();
    auto nodes = g.nodes.size();
    auto links = g.links.size();
    // The run must not cross a periodic refresh, which re-floods every
    // advertisement by design.
    auto started = f.mesh.elapsed();
    auto [a, b] = g.named_links()[g.links.size() / 2];
    auto lsa0 = f.mesh.transmissions(command::link_state);
    f.mesh.cut(a, b);
    REQUIRE(f.mesh.run_until_converged(10s));
    f.settle(4 * f.heartbeat());
    auto cut_cost = f.mesh.transmissions(command::link_state) - lsa0;
    auto lsa1 = f.mesh.transmissions(command::link_state);
    f.mesh.heal(a, b);
    REQUIRE(f.mesh.run_until_converged(10s));
    f.settle(4 * f.heartbeat());
    auto heal_cost = f.mesh.transmissions(command::link_state) - lsa1;
    REQUIRE(f.mesh.elapsed() - started < f.cfg.lsa_refresh);
    // Two floods over the L - 1 remaining links, each 2(L - 1) - (N - 1)
    // copies (see the broadcast test); heal: two syncs of N - 1 and two
    // floods over L links.
    std::printf("cost %-13s N=%3zu L=%3zu: cut %s-%s %4llu link_state "
                "(%.2f L; 2(2(L-1)-(N-1)) = %zu), heal %4llu (%.2f L)\n",
                label.c_str(), nodes, links, a.c_str(), b.c_str(),
                static_cast<unsigned long long>(cut_cost),
                double(cut_cost) / double(links),
                2 * (2 * (links - 1) - (nodes - 1)),
                static_cast<unsigned long long>(heal_cost),
                double(heal_cost) / double(links));
    CHECK(cut_cost <= 4 * links);
    CHECK(heal_cost <= 2 * nodes + 4 * links);
  }
}

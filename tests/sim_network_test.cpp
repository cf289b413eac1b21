// The simulator's network (SPEC §13) end to end: deterministic runs whose
// links delay, lose and pace messages, degrade and stall events, and what
// the report measures (latency_us, reconverged_ms, network_lost,
// false_downs, timeline). The link model's own arithmetic is tested in
// link_model_test.cpp.

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "sim_support.hpp"

using namespace quilt;
using namespace quilt::test;

namespace {

std::string network(const std::string& keys) {
  return "[network]\n" + keys;
}

std::string link_override(const std::string& a, const std::string& b,
                          const std::string& keys) {
  return "[[network.links]]\na = " + quoted(a) + "\nb = " + quoted(b) + "\n"
         + keys;
}

uint64_t latency_of(const sim_run& r, size_t event) {
  INFO(r.progress);
  REQUIRE(r.event(event).latency_us.has_value());
  return *r.event(event).latency_us;
}

} // namespace

TEST_CASE("latency: on a ring of 10 at 10 ms a ping n0 -> n5 takes 100 ms, "
          "a send 50 ms", "[sim][network]") {
  scenario_text text{ring(10)};
  text.network = network("latency_ms = 10\n");
  auto ping = text.ping(0, "n0", "n5", "delivered");
  auto send = text.send(500, "n0", "n5", "hi", "delivered");
  auto near = text.ping(1000, "n0", "n1", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  // Twice the sum of one-way latencies along the path, within 1 ms.
  CHECK(latency_of(r, ping) >= 100000);
  CHECK(latency_of(r, ping) < 101000);
  CHECK(latency_of(r, near) >= 20000);
  CHECK(latency_of(r, near) < 21000);
  // Inboxes keep milliseconds: the send's latency is exact to 1 ms.
  CHECK(latency_of(r, send) >= 49000);
  CHECK(latency_of(r, send) <= 51000);
}

TEST_CASE("latency: without a [network] links take no time",
          "[sim][network]") {
  scenario_text text{ring(10)};
  auto ping = text.ping(0, "n0", "n5", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(latency_of(r, ping) < 1000);
  CHECK(r.report.network_lost == 0);
}

TEST_CASE("bandwidth: a 1,000-byte text over an 8 kbps link takes at least "
          "a second", "[sim][network]") {
  scenario_text text{line(2)};
  // The text holds the link for a second: heartbeats wait behind it, so
  // dead_after must outlast it.
  text.defaults = "heartbeat_ms = 200\ndead_after_ms = 3000\n";
  text.network = link_override("n0", "n1", "bandwidth_kbps = 8\n");
  auto send = text.send(0, "n0", "n1", std::string(1000, 'x'), "delivered");
  text.within(5000);
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(latency_of(r, send) >= 1000000);
  CHECK(latency_of(r, send) < 1500000);
  CHECK(r.report.false_downs == 0);
}

TEST_CASE("degrade: a slower link slows what crosses it, loss 1.0 cuts it",
          "[sim][network]") {
  scenario_text text{ring(6)};
  text.network = network("latency_ms = 10\n");
  auto slow = text.degrade(0, "n0", "n1", "latency_ms = 100\n");
  auto ping_slow = text.ping(100, "n0", "n1", "delivered");
  auto dead = text.degrade(1000, "n0", "n1", "loss = 1.0\n");
  // The long way round: 5 hops of 10 ms each way.
  auto ping_around = text.ping(3000, "n0", "n1", "delivered");
  auto every = text.degrade(4000, "", "", "latency_ms = 30\n");
  auto ping_far = text.ping(4100, "n2", "n5", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(latency_of(r, ping_slow) >= 200000);
  CHECK(latency_of(r, ping_slow) < 201000);
  CHECK(latency_of(r, ping_around) >= 100000);
  CHECK(latency_of(r, ping_around) < 101000);
  // Every link at 30 ms (n0-n1 too, loss kept): 3 hops each way.
  CHECK(latency_of(r, ping_far) >= 180000);
  CHECK(latency_of(r, ping_far) < 181000);
  // Routes follow hop counts: a slower link changes none.
  REQUIRE(r.event(slow).reconverged_ms.has_value());
  CHECK(*r.event(slow).reconverged_ms == 0);
  REQUIRE(r.event(every).reconverged_ms.has_value());
  CHECK(*r.event(every).reconverged_ms == 0);
  // A link at loss 1.0 is noticed after dead_after_ms, like a cut.
  REQUIRE(r.event(dead).reconverged_ms.has_value());
  CHECK(*r.event(dead).reconverged_ms >= 500);
  CHECK(*r.event(dead).reconverged_ms < 2000);
  CHECK(r.report.network_lost > 0);
  CHECK(r.report.false_downs == 0);
}

TEST_CASE("stall: a frozen node is declared dead, what is sent to it waits, "
          "it resumes with it", "[sim][network]") {
  scenario_text text{line(3)};
  text.network = network("latency_ms = 5\n");
  auto stall = text.stall(0, "n1", 2000);
  auto held = text.send(100, "n0", "n1", "wait for me", "delivered");
  text.within(5000);
  auto cut_off = text.ping(1000, "n0", "n2", "unreachable");
  auto origin = text.ping(1500, "n1", "n0", "unreachable");
  auto back = text.ping(3500, "n0", "n2", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  // Sent at 100 ms, read when n1 resumes at 2,000 ms.
  CHECK(latency_of(r, held) >= 1895000);
  CHECK(latency_of(r, held) < 2000000);
  CHECK(r.event(origin).detail == "unreachable: n1 is stalled");
  CHECK(r.event(cut_off).ok);
  CHECK(latency_of(r, back) >= 20000);
  // Its neighbours declared it down while it was frozen: not false.
  CHECK(r.report.false_downs == 0);
  REQUIRE(r.event(stall).reconverged_ms.has_value());
  CHECK(*r.event(stall).reconverged_ms >= 500);
}

TEST_CASE("stall: a node frozen for less than dead_after_ms keeps its "
          "neighbours", "[sim][network]") {
  scenario_text text{line(3)};
  text.defaults = "heartbeat_ms = 100\ndead_after_ms = 1000\n";
  auto stall = text.stall(0, "n1", 300);
  auto ping = text.ping(1000, "n0", "n2", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  // Counted as down while frozen; right again once it resumes.
  REQUIRE(r.event(stall).reconverged_ms.has_value());
  CHECK(*r.event(stall).reconverged_ms >= 300);
  CHECK(*r.event(stall).reconverged_ms < 400);
  CHECK(latency_of(r, ping) < 1000);
  CHECK(r.report.false_downs == 0);
}

TEST_CASE("reconverged_ms: a kill heals after dead_after_ms, non-fault "
          "events have none", "[sim][network]") {
  scenario_text text{ring(8)};
  text.network = network("latency_ms = 2\n");
  auto kill = text.kill(0, "n3");
  auto ping = text.ping(2000, "n2", "n4", "delivered");
  auto restart = text.restart(3000, "n3");
  auto r = simulate_ok(text);
  check_all_events(r);
  REQUIRE(r.event(kill).reconverged_ms.has_value());
  CHECK(*r.event(kill).reconverged_ms >= 500);
  CHECK(*r.event(kill).reconverged_ms < 1500);
  CHECK(r.event(restart).reconverged_ms.has_value());
  CHECK(!r.event(ping).fault);
  auto json = r.report.to_json();
  CHECK(json.find("\"reconverged_ms\"") != std::string::npos);
}

TEST_CASE("a broadcast counts the nodes that stay reachable: one killed "
          "before the text reaches it is not missing", "[sim][network]") {
  scenario_text text{line(6)};
  text.network = network("latency_ms = 20\n");
  auto b = text.broadcast(0, "n0", "hello", "all");
  text.kill(10, "n5"); // 100 ms away from n0
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(r.event(b).detail == "reached 4/4 live nodes");
  CHECK(latency_of(r, b) >= 80000);
}

TEST_CASE("loss: lossy links lose messages, counted in network_lost; the "
          "same seed gives the same report", "[sim][network]") {
  scenario_text text{random_graph(30, 3), 7};
  text.network = network("latency_ms = 20\njitter_ms = 10\nloss = 0.05\n");
  auto [x, y] = graph_of(text).named_links()[0];
  text.broadcast(0, "n3", "hello", "");
  text.kill(100, "n7");
  text.ping(200, "n0", "n29");
  text.cut(300, x, y);
  text.degrade(400, "", "", "loss = 0.1\n");
  text.stall(500, "n11", 700);
  text.restart(1200, "n7");
  auto sc = parse(text);
  auto a = simulate(sc);
  auto b = simulate(sc);
  INFO(a.progress);
  REQUIRE(a.report.converged_ms.has_value());
  CHECK(a.report.network_lost > 0);
  a.report.wall_ms = b.report.wall_ms = 0;
  a.report.peak_rss_bytes = b.report.peak_rss_bytes = 0;
  CHECK(a.report.to_json() == b.report.to_json());
  // Another seed draws other losses.
  auto other = parse(text);
  other.seed = 8;
  auto c = simulate(other);
  CHECK(c.report.network_lost != a.report.network_lost);
}

TEST_CASE("timeline: a sample every sample_ms from before full routes, "
          "a kill shows as nodes without right routes", "[sim][network]") {
  scenario_text text{ring(8)};
  text.sample_ms = 50;
  text.settle_ms = 1000;
  text.kill(200, "n3");
  auto r = simulate_ok(text);
  auto& tl = r.report.timeline;
  REQUIRE(tl.size() > 10);
  CHECK(tl.front().t_ms < 0);
  CHECK(tl.front().nodes_converged < 8);
  // From t = 0 on, one sample every 50 ms.
  auto zero = std::find_if(tl.begin(), tl.end(),
                           [](const sim_sample& x) { return x.t_ms >= 0; });
  REQUIRE(zero != tl.end());
  CHECK(zero->t_ms == 0);
  CHECK(zero->nodes_converged == 8);
  for (auto i = zero; i + 1 != tl.end(); ++i)
    CHECK((i + 1)->t_ms - i->t_ms == 50);
  // Right after the kill the 7 live nodes still route to n3 ...
  auto after = std::find_if(tl.begin(), tl.end(),
                            [](const sim_sample& x) { return x.t_ms == 250; });
  REQUIRE(after != tl.end());
  CHECK(after->nodes_converged < 7);
  // ... until they noticed; at the end every live node is right.
  CHECK(tl.back().nodes_converged == 7);
  uint64_t messages = 0;
  for (auto& x : tl)
    messages += x.messages;
  CHECK(messages > 0);
  // sample_ms = 0: no timeline.
  text.sample_ms = 0;
  CHECK(simulate_ok(text).report.timeline.empty());
}

TEST_CASE("false_downs: a lossy ring declares live neighbours dead, a "
          "killed node's neighbours are right", "[sim][network]") {
  SECTION("a kill on perfect links: no false down") {
    scenario_text text{ring(6)};
    text.kill(0, "n2");
    text.restart(2000, "n2");
    text.cut(3000, "n4", "n5");
    text.heal(4000, "n4", "n5");
    auto r = simulate_ok(text);
    CHECK(r.report.false_downs == 0);
  }
  SECTION("60% loss: a dozen probes in a row lost now and then") {
    // At 40% plain heartbeats lost 11 here; suspicion's probes lose none
    // there, 28 at 60% (docs/PROTOCOL.md "Liveness").
    scenario_text text{ring(6)};
    text.network = network("loss = 0.6\n");
    text.settle_ms = 10000;
    text.ping(0, "n0", "n3");
    auto r = simulate(text);
    CHECK(r.report.false_downs > 0);
    CHECK(r.report.network_lost > 0);
  }
}

TEST_CASE("real time: the model delays, loses and stalls on the scheduler's "
          "threads too", "[sim][network]") {
  // Under ThreadSanitizer this runs the model's wire actor beside the
  // nodes' actors on several threads.
  scenario_text text{ring(6)};
  text.deterministic = false;
  text.settle_ms = 300;
  text.network = network("latency_ms = 30\n")
                 + link_override("n3", "n4", "loss = 0.5\njitter_ms = 10\n");
  // n0 -> n1 -> n2: two clean hops (the other way round is four).
  auto ping = text.ping(0, "n0", "n2", "delivered");
  text.within(5000);
  auto stall = text.stall(100, "n5", 300);
  auto r = simulate_ok(text);
  INFO(r.progress);
  CHECK(r.event(ping).ok);
  // Two hops of 30 ms each way, at least: real time only adds.
  CHECK(latency_of(r, ping) >= 120000);
  CHECK(r.event(stall).fault);
  CHECK(r.report.duplicate_deliveries == 0);
}

// -- failure detection on lossy links (SPEC §14) -------------------------------

namespace {

/// SPEC §14's setting: heartbeat 200 ms, dead after 1,000 ms.
constexpr const char* spec14_timing = "heartbeat_ms = 200\ndead_after_ms = "
                                      "1000\n";

/// 60 s of virtual time on a ring of 12 whose every link loses `loss` of
/// what crosses it. The loss starts once the first routes are there: what
/// is measured is failure detection, not how the first flood fares.
sim_run lossy_ring_minute(const std::string& loss, uint64_t seed) {
  scenario_text text{ring(12), seed};
  text.defaults = spec14_timing;
  text.degrade(0, "", "", "loss = " + loss + "\n");
  text.settle_ms = 60000;
  auto r = simulate(text);
  INFO(r.progress);
  REQUIRE(r.report.converged_ms.has_value());
  return r;
}

} // namespace

TEST_CASE("false_downs: a ring of 12 at 20% loss keeps every live "
          "neighbour for a minute", "[sim][network][liveness]") {
  // SPEC §14. Plain heartbeats (five pings in dead_after_ms) lost 2 over
  // these six minutes; suspicion and probes none.
  for (uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    auto r = lossy_ring_minute("0.2", seed);
    INFO("seed " << seed << "\n" << r.progress);
    CHECK(r.report.network_lost > 0);
    CHECK(r.report.false_downs == 0);
  }
}

TEST_CASE("false_downs: at 35% loss suspicion keeps what plain heartbeats "
          "lose", "[sim][network][liveness]") {
  // Plain heartbeats: 47 false downs over these six minutes (3 to 10 a
  // minute); probes: none (docs/PROTOCOL.md "Liveness").
  for (uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    auto r = lossy_ring_minute("0.35", seed);
    INFO("seed " << seed << "\n" << r.progress);
    CHECK(r.report.network_lost > 0);
    CHECK(r.report.false_downs == 0);
  }
}

TEST_CASE("a kill at 20% loss is found within dead_after_ms + 2 heartbeats",
          "[sim][network][liveness]") {
  // The hub of a star: each leaf has to find the death itself, and its
  // routes are right once it has (no flood needed, so what is measured is
  // detection alone: on a ring the withdrawal's flood loses copies).
  for (uint64_t seed : {1, 2, 3}) {
    scenario_text text{star(6), seed};
    text.defaults = spec14_timing;
    text.degrade(0, "", "", "loss = 0.2\n");
    auto kill = text.kill(1000, "n0");
    text.settle_ms = 3000;
    auto r = simulate(text);
    INFO("seed " << seed << "\n" << r.progress);
    REQUIRE(r.report.converged_ms.has_value());
    REQUIRE(r.event(kill).reconverged_ms.has_value());
    CHECK(*r.event(kill).reconverged_ms <= 1000 + 2 * 200);
    CHECK(r.report.false_downs == 0);
  }
}

TEST_CASE("a stall of 3 s at 20% loss is found, and the node is back when "
          "it resumes", "[sim][network][liveness]") {
  // The middle of a line: both ends find the stall themselves. Routes
  // need no flood to come back: every advertisement held before the stall
  // is right again once the node resumes and nobody declared it dead.
  for (uint64_t seed : {1, 2, 3}) {
    scenario_text text{line(3), seed};
    text.defaults = spec14_timing;
    text.sample_ms = 100;
    text.degrade(0, "", "", "loss = 0.2\n");
    auto stall = text.stall(1000, "n1", 3000);
    text.settle_ms = 6000; // the run ends 3 s after the resume
    auto r = simulate(text);
    INFO("seed " << seed << "\n" << r.progress);
    REQUIRE(r.report.converged_ms.has_value());
    // Found: n0 and n2 no longer route through n1 (a stalled node counts
    // as down for the truth).
    REQUIRE(r.event(stall).reconverged_ms.has_value());
    CHECK(*r.event(stall).reconverged_ms <= 1000 + 2 * 200);
    // Back: from shortly after the resume at 4 s, every node's routes are
    // right in every sample.
    auto& tl = r.report.timeline;
    size_t after = 0;
    for (auto& x : tl)
      if (x.t_ms >= 4500) {
        ++after;
        INFO("t_ms " << x.t_ms);
        CHECK(x.nodes_converged == 3);
      }
    CHECK(after >= 20);
    // n1 resumed without declaring n0 or n2 dead (local health).
    CHECK(r.report.false_downs == 0);
  }
}

// Unicast with confirmation through the simulator (SPEC §14): sends on
// lossy links arrive exactly once and are confirmed; a send to a node that
// is gone is not, and says so. The protocol's own retransmission schedule
// is tested by hand in protocol_test.cpp.

#include <catch2/catch.hpp>

#include <string>

#include "sim_support.hpp"

using namespace quilt;
using namespace quilt::test;

TEST_CASE("unicast: sends on a ring of 12 at loss 0.2 per link are each "
          "delivered exactly once and confirmed",
          "[sim][network][unicast]") {
  scenario_text text{ring(12)};
  // Routes form on clean links; from t = 0 every link loses a fifth of
  // what crosses it, each way. Heartbeats tolerate it (20 in a row lost
  // before a false down), so what is tested is the end-to-end repair.
  text.defaults = "heartbeat_ms = 100\ndead_after_ms = 2000\n";
  text.degrade(0, "", "", "loss = 0.2\n");
  std::vector<size_t> sends;
  // Every distance, up to the far side (6 hops: a copy and its
  // confirmation both arrive 7% of the time).
  for (size_t k = 1; k < 12; ++k) {
    sends.push_back(text.send(100 + 50 * k, "n0", n(k),
                              "to " + n(k), "delivered"));
    text.within(10000);
  }
  sends.push_back(text.send(700, "n6", "n0", "back", "delivered"));
  text.within(10000);
  sends.push_back(text.send(750, "n3", "n9", "across", "delivered"));
  text.within(10000);
  auto sc = parse(text);
  auto r = simulate(sc);
  INFO(r.progress);
  REQUIRE(r.report.converged_ms.has_value());
  check_all_events(r);
  for (auto i : sends) {
    CHECK(starts_with(r.event(i).detail, "delivered to"));
    CHECK(r.event(i).latency_us.has_value());
  }
  CHECK(r.report.duplicate_deliveries == 0);
  CHECK(r.report.network_lost > 0);
  // Lost copies were made good by sending again, and each copy that
  // arrived was confirmed.
  CHECK(r.sent(command::msg) > 2 * sends.size());
  CHECK(r.sent(command::msg_ack) >= sends.size());
  // The same seed gives the same report.
  auto again = simulate(sc);
  r.report.wall_ms = again.report.wall_ms = 0;
  r.report.peak_rss_bytes = again.report.peak_rss_bytes = 0;
  CHECK(r.report.to_json() == again.report.to_json());
}

TEST_CASE("unicast: a send to a node killed before it arrives is not "
          "delivered, and its origin says so", "[sim][unicast]") {
  scenario_text text{line(4)};
  text.network = "[network]\nlatency_ms = 20\n";
  text.kill(0, "n3");
  // Sent while n3 is still routed (dead_after 500 ms): the copies go as
  // far as n2 and nothing confirms them.
  auto lost = text.send(10, "n0", "n3", "too late", "unreachable");
  text.within(3000);
  auto fine = text.send(20, "n0", "n2", "in time", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  // Given up by the origin, or still unconfirmed when the event's wait
  // ended: either way not delivered.
  auto& why = r.event(lost).detail;
  CHECK((starts_with(why, "unreachable: not_delivered to n3")
         || starts_with(why, "unreachable: not confirmed by n3")));
  CHECK(starts_with(r.event(fine).detail, "delivered to n2"));
}

TEST_CASE("unicast: with delivery_timeout_ms = 0 a send goes once and is "
          "judged by the inbox", "[sim][unicast]") {
  scenario_text text{line(3)};
  text.defaults += "delivery_timeout_ms = 0\n";
  auto s = text.send(0, "n0", "n2", "once", "delivered");
  auto r = simulate_ok(text);
  check_all_events(r);
  CHECK(r.event(s).detail == "delivered to n2");
  // Two hops each way: the destination still confirms, nobody listens.
  CHECK(r.sent(command::msg_ack) == 2);
  CHECK(r.sent(command::msg) == 2); // n0 -> n1 -> n2, never again
}

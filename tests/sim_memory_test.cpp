// One memory bound per process (SPEC §14 "Memory"): the bytes of messages
// in flight are charged to the process's budget and to their link's when a
// node queues them, and come back when the receiving node handled them or
// wherever they are dropped. Deterministic runs on slow links, so that what
// is sent piles up on its way the same way every time.

#include <catch2/catch.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "quilt/direct_transport.hpp"
#include "sim_support.hpp"

using namespace quilt;
using namespace quilt::test;

namespace {

/// `count` broadcasts from `from`, all at t = 0, each of `bytes` characters.
void broadcasts(scenario_text& text, const std::string& from, size_t count,
                size_t bytes) {
  for (size_t i = 0; i < count; ++i)
    text.broadcast(0, from, std::string(bytes, 'a' + i % 26), "");
}

} // namespace

TEST_CASE("memory: one byte budget bounds what every node of a process has "
          "in flight, and counts what it refuses as dropped_queue_full",
          "[sim][memory]") {
  // 40 broadcasts of 20 KB from n0 to its 5 neighbours at once, each copy
  // 100 ms on its way: 4 MB offered to a budget of 256 KiB.
  scenario_text text{full(6)};
  text.network = "[network]\nlatency_ms = 100\n";
  broadcasts(text, "n0", 40, 20000);
  auto after = text.ping(3000, "n0", "n5", "delivered");
  sim_options opts;
  opts.budget_bytes = 256 << 10;
  auto r = simulate(parse(text), opts);
  INFO(r.progress);
  REQUIRE(r.report.converged_ms.has_value());
  auto limit = r.report.budget_limit_bytes;
  CHECK(limit == 256 << 10);
  // Never more than the limit and the hellos' reserve (an eighth) at once,
  // and the budget was what stopped the flood.
  CHECK(r.report.budget_peak_bytes <= limit + limit / 8);
  CHECK(r.report.budget_peak_bytes > limit / 2);
  CHECK(r.report.budget_refused > 0);
  CHECK(r.report.drops.dropped_queue_full >= r.report.budget_refused);
  CHECK(r.report.drops.dropped_overload == 0);
  // Hellos went on meanwhile (no neighbour declared down) and the mesh
  // still works once the flood drained.
  CHECK(r.report.false_downs == 0);
  check_event(r, after);
  // Every byte came back: handled, dropped, or lost with a stopped node.
  CHECK(r.report.budget_left_bytes == 0);
}

TEST_CASE("memory: a link's queue is limited in bytes as well as in "
          "messages, and counts what it refuses as dropped_queue_full",
          "[sim][memory]") {
  // max_message_bytes 16384: each link may hold 64 x 16 KiB = 1 MiB on its
  // way, far fewer than queue_limit's 10,000 messages; 120 broadcasts of
  // 15 KB over one 100 ms link offer 1.8 MB.
  scenario_text text{line(2)};
  text.defaults += "max_message_bytes = 16384\n";
  text.network = "[network]\nlatency_ms = 100\n";
  broadcasts(text, "n0", 120, 15000);
  text.ping(3000, "n0", "n1", "delivered");
  auto r = simulate(text);
  INFO(r.progress);
  REQUIRE(r.report.converged_ms.has_value());
  // Without the byte limit the 120 fit in queue_limit and none drop.
  CHECK(r.report.drops.dropped_queue_full > 0);
  CHECK(r.report.drops.dropped_overload == 0);
  CHECK(r.report.budget_refused == 0); // the link's bound, not the process's
  CHECK(r.report.false_downs == 0);
  // What was refused came again with broadcast repair once the link drained
  // (so the drops may count one broadcast more than once).
  check_all_events(r);
  CHECK(r.report.budget_left_bytes == 0);
}

TEST_CASE("memory: a direct link hands a batch's bytes on to the receiver "
          "and gives back those of what it drops",
          "[memory][transport]") {
  // A receiver that keeps every batch's bytes, as a node does until it
  // handled the batch.
  struct holding_sink : inbound_sink {
    std::mutex mtx;
    std::vector<bytes_credit> held;
    size_t received = 0;
    void frames(inbound_batch&&, flow_credit credit) override {
      credit.settle();
    }
    void messages(std::string, message_batch&&,
                  std::shared_ptr<std::atomic<uint64_t>>) override {
    }
    void messages(std::string, message_batch&& batch,
                  std::shared_ptr<std::atomic<uint64_t>>,
                  bytes_credit bytes) override {
      std::lock_guard<std::mutex> guard{mtx};
      received += batch.size();
      held.push_back(std::move(bytes));
    }
  };
  direct_transport t;
  auto l = t.listen("direct://b:1", listen_options{});
  REQUIRE(std::holds_alternative<listener_id>(l));
  auto sink = std::make_shared<holding_sink>();
  t.attach(std::get<listener_id>(l), sink);
  dial_options opts;
  opts.identity = "a";
  opts.queue_limit = 5;
  auto link = t.dial("direct://b:1", opts);
  auto process = std::make_shared<byte_budget>(1 << 20);
  auto per_link = std::make_shared<byte_budget>(1 << 20);
  message_batch batch;
  for (int i = 0; i < 10; ++i) {
    message m;
    m.destination = "b";
    m.cmd = command::msg;
    m.origin = "a";
    m.id = static_cast<uint64_t>(i + 1);
    m.ttl = 1;
    m.args = {std::string(1000, 'x')};
    batch.push_back(std::move(m));
  }
  auto all = batch_bytes(batch, 0, batch.size());
  auto first5 = batch_bytes(batch, 0, 5);
  REQUIRE(process->try_take(all, false));
  REQUIRE(per_link->try_take(all, false));
  bytes_credit credit{process, per_link, all};
  CHECK(link->send(batch, credit) == 5);
  CHECK(link->counters().dropped == 5);
  // The dropped half came back at once; the sent half is the receiver's.
  CHECK(process->used() == first5);
  CHECK(per_link->used() == first5);
  {
    std::lock_guard<std::mutex> guard{sink->mtx};
    CHECK(sink->received == 5);
    for (auto& c : sink->held)
      c.settle();
  }
  CHECK(process->used() == 0);
  CHECK(per_link->used() == 0);
  CHECK(process->lost() == 0);
}

TEST_CASE("memory: a byte budget refuses past its limit, lets hellos and "
          "acknowledgements use its reserve, and never goes past both",
          "[memory]") {
  byte_budget b{1000, 100};
  CHECK(b.try_take(900, false));
  CHECK_FALSE(b.try_take(200, false));
  CHECK(b.try_take(100, false));
  CHECK_FALSE(b.try_take(1, false));
  CHECK(b.try_take(100, true)); // the reserve
  CHECK_FALSE(b.try_take(1, true));
  CHECK(b.used() == 1100);
  CHECK(b.peak() == 1100);
  CHECK(b.refused() == 3);
  {
    // An unsettled credit gives its bytes back too, and is tallied as lost.
    counted_credit<byte_budget> lost{std::shared_ptr<byte_budget>(
                                       &b, [](byte_budget*) {}),
                                     100};
  }
  CHECK(b.used() == 1000);
  CHECK(b.lost() == 100);
  CHECK(is_priority(command::ping));
  CHECK(is_priority(command::link_ack));
  CHECK(is_priority(command::msg_ack));
  CHECK_FALSE(is_priority(command::link_state));
  CHECK_FALSE(is_priority(command::msg));
}

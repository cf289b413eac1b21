// The simulator's link model (SPEC §13): one direction's arithmetic
// (link_direction: order, loss, bandwidth, seeds) driven by hand, and the
// conditioned transport over a direct transport on CAF's test coordinator,
// where every delay is virtual time and exact.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "quilt/conditioned_transport.hpp"
#include "quilt/direct_transport.hpp"
#include "quilt/link_model.hpp"

using namespace quilt;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {


const time_point t0 = time_point{} + 1000s;

link_params latency(uint64_t ms) {
  link_params p;
  p.latency_ms = ms;
  return p;
}

} // namespace

// -- one direction ------------------------------------------------------------

TEST_CASE("link_direction: jitter never reorders (100,000 messages)",
          "[link_model]") {
  link_params p;
  p.latency_ms = 20;
  p.jitter_ms = 5000; // far more than the 1 ms between sends
  link_direction d{42, p};
  std::optional<time_point> last;
  auto first = time_point::max();
  auto latest = time_point::min();
  size_t reordered = 0;
  for (int i = 0; i < 100000; ++i) {
    auto now = t0 + milliseconds(i);
    auto at = d.admit(now, 100);
    REQUIRE(at);
    CHECK(*at >= now + 20ms);
    if (last && *at < *last)
      ++reordered;
    last = at;
    first = std::min(first, *at);
    latest = std::max(latest, *at);
  }
  CHECK(reordered == 0);
  // The jitter is there: arrivals spread beyond the send times' 100 s.
  CHECK(latest - first > 100s);
}

TEST_CASE("link_direction: the loss rate is within binomial bounds over "
          "100,000 draws",
          "[link_model]") {
  for (double loss : {0.02, 0.5}) {
    INFO("loss " << loss);
    link_params p;
    p.loss = loss;
    link_direction d{7, p};
    const int n = 100000;
    int lost = 0;
    for (int i = 0; i < n; ++i)
      if (!d.admit(t0, 10))
        ++lost;
    double mean = n * loss;
    double sd = std::sqrt(n * loss * (1 - loss));
    CHECK(std::abs(lost - mean) <= 5 * sd);
  }
}

TEST_CASE("link_direction: loss 1.0 loses everything, loss 0 nothing",
          "[link_model]") {
  link_params all;
  all.loss = 1.0;
  link_params none;
  none.latency_ms = 1;
  none.jitter_ms = 3;
  link_direction lossy{1, all};
  link_direction clean{1, none};
  for (int i = 0; i < 10000; ++i) {
    CHECK_FALSE(lossy.admit(t0, 50));
    CHECK(clean.admit(t0, 50));
  }
}

TEST_CASE("link_direction: bandwidth queues messages one after another",
          "[link_model]") {
  link_params p;
  p.bandwidth_kbps = 8; // 1 byte per ms
  SECTION("1,000 bytes at 8 kbps take 1,000 ms") {
    link_direction d{1, p};
    CHECK(d.admit(t0, 1000) == t0 + 1000ms);
  }
  SECTION("back-to-back messages arrive spaced by their transmission times, "
          "after the latency") {
    p.latency_ms = 30;
    link_direction d{1, p};
    CHECK(d.admit(t0, 1000) == t0 + 1030ms);
    CHECK(d.admit(t0, 500) == t0 + 1530ms);
    CHECK(d.admit(t0, 250) == t0 + 1780ms);
    CHECK(d.busy_until() == t0 + 1750ms);
  }
  SECTION("an idle link does not bank credit") {
    link_direction d{1, p};
    CHECK(d.admit(t0, 1000) == t0 + 1000ms);
    // Idle from 1 s to 5 s: the next message still takes its full time.
    CHECK(d.admit(t0 + 5000ms, 1000) == t0 + 6000ms);
    CHECK(d.admit(t0 + 5000ms, 1000) == t0 + 7000ms);
  }
  SECTION("a lost message took the link's time too") {
    p.loss = 1.0;
    link_direction d{1, p};
    CHECK_FALSE(d.admit(t0, 1000));
    CHECK(d.busy_until() == t0 + 1000ms);
  }
}

TEST_CASE("link_direction: identical seeds draw identical arrivals, "
          "different seeds different ones",
          "[link_model]") {
  link_params p;
  p.latency_ms = 10;
  p.jitter_ms = 50;
  p.loss = 0.1;
  auto run = [&](uint64_t seed) {
    link_direction d{seed, p};
    std::vector<std::optional<time_point>> out;
    for (int i = 0; i < 10000; ++i)
      out.push_back(d.admit(t0 + milliseconds(i * 7), 64));
    return out;
  };
  CHECK(run(99) == run(99));
  CHECK(run(99) != run(100));
}

TEST_CASE("link_change: the keys it sets replace the link's, the others stay",
          "[link_model]") {
  link_params base;
  base.latency_ms = 20;
  base.jitter_ms = 5;
  base.loss = 0.01;
  base.bandwidth_kbps = 1000;
  link_change none;
  CHECK(none.empty());
  CHECK(none.applied_to(base) == base);
  link_change c;
  c.latency_ms = 150;
  c.loss = 0.0;
  CHECK_FALSE(c.empty());
  auto x = c.applied_to(base);
  CHECK(x.latency_ms == 150);
  CHECK(x.jitter_ms == 5);
  CHECK(x.loss == 0.0);
  CHECK(x.bandwidth_kbps == 1000);
  link_change perfect;
  perfect.latency_ms = 0;
  perfect.jitter_ms = 0;
  perfect.loss = 0.0;
  perfect.bandwidth_kbps = 0;
  CHECK(perfect.applied_to(base).perfect());
}

// -- the conditioned transport on virtual time --------------------------------

namespace {

/// What a listener received: when, and the message ids of each batch.
struct recording_sink : inbound_sink {
  explicit recording_sink(caf::actor_system& s) : sys(s) {
  }

  struct batch_seen {
    time_point at;
    std::string from;
    std::vector<uint64_t> ids;
  };

  caf::actor_system& sys;
  std::mutex mtx;
  std::vector<batch_seen> batches;

  void frames(inbound_batch&&, flow_credit) override {
  }

  void messages(std::string from, message_batch&& batch,
                std::shared_ptr<std::atomic<uint64_t>> in_flight) override {
    batch_seen b{sys.clock().now(), std::move(from), {}};
    for (auto& x : batch)
      b.ids.push_back(x.id);
    // Taken at once: the link's room comes back.
    *in_flight -= batch.size();
    std::lock_guard<std::mutex> guard{mtx};
    batches.push_back(std::move(b));
  }

  std::vector<uint64_t> ids() {
    std::lock_guard<std::mutex> guard{mtx};
    std::vector<uint64_t> out;
    for (auto& b : batches)
      out.insert(out.end(), b.ids.begin(), b.ids.end());
    return out;
  }

  size_t count() { return ids().size(); }
};

message msg(uint64_t id, std::string text = "hello") {
  message x;
  x.destination = "b";
  x.cmd = command::msg;
  x.origin = "a";
  x.id = id;
  x.ttl = 9;
  x.args.push_back(std::move(text));
  return x;
}

message_batch batch_of(std::initializer_list<uint64_t> ids) {
  message_batch out;
  for (auto id : ids)
    out.push_back(msg(id));
  return out;
}

/// Two nodes, a and b, over a conditioned direct transport on the test
/// coordinator: a's link to b, b's sink recording what arrives.
struct virtual_net {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<conditioned_transport> net;
  std::shared_ptr<recording_sink> sink;
  outgoing_link_ptr link;
  time_point start;

  explicit virtual_net(link_params defaults = {}, uint64_t queue_limit = 1000,
                       uint64_t seed = 1) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sys->await_actors_before_shutdown(false);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    net = std::make_shared<conditioned_transport>(
      *sys, std::make_shared<direct_transport>(), seed, defaults);
    sink = std::make_shared<recording_sink>(*sys);
    listen_options lo;
    lo.name = "b";
    auto l = net->listen(net->endpoint("b", 1), lo);
    REQUIRE(std::holds_alternative<listener_id>(l));
    net->attach(std::get<listener_id>(l), sink);
    dial_options d;
    d.identity = "a";
    d.queue_limit = queue_limit;
    link = net->dial(net->endpoint("b", 1), d);
    start = now();
  }

  ~virtual_net() {
    link.reset();
    net.reset();
    sched->run();
  }

  time_point now() const { return sys->clock().now(); }

  size_t send(message_batch b) { return link->send(b); }

  /// Runs every job and timer due by `t` (as quilt-sim's clock does), and
  /// stops at `t` exactly.
  void run_until(time_point t) {
    for (;;) {
      sched->run();
      auto current = now();
      if (current >= t)
        return;
      auto& pending = sched->clock().schedule();
      auto next = pending.empty() ? t : std::min(t, pending.begin()->first);
      sched->advance_time(next > current ? next - current
                                         : time_point::duration::zero());
    }
  }

  void run_for(time_point::duration d) { run_until(now() + d); }
};

} // namespace

TEST_CASE("conditioned transport: a perfect link delivers at once, without "
          "time passing",
          "[link_model]") {
  virtual_net v;
  CHECK(v.send(batch_of({1, 2, 3})) == 3);
  // Straight through: in the sink before anything ran.
  REQUIRE(v.sink->batches.size() == 1);
  CHECK(v.sink->batches[0].at == v.start);
  CHECK(v.sink->batches[0].from == "a");
  CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2, 3});
  CHECK(v.net->transmissions() == 3);
  CHECK(v.net->lost() == 0);
  CHECK(v.link->counters().tx == 3);
  CHECK(v.link->counters().tx_by_command[static_cast<size_t>(command::msg)]
        == 3);
}

TEST_CASE("conditioned transport: a batch sent at t arrives at t + latency "
          "exactly, not before",
          "[link_model]") {
  virtual_net v{latency(50)};
  CHECK(v.send(batch_of({1, 2, 3})) == 3);
  CHECK(v.sink->count() == 0);
  // What waits in the model is the link's queue, as the protocol reads it.
  CHECK(v.link->counters().queued == 3);
  CHECK(v.link->counters().tx == 0);
  v.run_until(v.start + 49ms);
  CHECK(v.sink->count() == 0);
  v.run_until(v.start + 50ms);
  // Sent together, arriving together: one batch.
  REQUIRE(v.sink->batches.size() == 1);
  CHECK(v.sink->batches[0].at == v.start + 50ms);
  CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2, 3});
  CHECK(v.link->counters().tx == 3);
  CHECK(v.link->counters().queued == 0);
  CHECK(v.net->transmissions() == 3);
}

TEST_CASE("conditioned transport: a message's bytes are its frames' lengths "
          "(1,000 bytes over 8 kbps take 1,000 ms)",
          "[link_model]") {
  link_params p;
  p.bandwidth_kbps = 8;
  virtual_net v{p};
  // "b" + "msg" + "a" + "7" + "9" + 993 bytes of text: 1,000 bytes.
  message_batch b;
  b.push_back(msg(7, std::string(993, 'x')));
  CHECK(v.send(std::move(b)) == 1);
  v.run_until(v.start + 999ms);
  CHECK(v.sink->count() == 0);
  v.run_until(v.start + 1000ms);
  REQUIRE(v.sink->batches.size() == 1);
  CHECK(v.sink->batches[0].at == v.start + 1000ms);
}

TEST_CASE("conditioned transport: a slow link hands each message over when "
          "its transmission ends, one after another",
          "[link_model]") {
  link_params p;
  p.bandwidth_kbps = 8;
  virtual_net v{p};
  message_batch b;
  for (uint64_t id = 1; id <= 3; ++id)
    b.push_back(msg(id, std::string(993, 'x'))); // 1,000 bytes each
  CHECK(v.send(std::move(b)) == 3);
  CHECK(v.link->counters().queued == 3);
  v.run_until(v.start + 3000ms);
  REQUIRE(v.sink->batches.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(v.sink->batches[i].ids == std::vector<uint64_t>{i + 1});
    CHECK(v.sink->batches[i].at == v.start + milliseconds(1000 * (i + 1)));
  }
}

TEST_CASE("conditioned transport: a cut link loses everything both ways, "
          "healing restores it",
          "[link_model]") {
  virtual_net v{latency(10)};
  // Cut as b-a: the same link as a-b.
  v.net->set_cut("b", "a", true);
  CHECK(v.send(batch_of({1, 2, 3, 4, 5})) == 5);
  v.run_for(1s);
  CHECK(v.sink->count() == 0);
  CHECK(v.net->lost() == 5);
  CHECK(v.net->transmissions() == 5);
  // Taken and sent as far as the sender can tell; nothing waits.
  CHECK(v.link->counters().tx == 5);
  CHECK(v.link->counters().queued == 0);
  CHECK(v.link->counters().dropped == 0);
  SECTION("set_cut false heals it") {
    v.net->set_cut("a", "b", false);
  }
  SECTION("heal_all heals it") {
    v.net->heal_all();
  }
  auto sent = v.now();
  CHECK(v.send(batch_of({6, 7})) == 2);
  v.run_for(1s);
  CHECK(v.sink->ids() == std::vector<uint64_t>{6, 7});
  CHECK(v.sink->batches[0].at == sent + 10ms);
  CHECK(v.net->lost() == 5);
  CHECK(v.net->transmissions() == 7);
}

TEST_CASE("conditioned transport: a cut perfect link loses too",
          "[link_model]") {
  virtual_net v;
  v.net->set_cut("a", "b", true);
  CHECK(v.send(batch_of({1})) == 1);
  v.run_for(1s);
  CHECK(v.sink->count() == 0);
  CHECK(v.net->lost() == 1);
  v.net->set_cut("a", "b", false);
  CHECK(v.send(batch_of({2})) == 1);
  CHECK(v.sink->ids() == std::vector<uint64_t>{2});
}

TEST_CASE("link_direction: a message that may not be lost is timed, never "
          "lost",
          "[link_model]") {
  link_params all;
  all.loss = 1.0;
  all.latency_ms = 5;
  link_direction lossy{1, all};
  for (int i = 0; i < 1000; ++i) {
    auto at = lossy.admit(t0, 50, false);
    REQUIRE(at);
    CHECK(*at == t0 + 5ms);
    CHECK_FALSE(lossy.admit(t0, 50));
  }
}

TEST_CASE("conditioned transport: a direct link is lossless while its "
          "direction has no loss and no cut, and a copy sent unacknowledged "
          "is never lost",
          "[link_model]") {
  // Flooding sends no acknowledgement for copies over lossless links
  // (message::no_ack): the model must say when a link may lose, and must
  // not lose such a copy queued before it learned (docs/PROTOCOL.md).
  virtual_net v{latency(10)};
  auto lossless = [&] { return v.link->counters().lossless.load(); };
  CHECK(lossless()); // latency alone loses nothing
  link_change lose;
  lose.loss = 0.5;
  v.net->change("a", "b", lose);
  CHECK_FALSE(lossless());
  link_change clean;
  clean.loss = 0.0;
  v.net->change("b", "a", clean);
  CHECK(lossless());
  v.net->set_cut("a", "b", true);
  CHECK_FALSE(lossless());
  // Queued by its node before the cut reached it: arrives all the same.
  auto copy = batch_of({1, 2});
  copy[0].no_ack = true;
  CHECK(v.send(std::move(copy)) == 2);
  v.run_for(1s);
  CHECK(v.sink->ids() == std::vector<uint64_t>{1});
  CHECK(v.net->lost() == 1);
  v.net->heal_all();
  CHECK(lossless());
  v.net->change_all(lose);
  CHECK_FALSE(lossless());
  auto many = batch_of({3, 4, 5, 6, 7, 8, 9, 10});
  for (auto& x : many)
    x.no_ack = true;
  CHECK(v.send(std::move(many)) == 8);
  v.run_for(1s);
  CHECK(v.sink->count() == 9);
}

TEST_CASE("conditioned transport: what is sent to a stalled node waits until "
          "the stall ends, then arrives in order",
          "[link_model]") {
  SECTION("on a link with latency") {
    virtual_net v{latency(10)};
    auto until = v.start + 500ms;
    v.net->stall("b", until);
    CHECK(v.send(batch_of({1, 2})) == 2);
    v.run_until(v.start + 100ms);
    CHECK(v.send(batch_of({3})) == 1);
    v.run_until(until - 1ms);
    CHECK(v.sink->count() == 0);
    CHECK(v.link->counters().queued == 3);
    v.run_until(until);
    CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2, 3});
    for (auto& b : v.sink->batches)
      CHECK(b.at == until);
    // Resumed: the latency again, nothing held.
    CHECK(v.send(batch_of({4})) == 1);
    v.run_for(10ms);
    CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2, 3, 4});
    CHECK(v.sink->batches.back().at == until + 10ms);
  }
  SECTION("on a perfect link") {
    virtual_net v;
    auto until = v.start + 300ms;
    v.net->stall("b", until);
    CHECK(v.send(batch_of({1})) == 1);
    CHECK(v.sink->count() == 0);
    v.run_until(v.start + 200ms);
    CHECK(v.send(batch_of({2})) == 1);
    v.run_until(until - 1ms);
    CHECK(v.sink->count() == 0);
    v.run_until(until);
    CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2});
    for (auto& b : v.sink->batches)
      CHECK(b.at == until);
    // After the stall a perfect link passes straight through again.
    CHECK(v.send(batch_of({3})) == 1);
    CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2, 3});
  }
  SECTION("a stall that starts while messages are on their way holds them") {
    virtual_net v{latency(100)};
    CHECK(v.send(batch_of({1})) == 1);
    v.run_until(v.start + 50ms);
    v.net->stall("b", v.start + 400ms);
    v.run_until(v.start + 399ms);
    CHECK(v.sink->count() == 0);
    v.run_until(v.start + 400ms);
    CHECK(v.sink->ids() == std::vector<uint64_t>{1});
  }
  SECTION("a stall shortened later ends at the new time") {
    virtual_net v{latency(10)};
    v.net->stall("b", v.start + 10s);
    CHECK(v.send(batch_of({1})) == 1);
    v.run_until(v.start + 100ms);
    v.net->stall("b", v.start + 200ms);
    v.run_until(v.start + 200ms);
    CHECK(v.sink->ids() == std::vector<uint64_t>{1});
    CHECK(v.sink->batches[0].at == v.start + 200ms);
  }
  SECTION("a stall of another node holds nothing here") {
    virtual_net v{latency(10)};
    v.net->stall("a", v.start + 10s);
    CHECK(v.send(batch_of({1})) == 1);
    v.run_until(v.start + 10ms);
    CHECK(v.sink->ids() == std::vector<uint64_t>{1});
  }
}

TEST_CASE("conditioned transport: past queue_limit what waits is dropped "
          "and counted",
          "[link_model]") {
  virtual_net v{latency(100), 5};
  // The tail past the limit is dropped, as a full DEALER queue drops it.
  CHECK(v.send(batch_of({1, 2, 3, 4, 5, 6, 7, 8})) == 5);
  CHECK(v.link->counters().dropped == 3);
  CHECK(v.link->counters().queued == 5);
  CHECK(v.send(batch_of({9})) == 0);
  CHECK(v.link->counters().dropped == 4);
  CHECK(v.net->transmissions() == 5);
  v.run_for(100ms);
  CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2, 3, 4, 5});
  CHECK(v.link->counters().queued == 0);
  CHECK(v.link->counters().tx == 5);
  // Room again once delivered.
  CHECK(v.send(batch_of({10})) == 1);
  v.run_for(100ms);
  CHECK(v.sink->count() == 6);
}

TEST_CASE("conditioned transport: a change applies to messages sent after "
          "it; those before keep theirs, and the order holds",
          "[link_model]") {
  virtual_net v{latency(100)};
  CHECK(v.send(batch_of({1})) == 1); // arrives at +100
  link_change slower;
  slower.latency_ms = 300;
  v.net->change("a", "b", slower);
  CHECK(v.net->params("a", "b").latency_ms == 300);
  CHECK(v.net->params("b", "a").latency_ms == 300);
  CHECK(v.send(batch_of({2})) == 1); // +300
  link_change faster;
  faster.latency_ms = 10;
  v.net->change("b", "a", faster);
  // +10 would overtake 2: it arrives with it instead.
  CHECK(v.send(batch_of({3})) == 1);
  v.run_until(v.start + 400ms);
  CHECK(v.send(batch_of({4})) == 1); // +410
  v.run_until(v.start + 410ms);
  CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2, 3, 4});
  std::map<uint64_t, time_point> at;
  for (auto& b : v.sink->batches)
    for (auto id : b.ids)
      at[id] = b.at;
  CHECK(at[1] == v.start + 100ms);
  CHECK(at[2] == v.start + 300ms);
  CHECK(at[3] == v.start + 300ms);
  CHECK(at[4] == v.start + 410ms);
  // Back to perfect: straight through once nothing waits.
  link_change none;
  none.latency_ms = 0;
  v.net->change("a", "b", none);
  CHECK(v.send(batch_of({5})) == 1);
  CHECK(v.sink->count() == 5);
}

TEST_CASE("conditioned transport: change_all changes every link and the "
          "defaults of links not used yet",
          "[link_model]") {
  virtual_net v{latency(20)};
  link_change c;
  c.loss = 1.0;
  v.net->change_all(c);
  CHECK(v.net->params("a", "b").loss == 1.0);
  CHECK(v.net->params("a", "b").latency_ms == 20);
  CHECK(v.net->params("x", "y").loss == 1.0);
  CHECK(v.net->params("x", "y").latency_ms == 20);
  CHECK(v.send(batch_of({1, 2})) == 2);
  v.run_for(1s);
  CHECK(v.sink->count() == 0);
  CHECK(v.net->lost() == 2);
}

TEST_CASE("conditioned transport: loss draws follow the seed",
          "[link_model]") {
  link_params p;
  p.loss = 0.5;
  p.latency_ms = 1;
  auto arrived = [&](uint64_t seed) {
    virtual_net v{p, 1000, seed};
    for (uint64_t i = 0; i < 200; ++i)
      v.send(batch_of({i}));
    v.run_for(1s);
    CHECK(v.net->lost() + v.sink->count() == 200);
    return v.sink->ids();
  };
  auto a = arrived(5);
  CHECK(a == arrived(5));
  CHECK(a != arrived(6));
  CHECK(a.size() > 50);
  CHECK(a.size() < 150);
}

TEST_CASE("conditioned transport: a redial keeps the direction's queue "
          "order",
          "[link_model]") {
  virtual_net v{latency(100)};
  CHECK(v.send(batch_of({1})) == 1);
  auto old_counters = v.link->shared_counters();
  dial_options d;
  d.identity = "a";
  v.link = v.net->dial(v.net->endpoint("b", 1), d);
  v.run_until(v.start + 50ms);
  CHECK(v.send(batch_of({2})) == 1);
  v.run_for(1s);
  // The first link is gone, what it sent still arrives, first.
  CHECK(v.sink->ids() == std::vector<uint64_t>{1, 2});
  CHECK(old_counters->tx == 1);
  CHECK(old_counters->queued == 0);
}

TEST_CASE("conditioned transport: destroyed with messages on their way, "
          "it counts them dropped and its timers do nothing",
          "[link_model]") {
  virtual_net v{latency(100)};
  CHECK(v.send(batch_of({1, 2})) == 2);
  auto counters = v.link->shared_counters();
  v.link.reset();
  v.net.reset();
  CHECK(counters->dropped == 2);
  CHECK(counters->queued == 0);
  // The wire stops; the delivery it asked for finds nothing to deliver.
  v.run_for(1s);
  CHECK(v.sink->count() == 0);
}

// -- real time ----------------------------------------------------------------

TEST_CASE("conditioned transport: links used from several threads while "
          "cuts are toggled, on real time",
          "[link_model]") {
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  constexpr size_t senders = 3;
  constexpr size_t per_sender = 300;
  auto net = std::make_shared<conditioned_transport>(
    sys, std::make_shared<direct_transport>(), 1, latency(1));
  auto sink = std::make_shared<recording_sink>(sys);
  listen_options lo;
  lo.name = "hub";
  auto l = net->listen(net->endpoint("hub", 1), lo);
  REQUIRE(std::holds_alternative<listener_id>(l));
  net->attach(std::get<listener_id>(l), sink);
  std::atomic<bool> stop{false};
  // Cuts and heals a link that carries no traffic, so every message still
  // arrives while the model's tables change under the senders and the wire.
  std::thread cutter([&] {
    while (!stop) {
      net->set_cut("hub", "nobody", true);
      net->set_cut("hub", "nobody", false);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  std::vector<size_t> taken(senders, 0);
  for (size_t i = 0; i < senders; ++i) {
    threads.emplace_back([&, i] {
      dial_options opts;
      opts.identity = "s" + std::to_string(i);
      auto link = net->dial(net->endpoint("hub", 1), opts);
      for (uint64_t n = 0; n < per_sender; ++n) {
        auto batch = batch_of({n});
        taken[i] += link->send(batch);
      }
    });
  }
  for (auto& th : threads)
    th.join();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (sink->count() < senders * per_sender
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  stop = true;
  cutter.join();
  for (size_t i = 0; i < senders; ++i)
    CHECK(taken[i] == per_sender);
  CHECK(sink->count() == senders * per_sender);
  CHECK(net->transmissions() == senders * per_sender);
  CHECK(net->lost() == 0);
  // Each sender's messages arrived in the order sent.
  std::map<std::string, std::vector<uint64_t>> by_sender;
  {
    std::lock_guard<std::mutex> guard{sink->mtx};
    for (auto& b : sink->batches)
      by_sender[b.from].insert(by_sender[b.from].end(), b.ids.begin(),
                               b.ids.end());
  }
  for (auto& [from, ids] : by_sender) {
    INFO(from);
    CHECK(std::is_sorted(ids.begin(), ids.end()));
  }
  net.reset();
}

// Unit tests of quilt::protocol (SPEC §2, §5, §6): the node's state machine
// driven by hand, with a fake callee that records every output and a fake
// clock (time points advanced by hand). No sockets, no actors.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "quilt/codec.hpp"
#include "quilt/dedupe.hpp"
#include "quilt/events.hpp"
#include "quilt/log.hpp"
#include "quilt/message.hpp"
#include "quilt/protocol.hpp"

using namespace quilt;
using namespace std::chrono_literals;
using strings = std::vector<std::string>;

namespace {

// Peers going up and down are logged at info: keep the test output short.
const bool quiet_logs = (set_log_level(log_level::warning), true);

// -- fake callee --------------------------------------------------------------

struct fake_callee : protocol_callee {
  struct opened {
    link_id id;
    std::string address;
    uint16_t port;
    std::string server_key;
  };
  struct sent {
    link_id link;
    message msg;
  };
  struct pong {
    std::string from;
    uint64_t ping_id;
    uint64_t rtt_us;
  };

  std::vector<opened> opens;
  std::vector<link_id> closes;
  std::vector<sent> sends;
  std::vector<message> deliveries;
  std::vector<pong> pongs;
  std::vector<message> errors;
  std::vector<peer_info> changes;
  std::vector<route_change> route_changes;
  struct outcome {
    std::string dest;
    uint64_t id;
    bool delivered;
    uint64_t rtt_us;
  };
  std::vector<outcome> outcomes;

  void open_link(link_id id, const std::string& address, uint16_t port,
                 const std::string& server_key) override {
    opens.push_back({id, address, port, server_key});
  }
  void close_link(link_id id) override {
    closes.push_back(id);
  }
  bool send(link_id id, const message& x) override {
    sends.push_back({id, x});
    return true;
  }
  void delivered(const message& x) override {
    deliveries.push_back(x);
  }
  void pong_received(const std::string& from, uint64_t ping_id,
                     uint64_t rtt_us) override {
    pongs.push_back({from, ping_id, rtt_us});
  }
  void error_received(const message& x) override {
    errors.push_back(x);
  }
  void peer_changed(const peer_info& x) override {
    changes.push_back(x);
  }
  void route_changed(const route_change& x) override {
    route_changes.push_back(x);
  }
  void delivery_confirmed(const std::string& dest, uint64_t id,
                          uint64_t rtt_us) override {
    outcomes.push_back({dest, id, true, rtt_us});
  }
  void not_delivered(const std::string& dest, uint64_t id) override {
    outcomes.push_back({dest, id, false, 0});
  }
  /// Links whose connection is not (yet) established; others are.
  std::map<link_id, link_status> status;
  link_status status_of(link_id id) const override {
    auto i = status.find(id);
    return i == status.end() ? link_status::connected : i->second;
  }

  /// Forgets everything recorded so far (links stay known).
  void clear_outputs() {
    sends.clear();
    deliveries.clear();
    pongs.clear();
    errors.clear();
    changes.clear();
    closes.clear();
  }

  /// The link opened to address:port (the last one, if several).
  std::optional<link_id> link_to(const std::string& address,
                                 uint16_t port) const {
    std::optional<link_id> result;
    for (auto& o : opens)
      if (o.address == address && o.port == port)
        result = o.id;
    return result;
  }

  bool is_closed(link_id id) const {
    return std::find(closes.begin(), closes.end(), id) != closes.end();
  }

  /// Messages sent on `link`.
  std::vector<message> sent_on(link_id link) const {
    std::vector<message> result;
    for (auto& s : sends)
      if (s.link == link)
        result.push_back(s.msg);
    return result;
  }

  /// Messages sent with command `cmd`, on any link.
  std::vector<sent> sent_cmd(command cmd) const {
    std::vector<sent> result;
    for (auto& s : sends)
      if (s.msg.cmd == cmd)
        result.push_back(s);
    return result;
  }
};

// -- helpers ------------------------------------------------------------------

const time_point t0 = time_point{} + 1h;

message make(std::string destination, command cmd, std::string origin,
             uint64_t id, uint8_t ttl, strings args = {}) {
  message x;
  x.destination = std::move(destination);
  x.cmd = cmd;
  x.origin = std::move(origin);
  x.id = id;
  x.ttl = ttl;
  x.args = std::move(args);
  return x;
}

message server_connect(std::string destination, std::string origin,
                       std::string address, uint16_t port, uint64_t id = 1) {
  return make(std::move(destination), command::server_connect,
              std::move(origin), id, 1,
              {std::move(address), to_decimal(port), "quilt/1"});
}

protocol_config default_config() {
  protocol_config cfg;
  cfg.name = "a";
  cfg.advertise = "10.0.0.1";
  cfg.port = 5001;
  cfg.heartbeat_ms = 1000;
  cfg.dead_after_ms = 5000;
  cfg.default_ttl = 32;
  cfg.inbox_limit = 1000;
  return cfg;
}

/// A protocol named "a" at 10.0.0.1:5001 wired to a fake callee.
struct fixture {
  fake_callee out;
  protocol proto;
  uint64_t next_foreign_id = 1000;
  uint64_t base_delivered = 0;

  explicit fixture(protocol_config cfg = default_config())
    : proto(std::move(cfg), out, 1) {
  }

  /// Feeds a message as if it arrived from `prev_hop` at `now`.
  void handle(message x, const std::string& prev_hop, time_point now = t0) {
    proto.handle(x, prev_hop, now);
  }

  /// Brings up neighbour `name` at 10.0.0.N:port the way a peer that dials
  /// us does: its server_connect to "*" arrives over its DEALER. Returns the
  /// link the protocol opened to it; outputs are cleared.
  link_id neighbour(const std::string& name, uint16_t port,
                    time_point now = t0) {
    auto address = "10.0.0." + std::to_string(port % 250);
    handle(server_connect("*", name, address, port, next_foreign_id++), name,
           now);
    auto link = out.link_to(address, port);
    REQUIRE(link);
    out.clear_outputs();
    base_delivered = proto.stats().delivered;
    return *link;
  }

  /// Neighbour `name` shows it speaks link-state: an empty summary part of
  /// its database, as a node that just started sends. Until then it is
  /// sent only our summary (docs/PROTOCOL.md "Flooding").
  void speaks(const std::string& name, time_point now = t0) {
    handle(make(proto.name(), command::link_summary, name, 900 + ++spoken, 1,
                {"", "", ""}),
           name, now);
  }
  int spoken = 0;

  /// Messages delivered since the last neighbour came up.
  uint64_t delivered() const {
    return proto.stats().delivered - base_delivered;
  }

  peer_info peer(const std::string& name) const {
    for (auto& p : proto.peers(t0))
      if (p.name == name)
        return p;
    FAIL("no peer named " << name);
    return {};
  }

  std::vector<peer_info> peers(time_point now = t0) const {
    return proto.peers(now);
  }
};

void require_server_connect(const message& x, const std::string& destination) {
  CHECK(x.destination == destination);
  CHECK(x.cmd == command::server_connect);
  CHECK(x.origin == "a");
  CHECK(x.ttl == 1);
  CHECK(x.args == strings{"10.0.0.1", "5001", "quilt/1"});
}

} // namespace

// -- connect and server_connect (SPEC §6) -------------------------------------

/// The messages of one command: routing traffic rides along on every link.
std::vector<message> only(command cmd, const std::vector<message>& xs) {
  std::vector<message> result;
  for (auto& x : xs)
    if (x.cmd == cmd)
      result.push_back(x);
  return result;
}

TEST_CASE("connect opens a link and announces this node to *", "[protocol]") {
  fixture f;
  REQUIRE(f.proto.connect("10.0.0.2", 5002, true, t0));
  REQUIRE(f.out.opens.size() == 1);
  CHECK(f.out.opens[0].address == "10.0.0.2");
  CHECK(f.out.opens[0].port == 5002);
  auto link = f.out.opens[0].id;
  auto sent = f.out.sent_on(link);
  REQUIRE(sent.size() == 1);
  require_server_connect(sent[0], "*");
  // The configured peer is listed, not yet named, not yet up.
  auto ps = f.peers();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name.empty());
  CHECK(ps[0].address == "10.0.0.2");
  CHECK(ps[0].port == 5002);
  CHECK(ps[0].state == peer_state::connecting);
  CHECK(ps[0].configured);
  CHECK_FALSE(ps[0].rtt_us);
  CHECK_FALSE(ps[0].last_seen_ms);
  CHECK(f.proto.peers_up() == 0);
}

TEST_CASE("connect to this node's own address is refused", "[protocol]") {
  fixture f;
  CHECK_FALSE(f.proto.connect("10.0.0.1", 5001, true, t0));
  CHECK(f.out.opens.empty());
  CHECK(f.out.sends.empty());
  CHECK(f.peers().empty());
}

TEST_CASE("connecting twice to the same endpoint keeps one link",
          "[protocol]") {
  fixture f;
  REQUIRE(f.proto.connect("10.0.0.2", 5002, true, t0));
  REQUIRE(f.proto.connect("10.0.0.2", 5002, true, t0));
  CHECK(f.out.opens.size() == 1);
  CHECK(f.peers().size() == 1);
}

TEST_CASE("server_connect to * from a new peer: recorded, dialled, answered",
          "[protocol]") {
  fixture f;
  f.handle(server_connect("*", "b", "10.0.0.2", 5002, 77), "b");
  // Recorded with its name and listen endpoint, and up.
  auto ps = f.peers();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name == "b");
  CHECK(ps[0].address == "10.0.0.2");
  CHECK(ps[0].port == 5002);
  CHECK(ps[0].state == peer_state::up);
  CHECK_FALSE(ps[0].configured);
  CHECK(f.proto.peers_up() == 1);
  // A link to its address:port.
  REQUIRE(f.out.opens.size() == 1);
  CHECK(f.out.opens[0].address == "10.0.0.2");
  CHECK(f.out.opens[0].port == 5002);
  // Answered with our own server_connect, addressed to the origin, on it.
  auto sent = only(command::server_connect, f.out.sent_on(f.out.opens[0].id));
  REQUIRE(sent.size() == 1);
  require_server_connect(sent[0], "b");
  // Handled as a destination: counted and reported as delivered.
  CHECK(f.proto.stats().delivered == 1);
  REQUIRE(f.out.deliveries.size() == 1);
  CHECK(f.out.deliveries[0].cmd == command::server_connect);
  // State change reported.
  REQUIRE_FALSE(f.out.changes.empty());
  CHECK(f.out.changes.back().name == "b");
  CHECK(f.out.changes.back().state == peer_state::up);
  CHECK(f.proto.neighbours() == strings{"b"});
}

TEST_CASE("server_connect addressed to us from a peer with no up link is "
          "answered",
          "[protocol]") {
  fixture f;
  f.handle(server_connect("a", "b", "10.0.0.2", 5002), "b");
  auto link = f.out.link_to("10.0.0.2", 5002);
  REQUIRE(link);
  auto answers = only(command::server_connect, f.out.sent_on(*link));
  REQUIRE(answers.size() == 1);
  require_server_connect(answers[0], "b");
}

TEST_CASE("server_connect addressed to us over an up link is not answered, "
          "one to * is",
          "[protocol]") {
  fixture f;
  auto link = f.neighbour("b", 5002);
  // b answers our announcement: addressed to us, its link is up. No answer,
  // or the two nodes would answer each other for ever.
  f.handle(server_connect("a", "b", "10.0.0.2", 5002, 2), "b");
  CHECK(f.out.sent_cmd(command::server_connect).empty());
  CHECK(f.out.opens.size() == 1); // no second link either
  // b announces itself to * again (e.g. it restarted): answered.
  f.handle(server_connect("*", "b", "10.0.0.2", 5002, 3), "b");
  auto answers = only(command::server_connect, f.out.sent_on(link));
  REQUIRE(answers.size() == 1);
  require_server_connect(answers[0], "b");
  CHECK(f.out.opens.size() == 1);
  CHECK(f.peers().size() == 1);
}

TEST_CASE("two nodes exchanging server_connect settle after one answer",
          "[protocol]") {
  // Wire two protocols back to back: every message one sends is fed to the
  // other, until nothing is left in flight.
  fake_callee out_a, out_b;
  auto cfg_a = default_config();
  auto cfg_b = default_config();
  cfg_b.name = "b";
  cfg_b.advertise = "10.0.0.2";
  cfg_b.port = 5002;
  protocol a{cfg_a, out_a, 100};
  protocol b{cfg_b, out_b, 200};
  bool mutual = GENERATE(false, true);
  INFO("both configured: " << mutual);
  REQUIRE(a.connect("10.0.0.2", 5002, true, t0));
  if (mutual)
    REQUIRE(b.connect("10.0.0.1", 5001, true, t0));
  size_t delivered_a = 0, delivered_b = 0;
  int rounds = 0;
  for (; rounds < 20; ++rounds) {
    auto to_b = std::move(out_a.sends);
    auto to_a = std::move(out_b.sends);
    out_a.sends.clear();
    out_b.sends.clear();
    if (to_b.empty() && to_a.empty())
      break;
    for (auto& s : to_b) {
      delivered_b += s.msg.cmd == command::server_connect;
      b.handle(s.msg, "a", t0);
    }
    for (auto& s : to_a) {
      delivered_a += s.msg.cmd == command::server_connect;
      a.handle(s.msg, "b", t0);
    }
  }
  CHECK(rounds < 20);
  // Each side's announcement, an answer, and at most one answer to that
  // (when the link was not up yet); never an endless exchange.
  CHECK(delivered_a >= 1);
  CHECK(delivered_b >= 1);
  CHECK(delivered_a + delivered_b <= 4);
  CHECK(a.peers_up() == 1);
  CHECK(b.peers_up() == 1);
  CHECK(a.neighbours() == strings{"b"});
  CHECK(b.neighbours() == strings{"a"});
  CHECK(a.peers(t0).size() == 1);
  CHECK(b.peers(t0).size() == 1);
  CHECK(out_a.opens.size() == 1);
  CHECK(out_b.opens.size() == 1);
}

TEST_CASE("a configured peer is named by its answer and merged with its "
          "incoming-only entry",
          "[protocol]") {
  fixture f;
  REQUIRE(f.proto.connect("10.0.0.2", 5002, true, t0));
  auto link = f.out.opens.at(0).id;
  f.out.clear_outputs();
  // b's heartbeat arrives over its own DEALER before its server_connect: the
  // routing id alone creates an incoming-only entry.
  f.handle(make("a", command::ping, "b", 10, 1), "b");
  CHECK(f.peers().size() == 2);
  // b's answer names the configured endpoint.
  f.handle(server_connect("a", "b", "10.0.0.2", 5002, 11), "b", t0 + 10ms);
  auto ps = f.peers(t0 + 10ms);
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name == "b");
  CHECK(ps[0].address == "10.0.0.2");
  CHECK(ps[0].port == 5002);
  CHECK(ps[0].state == peer_state::up);
  CHECK(ps[0].configured);
  REQUIRE(ps[0].last_seen_ms);
  CHECK(*ps[0].last_seen_ms == 0);
  CHECK(f.proto.peers_up() == 1);
  // The configured link is the one in use: no second link to b.
  CHECK(f.out.opens.size() == 1);
  CHECK(f.proto.neighbours() == strings{"b"});
  // peer_changed reported b up under its name.
  auto up = std::find_if(f.out.changes.begin(), f.out.changes.end(),
                         [](const peer_info& p) {
                           return p.name == "b" && p.state == peer_state::up
                                  && p.port == 5002;
                         });
  CHECK(up != f.out.changes.end());
  // Messages to b now go out on the configured link.
  f.out.clear_outputs();
  auto id = f.proto.send_text("b", "hello", t0 + 20ms);
  REQUIRE(id);
  auto sent = f.out.sent_on(link);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].cmd == command::msg);
  CHECK(sent[0].destination == "b");
}

TEST_CASE("a configured peer's answer without an earlier incoming entry",
          "[protocol]") {
  fixture f;
  REQUIRE(f.proto.connect("10.0.0.2", 5002, true, t0));
  f.out.clear_outputs();
  f.handle(server_connect("a", "b", "10.0.0.2", 5002), "b");
  auto ps = f.peers();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name == "b");
  CHECK(ps[0].state == peer_state::up);
  CHECK(ps[0].configured);
  CHECK(f.out.opens.size() == 1);
}

TEST_CASE("server_connect is link-local: never forwarded", "[protocol]") {
  fixture f;
  auto link_c = f.neighbour("c", 5003);
  f.handle(make("*", command::server_connect, "b", 5, 9,
                {"10.0.0.2", "5002", "quilt/1"}),
           "b");
  CHECK(only(command::server_connect, f.out.sent_on(link_c)).empty());
}

TEST_CASE("a restarted peer with a new name renames the entry", "[protocol]") {
  fixture f;
  auto link = f.neighbour("b", 5002);
  // Same address:port, new name: the node behind the endpoint restarted.
  f.handle(server_connect("*", "b2", "10.0.0.2", 5002, 1), "b2", t0 + 1s);
  auto ps = f.peers(t0 + 1s);
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name == "b2");
  CHECK(ps[0].address == "10.0.0.2");
  CHECK(ps[0].port == 5002);
  CHECK(ps[0].state == peer_state::up);
  // Answered, on the same link (the endpoint did not change).
  auto answers = only(command::server_connect, f.out.sent_on(link));
  REQUIRE(answers.size() == 1);
  require_server_connect(answers[0], "b2");
  CHECK(f.out.opens.size() == 1);
  CHECK_FALSE(f.out.is_closed(link));
  // The old name is gone from routing, the new one is routed.
  f.out.clear_outputs();
  CHECK_FALSE(f.proto.send_text("b", "x", t0 + 1s));
  CHECK(f.proto.send_text("b2", "x", t0 + 1s));
  CHECK(f.out.sent_on(link).size() == 1);
  CHECK(f.proto.neighbours() == strings{"b2"});
}

// Found by fuzz_protocol: the rename changed the neighbours without any peer
// changing state, and the advertisement and routes kept the old name.
TEST_CASE("a peer renamed by a server_connect addressed to us is advertised "
          "and routed under its new name",
          "[protocol]") {
  fixture f;
  auto link = f.neighbour("b", 5002);
  auto names = [&] {
    strings result;
    for (auto& r : f.proto.routes())
      result.push_back(r.destination);
    return result;
  };
  REQUIRE(names() == strings{"b"});
  f.handle(server_connect("a", "b2", "10.0.0.2", 5002, 1), "b2", t0 + 1s);
  CHECK(f.proto.neighbours() == strings{"b2"});
  CHECK(names() == strings{"b2"});
  // The new node learns the mesh once it speaks: our advertisement,
  // naming it.
  CHECK_FALSE(only(command::link_summary, f.out.sent_on(link)).empty());
  f.speaks("b2", t0 + 1s);
  auto adverts = only(command::link_state, f.out.sent_on(link));
  REQUIRE_FALSE(adverts.empty());
  CHECK(adverts.back().arg(0) == "b2");
}

TEST_CASE("a peer that moved to a new endpoint gets a new link", "[protocol]") {
  fixture f;
  auto old_link = f.neighbour("b", 5002);
  f.handle(server_connect("*", "b", "10.0.0.9", 5009), "b", t0 + 1s);
  auto ps = f.peers(t0 + 1s);
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].address == "10.0.0.9");
  CHECK(ps[0].port == 5009);
  CHECK(f.out.is_closed(old_link));
  auto new_link = f.out.link_to("10.0.0.9", 5009);
  REQUIRE(new_link);
  CHECK(*new_link != old_link);
  auto answers = only(command::server_connect, f.out.sent_on(*new_link));
  REQUIRE(answers.size() == 1);
  require_server_connect(answers[0], "b");
}

// -- ping / pong --------------------------------------------------------------

TEST_CASE("ping to this node is answered with a pong to its origin",
          "[protocol]") {
  fixture f;
  auto link = f.neighbour("b", 5002);
  SECTION("with a nonce") {
    f.handle(make("a", command::ping, "b", 4242, 5, {"nonce-1"}), "b");
    auto sent = f.out.sent_on(link);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].destination == "b");
    CHECK(sent[0].cmd == command::pong);
    CHECK(sent[0].origin == "a");
    CHECK(sent[0].ttl == 32); // default_ttl, not the ping's
    CHECK(sent[0].args == strings{"4242", "nonce-1"});
  }
  SECTION("without a nonce") {
    f.handle(make("a", command::ping, "b", 4243, 1), "b");
    auto sent = f.out.sent_on(link);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].cmd == command::pong);
    CHECK(sent[0].args == strings{"4243"});
  }
  SECTION("with ttl 0 (ttl limits forwarding only)") {
    f.handle(make("a", command::ping, "b", 4244, 0), "b");
    auto sent = f.out.sent_on(link);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].cmd == command::pong);
  }
  CHECK(f.delivered() == 1);
  REQUIRE(f.out.deliveries.size() == 1);
  CHECK(f.out.deliveries[0].cmd == command::ping);
}

TEST_CASE("pong for our own ping reports the rtt from the clock",
          "[protocol]") {
  fixture f;
  auto link = f.neighbour("b", 5002);
  auto id = f.proto.ping("b", 7, t0);
  REQUIRE(id);
  auto sent = f.out.sent_on(link);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].destination == "b");
  CHECK(sent[0].cmd == command::ping);
  CHECK(sent[0].origin == "a");
  CHECK(sent[0].id == *id);
  CHECK(sent[0].ttl == 7);
  f.handle(make("a", command::pong, "b", 900, 32, {to_decimal(*id)}), "b",
           t0 + 1500us);
  REQUIRE(f.out.pongs.size() == 1);
  CHECK(f.out.pongs[0].from == "b");
  CHECK(f.out.pongs[0].ping_id == *id);
  CHECK(f.out.pongs[0].rtt_us == 1500);
  // A second pong for the same ping is not a second answer.
  f.handle(make("a", command::pong, "b", 901, 32, {to_decimal(*id)}), "b",
           t0 + 2ms);
  CHECK(f.out.pongs.size() == 1);
}

TEST_CASE("pong for a ping this node never sent is ignored", "[protocol]") {
  fixture f;
  f.neighbour("b", 5002);
  f.handle(make("a", command::pong, "b", 900, 32, {"123456"}), "b");
  CHECK(f.out.pongs.empty());
  CHECK(f.out.sends.empty());
}

TEST_CASE("ping to this node itself answers at once", "[protocol]") {
  fixture f;
  auto id = f.proto.ping("a", 32, t0);
  REQUIRE(id);
  REQUIRE(f.out.pongs.size() == 1);
  CHECK(f.out.pongs[0].from == "a");
  CHECK(f.out.pongs[0].ping_id == *id);
  CHECK(f.out.pongs[0].rtt_us == 0);
  CHECK(f.out.sends.empty());
}

TEST_CASE("ping to a node without a route fails and counts unroutable",
          "[protocol]") {
  fixture f;
  f.neighbour("b", 5002);
  CHECK_FALSE(f.proto.ping("nobody", 32, t0));
  CHECK(f.out.sends.empty());
  CHECK(f.proto.stats().dropped_unroutable == 1);
}

TEST_CASE("ping to all reaches every up neighbour, pongs come back",
          "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003);
  auto id = f.proto.ping("all", 3, t0);
  REQUIRE(id);
  CHECK(f.out.sent_on(lb).size() == 1);
  CHECK(f.out.sent_on(lc).size() == 1);
  f.handle(make("a", command::pong, "b", 50, 32, {to_decimal(*id)}), "b",
           t0 + 1ms);
  REQUIRE(f.out.pongs.size() == 1);
  CHECK(f.out.pongs[0].from == "b");
}

TEST_CASE("a broadcast ping from another node is answered with a pong",
          "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  f.handle(make("all", command::ping, "b", 60, 1, {"n"}), "b");
  auto sent = f.out.sent_on(lb);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].cmd == command::pong);
  CHECK(sent[0].destination == "b");
  CHECK(sent[0].args == strings{"60", "n"});
}

// -- msg and inbox ------------------------------------------------------------

TEST_CASE("msg to this node lands in the inbox", "[protocol]") {
  fixture f;
  f.neighbour("b", 5002);
  f.handle(make("a", command::msg, "b", 12345678901234567890ull, 4,
                {"hello there"}),
           "b");
  auto in = f.proto.inbox(20);
  REQUIRE(in.size() == 1);
  CHECK(in[0].from == "b");
  CHECK(in[0].to == "a");
  CHECK(in[0].id == 12345678901234567890ull);
  CHECK(in[0].text == "hello there");
  CHECK(in[0].received_ms > 1600000000000); // Unix epoch ms, not steady
  CHECK(f.delivered() == 1);
  REQUIRE(f.out.deliveries.size() == 1);
  CHECK(f.out.deliveries[0].cmd == command::msg);
  // Nothing forwarded; its origin is told it arrived (SPEC §14).
  REQUIRE(f.out.sends.size() == 1);
  CHECK(f.out.sends[0].msg.cmd == command::msg_ack);
  CHECK(f.out.sends[0].msg.destination == "b");
  CHECK(f.out.sends[0].msg.args == strings{"12345678901234567890"});
  // Reading does not clear it.
  CHECK(f.proto.inbox(20).size() == 1);
}

TEST_CASE("empty msg text and ttl 0 are delivered", "[protocol]") {
  fixture f;
  f.handle(make("a", command::msg, "b", 1, 0, {""}), "b");
  auto in = f.proto.inbox(1);
  REQUIRE(in.size() == 1);
  CHECK(in[0].text.empty());
}

TEST_CASE("inbox is bounded to inbox_limit, oldest dropped, last n oldest "
          "first",
          "[protocol]") {
  auto cfg = default_config();
  cfg.inbox_limit = 3;
  fixture f{cfg};
  f.neighbour("b", 5002);
  for (uint64_t i = 1; i <= 5; ++i)
    f.handle(make("a", command::msg, "b", i, 4, {"m" + std::to_string(i)}),
             "b");
  auto all = f.proto.inbox(100);
  REQUIRE(all.size() == 3);
  CHECK(all[0].text == "m3");
  CHECK(all[1].text == "m4");
  CHECK(all[2].text == "m5");
  auto two = f.proto.inbox(2);
  REQUIRE(two.size() == 2);
  CHECK(two[0].text == "m4");
  CHECK(two[1].text == "m5");
  auto one = f.proto.inbox(1);
  REQUIRE(one.size() == 1);
  CHECK(one[0].text == "m5");
  CHECK(f.proto.inbox(0).empty());
}

TEST_CASE("the default inbox keeps at least 1000 messages", "[protocol]") {
  fixture f;
  for (uint64_t i = 1; i <= 1200; ++i)
    f.handle(make("a", command::msg, "b", i, 4, {std::to_string(i)}), "b");
  auto in = f.proto.inbox(5000);
  REQUIRE(in.size() >= 1000);
  CHECK(in.back().text == "1200");
  CHECK(in.front().text == std::to_string(1200 - in.size() + 1));
}

// -- broadcast (SPEC §5.3) ----------------------------------------------------

TEST_CASE("broadcast msg: delivered once, forwarded to the other neighbours, "
          "duplicates dropped",
          "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003);
  auto ld = f.neighbour("d", 5004);
  auto le = f.neighbour("e", 5005);
  auto dest = GENERATE(as<std::string>{}, "all", "*");
  // Created by c, relayed to us by b.
  f.handle(make(dest, command::msg, "c", 77, 5, {"to everyone"}), "b");
  // Delivered once, stored with to = "all".
  auto in = f.proto.inbox(10);
  REQUIRE(in.size() == 1);
  CHECK(in[0].from == "c");
  CHECK(in[0].to == "all");
  CHECK(in[0].id == 77);
  CHECK(in[0].text == "to everyone");
  CHECK(f.delivered() == 1);
  // Forwarded with ttl - 1 to d and e: not back to b (previous hop), not to c
  // (the origin).
  CHECK(f.out.sent_on(lb).empty());
  CHECK(f.out.sent_on(lc).empty());
  for (auto link : {ld, le}) {
    auto sent = f.out.sent_on(link);
    REQUIRE(sent.size() == 1);
    CHECK(is_broadcast(sent[0].destination));
    CHECK(sent[0].cmd == command::msg);
    CHECK(sent[0].origin == "c");
    CHECK(sent[0].id == 77);
    CHECK(sent[0].ttl == 4);
    CHECK(sent[0].args == strings{"to everyone"});
  }
  CHECK(f.proto.stats().forwarded == 2);
  // The same (origin, id) over another path: dropped as a duplicate.
  f.out.clear_outputs();
  f.handle(make(dest, command::msg, "c", 77, 4, {"to everyone"}), "d",
           t0 + 1ms);
  CHECK(f.proto.stats().dropped_duplicate == 1);
  CHECK(f.proto.inbox(10).size() == 1);
  CHECK(f.delivered() == 1);
  CHECK(f.out.sends.empty());
  CHECK(f.out.deliveries.empty());
  // Another id from the same origin is new.
  f.handle(make(dest, command::msg, "c", 78, 4, {"again"}), "d", t0 + 2ms);
  CHECK(f.proto.inbox(10).size() == 2);
  CHECK(f.proto.stats().dropped_duplicate == 1);
}

TEST_CASE("broadcast with ttl 1 (or 0) is delivered but not forwarded",
          "[protocol]") {
  fixture f;
  f.neighbour("b", 5002);
  f.neighbour("c", 5003);
  uint8_t ttl = GENERATE(as<uint8_t>{}, 1, 0);
  f.handle(make("all", command::msg, "b", 5, ttl, {"local only"}), "b");
  REQUIRE(f.proto.inbox(10).size() == 1);
  CHECK(f.proto.inbox(10)[0].to == "all");
  CHECK(f.out.sends.empty());
  CHECK(f.proto.stats().forwarded == 0);
}

TEST_CASE("broadcast from a foreign client goes to every up neighbour",
          "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003);
  f.handle(make("all", command::msg, "x", 5, 3, {"hi"}), "");
  CHECK(f.out.sent_on(lb).size() == 1);
  CHECK(f.out.sent_on(lc).size() == 1);
  CHECK(f.proto.inbox(10).size() == 1);
}

TEST_CASE("a node's own broadcast: sent to every neighbour, not in its own "
          "inbox, its echo is a loop",
          "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003);
  auto id = f.proto.send_text("all", "from a", t0);
  REQUIRE(id);
  for (auto link : {lb, lc}) {
    auto sent = f.out.sent_on(link);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].origin == "a");
    CHECK(sent[0].id == *id);
    CHECK(sent[0].ttl == 32);
    CHECK(sent[0].args == strings{"from a"});
  }
  CHECK(f.proto.inbox(10).empty());
  // It comes back through another neighbour.
  f.out.clear_outputs();
  f.handle(make("all", command::msg, "a", *id, 30, {"from a"}), "c");
  CHECK(f.proto.stats().dropped_loop == 1);
  CHECK(f.proto.inbox(10).empty());
  CHECK(f.out.sends.empty());
}

TEST_CASE("down neighbours get no broadcast copies", "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003, t0 + 3s);
  // b silent since t0: down at t0 + dead_after; c heard at t0 + 3s.
  f.proto.tick(t0 + 5s);
  REQUIRE(f.peer("b").state == peer_state::down);
  REQUIRE(f.peer("c").state == peer_state::up);
  f.out.clear_outputs();
  f.handle(make("all", command::msg, "x", 5, 3, {"hi"}), "", t0 + 5s);
  CHECK(f.out.sent_on(lb).empty());
  CHECK(f.out.sent_on(lc).size() == 1);
}

// -- loops and name conflicts (SPEC §2, §5.2) ---------------------------------

TEST_CASE("a message with this node as origin is dropped_loop", "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto cmd = GENERATE(command::msg, command::ping, command::pong);
  strings args = cmd == command::msg ? strings{"x"} : strings{"1"};
  f.handle(make("a", cmd, "a", 5, 3, args), "b");
  CHECK(f.proto.stats().dropped_loop == 1);
  CHECK(f.delivered() == 0);
  CHECK(f.proto.stats().name_conflicts == 0);
  CHECK(f.out.deliveries.empty());
  CHECK(f.out.pongs.empty());
  CHECK(f.out.sent_on(lb).empty());
  CHECK(f.proto.inbox(10).empty());
}

TEST_CASE("server_connect claiming this node's name from another address is "
          "a name conflict",
          "[protocol]") {
  fixture f;
  f.handle(server_connect("*", "a", "10.0.0.66", 5066), "a");
  CHECK(f.proto.stats().dropped_loop == 1);
  CHECK(f.proto.stats().name_conflicts == 1);
  CHECK(f.out.opens.empty());
  CHECK(f.out.sends.empty());
  CHECK(f.peers().empty());
}

TEST_CASE("this node's own server_connect echoed back is a loop, not a "
          "conflict",
          "[protocol]") {
  fixture f;
  f.handle(server_connect("*", "a", "10.0.0.1", 5001), "a");
  CHECK(f.proto.stats().dropped_loop == 1);
  CHECK(f.proto.stats().name_conflicts == 0);
  CHECK(f.peers().empty());
}

// -- unicast forwarding and errors (SPEC §5.5) --------------------------------

TEST_CASE("unicast to a neighbour is forwarded with ttl - 1", "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003);
  f.handle(make("c", command::msg, "b", 31, 5, {"via a"}), "b");
  auto sent = f.out.sent_on(lc);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].destination == "c");
  CHECK(sent[0].origin == "b");
  CHECK(sent[0].id == 31);
  CHECK(sent[0].ttl == 4);
  CHECK(sent[0].args == strings{"via a"});
  CHECK(f.out.sent_on(lb).empty());
  CHECK(f.proto.stats().forwarded == 1);
  CHECK(f.delivered() == 0);
  CHECK(f.proto.inbox(10).empty());
}

TEST_CASE("unicast to a non-neighbour: dropped_unroutable and error "
          "unreachable to the origin",
          "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  f.handle(make("zed", command::msg, "b", 4711, 5, {"lost"}), "b");
  CHECK(f.proto.stats().dropped_unroutable == 1);
  CHECK(f.proto.stats().forwarded == 0);
  auto sent = f.out.sent_on(lb);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].destination == "b");
  CHECK(sent[0].cmd == command::error);
  CHECK(sent[0].origin == "a");
  CHECK(sent[0].ttl == 32);
  REQUIRE(sent[0].args.size() >= 2);
  CHECK(sent[0].args[0] == "unreachable");
  CHECK(sent[0].args[1] == "4711");
}

TEST_CASE("unroutable message whose origin has no route back: counted, no "
          "error sent",
          "[protocol]") {
  fixture f;
  f.neighbour("b", 5002);
  // Origin "far" is not a neighbour: no route for the error.
  f.handle(make("zed", command::msg, "far", 4711, 5, {"lost"}), "b");
  CHECK(f.proto.stats().dropped_unroutable == 1);
  CHECK(f.out.sends.empty());
}

TEST_CASE("unicast to a neighbour with ttl 1: dropped_ttl and error "
          "ttl_expired",
          "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003);
  uint8_t ttl = GENERATE(as<uint8_t>{}, 1, 0);
  f.handle(make("c", command::ping, "b", 99, ttl), "b");
  CHECK(f.proto.stats().dropped_ttl == 1);
  CHECK(f.proto.stats().forwarded == 0);
  CHECK(f.out.sent_on(lc).empty());
  auto sent = f.out.sent_on(lb);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].destination == "b");
  CHECK(sent[0].cmd == command::error);
  CHECK(sent[0].origin == "a");
  REQUIRE(sent[0].args.size() >= 2);
  CHECK(sent[0].args[0] == "ttl_expired");
  CHECK(sent[0].args[1] == "99");
}

TEST_CASE("no error is sent about an error", "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  f.neighbour("c", 5003);
  SECTION("unroutable error") {
    f.handle(make("zed", command::error, "b", 5, 5, {"unreachable", "1"}),
             "b");
    CHECK(f.proto.stats().dropped_unroutable == 1);
  }
  SECTION("error whose ttl ran out") {
    f.handle(make("c", command::error, "b", 5, 1, {"unreachable", "1"}), "b");
    CHECK(f.proto.stats().dropped_ttl == 1);
  }
  CHECK(f.out.sent_on(lb).empty());
  CHECK(f.out.sends.empty());
}

TEST_CASE("an error about our message is reported to the owner",
          "[protocol]") {
  fixture f;
  f.neighbour("b", 5002);
  f.handle(make("a", command::error, "b", 5, 30, {"ttl_expired", "1234"}),
           "b");
  REQUIRE(f.out.errors.size() == 1);
  CHECK(f.out.errors[0].origin == "b");
  CHECK(f.out.errors[0].args[0] == "ttl_expired");
  CHECK(f.out.errors[0].args[1] == "1234");
  CHECK(f.out.sends.empty());
}

TEST_CASE("send_text to an unknown destination fails as unroutable",
          "[protocol]") {
  fixture f;
  CHECK_FALSE(f.proto.send_text("nobody", "x", t0));
  CHECK(f.proto.stats().dropped_unroutable == 1);
  CHECK(f.out.sends.empty());
}

TEST_CASE("send_text ids count up and are unique", "[protocol]") {
  fixture f;
  f.neighbour("b", 5002);
  auto a = f.proto.send_text("b", "1", t0);
  auto b = f.proto.send_text("b", "2", t0);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*b > *a);
}

// -- heartbeats and liveness (SPEC §6) ----------------------------------------

TEST_CASE("tick sends a heartbeat ping to each up neighbour once per "
          "heartbeat",
          "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003);
  f.proto.tick(t0);
  for (auto [link, name] : {std::pair{lb, "b"}, std::pair{lc, "c"}}) {
    auto sent = f.out.sent_on(link);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].cmd == command::ping);
    CHECK(sent[0].destination == name);
    CHECK(sent[0].origin == "a");
    CHECK(sent[0].ttl == 1);
  }
  // Keep both alive, tick in between: nothing new.
  f.out.clear_outputs();
  f.handle(make("a", command::msg, "b", 1, 1, {"x"}), "b", t0 + 400ms);
  f.handle(make("a", command::msg, "c", 1, 1, {"x"}), "c", t0 + 400ms);
  f.proto.tick(t0 + 500ms);
  f.proto.tick(t0 + 999ms);
  CHECK(f.out.sent_cmd(command::ping).empty());
  // Next heartbeat (c's coming up, coalesced with b's into one link-state
  // advertisement, went out in between: only pings count here).
  f.proto.tick(t0 + 1000ms);
  auto pings_on = [&](link_id l) {
    auto sent = f.out.sent_on(l);
    return std::count_if(sent.begin(), sent.end(), [](const message& m) {
      return m.cmd == command::ping;
    });
  };
  CHECK(pings_on(lb) == 1);
  CHECK(pings_on(lc) == 1);
  CHECK(f.out.sent_cmd(command::ping).size() == 2);
  CHECK(f.proto.next_wakeup() > t0 + 1000ms);
  CHECK(f.proto.next_wakeup() <= t0 + 2000ms);
}

TEST_CASE("the pong to a heartbeat gives the peer's rtt", "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  f.proto.tick(t0);
  auto sent = f.out.sent_on(lb);
  REQUIRE(sent.size() == 1);
  f.handle(make("a", command::pong, "b", 5, 32, {to_decimal(sent[0].id)}), "b",
           t0 + 2500us);
  auto p = f.peer("b");
  REQUIRE(p.rtt_us);
  CHECK(*p.rtt_us == 2500);
  // It is not a user's ping.
  CHECK(f.out.pongs.empty());
}

TEST_CASE("last_seen_ms is the age of the last message heard", "[protocol]") {
  fixture f;
  f.neighbour("b", 5002);
  f.handle(make("a", command::msg, "b", 1, 1, {"x"}), "b", t0 + 100ms);
  auto ps = f.proto.peers(t0 + 350ms);
  REQUIRE(ps.size() == 1);
  REQUIRE(ps[0].last_seen_ms);
  CHECK(*ps[0].last_seen_ms == 250);
}

TEST_CASE("a neighbour not heard from for dead_after_ms goes down and is "
          "no longer routed",
          "[protocol]") {
  fixture f; // heartbeat 1 s, dead after 5 s
  auto lb = f.neighbour("b", 5002);
  auto lc = f.neighbour("c", 5003);
  // c keeps talking, b is silent from t0 on.
  for (int s = 0; s < 5; ++s) {
    auto now = t0 + std::chrono::seconds(s);
    f.handle(make("a", command::msg, "c", 100 + s, 1, {"alive"}), "c", now);
    // and answers our heartbeats (else we would redial it)
    f.handle(make("a", command::pong, "c", 300 + s, 1, {"1"}), "c", now);
    f.proto.tick(now);
  }
  f.proto.tick(t0 + 4999ms);
  REQUIRE(f.peer("b").state == peer_state::up);
  f.out.clear_outputs();
  f.proto.tick(t0 + 5000ms);
  CHECK(f.peer("b").state == peer_state::down);
  CHECK(f.peer("c").state == peer_state::up);
  REQUIRE(f.out.changes.size() == 1);
  CHECK(f.out.changes[0].name == "b");
  CHECK(f.out.changes[0].state == peer_state::down);
  CHECK(f.proto.peers_up() == 1);
  CHECK(f.proto.neighbours() == strings{"c"});
  // No heartbeat to a down neighbour.
  for (auto& m : f.out.sent_on(lb))
    CHECK(m.cmd != command::ping);
  // No longer used for routing.
  f.out.clear_outputs();
  CHECK_FALSE(f.proto.ping("b", 32, t0 + 5000ms));
  CHECK_FALSE(f.proto.send_text("b", "x", t0 + 5000ms));
  f.handle(make("b", command::msg, "c", 200, 5, {"to b"}), "c", t0 + 5000ms);
  CHECK(f.out.sent_on(lb).empty());
  auto err = f.out.sent_on(lc);
  REQUIRE(err.size() == 1);
  CHECK(err[0].cmd == command::error);
  CHECK(err[0].args[0] == "unreachable");
  // Hearing from it again brings it back.
  f.out.clear_outputs();
  f.handle(make("a", command::ping, "b", 300, 1), "b", t0 + 6000ms);
  CHECK(f.peer("b").state == peer_state::up);
  REQUIRE(f.out.changes.size() == 1);
  CHECK(f.out.changes[0].name == "b");
  CHECK(f.out.changes[0].state == peer_state::up);
  CHECK(f.proto.send_text("b", "x", t0 + 6000ms));
  CHECK_FALSE(f.out.sent_on(lb).empty());
}

TEST_CASE("driven by next_wakeup, a dead neighbour is detected on time",
          "[protocol]") {
  auto cfg = default_config();
  cfg.heartbeat_ms = 1000;
  cfg.dead_after_ms = 1500;
  fixture f{cfg};
  f.proto.tick(t0);
  f.neighbour("b", 5002, t0 + 200ms);
  f.neighbour("c", 5003, t0 + 300ms);
  auto b_deadline = t0 + 200ms + 1500ms;
  // c keeps answering, b never does. Run the timer the way the actor does.
  time_point now = t0;
  time_point b_down{};
  for (int i = 0; i < 100 && now < t0 + 10s; ++i) {
    auto wake = f.proto.next_wakeup();
    REQUIRE(wake > now);
    if (f.peer("b").state == peer_state::up)
      REQUIRE(wake <= b_deadline);
    now = wake;
    f.handle(make("a", command::msg, "c", 1000 + i, 1, {"alive"}), "c", now);
    f.proto.tick(now);
    if (b_down == time_point{} && f.peer("b").state == peer_state::down)
      b_down = now;
  }
  REQUIRE(b_down != time_point{});
  CHECK(b_down == b_deadline);
  CHECK(f.peer("c").state == peer_state::up);
}

TEST_CASE("next_wakeup is never later than a dead-neighbour deadline",
          "[protocol]") {
  auto cfg = default_config();
  cfg.heartbeat_ms = 1000;
  cfg.dead_after_ms = 1200;
  fixture f{cfg};
  f.neighbour("b", 5002, t0);
  f.neighbour("c", 5003, t0);
  f.proto.tick(t0);
  // b heard at t0 + 100ms, c at t0 + 900ms; the next ticks must not skip
  // b's deadline (t0 + 1300ms), though the next heartbeat is later.
  f.handle(make("a", command::msg, "b", 1, 1, {"x"}), "b", t0 + 100ms);
  f.handle(make("a", command::msg, "c", 2, 1, {"x"}), "c", t0 + 900ms);
  f.proto.tick(t0 + 1000ms); // heartbeat: next one at t0 + 2000ms
  CHECK(f.proto.next_wakeup() <= t0 + 1300ms);
  // b is suspect: its probes may wake the node before the deadline.
  for (int i = 0; i < 10 && f.proto.next_wakeup() < t0 + 1300ms; ++i)
    f.proto.tick(f.proto.next_wakeup());
  REQUIRE(f.proto.next_wakeup() == t0 + 1300ms);
  f.proto.tick(f.proto.next_wakeup());
  CHECK(f.peer("b").state == peer_state::down);
  CHECK(f.peer("c").state == peer_state::up);
  CHECK(f.proto.next_wakeup() <= t0 + 2000ms);
  CHECK(f.proto.next_wakeup() <= t0 + 900ms + 1200ms);
}

TEST_CASE("a linked peer that is not up is re-announced once per heartbeat",
          "[protocol]") {
  fixture f; // heartbeat 1 s
  REQUIRE(f.proto.connect("10.0.0.2", 5002, true, t0));
  auto link = f.out.opens.at(0).id;
  f.proto.tick(t0);
  f.out.clear_outputs();
  auto announcements = [&] {
    size_t n = 0;
    for (auto& m : f.out.sent_on(link))
      if (m.cmd == command::server_connect) {
        CHECK(m.destination == "*");
        CHECK(m.ttl == 1);
        CHECK(m.args == strings{"10.0.0.1", "5001", "quilt/1"});
        ++n;
      }
    return n;
  };
  for (int beat = 1; beat <= 4; ++beat) {
    auto start = t0 + std::chrono::seconds(beat);
    f.proto.tick(start);
    f.proto.tick(start + 300ms);
    f.proto.tick(start + 999ms);
    INFO("heartbeat " << beat);
    CHECK(announcements() == 1);
    f.out.clear_outputs();
  }
  // Once it answers, the announcements stop; heartbeats take over.
  f.handle(server_connect("a", "b", "10.0.0.2", 5002), "b", t0 + 5100ms);
  f.out.clear_outputs();
  f.proto.tick(t0 + 6s);
  CHECK(announcements() == 0);
  auto pings = f.out.sent_cmd(command::ping);
  REQUIRE(pings.size() == 1);
  CHECK(pings[0].msg.destination == "b");
}

TEST_CASE("a neighbour that went down is re-announced", "[protocol]") {
  fixture f;
  auto lb = f.neighbour("b", 5002);
  f.proto.tick(t0);
  for (int s = 1; s <= 5; ++s)
    f.proto.tick(t0 + std::chrono::seconds(s));
  REQUIRE(f.peer("b").state == peer_state::down);
  f.out.clear_outputs();
  f.proto.tick(t0 + 6s);
  f.proto.tick(t0 + 7s);
  size_t n = 0;
  for (auto& m : f.out.sent_on(lb))
    if (m.cmd == command::server_connect && m.destination == "*")
      ++n;
  CHECK(n == 2);
}

TEST_CASE("a silent incoming-only peer is dropped from the peer list",
          "[protocol]") {
  fixture f;
  f.handle(make("a", command::msg, "x", 1, 1, {"hi"}), "x");
  REQUIRE(f.peers().size() == 1);
  CHECK(f.peers()[0].name == "x");
  CHECK(f.peers()[0].state == peer_state::up);
  CHECK(f.peers()[0].port == 0); // no server_connect yet
  f.proto.tick(t0 + 5s);
  CHECK(f.peers().empty());
}

TEST_CASE("a foreign client's message does not count as hearing from a "
          "neighbour",
          "[protocol]") {
  // SPEC §6: "Any valid message whose previous hop is a neighbour counts as
  // hearing from it"; SPEC §3: a connection without a valid name as routing
  // id has no previous hop. A message a foreign client injects with a
  // neighbour's name as origin must not keep that neighbour alive.
  fixture f; // dead after 5 s
  f.neighbour("b", 5002);
  f.proto.tick(t0);
  // Ticks every heartbeat: a node that skips ticks keeps its neighbours.
  for (int s = 1; s < 4; ++s)
    f.proto.tick(t0 + std::chrono::seconds(s));
  f.handle(make("a", command::msg, "b", 5, 3, {"injected"}), "", t0 + 4s);
  f.proto.tick(t0 + 4s);
  f.proto.tick(t0 + 5s);
  CHECK(f.peer("b").state == peer_state::down);
}

// -- dedupe_cache (SPEC §5) ---------------------------------------------------

TEST_CASE("dedupe_cache: remembers pairs, origin and id both count",
          "[dedupe]") {
  dedupe_cache d{100, 60s};
  CHECK(d.insert("a", 1, t0));
  CHECK_FALSE(d.insert("a", 1, t0));
  CHECK(d.insert("a", 2, t0));
  CHECK(d.insert("b", 1, t0));
  CHECK(d.insert("a1", 1, t0));
  CHECK(d.insert("a", 11, t0));
  CHECK(d.size() == 5);
}

TEST_CASE("dedupe_cache: bounded by capacity, oldest forgotten first",
          "[dedupe]") {
  dedupe_cache d{3, 60s};
  CHECK(d.insert("o", 1, t0));
  CHECK(d.insert("o", 2, t0 + 1ms));
  CHECK(d.insert("o", 3, t0 + 2ms));
  CHECK(d.insert("o", 4, t0 + 3ms));
  CHECK(d.size() == 3);
  // 2, 3, 4 remembered; 1 was pushed out.
  CHECK_FALSE(d.insert("o", 4, t0 + 4ms));
  CHECK_FALSE(d.insert("o", 3, t0 + 4ms));
  CHECK_FALSE(d.insert("o", 2, t0 + 4ms));
  CHECK(d.insert("o", 1, t0 + 4ms));
  CHECK(d.size() == 3);
}

TEST_CASE("dedupe_cache: pairs expire after the window", "[dedupe]") {
  dedupe_cache d{100, 60s};
  CHECK(d.insert("o", 1, t0));
  CHECK(d.insert("o", 2, t0 + 30s));
  CHECK_FALSE(d.insert("o", 1, t0 + 60s)); // still within the last 60 s
  CHECK(d.insert("o", 1, t0 + 60s + 1ms)); // forgotten, seen anew
  CHECK_FALSE(d.insert("o", 2, t0 + 89s));
  CHECK(d.insert("o", 2, t0 + 91s));
  // Expiry frees room.
  CHECK(d.insert("o", 3, t0 + 300s));
  CHECK(d.size() == 1);
}

TEST_CASE("dedupe: the default protocol keeps at least 65,536 pairs of the "
          "last 60 s",
          "[dedupe]") {
  protocol_config cfg;
  REQUIRE(cfg.dedupe_capacity >= 65536);
  REQUIRE(cfg.dedupe_window >= 60s);
  dedupe_cache d{cfg.dedupe_capacity, cfg.dedupe_window};
  for (uint64_t i = 0; i < 65536; ++i)
    REQUIRE(d.insert("origin", i, t0 + std::chrono::microseconds(i * 500)));
  CHECK(d.size() == 65536);
  // All still remembered, within 60 s of the first.
  auto late = t0 + 59s;
  CHECK_FALSE(d.insert("origin", 0, late));
  CHECK_FALSE(d.insert("origin", 32768, late));
  CHECK_FALSE(d.insert("origin", 65535, late));
}

TEST_CASE("protocol: a broadcast seen again after the dedupe window is new",
          "[dedupe][protocol]") {
  auto cfg = default_config();
  cfg.dedupe_window = 1s;
  fixture f{cfg};
  f.handle(make("all", command::msg, "b", 1, 3, {"x"}), "b", t0);
  f.handle(make("all", command::msg, "b", 1, 3, {"x"}), "b", t0 + 500ms);
  CHECK(f.proto.stats().dropped_duplicate == 1);
  f.handle(make("all", command::msg, "b", 1, 3, {"x"}), "b", t0 + 2s);
  CHECK(f.proto.stats().dropped_duplicate == 1);
  CHECK(f.proto.inbox(10).size() == 2);
}

// -- watching routes (SPEC §11, quilt-console watch) ---------------------------

namespace {

std::string show(const std::vector<route_change>& xs) {
  std::string out;
  for (auto& x : xs)
    out += std::string{x.kind == route_change::added     ? "added "
                       : x.kind == route_change::changed ? "changed "
                                                         : "removed "}
           + x.route.destination + " via " + x.route.next_hop + " "
           + std::to_string(x.route.hops) + "; ";
  return out;
}

} // namespace

TEST_CASE("route changes are reported only while watched, as a diff of the "
          "routes since the last report",
          "[protocol][watch]") {
  fixture f; // heartbeat 1 s, dead after 5 s
  f.neighbour("b", 5002);
  f.proto.report_route_changes();
  CHECK(f.out.route_changes.empty()); // nobody watches
  f.proto.watch_routes(true);         // b is the baseline, not news
  f.proto.report_route_changes();
  CHECK(f.out.route_changes.empty());
  f.neighbour("c", 5003);
  f.proto.report_route_changes();
  CHECK(show(f.out.route_changes) == "added c via c 1; ");
  f.out.route_changes.clear();
  f.proto.report_route_changes(); // nothing new since
  CHECK(f.out.route_changes.empty());
  // d behind c: c advertises it.
  f.handle(make("*", command::link_state, "c", 50, 8, {"a d"}), "c");
  f.handle(make("*", command::link_state, "d", 51, 8, {"c"}), "c");
  f.proto.report_route_changes();
  CHECK(show(f.out.route_changes) == "added d via c 2; ");
  f.out.route_changes.clear();
  // c keeps talking, b falls silent and goes down.
  for (int s = 0; s <= 5; ++s) {
    auto now = t0 + std::chrono::seconds(s);
    f.handle(make("a", command::msg, "c", 100 + s, 1, {"alive"}), "c", now);
    f.proto.tick(now);
  }
  f.proto.report_route_changes();
  CHECK(show(f.out.route_changes) == "removed b via b 1; ");
  f.out.route_changes.clear();
  f.proto.watch_routes(false);
  f.handle(make("*", command::link_state, "d", 52, 8, {""}), "c");
  f.proto.report_route_changes();
  CHECK(f.out.route_changes.empty());
  CHECK(f.proto.routes().size() == 1); // d went, unreported
}

TEST_CASE("diff_routes: added, changed and removed, in destination order",
          "[routing][watch]") {
  using r = route_entry;
  std::vector<r> before{{"b", "b", 1}, {"c", "b", 2}, {"e", "e", 1}};
  std::vector<r> after{{"a2", "b", 3}, {"c", "d", 2}, {"e", "e", 1},
                       {"f", "e", 2}};
  CHECK(show(diff_routes(before, after))
        == "added a2 via b 3; removed b via b 1; changed c via d 2; "
           "added f via e 2; ");
  CHECK(diff_routes(after, after).empty());
  CHECK(show(diff_routes({}, {{"x", "x", 1}})) == "added x via x 1; ");
  CHECK(show(diff_routes({{"x", "x", 1}}, {})) == "removed x via x 1; ");
  // Only the hop count changed: still a change.
  CHECK(show(diff_routes({{"x", "y", 2}}, {{"x", "y", 3}}))
        == "changed x via y 3; ");
}

TEST_CASE("event_queue: one batch at a time, bounded, drops counted",
          "[watch]") {
  event_queue q{3};
  CHECK_FALSE(q.ready());
  for (uint64_t i = 0; i < 5; ++i) {
    node_event e;
    e.kind = node_event::msg;
    e.id = i;
    q.push(e);
  }
  REQUIRE(q.ready());
  auto b = q.take();
  REQUIRE(b.events.size() == 3); // the first three; two did not fit
  CHECK(b.events[0].id == 0);
  CHECK(b.events[2].id == 2);
  CHECK(b.dropped == 2);
  // Unacknowledged: what comes meanwhile waits, still bounded.
  node_event e;
  e.id = 9;
  q.push(e);
  CHECK_FALSE(q.ready());
  CHECK(q.waiting() == 1);
  q.acknowledged();
  REQUIRE(q.ready());
  b = q.take();
  CHECK(b.events.size() == 1);
  CHECK(b.dropped == 0);
  q.acknowledged();
  CHECK_FALSE(q.ready());
}

TEST_CASE("event_line: the table form of watch and the line interface",
          "[watch]") {
  node_event e;
  e.kind = node_event::route_removed;
  e.ts_ms = 1700000000123;
  e.destination = "c";
  e.next_hop = "b";
  auto line = event_line(e);
  REQUIRE(line.size() > 13);
  CHECK(line.substr(8, 5) == ".123 ");
  CHECK(line.substr(13) == "route_removed destination=c next_hop=b hops=-");
  e.kind = node_event::msg;
  e.from = "d";
  e.to = "all";
  e.id = 18446744073709551615ull;
  e.text = "x = y";
  CHECK(event_line(e).substr(13)
        == "msg from=d to=all id=18446744073709551615 text=x = y");
  e.kind = node_event::peer_up;
  e.peer = "b";
  CHECK(event_line(e).substr(13) == "peer_up peer=b");
}

// -- who may steer the mesh (SPEC §12) -----------------------------------------

namespace {

/// A link_state advertisement of `origin` listing `neighbours`.
message advert(std::string origin, uint64_t seq, std::string neighbours,
               std::string destination = "all") {
  return make(std::move(destination), command::link_state, std::move(origin),
              seq, 32, {std::move(neighbours)});
}

/// Sequence numbers as nodes make them: Unix microseconds x 1024.
uint64_t clock_seq(std::chrono::seconds ahead = 0s) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(system_clock::now().time_since_epoch()
                                        + ahead);
  return static_cast<uint64_t>(us.count()) << 10;
}

/// Origin -> sequence number of every advertisement held.
std::map<std::string, uint64_t> seqs(protocol& p) {
  std::map<std::string, uint64_t> result;
  for (auto& [origin, ad] : p.routing().database())
    result[origin] = ad.seq;
  return result;
}

/// a with neighbours b and c, which both advertise their links to a.
struct trio : fixture {
  link_id to_b = 0;
  link_id to_c = 0;
  trio() {
    to_b = neighbour("b", 5002);
    to_c = neighbour("c", 5003);
    handle(advert("b", clock_seq(), "a"), "b");
    handle(advert("c", clock_seq(), "a"), "c");
    REQUIRE(proto.routing().lookup("c"));
    out.clear_outputs();
  }
};

} // namespace

TEST_CASE("link_state from a client changes nothing and counts as spoofed",
          "[protocol][trust]") {
  trio f;
  auto before = seqs(f.proto);
  // A REQ client (no routing id), a stranger DEALER, and a DEALER named
  // like a peer that has no link (known only by its routing id).
  f.handle(advert("c", UINT64_MAX, ""), "");
  f.handle(advert("c", clock_seq() + 1000, ""), "mallory");
  f.handle(make("a", command::ping, "d", 7, 1), "d"); // d: incoming only
  f.handle(advert("c", clock_seq() + 2000, ""), "d");
  CHECK(f.proto.stats().dropped_spoofed == 3);
  CHECK(seqs(f.proto) == before);
  CHECK(f.out.sent_cmd(command::link_state).empty());
  REQUIRE(f.proto.routing().lookup("c"));
}

TEST_CASE("a client's message speaking for a node of the mesh is dropped",
          "[protocol][trust]") {
  trio f;
  auto spoofed = GENERATE(command::ping, command::msg);
  auto x = make("all", spoofed, "c", 42, 32);
  if (spoofed == command::msg)
    x.args = {"hello"};
  f.handle(x, "");          // REQ client
  f.handle(x, "mallory");   // a DEALER with a name of its own
  CHECK(f.proto.stats().dropped_spoofed == 2);
  CHECK(f.out.sends.empty()); // not forwarded, not answered
  CHECK(f.out.deliveries.empty());
  CHECK(f.proto.inbox(10).empty());
  // Nor with a node's name as its routing id: e is a node of the mesh
  // (advertised, not linked here), so a client calling itself e is
  // somebody else (SPEC §12).
  f.handle(x, "c-impostor");
  f.handle(advert("e", clock_seq(), "c"), "c");
  auto from_e = make("all", spoofed, "e", 45, 32);
  if (spoofed == command::msg)
    from_e.args = {"hello"};
  f.out.clear_outputs();
  f.handle(from_e, "e");
  CHECK(f.proto.stats().dropped_spoofed == 4);
  CHECK(f.out.sends.empty());
  // A client with a name of its own still works.
  f.handle(make("a", command::msg, "tool", 43, 32, {"hi"}), "");
  f.handle(make("a", command::msg, "mallory", 44, 32, {"hi"}), "mallory");
  CHECK(f.proto.inbox(10).size() == 2);
  CHECK(f.proto.stats().dropped_spoofed == 4);
}

TEST_CASE("a client cannot move or rename a neighbour with server_connect",
          "[protocol][trust]") {
  trio f;
  f.handle(server_connect("*", "b", "10.9.9.9", 6000), "");
  f.handle(server_connect("*", "c", "10.9.9.9", 6001), "mallory");
  CHECK(f.proto.stats().dropped_spoofed == 2);
  CHECK(f.out.opens.size() == 2); // b and c only
  CHECK(f.peer("b").address == "10.0.0.2");
  CHECK(f.peer("b").state == peer_state::up);
}

TEST_CASE("advertisements are flooded to their origin too, so it can see a "
          "forgery", "[protocol][trust]") {
  trio f;
  // b relays c's advertisement: a sends it on to c as well.
  f.handle(advert("c", clock_seq() + 5000, "a b"), "b");
  auto to_c = only(command::link_state, f.out.sent_on(f.to_c));
  REQUIRE(to_c.size() == 1);
  CHECK(to_c[0].origin == "c");
}

TEST_CASE("fight-back: a node takes its name back from a neighbour's forgery",
          "[protocol][trust]") {
  trio f;
  auto own = f.proto.routing().own()->seq;
  auto forged = clock_seq(60s);
  f.handle(advert("a", forged, ""), "b");
  CHECK(f.proto.stats().name_conflicts == 1);
  CHECK(f.proto.stats().dropped_loop == 1);
  CHECK(f.proto.routing().own()->seq > forged);
  CHECK(f.proto.routing().own()->seq > own);
  // The newer one goes to every neighbour within lsa_min_interval (the
  // fixture's neighbours came up this instant), well within 2 heartbeats.
  f.proto.tick(t0 + 250ms);
  auto to_b = only(command::link_state, f.out.sent_on(f.to_b));
  auto to_c = only(command::link_state, f.out.sent_on(f.to_c));
  REQUIRE(to_b.size() == 1);
  REQUIRE(to_c.size() == 1);
  CHECK(to_b[0].origin == "a");
  CHECK(to_b[0].id > forged);
  // Our own advertisements coming back are no conflict.
  f.out.clear_outputs();
  f.handle(advert("a", f.proto.routing().own()->seq, "b c"), "c");
  CHECK(f.proto.stats().name_conflicts == 1);
  // Nor is a forgery from a client: it reached nobody.
  f.handle(advert("a", clock_seq(120s), ""), "");
  CHECK(f.proto.stats().name_conflicts == 1);
}

TEST_CASE("sequence numbers far ahead of the clock are refused, the largest "
          "first of all", "[protocol][trust]") {
  trio f;
  auto before = seqs(f.proto);
  f.handle(advert("c", UINT64_MAX, ""), "b");
  f.handle(advert("c", clock_seq(11min), ""), "b");
  f.handle(advert("a", UINT64_MAX, ""), "b"); // no fight-back needed either
  CHECK(f.proto.stats().dropped_invalid == 2);
  CHECK(f.proto.stats().name_conflicts == 0);
  CHECK(seqs(f.proto) == before);
  CHECK(f.out.sent_cmd(command::link_state).empty());
  // Within the window it is a newer advertisement like any other.
  f.handle(advert("c", clock_seq(9min), "a"), "b");
  CHECK(seqs(f.proto).at("c") > before.at("c"));
}

TEST_CASE("a neighbour whose own advertisement is older than the one held is "
          "shown the held one", "[protocol][trust]") {
  trio f;
  auto held = f.proto.routing().database().at("c").seq;
  f.handle(advert("c", held - 10, "a"), "c");
  auto back = only(command::link_state, f.out.sent_on(f.to_c));
  REQUIRE(back.size() == 1);
  CHECK(back[0].id == held);
}

TEST_CASE("a client's server_connect makes no peer up, and a peer that never "
          "comes up is forgotten", "[protocol][trust]") {
  fixture f;
  f.handle(server_connect("*", "x", "10.0.0.9", 5009), "");
  REQUIRE(f.out.opens.size() == 1);
  CHECK(f.peer("x").state == peer_state::connecting);
  CHECK(f.proto.peers_up() == 0);
  f.proto.tick(t0 + 4s);
  CHECK(f.peers(t0 + 4s).size() == 1);
  f.proto.tick(t0 + 5s);
  CHECK(f.peers(t0 + 5s).empty());
  CHECK(f.out.is_closed(f.out.opens[0].id));
}

TEST_CASE("a peer is up only once its link is answered", "[protocol][trust]") {
  fixture f;
  // Our link to b is still connecting when b's server_connect and
  // heartbeat arrive over its own connection.
  f.out.status[1] = link_status::connecting;
  f.handle(server_connect("*", "b", "10.0.0.2", 5002), "b");
  REQUIRE(f.out.opens.size() == 1);
  REQUIRE(f.out.opens[0].id == 1);
  CHECK(f.peer("b").state == peer_state::connecting);
  f.handle(advert("b", clock_seq(), "a"), "b");
  CHECK(f.proto.stats().dropped_spoofed == 1);
  f.out.status[1] = link_status::connected;
  f.proto.tick(t0 + 100ms);
  CHECK(f.peer("b").state == peer_state::up);
  CHECK(f.proto.neighbours() == strings{"b"});
}

TEST_CASE("a failed CURVE handshake shows as auth_failed, once",
          "[protocol][trust]") {
  fixture f;
  REQUIRE(f.proto.connect("10.0.0.2", 5002, true, t0, std::string(40, 'k')));
  f.out.status[f.out.opens[0].id] = link_status::auth_failed;
  f.proto.tick(t0 + 1s);
  f.proto.tick(t0 + 2s);
  f.proto.tick(t0 + 3s);
  CHECK(f.peers(t0 + 3s).at(0).state == peer_state::auth_failed);
  CHECK(std::count_if(f.out.changes.begin(), f.out.changes.end(),
                      [](auto& c) {
                        return c.state == peer_state::auth_failed;
                      })
        == 1);
  // Configured: kept and redialled, however long it fails.
  f.proto.tick(t0 + 60s);
  CHECK(f.peers(t0 + 60s).size() == 1);
}

TEST_CASE("limits.max_peers bounds the links for unconfigured peers",
          "[protocol][trust]") {
  auto cfg = default_config();
  cfg.max_peers = 2;
  fixture f{cfg};
  f.neighbour("b", 5002);
  f.neighbour("c", 5003);
  f.handle(advert("b", clock_seq(), "a d"), "b");
  f.handle(advert("d", clock_seq(), "b"), "b");
  f.out.clear_outputs();
  auto opened = f.out.opens.size();
  f.handle(server_connect("*", "d", "10.0.0.4", 5004, 77), "d");
  CHECK(f.proto.stats().rejected_dial == 1);
  CHECK(f.out.opens.size() == opened);
  // The refusal goes to its origin (routed through b).
  auto errors = f.out.sent_cmd(command::error);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].msg.args == strings{"rejected", "77", "peer_limit"});
  CHECK(f.proto.peers_up() == 2);
  // Configured peers do not count.
  CHECK(f.proto.connect("10.0.0.5", 5005, true, t0));
}

TEST_CASE("new peers are rate-limited per source address", "[protocol][trust]") {
  fixture f;
  connection_info via;
  via.address = "10.0.0.66";
  for (uint16_t i = 0; i < 100; ++i) {
    auto x = server_connect("*", "flood" + std::to_string(i), "10.0.0.66",
                            static_cast<uint16_t>(6000 + i), 100 + i);
    f.proto.handle(x, "", t0, &via);
  }
  CHECK(f.out.opens.size() == 32);
  CHECK(f.proto.stats().rejected_dial == 68);
  // Another address has its own budget; the first one refills with time.
  via.address = "10.0.0.67";
  auto x = server_connect("*", "other", "10.0.0.67", 7000);
  f.proto.handle(x, "", t0, &via);
  CHECK(f.out.opens.size() == 33);
  via.address = "10.0.0.66";
  x = server_connect("*", "later", "10.0.0.66", 7001);
  f.proto.handle(x, "", t0 + 1s, &via);
  CHECK(f.out.opens.size() == 34);
}

TEST_CASE("under CURVE a name belongs to its key", "[protocol][trust]") {
  auto cfg = default_config();
  std::string key_b(40, 'b');
  std::string key_m(40, 'm');
  cfg.name_keys["b"] = key_b;
  fixture f{cfg};
  connection_info mine;
  mine.address = "10.0.0.2";
  mine.curve_key = key_b;
  auto sc = server_connect("*", "b", "10.0.0.2", 5002);
  f.proto.handle(sc, "b", t0, &mine);
  REQUIRE(f.peer("b").state == peer_state::up);
  // Another authorized key using b's name as its routing id is refused.
  connection_info other = mine;
  other.curve_key = key_m;
  auto ls = advert("c", clock_seq(), "");
  f.proto.handle(ls, "b", t0, &other);
  auto sc2 = server_connect("*", "b", "10.0.0.9", 5009);
  f.proto.handle(sc2, "b", t0, &other);
  CHECK(f.proto.stats().rejected_auth == 2);
  CHECK(f.peer("b").address == "10.0.0.2");
  CHECK(f.proto.routing().database().count("c") == 0);
  // Without a binding, the first key that brought a name up owns it.
  connection_info first;
  first.address = "10.0.0.3";
  first.curve_key = std::string(40, 'c');
  auto sc3 = server_connect("*", "c", "10.0.0.3", 5003);
  f.proto.handle(sc3, "c", t0, &first);
  REQUIRE(f.peer("c").state == peer_state::up);
  auto ping = make("a", command::ping, "c", 5, 1);
  f.proto.handle(ping, "c", t0, &other);
  CHECK(f.proto.stats().rejected_auth == 3);
}

TEST_CASE("a flood of made-up names through one neighbour: names left out, "
          "new origins past its budget refused and counted, a new node "
          "behind another neighbour routed",
          "[protocol][names]") {
  fixture f;
  auto base = interned_names();
  f.neighbour("b", 5002);
  auto c = f.neighbour("c", 5003);
  f.speaks("c");
  f.out.clear_outputs();
  // b floods: made-up origins, 4,096 made-up names each. The 32nd runs
  // out of b's name budget (4,097 new names an advertisement).
  for (int k = 0; k < 40; ++k) {
    std::string text;
    for (int i = 0; i < 4096; ++i)
      text += (i ? " m" : "m") + std::to_string(k * 4096 + i);
    f.handle(make("all", command::link_state, "fake" + std::to_string(k),
                  1, 8, {text}),
             "b");
  }
  CHECK(f.proto.stats().dropped_overload == 40 - 32);
  auto load = f.proto.routing().load_of("b");
  CHECK(load.adverts == 32);
  CHECK(load.names == max_names_per_neighbour);
  CHECK(interned_names() - base <= max_names_per_neighbour + 4);
  // What went on to c is what this node holds: the 32nd without the names
  // that did not fit.
  auto onward = only(command::link_state, f.out.sent_on(c));
  REQUIRE(onward.size() == 32);
  CHECK(onward.back().advert->count
        == max_names_per_neighbour - 31 * 4097 - 1);
  // A new node d behind c is taken (c's budget is its own) and routed.
  f.handle(make("all", command::link_state, "c", 50, 8, {"a d"}), "c");
  f.handle(make("all", command::link_state, "d", 51, 8, {"c"}), "c");
  auto r = f.proto.routing().lookup("d");
  REQUIRE(r != nullptr);
  CHECK(r->next_hop == "c");
}

// -- failure detection on lossy links (SPEC §14) -------------------------------

namespace {

/// SPEC §14's timing: heartbeat 200 ms, dead after 1,000 ms. Suspect after
/// 400 ms of silence, probed every 50 ms (docs/PROTOCOL.md "Liveness").
protocol_config spec14_config() {
  auto cfg = default_config();
  cfg.heartbeat_ms = 200;
  cfg.dead_after_ms = 1000;
  return cfg;
}

/// Pings sent on `link` since the outputs were last cleared.
std::vector<message> pings_on(const fake_callee& out, link_id link) {
  std::vector<message> result;
  for (auto& m : out.sent_on(link))
    if (m.cmd == command::ping)
      result.push_back(m);
  return result;
}

/// Runs the protocol's timer the way its actor does, up to `until`, and
/// returns when each ping on `link` went out.
std::vector<time_point> ticks_until(fixture& f, time_point until,
                                    link_id link) {
  std::vector<time_point> at;
  for (int i = 0; i < 1000 && f.proto.next_wakeup() <= until; ++i) {
    auto now = f.proto.next_wakeup();
    f.out.clear_outputs();
    f.proto.tick(now);
    for (size_t k = 0; k < pings_on(f.out, link).size(); ++k)
      at.push_back(now);
  }
  return at;
}

} // namespace

TEST_CASE("a neighbour silent for two heartbeats is suspect and probed "
          "four times a heartbeat", "[protocol][liveness]") {
  fixture f{spec14_config()};
  f.proto.tick(t0);
  auto lb = f.neighbour("b", 5002, t0);
  auto sent = ticks_until(f, t0 + 999ms, lb);
  REQUIRE_FALSE(sent.empty());
  // Heartbeats while it is not suspect (the first one at t0 + 200ms: the
  // heartbeat due at t0 went out before b was up) ...
  std::vector<time_point> before, after;
  for (auto x : sent)
    (x < t0 + 400ms ? before : after).push_back(x);
  CHECK(before == std::vector<time_point>{t0 + 200ms});
  // ... then a probe every 50 ms from 400 ms of silence on (the heartbeats
  // among them): 12 pings instead of 3 before it is declared dead.
  REQUIRE(after.size() == 12);
  for (size_t i = 0; i < after.size(); ++i)
    CHECK(after[i] == t0 + 400ms + i * 50ms);
  // Down at dead_after_ms of silence all the same.
  CHECK(f.peer("b").state == peer_state::up);
  CHECK(f.proto.next_wakeup() == t0 + 1000ms);
  f.proto.tick(t0 + 1000ms);
  CHECK(f.peer("b").state == peer_state::down);
}

TEST_CASE("a suspect neighbour that answers one probe is not declared down",
          "[protocol][liveness]") {
  fixture f{spec14_config()};
  f.proto.tick(t0);
  auto lb = f.neighbour("b", 5002, t0);
  // Silent up to t0 + 900ms: probed since t0 + 400ms.
  ticks_until(f, t0 + 899ms, lb);
  f.out.clear_outputs();
  f.proto.tick(t0 + 900ms);
  auto probes = pings_on(f.out, lb);
  REQUIRE(probes.size() == 1); // t0 + 900ms is no heartbeat: a probe
  CHECK(probes[0].destination == "b");
  CHECK(probes[0].ttl == 1);
  // Everything else it sent was lost; the pong to that probe arrives.
  f.handle(make("a", command::pong, "b", 77, 32,
                {to_decimal(probes[0].id)}),
           "b", t0 + 910ms);
  auto sent = ticks_until(f, t0 + 1300ms, lb);
  CHECK(f.peer("b").state == peer_state::up);
  REQUIRE(f.peer("b").rtt_us);
  CHECK(*f.peer("b").rtt_us == 10000);
  // No longer suspect: heartbeats only until it is silent for 400 ms again
  // (t0 + 1310ms).
  CHECK(sent == std::vector<time_point>{t0 + 1000ms, t0 + 1200ms});
  // Silent from then on: down at t0 + 910ms + dead_after_ms, not before.
  ticks_until(f, t0 + 1909ms, lb);
  CHECK(f.peer("b").state == peer_state::up);
  f.proto.tick(f.proto.next_wakeup());
  CHECK(f.peer("b").state == peer_state::down);
}

TEST_CASE("probes do not move the deadline: a silent neighbour is down at "
          "exactly dead_after_ms", "[protocol][liveness]") {
  fixture f{spec14_config()};
  f.proto.tick(t0);
  auto lb = f.neighbour("b", 5002, t0 + 30ms);
  auto lc = f.neighbour("c", 5003, t0 + 30ms);
  time_point now = t0;
  time_point b_down{};
  for (int i = 0; i < 200 && now < t0 + 3s; ++i) {
    auto wake = f.proto.next_wakeup();
    REQUIRE(wake > now);
    if (f.peer("b").state == peer_state::up)
      REQUIRE(wake <= t0 + 1030ms);
    now = wake;
    // c answers every ping it gets (its pongs arrive), b none.
    for (auto& m : pings_on(f.out, lc))
      f.handle(make("a", command::pong, "c", 500 + i, 32, {to_decimal(m.id)}),
               "c", now);
    f.out.clear_outputs();
    f.proto.tick(now);
    if (b_down == time_point{} && f.peer("b").state == peer_state::down)
      b_down = now;
  }
  CHECK(b_down == t0 + 30ms + 1000ms);
  CHECK(f.peer("c").state == peer_state::up);
  CHECK_FALSE(f.out.sent_on(lb).empty()); // re-announced, as before
}

TEST_CASE("a node that did not run keeps its neighbours until they had a "
          "chance to be heard", "[protocol][liveness]") {
  // Local health: a tick 2.8 s late (the node was stopped, or its machine
  // overloaded) says nothing about neighbours whose messages wait unread.
  fixture f{spec14_config()};
  f.proto.tick(t0);
  auto lb = f.neighbour("b", 5002, t0);
  auto lc = f.neighbour("c", 5003, t0);
  f.proto.tick(t0 + 200ms);
  REQUIRE(f.proto.next_wakeup() <= t0 + 400ms);
  f.out.clear_outputs();
  auto resume = t0 + 3000ms;
  f.proto.tick(resume);
  CHECK(f.peer("b").state == peer_state::up);
  CHECK(f.peer("c").state == peer_state::up);
  CHECK(f.out.changes.empty());
  // Both are pinged at once ...
  CHECK(pings_on(f.out, lb).size() == 1);
  CHECK(pings_on(f.out, lc).size() == 1);
  // ... b's messages are read, c stays silent: down 400 ms (two
  // heartbeats) after the resume, probed meanwhile.
  f.handle(make("a", command::ping, "b", 90, 1), "b", resume + 5ms);
  auto probes = ticks_until(f, resume + 399ms, lc);
  CHECK(probes.size() >= 6);
  CHECK(f.peer("c").state == peer_state::up);
  CHECK(f.proto.next_wakeup() == resume + 400ms);
  f.proto.tick(resume + 400ms);
  CHECK(f.peer("c").state == peer_state::down);
  CHECK(f.peer("b").state == peer_state::up);
}

TEST_CASE("a node late again and again still declares a silent neighbour "
          "down: one grace per silence", "[protocol][liveness]") {
  fixture f{spec14_config()};
  f.proto.tick(t0);
  f.neighbour("b", 5002, t0);
  f.neighbour("c", 5003, t0);
  // Every tick comes seconds late (a machine overloaded for good); b is
  // heard now and then, c never.
  f.proto.tick(t0 + 3s);
  CHECK(f.peer("c").state == peer_state::up);
  f.handle(make("a", command::ping, "b", 91, 1), "b", t0 + 3100ms);
  f.proto.tick(t0 + 6s);
  CHECK(f.peer("c").state == peer_state::down);
  // b was heard since its grace: a new silence, a new grace.
  CHECK(f.peer("b").state == peer_state::up);
  f.proto.tick(t0 + 9s);
  CHECK(f.peer("b").state == peer_state::down);
}

// -- unicast with confirmation (SPEC §14) ---------------------------------------

namespace {

/// a with neighbours b and c, both Quilt nodes (they advertise link state),
/// and a foreign leaf that never does; nobody dies for a minute, so the
/// retransmissions are all that happens.
struct confirming : fixture {
  link_id to_b = 0;
  link_id to_c = 0;
  link_id to_leaf = 0;
  explicit confirming(std::chrono::milliseconds timeout = 10s)
    : fixture(config(timeout)) {
    // As neighbour() does, but the summaries sent at link-up stay in the
    // outputs, for acknowledge_routing().
    auto up = [&](const std::string& name, uint16_t port) {
      auto address = "10.0.0." + std::to_string(port % 250);
      handle(server_connect("*", name, address, port, next_foreign_id++),
             name, t0);
      auto link = out.link_to(address, port);
      REQUIRE(link);
      return *link;
    };
    to_b = up("b", 5002);
    to_c = up("c", 5003);
    to_leaf = up("leaf", 5009);
    handle(advert("b", clock_seq(), "a"), "b");
    handle(advert("c", clock_seq(), "a"), "c");
    REQUIRE(proto.routing().lookup("c"));
    acknowledge_routing(t0);
    out.clear_outputs();
  }

  /// b and c acknowledge the routing messages sent to them, as Quilt
  /// nodes do, so that only messages count as retransmitted.
  void acknowledge_routing(time_point now) {
    for (auto [link, name] : {std::pair{to_b, "b"}, std::pair{to_c, "c"}}) {
      std::string adverts;
      std::string parts;
      for (auto& m : out.sent_on(link)) {
        if (m.cmd == command::link_state)
          adverts += (adverts.empty() ? "" : " ") + m.origin + " "
                     + to_decimal(m.advert ? m.advert->seq : m.id);
        if (m.cmd == command::link_summary)
          parts += (parts.empty() ? "" : " ") + to_decimal(m.id);
      }
      if (!adverts.empty() || !parts.empty())
        handle(make("a", command::link_ack, name, next_foreign_id++, 1,
                    {adverts, parts, ""}),
               name, now);
    }
  }

  static protocol_config config(std::chrono::milliseconds timeout) {
    auto cfg = default_config();
    cfg.dead_after_ms = 60000;
    cfg.delivery_timeout = timeout;
    return cfg;
  }

  message ack(const std::string& from, uint64_t id) {
    return make("a", command::msg_ack, from, next_foreign_id++, 32,
                {to_decimal(id)});
  }

  /// Runs the timers as an owner does, each at its next_wakeup, until
  /// `until`; returns when each copy of a msg went on `link`.
  std::vector<time_point> run_until(time_point until, link_id link) {
    std::vector<time_point> copies;
    auto now = t0;
    auto tick = [&] {
      out.sends.clear();
      proto.tick(now);
      auto n = only(command::msg, out.sent_on(link)).size();
      copies.insert(copies.end(), n, now);
      acknowledge_routing(now);
    };
    tick();
    while (true) {
      auto next = proto.next_wakeup();
      REQUIRE(next > now); // after a tick, a wakeup is in the future
      if (next > until)
        break;
      now = next;
      tick();
    }
    return copies;
  }
};

} // namespace

TEST_CASE("unicast: the destination's msg_ack confirms a msg, its origin "
          "stops sending it", "[protocol][unicast]") {
  confirming f;
  auto id = f.proto.send_text("c", "hello", t0);
  REQUIRE(id);
  REQUIRE(only(command::msg, f.out.sent_on(f.to_c)).size() == 1);
  CHECK(f.proto.awaiting_confirmation(*id));
  CHECK(f.proto.unconfirmed() == 1);
  // The wakeup includes the first retransmission, 50 ms on.
  CHECK(f.proto.next_wakeup() <= t0 + 50ms);
  // Another node's ack for that id does not count: only the destination
  // confirms.
  f.handle(f.ack("b", *id), "b", t0 + 10ms);
  CHECK(f.proto.awaiting_confirmation(*id));
  CHECK(f.out.outcomes.empty());
  f.handle(f.ack("c", *id), "c", t0 + 30ms);
  REQUIRE(f.out.outcomes.size() == 1);
  CHECK(f.out.outcomes[0].dest == "c");
  CHECK(f.out.outcomes[0].id == *id);
  CHECK(f.out.outcomes[0].delivered);
  CHECK(f.out.outcomes[0].rtt_us == 30000);
  CHECK_FALSE(f.proto.awaiting_confirmation(*id));
  // A late copy of the ack changes nothing.
  f.handle(f.ack("c", *id), "c", t0 + 40ms);
  CHECK(f.out.outcomes.size() == 1);
  CHECK(f.run_until(t0 + 20s, f.to_c).empty());
  CHECK(f.proto.stats().retransmitted == 0);
  CHECK(f.proto.stats().not_delivered == 0);
}

TEST_CASE("unicast: an unconfirmed msg is sent again with backoff until "
          "delivery_timeout, then given up", "[protocol][unicast]") {
  confirming f; // 10 s
  auto id = f.proto.send_text("c", "anyone there?", t0);
  REQUIRE(id);
  auto copies = f.run_until(t0 + 20s, f.to_c);
  // 50 ms, then 100 ms apart (the cap, delivery_timeout / 100): copies at
  // 50, 150, 250, ..., 9950 ms.
  REQUIRE(copies.size() == 100);
  CHECK(copies[0] == t0 + 50ms);
  CHECK(copies[1] == t0 + 150ms);
  for (size_t i = 1; i < copies.size(); ++i) {
    CHECK(copies[i] - copies[i - 1] >= 50ms);
    CHECK(copies[i] - copies[i - 1] <= 100ms);
  }
  CHECK(copies.back() < t0 + 10s);
  // Each copy the same message: id, origin, full ttl.
  for (auto& x : only(command::msg, f.out.sent_on(f.to_c)))
    CHECK(x.id == *id);
  REQUIRE(f.out.outcomes.size() == 1);
  CHECK(f.out.outcomes[0].dest == "c");
  CHECK(f.out.outcomes[0].id == *id);
  CHECK_FALSE(f.out.outcomes[0].delivered);
  CHECK(f.proto.stats().retransmitted == 100);
  CHECK(f.proto.stats().not_delivered == 1);
  CHECK_FALSE(f.proto.awaiting_confirmation(*id));
  CHECK(f.proto.unconfirmed() == 0);
}

TEST_CASE("unicast: a longer timeout backs off further, to a cap of "
          "timeout / 100", "[protocol][unicast]") {
  confirming f{60s};
  REQUIRE(f.proto.send_text("c", "slow", t0));
  auto copies = f.run_until(t0 + 2s, f.to_c);
  // 50, 100, 200, 400, then 600 ms apart.
  REQUIRE(copies.size() >= 5);
  CHECK(copies[0] - t0 == 50ms);
  CHECK(copies[1] - copies[0] == 100ms);
  CHECK(copies[2] - copies[1] == 200ms);
  CHECK(copies[3] - copies[2] == 400ms);
  CHECK(copies[4] - copies[3] == 600ms);
}

TEST_CASE("unicast: a foreign leaf, which never confirms, gets 3 copies",
          "[protocol][unicast]") {
  confirming f;
  auto id = f.proto.send_text("leaf", "are you a node?", t0);
  REQUIRE(id);
  REQUIRE(only(command::msg, f.out.sent_on(f.to_leaf)).size() == 1);
  auto copies = f.run_until(t0 + 20s, f.to_leaf);
  CHECK(copies.size() == 2); // 3 in all
  CHECK(f.proto.stats().retransmitted == 2);
  // Given up at the deadline all the same.
  REQUIRE(f.out.outcomes.size() == 1);
  CHECK_FALSE(f.out.outcomes[0].delivered);
  CHECK(f.proto.stats().not_delivered == 1);
}

TEST_CASE("unicast: delivery_timeout 0 sends once and waits for nothing",
          "[protocol][unicast]") {
  confirming f{0ms};
  auto id = f.proto.send_text("c", "fire and forget", t0);
  REQUIRE(id);
  CHECK_FALSE(f.proto.awaiting_confirmation(*id));
  CHECK(f.run_until(t0 + 20s, f.to_c).empty());
  f.handle(f.ack("c", *id), "c", t0 + 21s);
  CHECK(f.out.outcomes.empty());
  CHECK(f.proto.stats().retransmitted == 0);
  CHECK(f.proto.stats().not_delivered == 0);
}

TEST_CASE("unicast: the destination stores a msg once whatever copies "
          "arrive, and confirms each", "[protocol][unicast]") {
  confirming f;
  auto x = make("a", command::msg, "b", 4242, 30, {"once"});
  f.handle(x, "b");
  f.handle(x, "b", t0 + 100ms);
  f.handle(x, "c", t0 + 150ms); // another way round
  CHECK(f.proto.inbox(10).size() == 1);
  CHECK(only(command::msg, [&] {
          std::vector<message> d;
          for (auto& m : f.out.deliveries)
            d.push_back(m);
          return d;
        }()).size() == 1);
  CHECK(f.proto.stats().dropped_duplicate == 2);
  auto acks = f.out.sent_cmd(command::msg_ack);
  REQUIRE(acks.size() == 3);
  for (auto& s : acks) {
    CHECK(s.link == f.to_b);
    CHECK(s.msg.destination == "b");
    CHECK(s.msg.origin == "a");
    CHECK(s.msg.args == strings{"4242"});
  }
  // Another origin's msg with the same id is another message.
  f.handle(make("a", command::msg, "c", 4242, 30, {"other"}), "c");
  CHECK(f.proto.inbox(10).size() == 2);
  // Broadcasts are deduplicated on their way and not confirmed.
  f.out.clear_outputs();
  f.handle(make("all", command::msg, "b", 5000, 1, {"to all"}), "b");
  CHECK(f.out.sent_cmd(command::msg_ack).empty());
}

TEST_CASE("unicast: a msg to this node itself is confirmed at once",
          "[protocol][unicast]") {
  confirming f;
  auto id = f.proto.send_text("a", "note to self", t0);
  REQUIRE(id);
  REQUIRE(f.out.outcomes.size() == 1);
  CHECK(f.out.outcomes[0].delivered);
  CHECK(f.out.outcomes[0].rtt_us == 0);
  CHECK(f.out.sent_cmd(command::msg_ack).empty());
  CHECK_FALSE(f.proto.awaiting_confirmation(*id));
}

TEST_CASE("unicast: the messages waiting for confirmation are bounded, the "
          "oldest is given up", "[protocol][unicast]") {
  auto cfg = confirming::config(10s);
  cfg.max_unconfirmed = 2;
  fixture f{cfg};
  f.neighbour("b", 5002);
  f.handle(advert("b", clock_seq(), "a"), "b");
  auto first = f.proto.send_text("b", "1", t0);
  auto second = f.proto.send_text("b", "2", t0);
  auto third = f.proto.send_text("b", "3", t0);
  REQUIRE((first && second && third));
  CHECK(f.proto.unconfirmed() == 2);
  REQUIRE(f.out.outcomes.size() == 1);
  CHECK(f.out.outcomes[0].id == *first);
  CHECK_FALSE(f.out.outcomes[0].delivered);
  CHECK(f.proto.stats().not_delivered == 1);
  CHECK(f.proto.awaiting_confirmation(*third));
}

TEST_CASE("unicast: a client cannot confirm for a node of the mesh",
          "[protocol][unicast][trust]") {
  confirming f;
  auto id = f.proto.send_text("c", "hello", t0);
  REQUIRE(id);
  // A client speaking for c: dropped as spoofed, nothing confirmed.
  f.handle(f.ack("c", *id), "mallory", t0 + 1ms);
  f.handle(f.ack("c", *id), "", t0 + 1ms);
  CHECK(f.proto.stats().dropped_spoofed == 2);
  CHECK(f.proto.awaiting_confirmation(*id));
  // A client with a name of its own confirms nothing it was not sent.
  f.handle(f.ack("mallory", *id), "mallory", t0 + 2ms);
  CHECK(f.proto.awaiting_confirmation(*id));
  CHECK(f.out.outcomes.empty());
}

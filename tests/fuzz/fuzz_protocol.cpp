// libFuzzer target: the I/O-free protocol object (protocol.hpp) fed a
// sequence of inputs carved out of the fuzz input, with its clock advanced
// the way the protocol actor does it (a tick whenever next_wakeup() is due).
//
// The input is text, one input per line:
//   PREV|DEST|CMD|ORIGIN|ID|TTL|ARGS...  a message from previous hop PREV
//                                        (empty or not a node name: a
//                                        foreign client), decoded by the
//                                        codec as a processor does; invalid
//                                        ones are dropped there, as there
//   &DEST|CMD|...                        one more message in the same batch
//                                        (handle_batch) from the same PREV
//   T MS                                 the clock moves MS ms (at most 10 s)
//   C ADDRESS PORT                       a user's connect
//   P TARGET TTL                         a user's ping
//   S DEST TEXT                          a user's text message
// The node is "alpha" at 127.0.0.1:5501.
//
// Checked after every input, beyond "never crashes":
// - every message handled has exactly one fate: a counter among delivered
//   and the dropped_* ones, or one unicast forward (a delivered ping may
//   also count its pong as unroutable);
// - the callee is told of every delivery except routing ones;
// - links are opened once, sent on and closed only while open;
// - every message the node sends is valid on the wire (a peer would accept
//   it);
// - peers that are up have a name, names are unique, every route's next hop
//   is an up neighbour with a link, the inbox stays within its limit;
// - after a tick the next wakeup lies in the future (the protocol actor
//   would otherwise tick in a busy loop).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "quilt/codec.hpp"
#include "quilt/name.hpp"
#include "quilt/protocol.hpp"

namespace {

using namespace quilt;

[[noreturn]] void fail(const char* what, const std::string& about) {
  std::fprintf(stderr, "fuzz_protocol: invariant broken: %s\n  %s\n", what,
               about.c_str());
  std::abort();
}

void check(bool ok, const char* what, const std::string& about = {}) {
  if (!ok)
    fail(what, about);
}

std::string show(const message& x) {
  std::string out;
  for (auto& f : encode(x)) {
    out += f;
    out += '|';
  }
  return out;
}

class fake_callee : public protocol_callee {
public:
  std::set<link_id> open;
  std::set<link_id> ever;
  uint64_t sends = 0;
  uint64_t delivered_calls = 0;

  void open_link(link_id id, const std::string& address, uint16_t port,
                 const std::string&) override {
    check(ever.insert(id).second, "a link id is opened once");
    check(!address.empty() && port != 0, "a link has an endpoint");
    open.insert(id);
  }

  void close_link(link_id id) override {
    check(open.erase(id) == 1, "only an open link is closed");
  }

  bool send(link_id id, const message& x) override {
    check(open.count(id) == 1, "sends go to open links", show(x));
    ++sends;
    // What a peer's processor would do with it. No byte limit: the size of
    // a node's own link state grows with its neighbours, not with input.
    auto frames = encode(x);
    message back;
    auto r = decode(frames, SIZE_MAX, "", back);
    check(r.ok, "sent messages are valid", show(x) + " " + req_reply(r));
    return true;
  }

  void delivered(const message&) override {
    ++delivered_calls;
  }

  void pong_received(const std::string&, uint64_t, uint64_t) override {
  }

  void error_received(const message&) override {
  }

  void peer_changed(const peer_info&) override {
  }
};

// A client's routing message or spoofed origin ends as dropped_spoofed, a
// server_connect the node will not dial as rejected_dial (SPEC §10, §12).
uint64_t fates(const node_stats& s) {
  return s.delivered + s.dropped_loop + s.dropped_duplicate + s.dropped_ttl
         + s.dropped_unroutable + s.dropped_invalid + s.dropped_spoofed
         + s.rejected_dial;
}

std::vector<std::string_view> split(std::string_view x, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto end = x.find(sep);
    out.push_back(x.substr(0, end));
    if (end == std::string_view::npos)
      return out;
    x.remove_prefix(end + 1);
  }
}

uint64_t number(std::string_view x, uint64_t max) {
  uint64_t n = 0;
  for (auto c : x) {
    if (c < '0' || c > '9')
      break;
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > max)
      return max;
  }
  return n;
}

struct harness {
  fake_callee callee;
  protocol proto;
  time_point now = time_point{} + std::chrono::hours(1);
  // The batch being built: its previous hop and messages.
  std::string prev;
  message_batch batch;

  static protocol_config config() {
    protocol_config cfg;
    cfg.name = "alpha";
    cfg.advertise = "127.0.0.1";
    cfg.port = 5501;
    // Short timers and small tables, so that short inputs reach expiry,
    // eviction and refreshes.
    cfg.heartbeat_ms = 100;
    cfg.dead_after_ms = 500;
    cfg.default_ttl = 8;
    cfg.inbox_limit = 4;
    cfg.dedupe_capacity = 16;
    cfg.dedupe_window = std::chrono::milliseconds(2000);
    cfg.lsa_refresh = std::chrono::milliseconds(3000);
    // A handful of unconfigured peers: a short server_connect flood
    // (corpus/protocol/server_connect_flood) reaches limits.max_peers.
    cfg.max_peers = 8;
    cfg.unix_offset = std::chrono::microseconds(0);
    return cfg;
  }

  harness() : proto(config(), callee, 1000) {
  }

  void advance(uint64_t ms) {
    // Tick at every due wakeup on the way, as the protocol actor's timer
    // would, then at the new time.
    auto target = now + std::chrono::milliseconds(ms);
    while (proto.next_wakeup() <= target) {
      auto at = std::max(proto.next_wakeup(), now);
      now = at;
      proto.tick(now);
      check(proto.next_wakeup() > now,
            "after a tick the next wakeup is in the future");
    }
    now = target;
  }

  void flush() {
    if (batch.empty())
      return;
    auto before = proto.stats();
    auto calls = callee.delivered_calls;
    // Messages a node answers (a ping with a pong, a unicast msg with a
    // msg_ack): the answer may find no route, a second fate.
    uint64_t pings = 0;
    bool routing = false;
    for (auto& x : batch) {
      pings += x.cmd == command::ping
               || (x.cmd == command::msg && !is_broadcast(x.destination));
      routing = routing || is_routing(x.cmd);
    }
    auto n = batch.size();
    std::string about = show(batch.front());
    if (n == 1)
      proto.handle(batch.front(), prev, now);
    else
      proto.handle_batch(batch, prev, now);
    batch.clear();
    const auto& after = proto.stats();
    auto f = fates(after) - fates(before);
    auto fwd = after.forwarded - before.forwarded;
    if (n == 1) {
      check(f == 1 || (f == 0 && fwd == 1)
              || (f == 2 && pings == 1
                  && after.dropped_unroutable == before.dropped_unroutable + 1
                  && (after.delivered == before.delivered + 1
                      || after.dropped_duplicate
                           == before.dropped_duplicate + 1)),
            "a message has exactly one fate", about);
    } else {
      check(f + fwd >= n && f <= n + pings,
            "every message of a batch has one fate", about);
    }
    auto delivered = after.delivered - before.delivered;
    auto told = callee.delivered_calls - calls;
    check(routing ? told <= delivered : told == delivered,
          "the callee hears of every delivery but routing", about);
    check(after.name_conflicts - before.name_conflicts <= n,
          "at most one name conflict per message", about);
  }

  void message_line(std::string_view line, bool more) {
    auto parts = split(line, '|');
    std::string_view hop;
    if (!more) {
      hop = parts.front();
      parts.erase(parts.begin());
    }
    if (parts.size() > 65)
      parts.resize(65);
    message x;
    // As a processor: the receiving node's name and the default byte limit.
    auto r = decode(parts.data(), parts.size(), 65536, "alpha", x);
    if (!more) {
      flush();
      prev = is_valid_name(hop) ? std::string{hop} : std::string{};
    }
    if (r.ok)
      batch.push_back(std::move(x));
  }

  void line(std::string_view text) {
    if (text.empty())
      return;
    if (text[0] == '&') {
      message_line(text.substr(1), true);
      return;
    }
    auto words = split(text, ' ');
    if (words.size() >= 2 && words[0].size() == 1) {
      switch (words[0][0]) {
        case 'T':
          flush();
          advance(number(words[1], 10000));
          return;
        case 'C':
          if (words.size() >= 3) {
            flush();
            auto port = static_cast<uint16_t>(number(words[2], 65535));
            if (!words[1].empty() && port != 0)
              proto.connect(std::string{words[1]}, port, true, now);
            return;
          }
          break;
        case 'P':
          if (words.size() >= 3 && is_valid_name(words[1])) {
            flush();
            auto ttl = static_cast<uint8_t>(number(words[2], 255));
            proto.ping(std::string{words[1]}, ttl == 0 ? 1 : ttl, now);
            return;
          }
          break;
        case 'S':
          if (words.size() >= 3
              && (is_valid_name(words[1]) || words[1] == "all")) {
            flush();
            auto text_start = text.find(' ', 2) + 1;
            auto body = text.substr(text_start);
            if (is_valid_utf8(body))
              proto.send_text(std::string{words[1]}, std::string{body}, now);
            return;
          }
          break;
        default:
          break;
      }
    }
    message_line(text, false);
  }

  // Runs with a batch still being built: the protocol has not seen it.
  void check_state() {
    std::set<std::string> names;
    auto peers = proto.peers(now);
    size_t up = 0;
    for (auto& p : peers) {
      if (p.state == peer_state::up) {
        ++up;
        check(!p.name.empty(), "a peer that is up has a name");
      }
      if (!p.name.empty())
        check(names.insert(p.name).second, "peer names are unique", p.name);
    }
    check(up == proto.peers_up(), "peers_up counts the peers that are up");
    std::set<std::string> hops;
    for (auto& n : proto.neighbours())
      hops.insert(n);
    for (auto& r : proto.routes()) {
      check(r.destination != "alpha", "no route to itself");
      check(r.hops >= 1, "a route has hops");
      check(hops.count(r.next_hop) == 1, "a next hop is an up neighbour",
            r.destination + " via " + r.next_hop);
    }
    check(proto.inbox(1000).size() <= 4, "the inbox keeps its limit");
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  harness h;
  for (auto text : split(in, '\n')) {
    h.line(text);
    h.check_state();
  }
  h.flush();
  h.check_state();
  // Whatever the input did, time goes on: silent peers go down (after
  // dead_after_ms), timers keep running.
  h.advance(1000);
  h.check_state();
  return 0;
}

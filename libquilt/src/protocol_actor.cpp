// The PROTOCOL actor: owns quilt::protocol and performs its outputs.
#include <caf/all.hpp>

#include <random>

#include "node_shared.hpp"
#include "quilt/codec.hpp"
#include "quilt/log.hpp"
#include "quilt/name.hpp"
#include "quilt/node.hpp"

namespace quilt {

namespace {

using namespace std::chrono;

struct protocol_state : protocol_callee {
  static inline const char* name = "quilt.protocol";

  struct link {
    peer_link_actor actor;
    std::shared_ptr<std::atomic<int64_t>> inflight;
    message_batch pending;
  };

  struct pending_ping {
    caf::typed_response_promise<ping_result> promise;
    time_point sent;
  };

  protocol_actor::stateful_pointer<protocol_state> self = nullptr;
  std::shared_ptr<node_shared> node;
  std::unique_ptr<protocol> proto;
  std::unordered_map<link_id, link> links;
  std::vector<link_id> dirty;
  std::unordered_map<uint64_t, pending_ping> pings;
  std::unordered_map<uint64_t, ping_result> early_answers;
  std::vector<event_sink_actor> sinks;
  time_point timer_at = time_point::max();
  uint64_t timer_gen = 0; // only the newest timer counts

  // -- protocol_callee -------------------------------------------------------

  void open_link(link_id id, const std::string& address,
                 uint16_t port) override {
    link l;
    l.inflight = std::make_shared<std::atomic<int64_t>>(0);
    l.actor = spawn_peer_link(self->system(), node,
                              node->net->endpoint(address, port), l.inflight);
    self->link_to(l.actor);
    links.emplace(id, std::move(l));
  }

  void close_link(link_id id) override {
    auto i = links.find(id);
    if (i == links.end())
      return;
    self->unlink_from(i->second.actor);
    self->send_exit(i->second.actor, caf::exit_reason::user_shutdown);
    links.erase(i);
  }

  void send(link_id id, const message& x) override {
    if (auto batch = room_on(id))
      batch->push_back(x);
  }

  void send(link_id id, message&& x) override {
    if (auto batch = room_on(id))
      batch->push_back(std::move(x));
  }

  /// The batch for link `id` when it has room, else counts a drop.
  message_batch* room_on(link_id id) {
    auto i = links.find(id);
    if (i == links.end())
      return nullptr;
    auto& l = i->second;
    auto waiting = l.inflight->load(std::memory_order_relaxed)
                   + static_cast<int64_t>(l.pending.size());
    if (waiting >= static_cast<int64_t>(node->cfg.queue_limit)) {
      ++node->counters.dropped_queue_full;
      return nullptr;
    }
    if (l.pending.empty())
      dirty.push_back(id);
    return &l.pending;
  }

  void delivered(const message& x) override {
    if (x.cmd != command::msg)
      return;
    QUILT_INFO(node->cfg.name, "msg from " << x.origin << " to "
                                           << x.destination << ": "
                                           << x.args[0]);
    if (!sinks.empty())
      emit(node_event::delivered_msg,
           x.origin + " -> " + (is_broadcast(x.destination) ? "all" : x.destination)
             + ": " + x.args[0]);
  }

  void pong_received(const std::string& from, uint64_t ping_id,
                     uint64_t rtt_us) override {
    answer(ping_id, ping_result{true, from, rtt_us, {}});
  }

  void error_received(const message& x) override {
    uint64_t about = 0;
    parse_decimal(x.args[1], about);
    // An error names the hop that gave up: traceroute's answer. Its rtt is
    // measured here, the protocol only times pongs.
    uint64_t rtt = 0;
    if (auto i = pings.find(about); i != pings.end())
      rtt = static_cast<uint64_t>(
        duration_cast<microseconds>(clock::now() - i->second.sent).count());
    answer(about, ping_result{false, x.origin, rtt, x.args[0]});
    if (!sinks.empty())
      emit(node_event::error,
           "error " + x.args[0] + " from " + x.origin + " about " + x.args[1]);
  }

  void peer_changed(const peer_info& x) override {
    if (!sinks.empty())
      emit(node_event::peer_state,
           "peer " + (x.name.empty() ? x.address + ":" + std::to_string(x.port)
                                     : x.name)
             + " is " + to_string(x.state));
  }

  // -- helpers ---------------------------------------------------------------

  void answer(uint64_t ping_id, ping_result r) {
    auto i = pings.find(ping_id);
    if (i == pings.end()) {
      // A ping to this node itself is answered before its id is known.
      if (early_answers.size() < 16)
        early_answers.emplace(ping_id, std::move(r));
      return;
    }
    i->second.promise.deliver(std::move(r));
    pings.erase(i);
  }

  void emit(node_event::kind_t kind, std::string text) {
    for (auto& s : sinks)
      self->send(s, node_event{kind, text});
  }

  /// Sends what the protocol queued, one batch per link.
  void flush() {
    for (auto id : dirty) {
      auto i = links.find(id);
      if (i == links.end() || i->second.pending.empty())
        continue;
      auto& l = i->second;
      *l.inflight += static_cast<int64_t>(l.pending.size());
      self->send(l.actor, std::move(l.pending));
      l.pending = message_batch{};
    }
    dirty.clear();
    arm_timer();
  }

  void arm_timer() {
    auto at = proto->next_wakeup();
    auto now = clock::now();
    if (at >= timer_at && timer_at > now)
      return; // an earlier timer is already on its way
    timer_at = at;
    auto delay = at > now ? duration_cast<microseconds>(at - now)
                          : microseconds(0);
    self->delayed_send(self, delay, tick_atom::value, ++timer_gen);
  }

  node_stats stats() {
    node_stats s = proto->stats();
    auto& c = node->counters;
    s.rx += c.rx;
    s.dropped_invalid += c.dropped_invalid;
    s.dropped_overload += c.dropped_overload;
    s.dropped_queue_full += c.dropped_queue_full;
    for (size_t i = 0; i < command_count; ++i)
      s.tx_by_command[i] += c.tx_by_command[i];
    std::lock_guard<std::mutex> guard{node->mtx};
    s.tx += node->retired_tx;
    s.dropped_queue_full += node->retired_dropped;
    for (auto& l : node->links) {
      s.tx += l->tx;
      s.dropped_queue_full += l->dropped;
    }
    return s;
  }
};

uint64_t clock_derived_id() {
  // Microseconds since the epoch times 1024: a restarted node starts above
  // every id its former self used, unless it sent 1024 messages per us.
  auto us = duration_cast<microseconds>(system_clock::now().time_since_epoch());
  return static_cast<uint64_t>(us.count()) << 10;
}

protocol_actor::behavior_type
protocol_fn(protocol_actor::stateful_pointer<protocol_state> self,
            std::shared_ptr<node_shared> node) {
  auto& st = self->state;
  st.self = self;
  st.node = node;
  const auto& cfg = node->cfg;
  protocol_config pc;
  pc.name = cfg.name;
  pc.advertise = cfg.advertise;
  pc.port = cfg.port;
  pc.heartbeat_ms = cfg.heartbeat_ms;
  pc.dead_after_ms = cfg.dead_after_ms;
  pc.default_ttl = static_cast<uint8_t>(cfg.default_ttl);
  st.proto = std::make_unique<protocol>(pc, st, clock_derived_id());
  auto now = clock::now();
  for (auto& p : cfg.peers)
    st.proto->connect(p.address, p.port, true, now);
  st.proto->tick(now);
  st.flush();
  return {
    [=](decoded_batch& batch) {
      auto& st = self->state;
      node->backlog -= static_cast<int64_t>(batch.size());
      auto now = clock::now();
      for (auto& d : batch)
        st.proto->handle(d.msg, d.prev_hop, now);
      st.flush();
    },
    [=](tick_atom, uint64_t gen) {
      auto& st = self->state;
      if (gen != st.timer_gen)
        return;
      st.timer_at = time_point::max();
      st.proto->tick(clock::now());
      st.flush();
    },
    [=](timeout_atom, uint64_t ping_id) {
      self->state.answer(ping_id, ping_result{false, {}, 0, "timeout"});
      self->state.early_answers.erase(ping_id);
    },
    [=](connect_atom, const std::string& address, uint16_t port) {
      auto& st = self->state;
      auto ok = st.proto->connect(address, port, true, clock::now());
      st.flush();
      return ok;
    },
    [=](ping_atom, const std::string& target, uint8_t ttl,
        uint32_t timeout_ms) -> caf::result<ping_result> {
      auto& st = self->state;
      if (!is_valid_destination(target))
        return ping_result{false, {}, 0, "bad_destination"};
      auto sent = clock::now();
      auto id = st.proto->ping(target, ttl, sent);
      st.flush();
      if (!id)
        return ping_result{false, {}, 0, "unreachable"};
      if (auto i = st.early_answers.find(*id); i != st.early_answers.end()) {
        auto r = std::move(i->second);
        st.early_answers.erase(i);
        return r;
      }
      auto rp = self->make_response_promise<ping_result>();
      st.pings.emplace(*id, protocol_state::pending_ping{rp, sent});
      self->delayed_send(self, milliseconds(timeout_ms), timeout_atom::value,
                         *id);
      return rp;
    },
    [=](send_atom, const std::string& dest, const std::string& text) {
      auto& st = self->state;
      if (!is_valid_destination(dest))
        return send_result{false, 0, "bad_destination"};
      if (!is_valid_utf8(text))
        return send_result{false, 0, "bad_utf8"};
      // destination, "msg", origin, id (<= 20 digits), ttl (<= 3), text
      if (dest.size() + 3 + cfg.name.size() + 23 + text.size()
          > cfg.max_message_bytes)
        return send_result{false, 0, "too_large"};
      auto id = st.proto->send_text(dest, text, clock::now());
      st.flush();
      if (!id)
        return send_result{false, 0, "unreachable"};
      return send_result{true, *id, {}};
    },
    [=](peers_atom) { return self->state.proto->peers(clock::now()); },
    [=](routes_atom) { return self->state.proto->routes(); },
    [=](topology_atom) {
      mesh_topology t;
      self->state.proto->topology(t.nodes, t.links);
      return t;
    },
    [=](inbox_atom, uint32_t n) { return self->state.proto->inbox(n); },
    [=](stats_atom) { return self->state.stats(); },
    [=](status_atom) {
      auto& st = self->state;
      node_status s;
      s.name = cfg.name;
      s.listen = cfg.listen_endpoint();
      s.processors = cfg.processors;
      s.uptime_ms = static_cast<uint64_t>(
        duration_cast<milliseconds>(clock::now() - node->started).count());
      s.peers_up = static_cast<uint32_t>(st.proto->peers_up());
      s.routes = static_cast<uint32_t>(st.proto->routes().size());
      s.version = version();
      s.default_ttl = cfg.default_ttl;
      return s;
    },
    [=](subscribe_atom, event_sink_actor sink) {
      self->state.sinks.push_back(std::move(sink));
    },
  };
}

} // namespace

protocol_actor spawn_protocol(std::shared_ptr<node_shared> node) {
  return node->sys.spawn(protocol_fn, std::move(node));
}

} // namespace quilt

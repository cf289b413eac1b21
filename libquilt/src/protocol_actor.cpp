// The PROTOCOL actor: owns quilt::protocol and performs its outputs. Every
// "now" comes from the actor system's clock and every timer is a delayed
// message, so the same actor runs on real time (quiltd) and on a
// simulation's virtual time.
#include <caf/all.hpp>

#include <map>
#include <random>

#include "node_context.hpp"
#include "quilt/codec.hpp"
#include "quilt/log.hpp"
#include "quilt/name.hpp"
#include "quilt/node.hpp"

namespace quilt {

namespace {

using namespace std::chrono;

struct protocol_state : protocol_callee {
  static inline const char* name = "quilt.protocol";

  /// A link as the protocol opened it. Until the supervisor answered with
  /// its peer actor, messages wait in `pending` (bounded by queue_limit).
  struct link {
    peer_link_handle peer;
    message_batch pending;
    /// The link's byte budget (node_context::link_bytes), shared with the
    /// credits of its messages on their way; and the bytes of `pending`.
    std::shared_ptr<byte_budget> bytes;
    bytes_credit pending_bytes;
  };

  struct pending_ping {
    caf::typed_response_promise<ping_result> promise;
    time_point sent;
  };

  protocol_actor::stateful_pointer<protocol_state> self = nullptr;
  node_context_ptr node;
  supervisor_actor supervisor;
  std::unique_ptr<protocol> proto;
  /// The configured peers, node->cfg.peers until a reload changes them.
  std::vector<peer_config> peers;
  std::unordered_map<link_id, link> links;
  std::vector<link_id> dirty;
  std::unordered_map<uint64_t, pending_ping> pings;
  /// Pings to all that collect every answer until their timeout.
  struct gathering {
    caf::typed_response_promise<std::vector<ping_result>> promise;
    std::vector<ping_result> answers;
  };
  std::unordered_map<uint64_t, gathering> gatherings;
  std::unordered_map<uint64_t, ping_result> early_answers;
  /// Inside protocol::ping: an answer now is this node's own, given before
  /// the request could wait for it.
  bool pinging = false;
  /// Requests waiting for a msg's confirmation (SPEC §14), by msg id: at
  /// most one per message the protocol waits for, times max_confirm_waiters.
  std::unordered_map<uint64_t,
                     std::vector<caf::typed_response_promise<send_result>>>
    confirm_waiters;
  size_t confirm_waiting = 0;
  /// Outcomes known before anyone asked (a confirmation that came back
  /// before `send --wait`'s second request): the newest ids, bounded.
  std::map<uint64_t, send_result> outcomes;
  static constexpr size_t max_outcomes = 1024;
  static constexpr size_t max_confirm_waiters = 4096;
  /// A watcher and its events on their way.
  struct sink_slot {
    event_sink_actor actor;
    event_queue queue;
  };
  std::vector<sink_slot> sinks;
  time_point timer_at = time_point::max();
  /// A simulation's stall: timers wait until then (SPEC §13).
  time_point frozen_until{};
  static constexpr std::chrono::milliseconds resume_grace{1};
  uint64_t timer_gen = 0; // only the newest timer counts
  int deferred = 0;       // inputs handled since the last flush
  /// Counts of links already closed, kept in the node's totals.
  node_stats retired;
  /// Counters of closed links that their transport may still update (a
  /// ZeroMQ link counts its queue as dropped once the reactor closed it):
  /// read live until only this actor holds them, then folded into retired.
  std::vector<link_counters_ptr> closing;

  time_point now() const { return self->clock().now(); }

  // -- protocol_callee -------------------------------------------------------

  void open_link(link_id id, const std::string& address, uint16_t port,
                 const std::string& server_key) override {
    links.emplace(id, link{});
    links[id].bytes = std::make_shared<byte_budget>(node->link_bytes());
    if (node->cfg.security.curve && server_key.empty()) {
      // Without the server's key there is no CURVE handshake to make:
      // what waits for this link is dropped at its queue limit.
      QUILT_WARN(node->cfg.name,
                 "cannot dial " << address << ':' << port
                                << ": no CURVE public key known for it "
                                   "(add it to [[peers]] with public_key)");
      return;
    }
    self->send(supervisor, open_atom::value, id,
               node->net->endpoint(address, port), server_key);
  }

  link_status status_of(link_id id) const override {
    auto i = links.find(id);
    // Until the supervisor answered with the peer actor there is no
    // connection to speak of.
    if (i == links.end() || !i->second.peer.counters)
      return link_status::connecting;
    return i->second.peer.counters->status.load(std::memory_order_relaxed);
  }

  uint32_t connection_of(link_id id) const override {
    auto i = links.find(id);
    if (i == links.end() || !i->second.peer.counters)
      return 0;
    return i->second.peer.counters->connection.load(
      std::memory_order_relaxed);
  }

  bool lossless(link_id id) const override {
    auto i = links.find(id);
    return i != links.end() && i->second.peer.counters
           && i->second.peer.counters->lossless.load(
             std::memory_order_relaxed);
  }

  void close_link(link_id id) override {
    auto i = links.find(id);
    if (i == links.end())
      return;
    if (auto& c = i->second.peer.counters)
      closing.push_back(c);
    // What never reached a link is dropped here.
    node->counters.dropped_queue_full += i->second.pending.size();
    i->second.pending_bytes.settle();
    self->send(supervisor, close_atom::value, id);
    links.erase(i);
  }

  bool send(link_id id, const message& x) override {
    return push(id, x, false);
  }

  bool send(link_id id, message&& x) override {
    auto batch = room_on(id, x);
    if (batch)
      batch->push_back(std::move(x));
    return batch != nullptr;
  }

  bool offer(link_id id, const message& x) override {
    return push(id, x, true);
  }

  bool push(link_id id, const message& x, bool bulk) {
    auto batch = room_on(id, x, bulk);
    if (batch)
      batch->push_back(x);
    return batch != nullptr;
  }

  /// The batch for link `id` when it has room for `x`, else counts a drop;
  /// `bulk`: only while the link is under 7/8 full, and no drop counted.
  message_batch* room_on(link_id id, const message& x, bool bulk = false) {
    auto i = links.find(id);
    if (i == links.end())
      return nullptr;
    auto& l = i->second;
    // Everything on its way to the peer counts: what waits here, what the
    // peer actor has not handed on, and the link's own queue. The link
    // then never has to drop what this accepted.
    auto waiting = static_cast<int64_t>(l.pending.size());
    if (l.peer.inflight)
      waiting += l.peer.inflight->load(std::memory_order_relaxed);
    if (l.peer.counters)
      waiting += static_cast<int64_t>(
        l.peer.counters->queued.load(std::memory_order_relaxed));
    auto limit = static_cast<int64_t>(node->cfg.queue_limit);
    if (bulk && waiting >= limit - limit / 8)
      return nullptr;
    if (waiting >= limit) {
      ++node->counters.dropped_queue_full;
      return nullptr;
    }
    if (!take_bytes(l, x, !bulk))
      return nullptr;
    if (l.pending.empty()) {
      dirty.push_back(id);
      // A batch leaves with each flush: start it at a size that spares the
      // first few regrowths (they showed in profiles of forwarding). Not
      // at the last batch's size: at 10,000 nodes that made the run 1.6
      // times slower (large blocks, most of them never filled).
      l.pending.reserve(16);
    }
    return &l.pending;
  }

  /// Charges `x` to its link's byte budget and to the process's (SPEC §14
  /// "Memory"); false when either is spent. Counted as queue_full either
  /// way: the message found no room to be sent, as at queue_limit, and the
  /// counters still add up (docs/PROTOCOL.md "Counters": dropped_overload
  /// counts only what the node received and refused). The flood's
  /// retransmission, or the sender's own retries, make it good once the
  /// queues drained.
  /// `count`: false for bulk, which its sender keeps and offers again.
  bool take_bytes(link& l, const message& x, bool count = true) {
    auto n = message_bytes(x);
    auto priority = is_priority(x.cmd);
    if (!l.bytes->try_take(n, priority)) {
      node->counters.dropped_queue_full += count;
      return false;
    }
    if (!node->budget->try_take(n, priority)) {
      l.bytes->give_back(n);
      node->counters.dropped_queue_full += count;
      return false;
    }
    l.pending_bytes.merge(bytes_credit{node->budget, l.bytes, n});
    return true;
  }

  void delivered(const message& x) override {
    if (x.cmd != command::msg)
      return;
    QUILT_INFO(node->cfg.name, "msg from " << x.origin << " to "
                                           << x.destination << ": "
                                           << x.arg(0));
    if (sinks.empty())
      return;
    node_event e;
    e.kind = node_event::msg;
    e.from = x.origin;
    e.to = is_broadcast(x.destination) ? "all" : x.destination;
    e.id = x.id;
    e.text = std::string{x.arg(0)};
    emit(std::move(e));
  }

  void pong_received(const std::string& from, uint64_t ping_id,
                     uint64_t rtt_us) override {
    answer(ping_id, ping_result{true, from, rtt_us, {}});
  }

  void error_received(const message& x) override {
    uint64_t about = 0;
    parse_decimal(x.arg(1), about);
    // An error names the hop that gave up: traceroute's answer. Its rtt is
    // measured here, the protocol only times pongs.
    uint64_t rtt = 0;
    if (auto i = pings.find(about); i != pings.end())
      rtt = static_cast<uint64_t>(
        duration_cast<microseconds>(now() - i->second.sent).count());
    answer(about, ping_result{false, x.origin, rtt, std::string{x.arg(0)}});
    if (sinks.empty())
      return;
    node_event e;
    e.text = std::string{x.arg(0)} + " from " + x.origin + " about "
             + std::string{x.arg(1)};
    emit(std::move(e));
  }

  void delivery_confirmed(const std::string& dest, uint64_t id,
                          uint64_t rtt_us) override {
    QUILT_DEBUG(node->cfg.name, "msg " << id << " to " << dest
                                       << " confirmed in " << rtt_us << " us");
    send_result r{true, id, {}, true, rtt_us};
    outcome(id, std::move(r));
  }

  void not_delivered(const std::string&, uint64_t id) override {
    outcome(id, send_result{true, id, "not_delivered", false, 0});
  }

  /// Answers whoever waits for msg `id`, or keeps the outcome for later.
  void outcome(uint64_t id, send_result r) {
    if (auto i = confirm_waiters.find(id); i != confirm_waiters.end()) {
      for (auto& rp : i->second)
        rp.deliver(r);
      confirm_waiting -= i->second.size();
      confirm_waiters.erase(i);
      return;
    }
    outcomes[id] = std::move(r);
    // Ids grow with time: the smallest is the oldest.
    while (outcomes.size() > max_outcomes)
      outcomes.erase(outcomes.begin());
  }

  void peer_changed(const peer_info& x) override {
    if (x.state == peer_state::down && node->opts.on_peer_down)
      node->opts.on_peer_down(x.name);
    if (sinks.empty() || x.state == peer_state::connecting)
      return;
    node_event e;
    e.kind = x.state == peer_state::up ? node_event::peer_up
                                       : node_event::peer_down;
    e.peer = x.name.empty() ? x.address + ":" + std::to_string(x.port)
                            : x.name;
    emit(std::move(e));
  }

  void route_changed(const route_change& x) override {
    node_event e;
    e.kind = x.kind == route_change::added     ? node_event::route_added
             : x.kind == route_change::changed ? node_event::route_changed
                                               : node_event::route_removed;
    e.destination = x.route.destination;
    e.next_hop = x.route.next_hop;
    e.hops = x.kind == route_change::removed ? 0 : x.route.hops;
    emit(std::move(e));
  }

  // -- helpers ---------------------------------------------------------------

  void answer(uint64_t ping_id, ping_result r) {
    if (auto g = gatherings.find(ping_id); g != gatherings.end()) {
      // One per node that got it, and the ping's ttl bounds those.
      if (g->second.answers.size() < 65536)
        g->second.answers.push_back(std::move(r));
      return;
    }
    auto i = pings.find(ping_id);
    if (i == pings.end()) {
      // A ping to this node itself is answered before its id is known;
      // anything else (a later answer to a ping to all) has no asker left.
      if (pinging && early_answers.size() < 16)
        early_answers.emplace(ping_id, std::move(r));
      return;
    }
    i->second.promise.deliver(std::move(r));
    pings.erase(i);
  }

  // -- watchers ----------------------------------------------------------------

  void subscribe(event_sink_actor sink) {
    for (auto& s : sinks)
      if (s.actor == sink)
        return;
    if (sinks.empty())
      proto->watch_routes(true);
    // A sink that goes away (a console that quit, its connection lost)
    // must stop costing the node: its down message removes it.
    self->monitor(sink);
    sinks.push_back(sink_slot{std::move(sink), event_queue{}});
  }

  void unsubscribe(const caf::actor_addr& who) {
    for (auto i = sinks.begin(); i != sinks.end(); ++i) {
      if (i->actor.address() != who)
        continue;
      self->demonitor(who);
      sinks.erase(i);
      if (sinks.empty())
        proto->watch_routes(false);
      return;
    }
  }

  sink_slot* find_sink(const caf::actor_addr& who) {
    for (auto& s : sinks)
      if (s.actor.address() == who)
        return &s;
    return nullptr;
  }

  void emit(node_event e) {
    e.ts_ms = duration_cast<milliseconds>(now().time_since_epoch()
                                          + node->unix_offset)
                .count();
    for (auto& s : sinks) {
      s.queue.push(e);
      deliver_events(s);
    }
  }

  /// Sends a sink what waits for it unless its last batch is unanswered.
  void deliver_events(sink_slot& s) {
    if (!s.queue.ready())
      return;
    auto who = s.actor.address();
    self->request(s.actor, caf::infinite, s.queue.take())
      .then(
        [this, who](bool) {
          if (auto s = find_sink(who)) {
            s->queue.acknowledged();
            deliver_events(*s);
          }
        },
        [this, who](const caf::error&) { unsubscribe(who); });
  }

  /// Sends what the protocol queued once the mailbox is drained (or every
  /// 64 inputs under steady load): messages from many inputs for the same
  /// link travel as one batch, one actor message instead of one per input.
  void flush_when_idle() {
    proto->report_route_changes();
    if (dirty.empty() && timer_armed())
      return;
    if (++deferred < 64 && !self->mailbox().empty())
      return;
    flush();
  }

  bool timer_armed() const {
    return proto->next_wakeup() >= timer_at && timer_at != time_point::max();
  }

  /// Sends what the protocol queued, one batch per link.
  void flush() {
    proto->report_route_changes();
    deferred = 0;
    for (auto id : dirty) {
      auto i = links.find(id);
      if (i != links.end())
        flush(i->second);
    }
    dirty.clear();
    arm_timer();
  }

  void flush(link& l) {
    if (l.pending.empty() || !l.peer.actor)
      return; // waits for its peer actor
    *l.peer.inflight += static_cast<int64_t>(l.pending.size());
    self->send(l.peer.actor, std::move(l.pending), std::move(l.pending_bytes));
    l.pending = message_batch{};
    l.pending_bytes = bytes_credit{};
  }

  void arm_timer() {
    auto at = proto->next_wakeup();
    auto now = this->now();
    // Stalled: no timer fires before the node resumes, and then only once
    // what waited for it had a chance to arrive (just after), so that it
    // does not declare dead the neighbours whose messages it has not read.
    if (now < frozen_until)
      at = std::max(at, frozen_until + resume_grace);
    if (at >= timer_at && timer_at > now)
      return; // an earlier timer is already on its way
    timer_at = at;
    // Rounded up: a delay cut short fires before the wakeup is due, and
    // on virtual time (whose clock starts at 1 ns) the tick that finds
    // nothing due re-arms with delay 0 for ever, the clock standing still.
    auto delay = at > now ? std::chrono::ceil<microseconds>(at - now)
                          : microseconds(0);
    self->delayed_send(self, delay, tick_atom::value, ++timer_gen);
  }

  node_stats stats() {
    node_stats s = proto->stats();
    // A copy counts as forwarded once its link sent it (link_counters::
    // forwarded), as dropped if it never is: each once, and only growing.
    s.forwarded = 0;
    auto& c = node->counters;
    s.rx += c.rx;
    s.dropped_invalid += c.dropped_invalid;
    s.dropped_overload += c.dropped_overload;
    // Lost with the mailbox of an actor that stopped: the node could not
    // take them, as when it is overloaded.
    s.dropped_overload += node->inbound->lost();
    s.dropped_overload += node->backlog->lost(); // direct batches
    s.dropped_queue_full += c.dropped_queue_full;
    s.rejected_auth += node->listen_counters->rejected_auth;
    for (auto i = closing.begin(); i != closing.end();) {
      if (i->use_count() == 1) {
        add_link(retired, **i);
        i = closing.erase(i);
      } else {
        add_link(s, **i);
        ++i;
      }
    }
    s += retired;
    for (auto& [id, l] : links)
      if (l.peer.counters)
        add_link(s, *l.peer.counters);
    return s;
  }

  static void add_link(node_stats& s, const link_counters& lc) {
    s.tx += lc.tx;
    s.dropped_queue_full += lc.dropped;
    s.forwarded += lc.forwarded;
    for (size_t k = 0; k < command_count; ++k)
      s.tx_by_command[k] += lc.tx_by_command[k];
  }
};

/// Unix microseconds times 1024, plus a salt below 1024: a restarted node
/// starts above every id its former self used, unless it sent 1024 messages
/// per microsecond. On virtual time the ids follow virtual time.
uint64_t clock_derived_id(const node_context& node, time_point now) {
  auto us = duration_cast<microseconds>(now.time_since_epoch())
            + node.unix_offset;
  return (static_cast<uint64_t>(us.count()) << 10)
         + node.opts.id_salt % 1024;
}

protocol_actor::behavior_type
protocol_fn(protocol_actor::stateful_pointer<protocol_state> self,
            node_context_ptr node, supervisor_actor supervisor) {
  auto& st = self->state;
  st.self = self;
  st.node = node;
  st.supervisor = std::move(supervisor);
  const auto& cfg = node->cfg;
  protocol_config pc;
  pc.name = cfg.name;
  pc.advertise = cfg.advertise;
  pc.port = cfg.port;
  pc.heartbeat_ms = cfg.heartbeat_ms;
  pc.dead_after_ms = cfg.dead_after_ms;
  pc.default_ttl = static_cast<uint8_t>(cfg.default_ttl);
  pc.unix_offset = node->unix_offset;
  pc.dial = dial_policy{};
  for (const auto& entry : cfg.security.dial_allow)
    pc.dial.add(entry); // checked when the configuration was read
  pc.max_peers = cfg.max_peers;
  pc.max_message_bytes = cfg.max_message_bytes;
  pc.delivery_timeout = milliseconds(cfg.delivery_timeout_ms);
  pc.redial_unanswered = cfg.security.curve;
  if (cfg.security.curve)
    for (const auto& [name, key] : cfg.security.key_names)
      pc.name_keys[name] = key;
  auto now = st.now();
  st.proto = std::make_unique<protocol>(pc, st, clock_derived_id(*node, now));
  st.peers = cfg.peers;
  for (auto& p : cfg.peers)
    st.proto->connect(p.address, p.port, true, now, p.public_key);
  st.proto->tick(now);
  st.flush();
  self->set_down_handler(
    [self](caf::down_msg& msg) { self->state.unsubscribe(msg.source); });
  return {
    [=](direct_batch& batch) {
      auto& st = self->state;
      st.proto->handle_batch(batch.msgs, batch.from, st.now());
      batch.backlog.settle();
      batch.bytes.settle();
      st.flush_when_idle();
    },
    [=](decoded_frames& in) {
      auto& batch = in.msgs;
      auto& st = self->state;
      auto now = st.now();
      for (auto& d : batch)
        st.proto->handle(d.msg, d.prev_hop, now, d.via.get());
      in.credit.settle();
      in.backlog.settle();
      st.flush_when_idle();
    },
    [=](tick_atom, uint64_t gen) {
      auto& st = self->state;
      if (gen != st.timer_gen) {
        st.flush_when_idle(); // a stale timer may be the mailbox's last
        return;
      }
      st.timer_at = time_point::max();
      st.proto->tick(st.now());
      st.flush();
    },
    [=](stall_atom, uint64_t ms) {
      auto& st = self->state;
      st.frozen_until = std::max(st.frozen_until,
                                 st.now() + std::chrono::milliseconds(ms));
      // The timer on its way fires too early: a new one (a new generation)
      // replaces it.
      st.timer_at = time_point::max();
      st.arm_timer();
    },
    [=](timeout_atom, uint64_t ping_id) {
      auto& st = self->state;
      if (auto g = st.gatherings.find(ping_id); g != st.gatherings.end()) {
        g->second.promise.deliver(std::move(g->second.answers));
        st.gatherings.erase(g);
      } else {
        st.answer(ping_id, ping_result{false, {}, 0, "timeout"});
      }
      st.early_answers.erase(ping_id);
      st.flush_when_idle();
    },
    [=](connect_atom, const std::string& address, uint16_t port) {
      auto& st = self->state;
      // A user's connect to a configured peer dials it with its key.
      std::string key;
      for (const auto& p : st.peers)
        if (p.address == address && p.port == port)
          key = p.public_key;
      auto ok = st.proto->connect(address, port, true, st.now(), key);
      st.flush();
      return ok;
    },
    [=](ping_atom, const std::string& target, uint8_t ttl,
        uint32_t timeout_ms) -> caf::result<ping_result> {
      auto& st = self->state;
      if (!is_valid_destination(target))
        return ping_result{false, {}, 0, "bad_destination"};
      auto sent = st.now();
      st.pinging = true;
      auto id = st.proto->ping(target, ttl, sent);
      st.pinging = false;
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
    [=](ping_atom, const std::string& target, uint8_t ttl, uint32_t timeout_ms,
        every_atom) -> caf::result<std::vector<ping_result>> {
      auto& st = self->state;
      if (!is_valid_destination(target))
        return std::vector<ping_result>{{false, {}, 0, "bad_destination"}};
      st.pinging = true;
      auto id = st.proto->ping(target, ttl, st.now());
      st.pinging = false;
      st.flush();
      if (!id)
        return std::vector<ping_result>{{false, {}, 0, "unreachable"}};
      auto rp = self->make_response_promise<std::vector<ping_result>>();
      auto& g = st.gatherings[*id];
      g.promise = rp;
      if (auto i = st.early_answers.find(*id); i != st.early_answers.end()) {
        g.answers.push_back(std::move(i->second));
        st.early_answers.erase(i);
      }
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
      auto id = st.proto->send_text(dest, text, st.now());
      st.flush();
      if (!id)
        return send_result{false, 0, "unreachable"};
      return send_result{true, *id, {}};
    },
    [=](confirm_atom, uint64_t id) -> caf::result<send_result> {
      auto& st = self->state;
      st.flush_when_idle();
      if (auto i = st.outcomes.find(id); i != st.outcomes.end()) {
        auto r = std::move(i->second);
        st.outcomes.erase(i);
        return r;
      }
      if (!st.proto->awaiting_confirmation(id))
        return send_result{true, id,
                           cfg.delivery_timeout_ms == 0 ? "confirmation_off"
                                                        : "not_confirmed",
                           false, 0};
      if (st.confirm_waiting >= protocol_state::max_confirm_waiters)
        return send_result{true, id, "overloaded", false, 0};
      auto rp = self->make_response_promise<send_result>();
      st.confirm_waiters[id].push_back(rp);
      ++st.confirm_waiting;
      return rp;
    },
    [=](link_atom, link_id id, peer_link_handle& peer) {
      auto& st = self->state;
      auto i = st.links.find(id);
      if (i == st.links.end()) {
        st.flush_when_idle(); // closed meanwhile
        return;
      }
      // A replaced peer actor (it failed) leaves its link's counts behind.
      if (auto& old = i->second.peer.counters; old && old != peer.counters)
        st.closing.push_back(old);
      i->second.peer = std::move(peer);
      st.flush(i->second);
      st.flush_when_idle();
    },
    // Queries send nothing, but may be the last message before the mailbox
    // runs dry: what earlier inputs queued goes out then.
    [=](peers_atom) {
      auto& st = self->state;
      st.flush_when_idle();
      return st.proto->peers(st.now());
    },
    [=](routes_atom) {
      self->state.flush_when_idle();
      return self->state.proto->routes();
    },
    [=](topology_atom) {
      self->state.flush_when_idle();
      mesh_topology t;
      self->state.proto->topology(t.nodes, t.links);
      return t;
    },
    [=](inbox_atom, uint32_t n) {
      self->state.flush_when_idle();
      return self->state.proto->inbox(n);
    },
    [=](stats_atom) {
      self->state.flush_when_idle();
      return self->state.stats();
    },
    [=](status_atom) {
      auto& st = self->state;
      st.flush_when_idle();
      node_status s;
      s.name = cfg.name;
      s.listen = cfg.listen_endpoint();
      s.processors = cfg.processors;
      s.uptime_ms = static_cast<uint64_t>(
        duration_cast<milliseconds>(st.now() - node->started).count());
      s.peers_up = static_cast<uint32_t>(st.proto->peers_up());
      s.routes = static_cast<uint32_t>(st.proto->routes().size());
      s.version = version();
      s.default_ttl = cfg.default_ttl;
      return s;
    },
    [=](summary_atom, uint32_t want) {
      auto& st = self->state;
      st.flush_when_idle();
      auto held = st.proto->routing().adverts();
      if (held < want)
        return node_summary{cfg.name,
                            static_cast<uint32_t>(st.proto->peers_up()),
                            static_cast<uint32_t>(held - 1), 0};
      auto [routes, hops] = st.proto->route_digest();
      return node_summary{cfg.name, static_cast<uint32_t>(st.proto->peers_up()),
                          static_cast<uint32_t>(routes), hops};
    },
    [=](subscribe_atom, event_sink_actor sink) {
      self->state.subscribe(std::move(sink));
      self->state.flush_when_idle();
      return true;
    },
    [=](reload_atom, const reload_changes& x) {
      auto& st = self->state;
      // Only the supervisor reloads.
      if (self->current_sender() != st.supervisor.address())
        return uint32_t{0};
      auto now = st.now();
      st.peers = x.cfg.peers;
      for (const auto& p : x.plan.removed)
        st.proto->disconnect(p.address, p.port, now);
      for (const auto& p : x.plan.added)
        st.proto->connect(p.address, p.port, true, now, p.public_key);
      size_t revoked = 0;
      if (x.plan.trust_changed) {
        dial_policy dial;
        for (const auto& entry : x.cfg.security.dial_allow)
          dial.add(entry); // checked when the file was read
        std::unordered_map<std::string, std::string> name_keys;
        if (x.cfg.security.curve) {
          for (const auto& [name, key] : x.cfg.security.key_names)
            name_keys[name] = key;
          revoked = st.proto->revoke(x.cfg.security.authorized_keys, now);
        }
        st.proto->set_trust(std::move(dial), std::move(name_keys));
      }
      st.flush();
      return static_cast<uint32_t>(revoked);
    },
  };
}

} // namespace

protocol_actor spawn_protocol(const node_context_ptr& node,
                              supervisor_actor supervisor) {
  return node->sys.spawn(protocol_fn, node, std::move(supervisor));
}

} // namespace quilt

#include "quilt/protocol.hpp"

#include <algorithm>

#include "quilt/codec.hpp"
#include "quilt/log.hpp"

namespace quilt {

namespace {

/// Incoming-only peers (known by routing id alone) beyond this many are not
/// tracked, so a flood of foreign routing ids cannot grow the peer table.
constexpr size_t max_peers = 4096;

/// Pings older than this are forgotten even without an answer.
constexpr auto ping_memory = std::chrono::seconds(60);

/// New peers one source address may make: a burst, then a steady rate.
/// Enough for a host that runs dozens of nodes restarting together; a
/// flood of server_connects from one address makes at most this many
/// dials a second, each forgotten after dead_after_ms if never answered.
constexpr double new_peer_burst = 32;
constexpr double new_peer_rate = 8; // per second

/// Source addresses whose rate is tracked; past this, idle ones go.
constexpr size_t max_dial_buckets = 4096;

/// The longest limits.delivery_timeout_ms: a copy of a msg can come that
/// long after its first, so a destination remembers what it stored for as
/// long (plus the broadcast window, for copies still on their way).
constexpr auto max_delivery_timeout = std::chrono::milliseconds(600000);

/// Retransmission of unconfirmed msgs (docs/PROTOCOL.md "Delivery
/// confirmation"): the first gap, the bounds of its cap (delivery_timeout
/// / 100), and the copies a destination that does not advertise link
/// state (a foreign leaf, which never confirms) gets at most.
constexpr auto first_gap = std::chrono::milliseconds(50);
constexpr auto max_gap = std::chrono::milliseconds(5000);
constexpr uint32_t gap_divisor = 100;
constexpr uint32_t leaf_copies = 3;

/// How far ahead of a receiver's clock an advertisement's sequence number
/// may be: clocks of a mesh's machines must agree to within this.
constexpr auto max_clock_lead = std::chrono::minutes(10);

int64_t unix_ms(const protocol_config& cfg, time_point now) {
  using namespace std::chrono;
  if (!cfg.unix_offset)
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
  return duration_cast<milliseconds>(now.time_since_epoch() + *cfg.unix_offset)
    .count();
}

uint64_t micros(clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us < 0 ? 0 : static_cast<uint64_t>(us);
}

} // namespace

const char* to_string(peer_state x) {
  switch (x) {
    case peer_state::connecting:
      return "connecting";
    case peer_state::up:
      return "up";
    case peer_state::down:
      return "down";
    case peer_state::auth_failed:
      return "auth_failed";
  }
  return "?";
}

protocol_callee::~protocol_callee() = default;

protocol::protocol(protocol_config cfg, protocol_callee& callee,
                   uint64_t first_id)
  : cfg_(std::move(cfg)),
    callee_(callee),
    next_id_(first_id),
    first_id_(first_id),
    dedupe_(cfg_.dedupe_capacity, cfg_.dedupe_window),
    rt_(cfg_.name),
    unicast_seen_(cfg_.dedupe_capacity,
                  cfg_.dedupe_window + max_delivery_timeout) {
}

// -- peers --------------------------------------------------------------------

protocol::peer* protocol::find_by_name(const std::string& name) {
  auto i = by_name_.find(name);
  return i == by_name_.end() ? nullptr : i->second;
}

protocol::peer* protocol::find_by_endpoint(const std::string& address,
                                           uint16_t port) {
  for (auto& p : peers_)
    if (p->info.port == port && p->info.address == address)
      return p.get();
  return nullptr;
}

protocol::peer& protocol::add_peer() {
  peers_.push_back(std::make_unique<peer>());
  return *peers_.back();
}

void protocol::remove_peer(peer* p) {
  ack_dirty_.erase(std::remove(ack_dirty_.begin(), ack_dirty_.end(), p),
                   ack_dirty_.end());
  if (p->link)
    callee_.close_link(*p->link);
  if (!p->info.name.empty())
    by_name_.erase(p->info.name);
  peers_.erase(std::find_if(peers_.begin(), peers_.end(),
                            [p](const auto& q) { return q.get() == p; }));
}

void protocol::rename(peer& p, const std::string& name) {
  if (p.info.name == name)
    return;
  if (!p.info.name.empty()) {
    QUILT_INFO(cfg_.name, "peer at " << p.info.address << ':' << p.info.port
                                     << " is now " << name << " (was "
                                     << p.info.name << ')');
    by_name_.erase(p.info.name);
  }
  p.info.name = name;
  by_name_[name] = &p;
}

void protocol::heard_from(peer& p, time_point now) {
  p.last_seen = now;
  p.heard = true;
  if (p.info.state != peer_state::up)
    check_link(p, now);
}

void protocol::check_link(peer& p, time_point now) {
  if (!p.link) {
    // Known by its routing id alone: shown up while it talks, but never
    // a neighbour (no link), so it cannot steer routing.
    set_state(p, peer_state::up);
    return;
  }
  // Up only over an answered link (SPEC §12): a server_connect, or a
  // routing id, alone makes nobody a neighbour.
  auto heard = p.heard
               && now - p.last_seen
                    < std::chrono::milliseconds(cfg_.dead_after_ms);
  switch (callee_.status_of(*p.link)) {
    case link_status::connected:
      if (heard)
        set_state(p, peer_state::up);
      break;
    case link_status::auth_failed:
      if (p.info.state != peer_state::auth_failed) {
        // Once per failure, not per retry: the state stays until the
        // handshake succeeds.
        QUILT_WARN(cfg_.name, "the CURVE handshake with "
                                << (p.info.name.empty() ? "peer" : p.info.name)
                                << " at " << p.info.address << ':'
                                << p.info.port
                                << " failed: is its public_key right?");
        set_state(p, peer_state::auth_failed);
      }
      break;
    case link_status::connecting:
      // A neighbour that was up before (a restart, a stop, a partition)
      // is one again as soon as it is heard: our link to it was answered
      // at that endpoint, and waiting for the redial (ZeroMQ's back-off,
      // up to 5 s) would drop what it relays meanwhile as spoofed.
      if (heard && p.was_up)
        set_state(p, peer_state::up);
      break;
  }
}

void protocol::set_state(peer& p, peer_state s) {
  p.info.state = s;
  if (s == peer_state::up) {
    p.was_up = true;
    p.answered = p.last_seen;
  }
  QUILT_INFO(cfg_.name, "peer " << (p.info.name.empty() ? "?" : p.info.name)
                                << " (" << p.info.address << ':'
                                << p.info.port << ") is " << to_string(s));
  callee_.peer_changed(p.info);
  if (!p.link || p.info.name.empty())
    return;
  // The set of neighbours changed: tell the mesh, and give a new neighbour
  // everything we know so it has full routes at once.
  update_own_lsa(p.last_seen, false);
  if (s == peer_state::up) {
    start_summary(p, p.last_seen);
  } else {
    // Nothing is owed to a neighbour that is gone: it starts afresh with a
    // summary when it comes back.
    p.flood = flood_link{};
  }
}

void protocol::redial(peer& p, time_point now) {
  // We hear it, but it has not answered our heartbeats for dead_after_ms
  // over a link that is connected: its listener holds our connection
  // without reading it. libzmq parks a connection whose routing id is
  // still taken by an older one (no ROUTER_HANDOVER, see zmq_transport),
  // and a stopped or restarted node can see the new one first. A new
  // connection is identified afresh.
  QUILT_LOG_LIMITED(log_level::info, logs_, now, "redial", cfg_.name,
                    p.info.name << " has not answered over our link for "
                                << cfg_.dead_after_ms
                                << " ms although we hear it: redialling");
  callee_.close_link(*p.link);
  p.link.reset();
  ensure_link(p);
  p.answered = now;
}

void protocol::ensure_link(peer& p) {
  if (p.link || p.info.address.empty() || p.info.port == 0)
    return;
  p.link = next_link_++;
  callee_.open_link(*p.link, p.info.address, p.info.port, p.info.public_key);
}

void protocol::send_on(peer& p, const message& x) {
  if (p.link)
    callee_.send(*p.link, x);
}

void protocol::announce(peer& p, const std::string& destination) {
  scratch_.destination = destination;
  scratch_.cmd = command::server_connect;
  scratch_.origin = cfg_.name;
  scratch_.id = next_id();
  scratch_.ttl = 1;
  scratch_.args.assign(
    {cfg_.advertise, to_decimal(cfg_.port), std::string{protocol_tag}});
  send_on(p, scratch_);
}

bool protocol::is_known_node(const std::string& name) const {
  if (auto i = by_name_.find(name); i != by_name_.end())
    return true;
  auto id = find_name(name);
  return id != no_node && rt_.advert_of(id) != nullptr;
}

bool protocol::is_spoofed(const message& x,
                          const std::string& prev_hop) const {
  // Routing is for neighbours only; anything else speaks for itself, or
  // for a name no node of the mesh has.
  if (is_routing(x.cmd))
    return true;
  // Broadcasts are relayed between neighbours only. Whoever relays one
  // before we count it as a neighbour is refused also when we know no
  // nodes yet: right after a restart, a neighbour that has not noticed it
  // would give us broadcasts our former self delivered. Not acknowledged,
  // a copy that was due comes again once the link is up.
  if (is_broadcast(x.destination) && !prev_hop.empty()
      && x.origin != prev_hop)
    return true;
  if (!is_known_node(x.origin))
    return false;
  if (x.origin != prev_hop)
    return true;
  // A client whose routing id is the origin it writes speaks for itself:
  // a peer we dialled whose link is not answered yet, or a foreign client
  // with a name of its own. Not a node advertised elsewhere in the mesh:
  // while that node is connected here its routing id is taken, so this
  // is somebody else using its name.
  if (auto i = by_name_.find(prev_hop); i != by_name_.end() && i->second->link)
    return false;
  auto id = find_name(prev_hop);
  return id != no_node && rt_.advert_of(id) != nullptr;
}

const std::string* protocol::key_of(const std::string& name) const {
  if (auto i = cfg_.name_keys.find(name); i != cfg_.name_keys.end())
    return &i->second;
  if (auto i = by_name_.find(name);
      i != by_name_.end() && !i->second->info.public_key.empty())
    return &i->second->info.public_key;
  return nullptr;
}

size_t protocol::unconfigured_links() const {
  return static_cast<size_t>(
    std::count_if(peers_.begin(), peers_.end(), [](const auto& p) {
      return p->link && !p->info.configured;
    }));
}

bool protocol::admit_new_peer(const std::string& address, time_point now) {
  if (dial_buckets_.size() >= max_dial_buckets
      && dial_buckets_.find(address) == dial_buckets_.end()) {
    // Forget the addresses whose bucket refilled: they owe nothing.
    for (auto i = dial_buckets_.begin(); i != dial_buckets_.end();) {
      auto idle = std::chrono::duration<double>(now - i->second.at).count();
      if (i->second.tokens + idle * new_peer_rate >= new_peer_burst)
        i = dial_buckets_.erase(i);
      else
        ++i;
    }
    if (dial_buckets_.size() >= max_dial_buckets)
      return false;
  }
  auto [i, fresh] = dial_buckets_.try_emplace(address);
  auto& b = i->second;
  if (fresh) {
    b.tokens = new_peer_burst;
  } else {
    auto idle = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(new_peer_burst, b.tokens + idle * new_peer_rate);
  }
  b.at = now;
  if (b.tokens < 1)
    return false;
  b.tokens -= 1;
  return true;
}

uint64_t protocol::seq_ceiling(time_point now) const {
  using namespace std::chrono;
  auto unix_us = cfg_.unix_offset
                   ? duration_cast<microseconds>(now.time_since_epoch()
                                                 + *cfg_.unix_offset)
                   : duration_cast<microseconds>(
                       system_clock::now().time_since_epoch());
  auto us = unix_us + duration_cast<microseconds>(max_clock_lead);
  return us.count() <= 0 ? 0 : static_cast<uint64_t>(us.count()) << 10;
}

void protocol::reclaim_name(uint64_t seq, const std::string& prev_hop,
                            time_point now) {
  ++stats_.name_conflicts;
  QUILT_LOG_LIMITED(log_level::warning, logs_, now, "reclaim", cfg_.name,
                    "name conflict: an advertisement in this node's name "
                    "that it did not make (sequence number "
                      << seq << ", from " << prev_hop
                      << "): flooding a newer one");
  // Above the forged one everywhere it went: each node installs the newer.
  next_id_ = std::max(next_id_, seq + 1);
  rt_.set_own(neighbours(), next_id_++, true);
  if (now >= last_lsa_ + lsa_min_interval()) {
    flood_own_lsa(now);
  } else {
    lsa_pending_ = true;
    next_wakeup_ = std::min(next_wakeup_, last_lsa_ + lsa_min_interval());
  }
}

// -- inputs -------------------------------------------------------------------

void protocol::handle(message& x, const std::string& prev_hop,
                      time_point now, const connection_info* via) {
  // Acknowledgements go out once the input is handled: one link_ack per
  // neighbour for a whole batch.
  ++handling_;
  receive(x, prev_hop, now, via);
  if (--handling_ == 0)
    after_input(now);
}

void protocol::receive(message& x, const std::string& prev_hop,
                       time_point now, const connection_info* via) {
  // Under CURVE a name belongs to a key (SPEC §12): a connection with
  // another key that uses a node's name as its routing id is refused.
  if (via && !via->curve_key.empty() && !prev_hop.empty()) {
    if (auto key = key_of(prev_hop); key && *key != via->curve_key) {
      ++stats_.rejected_auth;
      QUILT_LOG_LIMITED(log_level::warning, logs_, now, "wrong_key",
                        cfg_.name, "refused a message from a connection "
                                   "that calls itself "
                                     << prev_hop << " with key "
                                     << via->curve_key << ", not its key "
                                     << *key);
      return;
    }
  }
  if (x.origin == cfg_.name) {
    ++stats_.dropped_loop;
    if (x.cmd == command::link_state) {
      // Acknowledged, or the neighbour that floods it back sends it again.
      if (auto hop = find_by_name(prev_hop); is_neighbour(hop))
        ack_advert(*hop, x);
      // Our own advertisements only come back with a sequence number we
      // sent; a newer one is another node using our name, or a forgery.
      // From a neighbour it may have reached every node: take the name
      // back. (From a client it reached nobody: dropped as spoofed below
      // would count it twice.)
      auto seq = x.advert ? x.advert->seq : x.id;
      if (seq > rt_.own()->seq && is_neighbour(find_by_name(prev_hop))
          && seq <= seq_ceiling(now))
        reclaim_name(seq, prev_hop, now);
    }
    if (x.cmd == command::server_connect
        && !(x.arg(0) == cfg_.advertise && x.arg(1) == to_decimal(cfg_.port))) {
      ++stats_.name_conflicts;
      QUILT_LOG_LIMITED(log_level::error, logs_, now, "own_name", cfg_.name,
                        "name conflict: " << x.arg(0) << ':' << x.arg(1)
                                          << " claims to be " << x.origin);
    }
    return;
  }
  // server_connect names the peer behind an endpoint: resolve that first so
  // that hearing from the routing id finds the merged entry.
  if (x.cmd == command::server_connect) {
    on_server_connect(x, prev_hop, now, via);
    return;
  }
  // Only a previous hop counts as hearing from a neighbour: a foreign
  // client has none, whatever origin it writes.
  peer* hop = nullptr;
  if (!prev_hop.empty() && prev_hop != cfg_.name) {
    hop = find_by_name(prev_hop);
    if (hop) {
      heard_from(*hop, now);
    } else if (peers_.size() < max_peers) {
      hop = &add_peer();
      hop->created = now;
      rename(*hop, prev_hop);
      heard_from(*hop, now);
    }
    // A connection bound to no key yet binds the key it came with once
    // its name is up on a link: the first key that brought it up owns it.
    if (hop && via && !via->curve_key.empty() && hop->info.public_key.empty()
        && is_neighbour(hop))
      hop->info.public_key = via->curve_key;
  }
  if (!is_neighbour(hop) && is_spoofed(x, prev_hop)) {
    ++stats_.dropped_spoofed;
    QUILT_LOG_LIMITED(log_level::warning, logs_, now, "spoofed", cfg_.name,
                      "dropped a " << to_string(x.cmd) << " from "
                                   << (prev_hop.empty() ? "a client"
                                                        : "client " + prev_hop)
                                   << " that is not a neighbour"
                                   << (is_routing(x.cmd)
                                         ? ""
                                         : " speaking for " + x.origin));
    return;
  }
  dispatch(x, prev_hop, now);
}

void protocol::handle_batch(message_batch& batch, const std::string& prev_hop,
                            time_point now) {
  // Once one message of the batch counted as hearing from a neighbour, the
  // others (same hop, same time) need not look the peer up again. A
  // server_connect may rename or merge peers, so it always goes through
  // handle(), and so does the next message after it.
  bool neighbour = false;
  ++handling_;
  for (auto& x : batch) {
    if (neighbour && x.cmd != command::server_connect && x.origin != cfg_.name) {
      dispatch(x, prev_hop, now);
      continue;
    }
    handle(x, prev_hop, now);
    neighbour = x.cmd != command::server_connect
                && is_neighbour(find_by_name(prev_hop));
  }
  if (--handling_ == 0)
    after_input(now);
}

void protocol::dispatch(message& x, const std::string& prev_hop,
                        time_point now) {
  x.forwarded = false; // the sender's mark, on a direct link
  if (is_routing(x.cmd)) {
    on_routing(x, prev_hop, now);
    return;
  }
  if (is_broadcast(x.destination))
    on_broadcast(x, prev_hop, now);
  else if (x.destination == cfg_.name)
    on_local(x, now);
  else
    forward(x, now);
}

void protocol::on_routing(message& x, const std::string& prev_hop,
                          time_point now) {
  // From a neighbour (others were dropped as spoofed), and link-local: a
  // routing message is never forwarded as it came.
  auto hop = find_by_name(prev_hop);
  if (!is_neighbour(hop)
      || !(x.destination == cfg_.name
           || (x.cmd == command::link_state && is_broadcast(x.destination)))) {
    ++stats_.dropped_invalid;
    return;
  }
  // It speaks link-state: what waited for that may go.
  if (!hop->flood.speaks) {
    hop->flood.speaks = true;
    pump(*hop, now);
  }
  switch (x.cmd) {
    case command::link_state:
      // Acknowledged whatever becomes of it: sending it again would not
      // change that.
      ack_advert(*hop, x);
      on_link_state(x, *hop, now);
      break;
    case command::link_ack:
      on_link_ack(x, *hop, now);
      break;
    default:
      on_link_summary(x, *hop, now);
      break;
  }
}

bool protocol::may_dial(const std::string& address,
                        const connection_info* via) const {
  if (!via || via->in_process)
    return true;
  if (cfg_.dial.allows(address, via->address))
    return true;
  for (const auto& p : peers_)
    if (p->info.configured && p->info.address == address)
      return true;
  return false;
}

void protocol::on_server_connect(message& x, const std::string& prev_hop,
                                 time_point now, const connection_info* via) {
  const std::string address{x.arg(0)};
  uint64_t port64 = 0;
  parse_decimal(x.arg(1), port64);
  auto port = static_cast<uint16_t>(port64);
  auto by_ep = find_by_endpoint(address, port);
  auto by_name = find_by_name(x.origin);
  // Under CURVE a name and an endpoint belong to the key they were first
  // known with: another authorized key may not take them over.
  if (via && !via->curve_key.empty()) {
    if (auto i = cfg_.name_keys.find(x.origin);
        i != cfg_.name_keys.end() && i->second != via->curve_key) {
      ++stats_.rejected_auth;
      QUILT_LOG_LIMITED(log_level::warning, logs_, now, "wrong_key",
                        cfg_.name, "refusing a server_connect from "
                                     << x.origin << ": authorized_keys binds "
                                     << "that name to " << i->second
                                     << ", not to " << via->curve_key);
      reply_error(x, error_rejected, "wrong_key");
      return;
    }
    for (auto* known : {by_ep, by_name}) {
      if (known && !known->info.public_key.empty()
          && known->info.public_key != via->curve_key) {
        ++stats_.rejected_auth;
        QUILT_LOG_LIMITED(log_level::warning, logs_, now, "wrong_key",
                          cfg_.name,
                          "refusing a server_connect from "
                            << x.origin << " at " << address << ':' << port
                            << ": its connection's key " << via->curve_key
                            << " is not the key " << known->info.public_key
                            << " that "
                            << (known->info.name.empty() ? address
                                                         : known->info.name)
                            << " is known by");
        reply_error(x, error_rejected, "wrong_key");
        return;
      }
    }
  }
  // Only a node speaks for itself: a client may not announce (and so move
  // or rename) a node of the mesh. A node's own DEALER carries its name.
  if (prev_hop != x.origin && is_known_node(x.origin)) {
    ++stats_.dropped_spoofed;
    QUILT_LOG_LIMITED(log_level::warning, logs_, now, "spoofed", cfg_.name,
                      "dropped a server_connect for " << x.origin << " from "
                        << (prev_hop.empty() ? "a client"
                                             : "client " + prev_hop));
    return;
  }
  if (!may_dial(address, via)) {
    ++stats_.rejected_dial;
    QUILT_LOG_LIMITED(log_level::warning, logs_, now, "dial_not_allowed",
                      cfg_.name, "not dialling "
                                   << address << ':' << x.arg(1) << " for "
                                   << x.origin << " (connection from "
                                   << (via->address.empty() ? "?"
                                                            : via->address)
                                   << "): not allowed by security.dial_allow");
    reply_error(x, error_rejected, "dial_not_allowed");
    return;
  }
  if (!by_ep && !(by_name && by_name->link)) {
    // A new link: bounded in number, and in rate per source address.
    const char* refused = nullptr;
    if (unconfigured_links() >= cfg_.max_peers)
      refused = "peer_limit";
    else if (via && !via->in_process && !via->address.empty()
             && !admit_new_peer(via->address, now))
      refused = "rate_limited";
    if (refused) {
      ++stats_.rejected_dial;
      QUILT_LOG_LIMITED(log_level::warning, logs_, now, refused, cfg_.name,
                        "not dialling " << address << ':' << port << " for "
                                        << x.origin << ": " << refused
                                        << " (limits.max_peers = "
                                        << cfg_.max_peers << ")");
      reply_error(x, error_rejected, refused);
      return;
    }
  }
  ++stats_.delivered;
  callee_.delivered(x);
  if (address == cfg_.advertise && port == cfg_.port) {
    ++stats_.name_conflicts;
    QUILT_LOG_LIMITED(log_level::error, logs_, now, "own_address", cfg_.name,
                      x.origin << " claims this node's address " << address
                               << ':' << port);
    return;
  }
  if (by_ep && by_name && by_ep != by_name) {
    // The name was known without this endpoint (incoming-only, or it moved):
    // the endpoint's entry wins, it may be a configured peer.
    remove_peer(by_name);
    by_name = nullptr;
  }
  peer* p = by_ep ? by_ep : by_name;
  if (!p) {
    if (peers_.size() >= max_peers) {
      QUILT_LOG_LIMITED(log_level::warning, logs_, now, "peer_table",
                        cfg_.name, "peer table full, ignoring " << x.origin);
      return;
    }
    p = &add_peer();
    p->created = now;
  }
  bool renamed = !p->info.name.empty() && p->info.name != x.origin;
  rename(*p, x.origin);
  bool had_up_link = p->link && p->info.state == peer_state::up;
  // Under CURVE the link back uses the key this connection proved it holds
  // (a known key is the same one: others were refused above).
  if (via && !via->curve_key.empty())
    p->info.public_key = via->curve_key;
  if (p->info.address != address || p->info.port != port) {
    if (p->link) {
      callee_.close_link(*p->link);
      p->link.reset();
      had_up_link = false;
    }
    p->info.address = address;
    p->info.port = port;
  }
  bool was_up = p->info.state == peer_state::up;
  ensure_link(*p);
  // Answer first: the peer must learn who we are before our link state and
  // database arrive, or it files them under a nameless second entry.
  if (is_broadcast(x.destination) || !had_up_link)
    announce(*p, x.origin);
  // Heard from only on its own connection (its name as routing id), and
  // up only once our link to it is answered: a client's server_connect
  // alone makes nobody a neighbour (SPEC §12).
  if (prev_hop == x.origin)
    heard_from(*p, now);
  // set_state tells the mesh about a peer that comes up, and gives it our
  // database. A peer that was up already needs the same when it was up
  // without a link (an incoming-only peer, e.g. our former self's neighbour
  // still sending heartbeats after we restarted: it becomes a neighbour only
  // now), or when it dials us afresh over an up link (a restarted node we
  // did not notice was gone, perhaps under a new name: it has forgotten the
  // database, and our advertisement may name it wrongly).
  // A rename or a merge changes the neighbours without any peer changing
  // state: advertise them (a no-op when they did not change). A new name
  // behind an up link is a restarted node too.
  update_own_lsa(now, false);
  if (was_up && (!had_up_link || renamed || is_broadcast(x.destination))
      && p->link && p->info.state == peer_state::up)
    start_summary(*p, now);
}

void protocol::on_local(message& x, time_point now) {
  if (x.cmd == command::msg && !confirm_msg(x, now))
    return;
  ++stats_.delivered;
  callee_.delivered(x);
  switch (x.cmd) {
    case command::ping: {
      message pong;
      pong.destination = x.origin;
      pong.cmd = command::pong;
      pong.origin = cfg_.name;
      pong.id = next_id();
      pong.ttl = cfg_.default_ttl;
      pong.args.push_back(to_decimal(x.id));
      if (x.arg_count() > 0)
        pong.args.emplace_back(x.arg(0));
      originate(pong, now);
      break;
    }
    case command::pong: {
      uint64_t ping_id = 0;
      parse_decimal(x.arg(0), ping_id);
      if (auto i = pending_pings_.find(ping_id); i != pending_pings_.end()) {
        auto rtt = micros(now - i->second.sent);
        if (!i->second.broadcast)
          pending_pings_.erase(i);
        callee_.pong_received(x.origin, ping_id, rtt);
      } else if (auto p = find_by_name(x.origin); p) {
        p->answered = now;
        for (auto& hb : p->heartbeats)
          if (hb.id == ping_id && hb.id != 0) {
            p->info.rtt_us = micros(now - hb.at);
            hb.id = 0;
          }
      }
      break;
    }
    case command::msg: {
      inbox_entry e;
      e.from = x.origin;
      e.to = is_broadcast(x.destination) ? "all" : x.destination;
      e.id = x.id;
      e.text = x.arg(0);
      e.received_ms = unix_ms(cfg_, now);
      inbox_.push_back(std::move(e));
      if (inbox_.size() > cfg_.inbox_limit)
        inbox_.pop_front();
      break;
    }
    case command::error:
      callee_.error_received(x);
      break;
    case command::msg_ack:
      on_msg_ack(x, now);
      break;
    case command::server_connect:
    case command::link_state:
    case command::link_ack:
    case command::link_summary:
      break; // handled before dispatch
  }
}

void protocol::on_broadcast(message& x, const std::string& prev_hop,
                            time_point now) {
  auto hop = find_by_name(prev_hop);
  if (!is_neighbour(hop))
    hop = nullptr;
  // A neighbour's copy is acknowledged, a duplicate too: it stops sending
  // it again (broadcasts.cpp).
  if (hop && hop->flood.speaks) {
    if (!hop->flood.has_acks())
      ack_dirty_.push_back(hop);
    hop->flood.broadcast_acks.emplace_back(x.origin, x.id);
  }
  if (!dedupe_.insert(x.origin, x.id, now)) {
    ++stats_.dropped_duplicate;
    if (hop)
      broadcast_held(*hop, x.origin, x.id);
    return;
  }
  // Forward first: delivering may move the payload out of `x`. Kept for
  // repairs while it may still go on (ttl > 1).
  broadcast_store::entry* kept = nullptr;
  if (x.ttl > 1 && cfg_.delivery_timeout.count() > 0) {
    kept = &recent_.add(x, now);
    if (hop)
      kept->have.push_back(prev_hop);
  }
  if (x.ttl > 1) {
    x.ttl -= 1;
    x.forwarded = true;
    auto send_to = [&](peer& p) {
      if (callee_.send(*p.link, x)) {
        ++stats_.forwarded;
        ++stats_.broadcast_tx;
      }
      if (kept)
        track_broadcast(p, *kept, now);
    };
    if (routes_settled(now) && rt_.lookup(x.origin) != nullptr) {
      // Reverse-path forwarding: only to our children in the origin's
      // shortest-path tree, which every node computes alike.
      for (auto& name : rt_.tree_children(x.origin)) {
        auto p = find_by_name(name);
        if (p && p->link && p->info.state == peer_state::up
            && name != prev_hop)
          send_to(*p);
      }
    } else {
      for (auto& p : peers_)
        if (p->link && p->info.state == peer_state::up
            && p->info.name != prev_hop && p->info.name != x.origin)
          send_to(*p);
    }
    x.ttl += 1;
    x.forwarded = false;
  }
  on_local(x, now);
}

void protocol::forward(message& x, time_point) {
  auto hop = next_hop(x.destination);
  if (!hop) {
    ++stats_.dropped_unroutable;
    reply_error(x, error_unreachable);
    return;
  }
  if (x.ttl <= 1) {
    ++stats_.dropped_ttl;
    reply_error(x, error_ttl_expired);
    return;
  }
  x.ttl -= 1;
  x.forwarded = true;
  if (callee_.send(*hop, std::move(x))) // the last use of x: no copy
    ++stats_.forwarded;
}

void protocol::reply_error(const message& about, std::string_view code,
                           std::string_view detail) {
  if (about.cmd == command::error)
    return; // errors about errors are never sent
  message e;
  e.destination = about.origin;
  e.cmd = command::error;
  e.origin = cfg_.name;
  e.id = next_id();
  e.ttl = cfg_.default_ttl;
  e.args = {std::string{code}, to_decimal(about.id)};
  if (!detail.empty())
    e.args.emplace_back(detail);
  // An error without a route is not counted again: its cause already was.
  if (auto hop = next_hop(e.destination))
    callee_.send(*hop, e);
}

bool protocol::originate(message& x, time_point now) {
  if (x.destination == cfg_.name) {
    on_local(x, now);
    return true;
  }
  if (is_broadcast(x.destination)) {
    dedupe_.insert(x.origin, x.id, now);
    // Kept as if received with one more hop to go, so that a repair sends
    // what a neighbour would have got.
    broadcast_store::entry* kept = nullptr;
    if (x.ttl > 0 && cfg_.delivery_timeout.count() > 0) {
      auto ttl = x.ttl;
      x.ttl = ttl == 255 ? ttl : ttl + 1;
      kept = &recent_.add(x, now);
      x.ttl = ttl;
    }
    for (auto& p : peers_) {
      if (p->link && p->info.state == peer_state::up) {
        if (callee_.send(*p->link, x))
          ++stats_.broadcast_tx;
        if (kept)
          track_broadcast(*p, *kept, now);
      }
    }
    return true;
  }
  auto hop = next_hop(x.destination);
  if (!hop) {
    ++stats_.dropped_unroutable;
    return false;
  }
  callee_.send(*hop, x);
  return true;
}

std::optional<link_id>
protocol::next_hop(const std::string& destination) {
  auto up_link = [this](const std::string& name) -> std::optional<link_id> {
    auto i = by_name_.find(name);
    if (i == by_name_.end() || !i->second->link
        || i->second->info.state != peer_state::up)
      return std::nullopt;
    return i->second->link;
  };
  // A neighbour is reached directly, whatever the database says.
  if (auto direct = up_link(destination))
    return direct;
  // By id: no route entry (two strings) built per forwarded message.
  auto hop = rt_.next_hop(find_name(destination));
  if (hop == no_node)
    return std::nullopt;
  return up_link(name_of(hop));
}

// -- timers -------------------------------------------------------------------

void protocol::tick(time_point now) {
  auto heartbeat = std::chrono::milliseconds(cfg_.heartbeat_ms);
  auto dead_after = std::chrono::milliseconds(cfg_.dead_after_ms);
  check_local_health(now);
  // Dead-neighbour detection first, so a silent peer gets no heartbeat.
  std::vector<peer*> gone;
  for (auto& p : peers_) {
    if (p->info.state == peer_state::up && now >= deadline(*p)) {
      set_state(*p, peer_state::down);
      if (!p->link && !p->info.configured)
        gone.push_back(p.get());
    } else if (p->info.state != peer_state::up && p->link) {
      // Heard from before its link was answered, or a handshake failed.
      check_link(*p, now);
      // A peer nobody configured that never came up (a client's
      // server_connect for an address nobody answers at) is forgotten.
      if (p->info.state != peer_state::up && !p->was_up
          && !p->info.configured && now - p->created >= dead_after)
        gone.push_back(p.get());
    }
  }
  for (auto p : gone)
    remove_peer(p);
  for (auto& p : peers_)
    if (cfg_.redial_unanswered && is_neighbour(p.get())
        && now - p->answered >= dead_after
        && callee_.status_of(*p->link) == link_status::connected)
      redial(*p, now);
  if (rt_.expire(now, 3 * cfg_.lsa_refresh))
    QUILT_DEBUG(cfg_.name, "forgot stale link-state advertisements");
  if (last_lsa_ == time_point{}) {
    // The first advertisement waits for the first neighbours (no empty
    // one goes out at start), the first refresh a full period. Nodes that
    // start together spread their first floods over one more interval
    // (by their first id, which a simulation derives from its seed), so
    // thousands of floods are not all on their way at the same moment; in
    // four waves, so that each wave still travels in large batches.
    auto spread = lsa_min_interval().count() / 4;
    auto h = first_id_ + 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    last_lsa_ = now + std::chrono::milliseconds(static_cast<int64_t>(h % 4)
                                                * spread);
    next_lsa_refresh_ = now + cfg_.lsa_refresh;
  }
  if (now >= next_lsa_refresh_)
    update_own_lsa(now, true);
  else if (lsa_pending_ && now >= last_lsa_ + lsa_min_interval())
    flood_own_lsa(now);
  if (rt_.version() != rt_version_seen_) {
    rt_version_seen_ = rt_.version();
    rt_changed_at_ = now;
  }
  for (auto& p : peers_)
    if (is_neighbour(p.get()))
      retransmit(*p, now);
  repair_broadcasts(now);
  if (now >= next_heartbeat_) {
    next_heartbeat_ = now + heartbeat;
    for (auto& p : peers_) {
      if (!p->link)
        continue;
      if (p->info.state == peer_state::up) {
        send_heartbeat(*p, now);
      } else if (now >= p->next_announce) {
        // Not hearing from it: it may have restarted and forgotten us.
        announce(*p, "*");
        p->next_announce = now + heartbeat;
      }
    }
    for (auto i = pending_pings_.begin(); i != pending_pings_.end();) {
      if (now - i->second.sent > ping_memory)
        i = pending_pings_.erase(i);
      else
        ++i;
    }
  }
  probe_suspects(now);
  retransmit_due(now);
  recompute_wakeup(now);
}

void protocol::recompute_wakeup(time_point now) {
  next_wakeup_ = std::min(next_heartbeat_, next_lsa_refresh_);
  if (lsa_pending_)
    next_wakeup_ = std::min(next_wakeup_, last_lsa_ + lsa_min_interval());
  for (auto& p : peers_) {
    if (p->info.state != peer_state::up)
      continue;
    next_wakeup_ = std::min({next_wakeup_, deadline(*p), p->flood.next_due});
    if (!p->link)
      continue; // nothing to probe it over
    auto suspect_at = p->last_seen + suspect_after();
    next_wakeup_ = std::min(next_wakeup_, now < suspect_at
                                            ? suspect_at
                                            : std::max(p->next_probe, now));
  }
  next_wakeup_ = std::min(next_wakeup_, next_retransmission());
}

// -- failure detection --------------------------------------------------------

clock::duration protocol::suspect_after() const {
  // Two heartbeats missed in a row (a neighbour pings every heartbeat and
  // answers ours) is rare at the loss SPEC §14 allows (0.2^4 for both
  // directions' pings and pongs); half of dead_after_ms leaves room for
  // probes when dead_after_ms is short.
  return std::min(2 * std::chrono::milliseconds(cfg_.heartbeat_ms),
                  std::chrono::milliseconds(cfg_.dead_after_ms) / 2);
}

clock::duration protocol::probe_interval() const {
  // Four probes a heartbeat: a silence of dead_after_ms then needs a dozen
  // exchanges lost in a row rather than five pings. At most 16 probes per
  // silence, however long dead_after_ms is.
  auto window = std::chrono::milliseconds(cfg_.dead_after_ms) - suspect_after();
  return std::max({clock::duration{std::chrono::milliseconds(cfg_.heartbeat_ms)}
                     / 4,
                   window / 16, clock::duration{std::chrono::milliseconds(1)}});
}

clock::duration protocol::stall_after() const {
  return 2 * std::chrono::milliseconds(cfg_.heartbeat_ms);
}

clock::duration protocol::resume_grace() const {
  // Long enough for what waited while we did not run to be read, and for
  // eight probes; never longer than dead_after_ms, so a neighbour that
  // died meanwhile is down at most dead_after_ms after the resume.
  return std::min(2 * std::chrono::milliseconds(cfg_.heartbeat_ms),
                  std::chrono::milliseconds(cfg_.dead_after_ms));
}

time_point protocol::deadline(const peer& p) const {
  auto silent = p.last_seen + std::chrono::milliseconds(cfg_.dead_after_ms);
  return p.grace_from ? std::max(silent, *p.grace_from + resume_grace())
                      : silent;
}

void protocol::check_local_health(time_point now) {
  // The owner ticks when next_wakeup() is due; a tick much later than that
  // means this node did not run (stopped, swapped out, its machine
  // overloaded), not that its neighbours fell silent: what they sent may
  // still wait to be read. As Lifeguard's local health: judge them after
  // they had a chance to be heard.
  bool stalled = ticked_ && now > next_wakeup_ + stall_after();
  ticked_ = true;
  if (!stalled)
    return;
  QUILT_LOG_LIMITED(
    log_level::info, logs_, now, "stalled", cfg_.name,
    "this node did not run for "
      << std::chrono::duration_cast<std::chrono::milliseconds>(now
                                                              - next_wakeup_)
           .count()
      << " ms: its neighbours are kept for another "
      << std::chrono::duration_cast<std::chrono::milliseconds>(resume_grace())
           .count()
      << " ms");
  for (auto& p : peers_) {
    // One grace per silence: a node stalled again and again still
    // declares dead a neighbour it never hears from.
    if (p->info.state == peer_state::up
        && (!p->grace_from || p->last_seen >= *p->grace_from))
      p->grace_from = now;
  }
}

void protocol::probe_suspects(time_point now) {
  for (auto& p : peers_) {
    if (!p->link || p->info.state != peer_state::up
        || now - p->last_seen < suspect_after() || now < p->next_probe)
      continue;
    send_heartbeat(*p, now);
  }
}

void protocol::send_heartbeat(peer& p, time_point now) {
  scratch_.destination = p.info.name;
  scratch_.cmd = command::ping;
  scratch_.origin = cfg_.name;
  scratch_.id = next_id();
  scratch_.ttl = 1;
  scratch_.args.clear();
  p.heartbeats[p.next_heartbeat] = {scratch_.id, now};
  p.next_heartbeat = static_cast<uint8_t>((p.next_heartbeat + 1)
                                          % p.heartbeats.size());
  // A heartbeat counts as a probe: the next one is due an interval later.
  p.next_probe = now + probe_interval();
  send_on(p, scratch_);
}

// -- routing ------------------------------------------------------------------

std::chrono::milliseconds protocol::lsa_min_interval() const {
  return std::min(std::chrono::milliseconds(cfg_.heartbeat_ms / 4),
                  std::chrono::milliseconds(250));
}

void protocol::update_own_lsa(time_point now, bool force) {
  if (!rt_.set_own(neighbours(), next_id_, force) && !force)
    return;
  ++next_id_;
  // Neighbours that come and go together (a start, a restart, a partition)
  // make one advertisement, not one each: as OSPF's MinLSInterval.
  if (!force && now < last_lsa_ + lsa_min_interval()) {
    lsa_pending_ = true;
    next_wakeup_ = std::min(next_wakeup_, last_lsa_ + lsa_min_interval());
    return;
  }
  flood_own_lsa(now);
}

void protocol::flood_own_lsa(time_point now) {
  lsa_pending_ = false;
  last_lsa_ = now;
  published_ = rt_.own();
  next_lsa_refresh_ = now + cfg_.lsa_refresh;
  owe_all(rt_.self(), {}, now);
}

void protocol::stale_copy(peer& hop, node_id origin, uint64_t seq,
                          time_point now) {
  // A copy of what we hold acknowledges ours. An older one shows that the
  // neighbour lacks ours (a node that restarted with ids behind its former
  // self's, after it took its name back, say): it is owed the one held.
  acknowledged(hop, origin, seq);
  if (auto held = held_advert(origin); held && held->seq > seq) {
    owe(hop, origin, now);
    pump(hop, now);
  }
}

void protocol::on_link_state(message& x, peer& hop, time_point now) {
  const auto& prev_hop = hop.info.name;
  // Between nodes of one process the advertisement itself travels; from
  // the wire it is parsed (and its names interned) once, here.
  // Most copies of a flood are ones we have: tell them apart before any
  // reference count or parsing is paid for.
  auto seq = x.advert ? x.advert->seq : x.id;
  if (seq > seq_ceiling(now)) {
    // Made up (or a clock far ahead): installed, it could never be
    // superseded by the origin's real advertisements.
    ++stats_.dropped_invalid;
    QUILT_LOG_LIMITED(log_level::warning, logs_, now, "seq_ahead", cfg_.name,
                      "dropped a link_state of "
                        << x.origin << " from " << prev_hop
                        << ": its sequence number " << seq
                        << " is ahead of this node's clock by more than "
                           "10 minutes");
    return;
  }
  advert_ptr ad;
  // What the neighbour's advertisements make this node hold counts against
  // its budgets (routing.hpp): names it introduces, entries it lists.
  node_id via = no_node;
  if (x.advert) {
    if (!rt_.is_newer(x.advert->origin, x.advert->seq)) {
      ++stats_.dropped_duplicate; // already known, or older
      stale_copy(hop, x.advert->origin, seq, now);
      return;
    }
    ad = std::move(x.advert);
  } else {
    // Found, not interned: a copy we have costs no name.
    if (auto known = find_name(x.origin);
        known != no_node && !rt_.is_newer(known, x.id)) {
      ++stats_.dropped_duplicate;
      stale_copy(hop, known, seq, now);
      return;
    }
  }
  via = rt_.neighbour(prev_hop);
  if (via == no_node) {
    // No neighbour's budget to count it against (no named neighbour sent
    // it, or the name table is full): unbounded otherwise, so refused.
    ++stats_.dropped_overload;
    return;
  }
  if (!ad) {
    auto origin = intern_name(x.origin, rt_.budget(via));
    if (!origin) {
      // A new origin the neighbour's name budget (or the process's name
      // table) has no room for: nothing to install the advertisement under.
      ++stats_.dropped_overload;
      QUILT_LOG_LIMITED(log_level::warning, logs_, now, "name_budget",
                        cfg_.name, "dropped a link_state from "
                                     << x.origin << " via " << prev_hop
                                     << ": no room for a new origin name "
                                        "(the names "
                                     << prev_hop
                                     << "'s advertisements may introduce are "
                                        "capped)");
      return;
    }
    ad = parse_advert(origin.id(), x.id, x.arg(0), rt_.budget(via));
    if (!ad) {
      ++stats_.dropped_invalid;
      QUILT_LOG_LIMITED(log_level::warning, logs_, now, "advert_size",
                        cfg_.name, "dropped a link_state from "
                                     << x.origin
                                     << ": more than 4096 neighbours");
      return;
    }
  }
  // May install (and flood on) a copy without the entries that do not fit.
  if (!rt_.install(ad, via, now)) {
    // Our own come back; or, newer than what we hold, refused because not
    // even its origin fits in the neighbour's entry budget.
    ++(ad->origin == rt_.self() ? stats_.dropped_duplicate
                                : stats_.dropped_overload);
    return;
  }
  ++stats_.delivered;
  auto origin = ad->origin;
  acknowledged(hop, origin, seq); // it has this one: owed no older
  // A neighbour that we count as up but whose fresh advertisement leaves us
  // out has lost us: typically it restarted faster than dead_after_ms and
  // still hears our heartbeats, but has no link back to answer them. Tell it
  // who we are now rather than wait until we declare it dead.
  if (auto p = find_by_name(x.origin);
      p && p->link && p->info.state == peer_state::up
      && !ad->lists(rt_.self()))
    announce(*p, "*");
  // On to every up neighbour but the one it came from, acknowledged
  // (flooding.cpp). Its origin gets it too: an advertisement in a node's
  // name that the node did not make must reach it, so that it can take its
  // name back. Its own come back at most once per neighbour.
  owe_all(origin, prev_hop, now);
  if (rt_.version() != rt_version_seen_) {
    rt_version_seen_ = rt_.version();
    rt_changed_at_ = now;
  }
}

bool protocol::routes_settled(time_point now) const {
  return rt_.version() == rt_version_seen_
         && now - rt_changed_at_
              >= 2 * std::chrono::milliseconds(cfg_.heartbeat_ms);
}

// -- user requests ------------------------------------------------------------

void protocol::watch_routes(bool on) {
  watching_routes_ = on;
  watched_routes_.clear();
  if (on) {
    watched_routes_ = rt_.routes();
    watched_version_ = rt_.version();
  }
}

void protocol::report_route_changes() {
  if (!watching_routes_ || rt_.version() == watched_version_)
    return;
  watched_version_ = rt_.version();
  auto now = rt_.routes();
  for (auto& change : diff_routes(watched_routes_, now))
    callee_.route_changed(change);
  watched_routes_ = std::move(now);
}

bool protocol::connect(const std::string& address, uint16_t port,
                       bool configured, time_point now,
                       const std::string& public_key) {
  if (address == cfg_.advertise && port == cfg_.port)
    return false;
  auto p = find_by_endpoint(address, port);
  if (!p) {
    p = &add_peer();
    p->info.address = address;
    p->info.port = port;
  }
  if (!public_key.empty())
    p->info.public_key = public_key;
  p->info.configured = p->info.configured || configured;
  ensure_link(*p);
  announce(*p, "*");
  p->next_announce = now + std::chrono::milliseconds(cfg_.heartbeat_ms);
  return true;
}

std::optional<uint64_t> protocol::ping(const std::string& target, uint8_t ttl,
                                       time_point now) {
  message x;
  x.destination = target;
  x.cmd = command::ping;
  x.origin = cfg_.name;
  x.id = next_id();
  x.ttl = ttl;
  auto id = x.id;
  pending_pings_.emplace(id, pending_ping{now, is_broadcast(target)});
  if (!originate(x, now)) {
    pending_pings_.erase(id);
    return std::nullopt;
  }
  return id;
}

std::optional<uint64_t> protocol::send_text(const std::string& destination,
                                            const std::string& text,
                                            time_point now) {
  message x;
  x.destination = destination;
  x.cmd = command::msg;
  x.origin = cfg_.name;
  x.id = next_id();
  x.ttl = cfg_.default_ttl;
  x.args.push_back(text);
  auto id = x.id;
  if (!originate(x, now))
    return std::nullopt;
  if (destination == cfg_.name)
    callee_.delivery_confirmed(destination, id, 0); // in the inbox already
  else if (!is_broadcast(destination))
    track_unconfirmed(x, now);
  return id;
}

// -- queries ------------------------------------------------------------------

std::vector<peer_info> protocol::peers(time_point now) const {
  std::vector<peer_info> result;
  result.reserve(peers_.size());
  for (auto& p : peers_) {
    result.push_back(p->info);
    if (p->heard)
      result.back().last_seen_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now - p->last_seen)
          .count());
  }
  return result;
}

size_t protocol::peers_up() const {
  return static_cast<size_t>(
    std::count_if(peers_.begin(), peers_.end(), [](const auto& p) {
      return p->info.state == peer_state::up;
    }));
}

std::vector<std::string> protocol::neighbours() const {
  std::vector<std::string> result;
  for (auto& p : peers_)
    if (p->link && p->info.state == peer_state::up)
      result.push_back(p->info.name);
  return result;
}

std::vector<inbox_entry> protocol::inbox(size_t n) const {
  n = std::min(n, inbox_.size());
  return {inbox_.end() - static_cast<std::ptrdiff_t>(n), inbox_.end()};
}

// -- delivery confirmation ------------------------------------------------------

bool protocol::advertises(const std::string& name) const {
  auto id = find_name(name);
  return id != no_node && rt_.advert_of(id) != nullptr;
}

clock::duration protocol::retransmit_gap(uint32_t copies) const {
  auto cap = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                          cfg_.delivery_timeout / gap_divisor),
                        std::chrono::milliseconds(first_gap), max_gap);
  auto gap = std::chrono::milliseconds(first_gap);
  for (uint32_t i = 1; i < copies && gap < cap; ++i)
    gap *= 2;
  return std::min(gap, cap);
}

void protocol::track_unconfirmed(const message& x, time_point now) {
  if (cfg_.delivery_timeout.count() <= 0)
    return; // confirmation off: sent once, as before SPEC §14
  auto bytes = x.arg(0).size();
  while (!unconfirmed_.empty()
         && (unconfirmed_.size() >= cfg_.max_unconfirmed
             || unconfirmed_bytes_ + bytes > cfg_.max_unconfirmed_bytes))
    give_up_oldest();
  unconfirmed_msg u;
  u.msg = x;
  u.msg.forwarded = false;
  u.first = now;
  u.copies = 1; // originate() sent the first
  u.next = now + retransmit_gap(u.copies);
  u.deadline = now + cfg_.delivery_timeout;
  unconfirmed_bytes_ += bytes;
  unconfirmed_.emplace(x.id, std::move(u));
  next_wakeup_ = std::min(next_wakeup_, now + retransmit_gap(1));
}

void protocol::give_up_oldest() {
  auto i = unconfirmed_.begin();
  auto dest = i->second.msg.destination;
  auto id = i->first;
  unconfirmed_bytes_ -= i->second.msg.arg(0).size();
  unconfirmed_.erase(i);
  ++stats_.not_delivered;
  QUILT_DEBUG(cfg_.name, "gave up on msg " << id << " to " << dest);
  callee_.not_delivered(dest, id);
}

bool protocol::confirm_msg(const message& x, time_point now) {
  // A broadcast is deduplicated on its way; this node's own is in its inbox.
  if (is_broadcast(x.destination) || x.origin == cfg_.name)
    return true;
  bool fresh = unicast_seen_.insert(x.origin, x.id, now);
  if (!fresh)
    ++stats_.dropped_duplicate;
  // Every copy is confirmed: the origin sends again because an earlier
  // confirmation was lost.
  message ack;
  ack.destination = x.origin;
  ack.cmd = command::msg_ack;
  ack.origin = cfg_.name;
  ack.id = next_id();
  ack.ttl = cfg_.default_ttl;
  ack.args.push_back(to_decimal(x.id));
  if (auto hop = next_hop(ack.destination))
    callee_.send(*hop, ack);
  else if (advertises(ack.destination))
    ++stats_.dropped_unroutable; // a node's: its next copy is confirmed
  // else a client with no route back: there is nobody to confirm to.
  return fresh;
}

void protocol::on_msg_ack(const message& x, time_point now) {
  uint64_t id = 0;
  parse_decimal(x.arg(0), id);
  auto i = unconfirmed_.find(id);
  // Only the destination confirms; a late copy of an ack finds nothing.
  if (i == unconfirmed_.end() || i->second.msg.destination != x.origin)
    return;
  auto rtt = micros(now - i->second.first);
  unconfirmed_bytes_ -= i->second.msg.arg(0).size();
  unconfirmed_.erase(i);
  callee_.delivery_confirmed(x.origin, id, rtt);
}

void protocol::retransmit_due(time_point now) {
  for (auto i = unconfirmed_.begin(); i != unconfirmed_.end();) {
    auto& u = i->second;
    if (now >= u.deadline) {
      auto dest = u.msg.destination;
      auto id = i->first;
      unconfirmed_bytes_ -= u.msg.arg(0).size();
      i = unconfirmed_.erase(i);
      ++stats_.not_delivered;
      QUILT_LOG_LIMITED(log_level::info, logs_, now, "not_delivered",
                        cfg_.name, "msg " << id << " to " << dest
                                          << " not confirmed within "
                                          << cfg_.delivery_timeout.count()
                                          << " ms: given up");
      callee_.not_delivered(dest, id);
      continue;
    }
    // A foreign leaf never confirms: a few copies, then it waits out its
    // deadline (a Quilt node gets copies until then).
    if (now >= u.next
        && (u.copies < leaf_copies || advertises(u.msg.destination))) {
      // Without a route now (a neighbour just lost), the next copy may
      // find one.
      if (auto hop = next_hop(u.msg.destination);
          hop && callee_.send(*hop, u.msg)) {
        ++u.copies;
        ++stats_.retransmitted;
      }
      u.next = now + retransmit_gap(u.copies);
    }
    ++i;
  }
}

time_point protocol::next_retransmission() const {
  auto at = time_point::max();
  for (auto& [id, u] : unconfirmed_) {
    at = std::min(at, u.deadline);
    if (u.copies < leaf_copies || advertises(u.msg.destination))
      at = std::min(at, u.next);
  }
  return at;
}

} // namespace quilt

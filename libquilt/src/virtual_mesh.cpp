#include "quilt/virtual_mesh.hpp"

#include <algorithm>
#include <deque>
#include <stdexcept>

#include "quilt/traceroute.hpp"
#include "quilt/codec.hpp"
#include "quilt/name.hpp"

namespace quilt {

// -- nodes --------------------------------------------------------------------

/// Performs one protocol instance's outputs inside the mesh.
class virtual_mesh::callee : public protocol_callee {
public:
  callee(virtual_mesh& mesh, node_state& node) : mesh_(mesh), node_(node) {
  }

  void open_link(link_id id, const std::string& address,
                 uint16_t port) override {
    links_[id] = {address, port};
  }

  void close_link(link_id id) override {
    links_.erase(id);
  }

  void send(link_id id, const message& x) override {
    auto i = links_.find(id);
    if (i != links_.end())
      mesh_.transmit(node_, i->second.first, i->second.second, x);
  }

  void delivered(const message& x) override;

  void pong_received(const std::string& from, uint64_t ping_id,
                     uint64_t rtt_us) override {
    mesh_.on_pong(node_, ping_id, from, rtt_us);
  }

  void error_received(const message& x) override {
    mesh_.on_error(node_, x);
  }

  void peer_changed(const peer_info&) override {
    // routing changes are noticed through the routing table's version
  }

private:
  virtual_mesh& mesh_;
  node_state& node_;
  std::unordered_map<link_id, std::pair<std::string, uint16_t>> links_;
};

struct virtual_mesh::node_state {
  size_t index = 0;
  protocol_config cfg;
  std::vector<size_t> dials;  // connect(this, x): re-dialled on restart
  uint64_t generation = 0;    // instances started so far
  bool alive = false;
  std::unique_ptr<callee> cb; // outlives proto: declared first
  std::unique_ptr<protocol> proto;
  time_point armed = time_point::max(); // earliest pending tick
  uint64_t rt_version = 0;
  node_stats link_stats; // what a node's links and processors count
  std::vector<mesh_delivery> deliveries;
  std::map<std::pair<std::string, uint64_t>, size_t> delivery_counts;
};

void virtual_mesh::callee::delivered(const message& x) {
  if (x.cmd == command::server_connect || x.cmd == command::link_state)
    return;
  if (x.cmd != command::msg && !is_broadcast(x.destination))
    return;
  auto& count = node_.delivery_counts[{x.origin, x.id}];
  if (++count > 1)
    ++mesh_.duplicates_;
  if (mesh_.opts_.record_deliveries) {
    mesh_delivery d;
    d.origin = x.origin;
    d.destination = x.destination;
    d.cmd = x.cmd;
    d.id = x.id;
    if (x.cmd == command::msg)
      d.text = x.args[0];
    node_.deliveries.push_back(std::move(d));
  }
}

// -- construction -------------------------------------------------------------

virtual_mesh::virtual_mesh() : virtual_mesh(options{}) {
}

virtual_mesh::virtual_mesh(options opts)
  : opts_(std::move(opts)),
    // Far from a default-constructed time_point, which the protocol uses
    // for "never".
    start_(time_point{} + std::chrono::hours(1)),
    now_(start_) {
}

virtual_mesh::~virtual_mesh() {
  // Protocols before their callees (node_state's member order does it).
}

size_t virtual_mesh::add_node(const std::string& name, protocol_config cfg) {
  auto idx = nodes_.size();
  if (!name.empty())
    cfg.name = name;
  if (cfg.advertise.empty())
    cfg.advertise = opts_.advertise;
  if (cfg.port == 0) {
    auto port = size_t{opts_.base_port} + idx;
    if (opts_.base_port == 0 || port > 65535)
      throw std::invalid_argument("no port left for node " + cfg.name);
    cfg.port = static_cast<uint16_t>(port);
  }
  if (cfg.name.empty())
    cfg.name = cfg.advertise + ":" + std::to_string(cfg.port);
  if (!is_valid_name(cfg.name))
    throw std::invalid_argument("invalid node name: " + cfg.name);
  if (by_name_.count(cfg.name) > 0)
    throw std::invalid_argument("node name taken: " + cfg.name);
  auto ep = std::make_pair(cfg.advertise, cfg.port);
  if (by_endpoint_.count(ep) > 0)
    throw std::invalid_argument("endpoint taken: " + cfg.advertise + ":"
                                + std::to_string(cfg.port));
  auto n = std::make_unique<node_state>();
  n->index = idx;
  n->cfg = std::move(cfg);
  by_name_.emplace(n->cfg.name, idx);
  by_endpoint_.emplace(std::move(ep), idx);
  nodes_.push_back(std::move(n));
  start(*nodes_.back());
  return idx;
}

void virtual_mesh::connect(const std::string& a, const std::string& b) {
  auto& x = lookup(a);
  auto& y = lookup(b);
  if (x.index == y.index)
    throw std::invalid_argument("cannot connect " + a + " to itself");
  links_.insert(key(x.index, y.index));
  if (std::find(x.dials.begin(), x.dials.end(), y.index) == x.dials.end())
    x.dials.push_back(y.index);
  topology_changed();
  if (x.alive) {
    x.proto->connect(y.cfg.advertise, y.cfg.port, true, now_);
    after_call(x);
  }
}

void virtual_mesh::build(const mesh_graph& g,
                         const protocol_config& defaults) {
  for (auto& name : g.nodes)
    add_node(name, defaults);
  for (auto [a, b] : g.links)
    connect(g.nodes[a], g.nodes[b]);
}

void virtual_mesh::start(node_state& n) {
  ++n.generation;
  n.proto.reset();
  n.cb = std::make_unique<callee>(*this, n);
  // Ids only grow across restarts (link-state advertisements are versioned
  // by them), and differ between nodes, as clock-derived ids would: 2^32 ids
  // per instance, 2^16 instances and nodes (ports limit the nodes).
  auto first_id = (n.generation << 48) | (uint64_t{n.index} << 32);
  n.proto = std::make_unique<protocol>(n.cfg, *n.cb, first_id);
  n.alive = true;
  n.armed = time_point::max();
  n.link_stats = node_stats{};
  n.deliveries.clear();
  n.delivery_counts.clear();
  n.rt_version = n.proto->routing().version();
  topology_changed();
  for (auto peer : n.dials) {
    auto& p = *nodes_[peer];
    n.proto->connect(p.cfg.advertise, p.cfg.port, true, now_);
  }
  after_call(n); // its first tick is due at once
}

// -- faults -------------------------------------------------------------------

std::pair<size_t, size_t> virtual_mesh::key(size_t a, size_t b) {
  return {std::min(a, b), std::max(a, b)};
}

void virtual_mesh::cut(const std::string& a, const std::string& b) {
  if (cut_.insert(key(lookup(a).index, lookup(b).index)).second)
    topology_changed();
}

void virtual_mesh::heal(const std::string& a, const std::string& b) {
  if (cut_.erase(key(lookup(a).index, lookup(b).index)) > 0)
    topology_changed();
}

void virtual_mesh::partition(const std::vector<std::string>& side) {
  std::vector<bool> in(nodes_.size(), false);
  for (auto& name : side)
    in[lookup(name).index] = true;
  for (auto [a, b] : links_)
    if (in[a] != in[b])
      cut_.insert(key(a, b));
  topology_changed();
}

void virtual_mesh::heal_all() {
  cut_.clear();
  topology_changed();
}

void virtual_mesh::retire(node_state& n) {
  retired_ += stats(n.cfg.name);
}

void virtual_mesh::kill(const std::string& name) {
  auto& n = lookup(name);
  if (!n.alive)
    return;
  retire(n);
  n.alive = false;
  n.armed = time_point::max();
  topology_changed();
}

void virtual_mesh::restart(const std::string& name) {
  auto& n = lookup(name);
  if (n.alive)
    kill(name);
  start(n);
}

bool virtual_mesh::alive(const std::string& name) const {
  return lookup(name).alive;
}

// -- events -------------------------------------------------------------------

namespace {

template <class Event>
struct later {
  bool operator()(const std::unique_ptr<Event>& a,
                  const std::unique_ptr<Event>& b) const {
    return a->at != b->at ? a->at > b->at : a->seq > b->seq;
  }
};

} // namespace

void virtual_mesh::push(std::unique_ptr<event> ev) {
  ev->seq = seq_++;
  queue_.push_back(std::move(ev));
  std::push_heap(queue_.begin(), queue_.end(), later<event>{});
}

bool virtual_mesh::step() {
  if (queue_.empty())
    return false;
  std::pop_heap(queue_.begin(), queue_.end(), later<event>{});
  auto ev = std::move(queue_.back());
  queue_.pop_back();
  now_ = std::max(now_, ev->at);
  process(*ev);
  return true;
}

void virtual_mesh::run_until(time_point t) {
  while (!queue_.empty() && queue_.front()->at <= t)
    step();
  now_ = std::max(now_, t);
}

void virtual_mesh::run_for(duration d) {
  run_until(now_ + d);
}

std::optional<virtual_mesh::duration>
virtual_mesh::run_until_converged(duration limit, duration step) {
  auto begin = now_;
  auto deadline = now_ + limit;
  auto checked = routing_changes_ + 1; // differs: check at once
  for (;;) {
    if (checked != routing_changes_) {
      checked = routing_changes_;
      if (converged())
        return std::chrono::duration_cast<duration>(now_ - begin);
    }
    if (now_ >= deadline)
      return std::nullopt;
    run_until(std::min(now_ + step, deadline));
  }
}

void virtual_mesh::process(event& ev) {
  switch (ev.kind) {
    case event::deliver: {
      auto& n = *nodes_[ev.node];
      if (!n.alive || n.generation != ev.generation
          || cut_.count(key(ev.from, ev.node)) > 0) {
        ++lost_;
        return;
      }
      ++n.link_stats.rx;
      message msg;
      auto r = decode(ev.frames, opts_.max_message_bytes, n.cfg.name, msg);
      if (!r.ok) {
        ++n.link_stats.dropped_invalid;
        ++invalid_;
        return;
      }
      n.proto->handle(msg, nodes_[ev.from]->cfg.name, now_);
      after_call(n);
      return;
    }
    case event::tick: {
      auto& n = *nodes_[ev.node];
      if (!n.alive || n.generation != ev.generation || n.armed != ev.at)
        return; // stale: the node died, restarted or re-armed earlier
      n.armed = time_point::max();
      n.proto->tick(now_);
      after_call(n, true);
      return;
    }
    case event::ping_timeout:
      finish_ping(ev.handle, mesh_ping_result{true, false, {}, 0, "timeout"});
      return;
  }
}

void virtual_mesh::after_call(node_state& n, bool after_tick) {
  if (!n.alive)
    return;
  auto v = n.proto->routing().version();
  if (v != n.rt_version) {
    n.rt_version = v;
    ++routing_changes_;
  }
  auto at = n.proto->next_wakeup();
  // A tick leaves its next wakeup in the future; should it not, wait a
  // microsecond rather than spin at one instant.
  if (after_tick && at <= now_)
    at = now_ + std::chrono::microseconds(1);
  at = std::max(at, now_);
  if (at >= n.armed)
    return; // an earlier tick is on its way
  n.armed = at;
  auto ev = std::make_unique<event>();
  ev->kind = event::tick;
  ev->at = at;
  ev->node = n.index;
  ev->generation = n.generation;
  push(std::move(ev));
}

void virtual_mesh::transmit(node_state& from, const std::string& address,
                            uint16_t port, const message& x) {
  auto i = by_endpoint_.find(std::make_pair(address, port));
  if (i == by_endpoint_.end() || !nodes_[i->second]->alive) {
    // No connection: a DEALER would hold it until it is too old to send.
    ++from.link_stats.dropped_queue_full;
    ++lost_;
    return;
  }
  auto& to = *nodes_[i->second];
  auto cmd = static_cast<size_t>(x.cmd);
  ++from.link_stats.tx;
  ++from.link_stats.tx_by_command[cmd];
  ++transmissions_[cmd];
  if (cut_.count(key(from.index, to.index)) > 0) {
    ++lost_;
    return;
  }
  std::vector<std::string> frames;
  encode(x, frames);
  deliver_later(from.index, to, std::move(frames));
}

void virtual_mesh::deliver_later(size_t from, const node_state& to,
                                 std::vector<std::string> frames) {
  auto ev = std::make_unique<event>();
  ev->kind = event::deliver;
  ev->at = now_ + opts_.latency;
  ev->node = to.index;
  ev->generation = to.generation;
  ev->from = from;
  ev->frames = std::move(frames);
  push(std::move(ev));
}

void virtual_mesh::inject(const std::string& from, const std::string& to,
                          std::vector<std::string> frames) {
  deliver_later(lookup(from).index, lookup(to), std::move(frames));
}

// -- pings and messages -------------------------------------------------------

void virtual_mesh::on_pong(node_state& n, uint64_t ping_id,
                           const std::string& from, uint64_t rtt_us) {
  auto k = std::make_tuple(n.index, n.generation, ping_id);
  mesh_ping_result r{true, true, from, rtt_us, {}};
  auto i = ping_handles_.find(k);
  if (i == ping_handles_.end()) {
    if (in_ping_)
      early_[k] = std::move(r); // a ping to the node itself
  } else
    finish_ping(i->second, std::move(r));
}

void virtual_mesh::on_error(node_state& n, const message& x) {
  uint64_t about = 0;
  parse_decimal(x.args[1], about);
  auto k = std::make_tuple(n.index, n.generation, about);
  auto i = ping_handles_.find(k);
  if (i == ping_handles_.end())
    return; // about a message that is not a pending ping
  auto& rec = pings_[i->second];
  auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(
    now_ - rec.sent);
  finish_ping(i->second,
              mesh_ping_result{true, false, x.origin,
                               static_cast<uint64_t>(rtt.count()), x.args[0]});
}

void virtual_mesh::finish_ping(uint64_t handle, mesh_ping_result r) {
  auto i = pings_.find(handle);
  if (i == pings_.end() || i->second.result.done)
    return;
  i->second.result = std::move(r);
  i->second.result.done = true;
  ping_handles_.erase(i->second.key);
}

uint64_t virtual_mesh::start_ping(const std::string& from,
                                  const std::string& to,
                                  std::optional<uint8_t> ttl,
                                  duration timeout) {
  auto& n = lookup(from);
  auto handle = next_handle_++;
  auto& rec = pings_[handle];
  rec.sent = now_;
  if (!n.alive) {
    rec.result = mesh_ping_result{true, false, {}, 0, "down"};
    return handle;
  }
  if (!is_valid_destination(to)) {
    rec.result = mesh_ping_result{true, false, {}, 0, "bad_destination"};
    return handle;
  }
  in_ping_ = true;
  auto id = n.proto->ping(to, ttl.value_or(n.cfg.default_ttl), now_);
  in_ping_ = false;
  after_call(n);
  if (!id) {
    rec.result = mesh_ping_result{true, false, {}, 0, "unreachable"};
    return handle;
  }
  rec.key = std::make_tuple(n.index, n.generation, *id);
  if (auto i = early_.find(rec.key); i != early_.end()) {
    rec.result = std::move(i->second);
    early_.erase(i);
    return handle;
  }
  early_.clear();
  ping_handles_[rec.key] = handle;
  auto ev = std::make_unique<event>();
  ev->kind = event::ping_timeout;
  ev->at = now_ + timeout;
  ev->node = n.index;
  ev->generation = n.generation;
  ev->handle = handle;
  push(std::move(ev));
  return handle;
}

const mesh_ping_result& virtual_mesh::ping_result(uint64_t handle) const {
  auto i = pings_.find(handle);
  if (i == pings_.end())
    throw std::invalid_argument("unknown ping handle");
  return i->second.result;
}

mesh_ping_result virtual_mesh::ping(const std::string& from,
                                    const std::string& to,
                                    std::optional<uint8_t> ttl,
                                    duration timeout) {
  auto h = start_ping(from, to, ttl, timeout);
  while (!pings_[h].result.done && step()) {
    // the timeout event guarantees an end
  }
  auto r = pings_[h].result;
  pings_.erase(h);
  return r;
}

mesh_traceroute_result virtual_mesh::traceroute(const std::string& from,
                                                const std::string& to,
                                                std::optional<uint8_t> max_hops,
                                                duration per_hop) {
  mesh_traceroute_result result;
  result.target = to;
  auto limit = max_hops.value_or(lookup(from).cfg.default_ttl);
  int silent = 0;
  for (uint32_t ttl = 1; ttl <= limit; ++ttl) {
    auto r = ping(from, to, static_cast<uint8_t>(ttl), per_hop);
    if (!trace_step(result, ttl,
                    quilt::ping_result{r.replied, r.from, r.rtt_us, r.error},
                    silent))
      break;
  }
  return result;
}

mesh_send_result virtual_mesh::send(const std::string& from,
                                    const std::string& to,
                                    const std::string& text) {
  auto& n = lookup(from);
  if (!n.alive)
    return {false, 0, "down"};
  if (!is_valid_destination(to))
    return {false, 0, "bad_destination"};
  if (!is_valid_utf8(text))
    return {false, 0, "bad_utf8"};
  auto id = n.proto->send_text(to, text, now_);
  after_call(n);
  if (!id)
    return {false, 0, "unreachable"};
  return {true, *id, {}};
}

mesh_send_result virtual_mesh::broadcast(const std::string& from,
                                         const std::string& text) {
  return send(from, "all", text);
}

// -- queries ------------------------------------------------------------------

virtual_mesh::node_state& virtual_mesh::lookup(const std::string& name) {
  auto i = by_name_.find(name);
  if (i == by_name_.end())
    throw std::invalid_argument("unknown node: " + name);
  return *nodes_[i->second];
}

const virtual_mesh::node_state&
virtual_mesh::lookup(const std::string& name) const {
  auto i = by_name_.find(name);
  if (i == by_name_.end())
    throw std::invalid_argument("unknown node: " + name);
  return *nodes_[i->second];
}

std::vector<std::string> virtual_mesh::names() const {
  std::vector<std::string> out;
  out.reserve(nodes_.size());
  for (auto& n : nodes_)
    out.push_back(n->cfg.name);
  return out;
}

std::optional<size_t> virtual_mesh::index(const std::string& name) const {
  auto i = by_name_.find(name);
  if (i == by_name_.end())
    return std::nullopt;
  return i->second;
}

protocol& virtual_mesh::node(const std::string& name) {
  return *lookup(name).proto;
}

const protocol& virtual_mesh::node(const std::string& name) const {
  return *lookup(name).proto;
}

node_stats virtual_mesh::stats(const std::string& name) const {
  auto& n = lookup(name);
  node_stats s = n.proto->stats();
  s += n.link_stats;
  return s;
}

node_stats virtual_mesh::total_stats() const {
  node_stats s = retired_;
  for (auto& n : nodes_)
    if (n->alive)
      s += stats(n->cfg.name);
  return s;
}

const std::vector<mesh_delivery>&
virtual_mesh::deliveries(const std::string& name) const {
  return lookup(name).deliveries;
}

size_t virtual_mesh::delivery_count(const std::string& name,
                                    const std::string& origin,
                                    uint64_t id) const {
  auto& n = lookup(name);
  auto i = n.delivery_counts.find({origin, id});
  return i == n.delivery_counts.end() ? 0 : i->second;
}

std::vector<std::pair<std::string, std::string>> virtual_mesh::links() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto [a, b] : links_) {
    auto& x = nodes_[a]->cfg.name;
    auto& y = nodes_[b]->cfg.name;
    out.emplace_back(std::min(x, y), std::max(x, y));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<std::string, std::string>>
virtual_mesh::live_links() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto [a, b] : links_) {
    if (!nodes_[a]->alive || !nodes_[b]->alive || cut_.count({a, b}) > 0)
      continue;
    auto& x = nodes_[a]->cfg.name;
    auto& y = nodes_[b]->cfg.name;
    out.emplace_back(std::min(x, y), std::max(x, y));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool virtual_mesh::is_cut(const std::string& a, const std::string& b) const {
  return cut_.count(key(lookup(a).index, lookup(b).index)) > 0;
}

std::vector<std::vector<int32_t>> virtual_mesh::live_distances() const {
  auto n = nodes_.size();
  std::vector<std::vector<size_t>> adj(n);
  for (auto [a, b] : links_) {
    if (!nodes_[a]->alive || !nodes_[b]->alive || cut_.count({a, b}) > 0)
      continue;
    adj[a].push_back(b);
    adj[b].push_back(a);
  }
  std::vector<std::vector<int32_t>> dist(n, std::vector<int32_t>(n, -1));
  std::deque<size_t> queue;
  for (size_t root = 0; root < n; ++root) {
    if (!nodes_[root]->alive)
      continue;
    auto& d = dist[root];
    d[root] = 0;
    queue.assign(1, root);
    while (!queue.empty()) {
      auto u = queue.front();
      queue.pop_front();
      for (auto v : adj[u])
        if (d[v] < 0) {
          d[v] = d[u] + 1;
          queue.push_back(v);
        }
    }
  }
  return dist;
}

std::map<std::string, uint32_t>
virtual_mesh::bfs_hops(const std::string& name) const {
  auto& root = lookup(name);
  std::map<std::string, uint32_t> out;
  if (!root.alive)
    return out;
  auto dist = live_distances();
  for (size_t v = 0; v < nodes_.size(); ++v)
    if (dist[root.index][v] >= 0)
      out.emplace(nodes_[v]->cfg.name,
                  static_cast<uint32_t>(dist[root.index][v]));
  return out;
}

std::string virtual_mesh::convergence_problem() const {
  auto dist = live_distances();
  for (auto& np : nodes_) {
    auto& n = *np;
    if (!n.alive)
      continue;
    auto& d = dist[n.index];
    auto routes = n.proto->routes();
    size_t reachable = 0;
    for (size_t v = 0; v < nodes_.size(); ++v)
      if (v != n.index && d[v] > 0)
        ++reachable;
    for (auto& r : routes) {
      auto dest = index(r.destination);
      if (!dest || d[*dest] <= 0)
        return n.cfg.name + " has a route to " + r.destination
               + ", which it cannot reach";
      if (r.hops != static_cast<uint32_t>(d[*dest]))
        return n.cfg.name + " reaches " + r.destination + " in "
               + std::to_string(r.hops) + " hops, not "
               + std::to_string(d[*dest]);
      auto hop = index(r.next_hop);
      if (!hop || d[*hop] != 1 || dist[*hop][*dest] != d[*dest] - 1)
        return n.cfg.name + " routes to " + r.destination + " via "
               + r.next_hop + ", not on a shortest path";
    }
    if (routes.size() != reachable) {
      for (size_t v = 0; v < nodes_.size(); ++v) {
        if (v == n.index || d[v] <= 0)
          continue;
        auto& want = nodes_[v]->cfg.name;
        if (std::none_of(routes.begin(), routes.end(), [&](const auto& r) {
              return r.destination == want;
            }))
          return n.cfg.name + " has no route to " + want;
      }
      return n.cfg.name + " has " + std::to_string(routes.size())
             + " routes, expected " + std::to_string(reachable);
    }
  }
  return {};
}

} // namespace quilt

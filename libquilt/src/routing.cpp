#include "quilt/routing.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <new>
#include <shared_mutex>

namespace quilt {

// -- node names ---------------------------------------------------------------

namespace {

/// The process's interned names. Names live in fixed-size chunks that never
/// move, so name_of() reads without a lock: a thread only ever holds an id
/// that reached it through some synchronised hand-over (a mailbox, a lock)
/// after the id's string was written.
class name_table {
public:
  static constexpr size_t chunk_size = 1024;
  static constexpr size_t chunk_count = max_interned_names / chunk_size;

  node_id intern(std::string_view name) {
    {
      std::shared_lock<std::shared_mutex> guard{mtx_};
      if (auto i = ids_.find(name); i != ids_.end())
        return i->second;
    }
    std::unique_lock<std::shared_mutex> guard{mtx_};
    if (auto i = ids_.find(name); i != ids_.end())
      return i->second;
    auto id = size_;
    if (id >= max_interned_names)
      return no_node;
    auto& chunk = chunks_[id / chunk_size];
    auto* strings = chunk.load(std::memory_order_relaxed);
    if (!strings) {
      strings = new std::string[chunk_size];
      chunk.store(strings, std::memory_order_release);
    }
    auto& slot = strings[id % chunk_size];
    slot.assign(name);
    ids_.emplace(std::string_view{slot}, id);
    ++size_;
    return static_cast<node_id>(id);
  }

  size_t size() const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return size_;
  }

  node_id find(std::string_view name) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = ids_.find(name);
    return i == ids_.end() ? no_node : i->second;
  }

  const std::string& name(node_id id) const {
    static const std::string none;
    if (id >= max_interned_names)
      return none;
    auto* strings = chunks_[id / chunk_size].load(std::memory_order_acquire);
    return strings ? strings[id % chunk_size] : none;
  }

private:
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string_view, node_id> ids_;
  std::array<std::atomic<std::string*>, chunk_count> chunks_{};
  size_t size_ = 0;
};

name_table& names() {
  // Never destroyed: nodes may still look names up while the process exits.
  static auto* table = new name_table;
  return *table;
}

/// Orders ids by the names they stand for.
bool by_name(node_id a, node_id b) {
  return name_of(a) < name_of(b);
}

} // namespace

node_id intern_name(std::string_view name) {
  return names().intern(name);
}

node_id find_name(std::string_view name) {
  return names().find(name);
}

const std::string& name_of(node_id id) {
  return names().name(id);
}

size_t interned_names() {
  return names().size();
}

// -- advertisements -------------------------------------------------------------

void retain(const advert_body* x) noexcept {
  x->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(const advert_body* x) noexcept {
  if (x->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    x->~advert_body();
    ::operator delete(const_cast<advert_body*>(x));
  }
}

bool advert_body::lists(node_id x) const {
  auto s = sorted();
  return std::binary_search(s.begin(), s.end(), x);
}

advert_ptr make_advert(node_id origin, uint64_t seq,
                       std::vector<node_id> neighbours) {
  std::sort(neighbours.begin(), neighbours.end());
  neighbours.erase(std::unique(neighbours.begin(), neighbours.end()),
                   neighbours.end());
  auto n = neighbours.size();
  void* mem = ::operator new(sizeof(advert_body) + 2 * n * sizeof(node_id));
  auto* ad = new (mem) advert_body;
  ad->origin = origin;
  ad->seq = seq;
  ad->count = static_cast<uint32_t>(n);
  auto* tail = reinterpret_cast<node_id*>(ad + 1);
  std::copy(neighbours.begin(), neighbours.end(), tail + n);
  std::sort(neighbours.begin(), neighbours.end(), by_name);
  std::copy(neighbours.begin(), neighbours.end(), tail);
  for (auto x : neighbours) {
    if (!ad->text.empty())
      ad->text += ' ';
    ad->text += name_of(x);
  }
  return advert_ptr{ad};
}

advert_ptr parse_advert(node_id origin, uint64_t seq, std::string_view text) {
  std::vector<node_id> ids;
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(' ', pos);
    if (end == std::string_view::npos)
      end = text.size();
    if (end > pos) {
      // No node has more neighbours than its peer table holds (4,096): a
      // longer list is made up, and would only fill the name table.
      if (ids.size() >= max_advert_neighbours)
        return {};
      auto id = intern_name(text.substr(pos, end - pos));
      if (id == no_node)
        return {};
      ids.push_back(id);
    }
    pos = end + 1;
  }
  return make_advert(origin, seq, std::move(ids));
}

// -- the table ----------------------------------------------------------------

routing_table::routing_table(std::string self) : self_(intern_name(self)) {
  grow(self_);
  db_[self_] = make_advert(self_, 0, {});
}

void routing_table::grow(node_id id) {
  if (id < db_.size() || id == no_node)
    return;
  // Room for everyone interned so far: a table usually learns them all.
  auto n = std::max<size_t>(id + 1, interned_names());
  db_.resize(n);
  received_.resize(n);
}

void routing_table::store(advert_ptr ad, clock::time_point now) {
  auto id = ad->origin;
  grow(id);
  auto& slot = db_[id];
  bool changed = !slot || slot->sorted() != ad->sorted();
  if (!slot)
    ++count_;
  slot = std::move(ad);
  if (!has_epoch_) {
    epoch_ = now;
    has_epoch_ = true;
  }
  received_[id] = static_cast<int32_t>(
    std::chrono::duration_cast<std::chrono::seconds>(now - epoch_).count());
  if (changed)
    ++version_;
}

bool routing_table::install(advert_ptr ad, clock::time_point now) {
  if (!ad || ad->origin == self_)
    return false;
  if (auto held = advert_of(ad->origin); held && held->seq >= ad->seq)
    return false;
  store(std::move(ad), now);
  return true;
}

bool routing_table::install(const std::string& origin, uint64_t seq,
                            std::vector<std::string> neighbours,
                            clock::time_point now) {
  auto id = intern_name(origin);
  if (id == no_node || id == self_)
    return false;
  if (auto held = advert_of(id); held && held->seq >= seq)
    return false;
  std::vector<node_id> ids;
  for (auto& n : neighbours)
    if (auto x = intern_name(n); x != no_node)
      ids.push_back(x);
  store(make_advert(id, seq, std::move(ids)), now);
  return true;
}

bool routing_table::set_own(std::vector<std::string> neighbours, uint64_t seq,
                            bool renew) {
  std::vector<node_id> ids;
  for (auto& n : neighbours)
    if (auto x = intern_name(n); x != no_node)
      ids.push_back(x);
  auto ad = make_advert(self_, seq, std::move(ids));
  bool changed = db_[self_]->sorted() != ad->sorted();
  if (!changed && !renew)
    return false;
  db_[self_] = std::move(ad);
  if (changed)
    ++version_;
  return changed;
}

bool routing_table::expire(clock::time_point now, clock::duration max_age) {
  if (count_ == 0)
    return false;
  bool changed = false;
  for (size_t i = 0; i < db_.size(); ++i) {
    if (i == self_ || !db_[i]
        || now - (epoch_ + std::chrono::seconds(received_[i])) <= max_age)
      continue;
    db_[i].reset();
    --count_;
    changed = true;
  }
  if (changed)
    ++version_;
  return changed;
}

void routing_table::clear_learned() {
  for (size_t i = 0; i < db_.size(); ++i)
    if (i != self_)
      db_[i].reset();
  count_ = 0;
  ++version_;
}

bool routing_table::confirmed(node_id a, node_id b) const {
  auto ia = advert_of(a);
  if (!ia || !ia->lists(b))
    return false;
  auto ib = advert_of(b);
  return !ib || ib->lists(a);
}

routing_table::scratch& routing_table::search() {
  thread_local scratch s;
  return s;
}

const std::vector<node_id>& routing_table::bfs(node_id root) {
  // Scratch sized to every name interned so far; only reached entries are
  // written, and reset from the order list before the next search.
  auto& s = search();
  for (auto v : s.order) {
    s.parent[v] = no_node;
    s.hops[v] = UINT32_MAX;
  }
  s.order.clear();
  auto grow_scratch = [&](node_id v) {
    if (v >= s.parent.size()) {
      auto n = std::max<size_t>(v + 1, interned_names());
      s.parent.resize(n, no_node);
      s.hops.resize(n, UINT32_MAX);
    }
  };
  grow_scratch(root);
  s.hops[root] = 0;
  s.order.push_back(root);
  if (!advert_of(root)) {
    // A root without an advertisement (a leaf that sends none, e.g. the
    // origin of a broadcast that does not speak link-state): its links are
    // the ones the others confirm towards it, in name order like every
    // other neighbour list, so every node builds the same tree.
    std::vector<node_id> first;
    for (size_t v = 0; v < db_.size(); ++v)
      if (db_[v] && confirmed(static_cast<node_id>(v), root))
        first.push_back(static_cast<node_id>(v));
    std::sort(first.begin(), first.end(), by_name);
    for (auto v : first) {
      grow_scratch(v);
      s.hops[v] = 1;
      s.parent[v] = root;
      s.order.push_back(v);
    }
  }
  for (size_t k = 0; k < s.order.size(); ++k) {
    auto u = s.order[k];
    auto ad = advert_of(u);
    if (!ad)
      continue; // a leaf: reachable, but says nothing about its links
    auto h = s.hops[u] + 1;
    for (auto v : ad->neighbours()) {
      grow_scratch(v);
      if (s.hops[v] != UINT32_MAX)
        continue;
      // u lists v (we walk u's list): confirmed unless v's own
      // advertisement leaves u out.
      if (auto other = advert_of(v); other && !other->lists(u))
        continue;
      s.hops[v] = h;
      s.parent[v] = u;
      s.order.push_back(v);
    }
  }
  return s.order;
}

void routing_table::recompute() {
  if (computed_ == version_)
    return;
  computed_ = version_;
  for (auto v : reached_)
    routes_[v] = route_slot{};
  reached_.clear();
  auto& order = bfs(self_);
  auto& s = search();
  // In search order a node's parent comes first: its first hop is known.
  for (size_t k = 1; k < order.size(); ++k) {
    auto v = order[k];
    if (v >= routes_.size())
      routes_.resize(std::max<size_t>(v + 1, interned_names()));
    auto p = s.parent[v];
    routes_[v].next = p == self_ ? v : routes_[p].next;
    routes_[v].hops = s.hops[v];
    reached_.push_back(v);
  }
}

node_id routing_table::next_hop(node_id destination) {
  recompute();
  if (destination == no_node || destination >= routes_.size())
    return no_node;
  return routes_[destination].next;
}

const route_entry* routing_table::lookup(const std::string& destination) {
  recompute();
  auto id = find_name(destination);
  if (id == no_node || id >= routes_.size() || routes_[id].next == no_node)
    return nullptr;
  lookup_result_.destination = destination;
  lookup_result_.next_hop = name_of(routes_[id].next);
  lookup_result_.hops = routes_[id].hops;
  return &lookup_result_;
}

std::vector<route_change> diff_routes(const std::vector<route_entry>& before,
                                      const std::vector<route_entry>& after) {
  std::vector<route_change> out;
  auto b = before.begin();
  auto a = after.begin();
  // A merge of two sorted lists: each destination is looked at once.
  while (b != before.end() || a != after.end()) {
    if (a == after.end()
        || (b != before.end() && b->destination < a->destination)) {
      out.push_back({route_change::removed, *b++});
    } else if (b == before.end() || a->destination < b->destination) {
      out.push_back({route_change::added, *a++});
    } else {
      if (a->next_hop != b->next_hop || a->hops != b->hops)
        out.push_back({route_change::changed, *a});
      ++a;
      ++b;
    }
  }
  return out;
}

std::vector<route_entry> routing_table::routes() {
  recompute();
  std::vector<route_entry> result;
  result.reserve(reached_.size());
  for (auto v : reached_)
    result.push_back(
      route_entry{name_of(v), name_of(routes_[v].next), routes_[v].hops});
  std::sort(result.begin(), result.end(),
            [](const auto& a, const auto& b) {
              return a.destination < b.destination;
            });
  return result;
}

std::pair<size_t, uint64_t> routing_table::digest() {
  recompute();
  uint64_t sum = 0;
  for (auto v : reached_)
    sum += routes_[v].hops;
  return {reached_.size(), sum};
}

void routing_table::topology(
  std::vector<std::string>& nodes,
  std::vector<std::pair<std::string, std::string>>& links) {
  recompute();
  nodes.clear();
  links.clear();
  nodes.push_back(name_of(self_));
  for (auto v : reached_)
    nodes.push_back(name_of(v));
  std::sort(nodes.begin(), nodes.end());
  std::vector<node_id> ids{self_};
  ids.insert(ids.end(), reached_.begin(), reached_.end());
  std::sort(ids.begin(), ids.end());
  for (auto a : ids) {
    auto ad = advert_of(a);
    if (!ad)
      continue;
    for (auto b : ad->neighbours()) {
      if (!std::binary_search(ids.begin(), ids.end(), b) || !confirmed(a, b))
        continue;
      // Each link once: from the smaller name, or from the side that
      // advertises it when the other is a leaf.
      const auto& na = name_of(a);
      const auto& nb = name_of(b);
      if (na < nb || !advert_of(b))
        links.emplace_back(std::min(na, nb), std::max(na, nb));
    }
  }
  std::sort(links.begin(), links.end());
  links.erase(std::unique(links.begin(), links.end()), links.end());
}

const std::vector<std::string>&
routing_table::tree_children(const std::string& origin) {
  if (children_version_ != version_) {
    children_.clear();
    children_version_ = version_;
  }
  auto root = intern_name(origin);
  auto i = children_.find(root);
  if (i != children_.end())
    return i->second;
  std::vector<std::string> kids;
  if (root != no_node) {
    bfs(root);
    auto& s = search();
    for (auto n : own()->neighbours())
      if (n < s.parent.size() && s.parent[n] == self_)
        kids.push_back(name_of(n));
  }
  // Bound the cache: a broadcast storm from many origins recomputes.
  if (children_.size() > 4096)
    children_.clear();
  return children_.emplace(root, std::move(kids)).first->second;
}

std::map<std::string, routing_table::advert> routing_table::database() const {
  std::map<std::string, advert> result;
  for (size_t i = 0; i < db_.size(); ++i) {
    auto& ad = db_[i];
    if (!ad)
      continue;
    advert a;
    a.seq = ad->seq;
    for (auto n : ad->sorted())
      a.neighbours.push_back(name_of(n));
    std::sort(a.neighbours.begin(), a.neighbours.end());
    a.received = epoch_ + std::chrono::seconds(received_[i]);
    result.emplace(name_of(static_cast<node_id>(i)), std::move(a));
  }
  return result;
}

} // namespace quilt

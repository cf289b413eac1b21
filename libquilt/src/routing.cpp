#include "quilt/routing.hpp"

#include "quilt/name.hpp"

#include <algorithm>
#include <functional>
#include <array>
#include <atomic>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <utility>

namespace quilt {

// -- node names ---------------------------------------------------------------

namespace {

/// The process's interned names, counted by reference. Names live in
/// fixed-size chunks that never move, so name_of() reads without a lock: a
/// thread only ever holds an id that reached it through some synchronised
/// hand-over (a mailbox, a lock) after the id's string was written, and
/// holds a reference while it uses it, so the slot is not freed and
/// rewritten under it.
class name_table {
public:
  static constexpr size_t chunk_size = 1024;
  static constexpr size_t chunk_count = max_interned_names / chunk_size;

  struct slot {
    std::string name;
    std::atomic<uint32_t> refs{0};
    /// Whether the slot holds a name (refs may be 0 for a moment before
    /// the name is freed).
    bool used = false;
    /// The budget the name counts against, if any (one reference held).
    name_budget* charged = nullptr;
  };

  node_id intern(std::string_view name, name_budget* budget) {
    {
      // Taking the reference under the shared lock keeps a concurrent
      // free (which rechecks the count under the exclusive lock) away.
      std::shared_lock<std::shared_mutex> guard{mtx_};
      if (auto i = ids_.find(name); i != ids_.end()) {
        at(i->second).refs.fetch_add(1, std::memory_order_relaxed);
        return i->second;
      }
    }
    std::unique_lock<std::shared_mutex> guard{mtx_};
    if (auto i = ids_.find(name); i != ids_.end()) {
      at(i->second).refs.fetch_add(1, std::memory_order_relaxed);
      return i->second;
    }
    if (size_ >= max_interned_names)
      return no_node;
    if (budget && budget->held.load(std::memory_order_relaxed) >= budget->limit)
      return no_node;
    node_id id;
    if (!free_.empty()) {
      // Reused first: ids stay dense, and so do the tables indexed by id.
      // The smallest first: once every name of a run is released, the next
      // run gets the ids a fresh process would give, in the same order, so
      // whatever is ordered by id (a database sync) is too, and a
      // deterministic simulation repeats itself within one process.
      std::pop_heap(free_.begin(), free_.end(), std::greater<>{});
      id = free_.back();
      free_.pop_back();
    } else {
      id = static_cast<node_id>(bound_);
      auto& chunk = chunks_[id / chunk_size];
      if (!chunk.load(std::memory_order_relaxed))
        chunk.store(new slot[chunk_size], std::memory_order_release);
      bound_.store(bound_ + 1, std::memory_order_relaxed);
    }
    auto& s = at(id);
    s.name.assign(name);
    s.used = true;
    s.refs.store(1, std::memory_order_relaxed);
    if (budget) {
      budget->held.fetch_add(1, std::memory_order_relaxed);
      budget->refs.fetch_add(1, std::memory_order_relaxed);
      s.charged = budget;
    }
    ids_.emplace(std::string_view{s.name}, id);
    ++size_;
    return id;
  }

  void retain(node_id id) {
    at(id).refs.fetch_add(1, std::memory_order_relaxed);
  }

  void release(node_id id) {
    auto& s = at(id);
    if (s.refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
      return;
    std::unique_lock<std::shared_mutex> guard{mtx_};
    // Taken again (intern) or freed by another release meanwhile: the
    // count under the lock decides, and only a used slot is freed.
    if (!s.used || s.refs.load(std::memory_order_acquire) != 0)
      return;
    ids_.erase(std::string_view{s.name});
    std::string{}.swap(s.name); // a made-up name's heap block goes too
    s.used = false;
    if (auto* b = std::exchange(s.charged, nullptr)) {
      b->held.fetch_sub(1, std::memory_order_relaxed);
      quilt::release(b);
    }
    free_.push_back(id);
    std::push_heap(free_.begin(), free_.end(), std::greater<>{});
    --size_;
  }

  size_t size() const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    return size_;
  }

  size_t bound() const {
    return bound_.load(std::memory_order_relaxed);
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
    return strings ? strings[id % chunk_size].name : none;
  }

private:
  slot& at(node_id id) {
    return chunks_[id / chunk_size].load(std::memory_order_acquire)
      [id % chunk_size];
  }

  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string_view, node_id> ids_;
  std::array<std::atomic<slot*>, chunk_count> chunks_{};
  std::vector<node_id> free_; ///< A min-heap.
  std::atomic<size_t> bound_{0};
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

void release(name_budget* b) noexcept {
  if (b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete b;
}

name_ref intern_name(std::string_view name, name_budget* budget) {
  return name_ref::adopt(names().intern(name, budget));
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

size_t name_id_bound() {
  return names().bound();
}

void retain_name(node_id id) noexcept {
  names().retain(id);
}

void release_name(node_id id) noexcept {
  names().release(id);
}

// -- advertisements -------------------------------------------------------------

void retain(const advert_body* x) noexcept {
  x->refs.fetch_add(1, std::memory_order_relaxed);
}

void release(const advert_body* x) noexcept {
  if (x->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    // The names it held go with it (those nothing else holds are freed).
    for (auto id : x->sorted())
      release_name(id);
    release_name(x->origin);
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
  retain_name(origin);
  for (auto x : neighbours)
    retain_name(x);
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
  // Exactly sized: the text is most of a long advertisement's bytes.
  size_t len = n > 0 ? n - 1 : 0;
  for (auto x : neighbours)
    len += name_of(x).size();
  ad->text.reserve(len);
  for (auto x : neighbours) {
    if (!ad->text.empty())
      ad->text += ' ';
    ad->text += name_of(x);
  }
  return advert_ptr{ad};
}

advert_ptr parse_advert(node_id origin, uint64_t seq, std::string_view text,
                        name_budget* budget, size_t* skipped) {
  std::vector<name_ref> refs;
  size_t left_out = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(' ', pos);
    if (end == std::string_view::npos)
      end = text.size();
    if (end > pos) {
      // No node has more neighbours than its peer table holds (4,096): a
      // longer list is made up, and would only fill the name table.
      if (refs.size() + left_out >= max_advert_neighbours)
        return {};
      auto word = text.substr(pos, end - pos);
      // A name no node can have (SPEC §2) is left out before it costs a
      // slot; so is a new one the budget or the table has no room for.
      name_ref id;
      if (is_valid_name(word))
        id = intern_name(word, budget);
      if (id)
        refs.push_back(std::move(id));
      else
        ++left_out;
    }
    pos = end + 1;
  }
  if (skipped)
    *skipped = left_out;
  std::vector<node_id> ids;
  ids.reserve(refs.size());
  for (auto& r : refs)
    ids.push_back(r.id());
  return make_advert(origin, seq, std::move(ids));
}

// -- the table ----------------------------------------------------------------

routing_table::routing_table(std::string self)
  : self_ref_(intern_name(self)), self_(self_ref_.id()) {
  grow(self_);
  db_[self_] = make_advert(self_, 0, {});
}

void routing_table::grow(node_id id) {
  if (id < db_.size() || id == no_node)
    return;
  // Room for every id handed out so far: a table usually learns them all.
  auto n = std::max<size_t>(id + 1, name_id_bound());
  db_.resize(n);
  received_.resize(n);
  via_of_.resize(n, no_via);
}

node_id routing_table::neighbour(std::string_view name) {
  if (!is_valid_name(name))
    return no_node; // no neighbour (a client has no name): no budget either
  if (last_via_ != no_via && name_of(vias_[last_via_].name.id()) == name)
    return vias_[last_via_].name.id();
  for (auto& v : vias_)
    if (v.name && name_of(v.name.id()) == name)
      return v.name.id();
  auto ref = intern_name(name);
  if (!ref)
    return no_node;
  auto id = ref.id();
  // The entry keeps the id from being reused while it stands for `name`.
  auto v = via_slot(id);
  if (v == no_via)
    return no_node;
  return id;
}

uint16_t routing_table::via_slot(node_id via) {
  if (via == no_node)
    return no_via;
  if (last_via_ != no_via && vias_[last_via_].name.id() == via)
    return last_via_;
  // A node has a few neighbours, a hub a few thousand: a scan of ids.
  uint16_t reuse = no_via;
  for (size_t i = 0; i < vias_.size(); ++i) {
    if (vias_[i].name.id() == via)
      return last_via_ = static_cast<uint16_t>(i);
    if (reuse == no_via && vias_[i].idle())
      reuse = static_cast<uint16_t>(i);
  }
  // A neighbour that left nothing behind gives its entry up; its budget is
  // empty, and only this table charges it, so it can go on as the new one's.
  if (reuse == no_via) {
    if (vias_.size() >= no_via)
      return no_via;
    vias_.emplace_back();
    vias_.back().names = new name_budget(max_names_per_neighbour);
    reuse = static_cast<uint16_t>(vias_.size() - 1);
  }
  vias_[reuse].name = name_ref{via};
  return last_via_ = reuse;
}

name_budget* routing_table::budget(node_id via) {
  auto v = via_slot(via);
  return v == no_via ? nullptr : vias_[v].names;
}

routing_table::neighbour_load
routing_table::load_of(std::string_view via) const {
  neighbour_load r;
  for (auto& v : vias_)
    if (v.name && name_of(v.name.id()) == via) {
      r.adverts = v.adverts;
      r.entries = v.entries;
      r.names = v.names->held.load(std::memory_order_relaxed);
    }
  return r;
}

void routing_table::charge(uint16_t v, uint64_t entries, int sign) {
  if (sign > 0)
    entries_ += entries;
  else
    entries_ -= entries;
  if (v == no_via)
    return;
  auto& e = vias_[v];
  if (sign > 0) {
    e.entries += entries;
    ++e.adverts;
  } else {
    e.entries -= entries;
    --e.adverts;
  }
}

void routing_table::store(advert_ptr ad, uint16_t via,
                          clock::time_point now) {
  auto id = ad->origin;
  grow(id);
  auto& slot = db_[id];
  bool changed = !slot || slot->sorted() != ad->sorted();
  if (!slot)
    ++count_;
  else
    charge(via_of_[id], slot->count + 1, -1);
  charge(via, ad->count + 1, +1);
  via_of_[id] = via;
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

void routing_table::forget(size_t id) {
  charge(via_of_[id], db_[id]->count + 1, -1);
  via_of_[id] = no_via;
  db_[id].reset();
  --count_;
}

bool routing_table::install(advert_ptr& ad, node_id via,
                            clock::time_point now) {
  if (!ad || ad->origin == self_)
    return false;
  auto held = advert_of(ad->origin);
  if (held && held->seq >= ad->seq)
    return false;
  auto v = via_slot(via);
  if (via != no_node && v == no_via)
    return false;
  if (v != no_via) {
    // What is left of the neighbour's entry budget, counting the version
    // this one replaces if the same neighbour delivered it.
    uint64_t left = max_entries_per_neighbour - vias_[v].entries;
    if (held && via_of_[ad->origin] == v)
      left += held->count + 1;
    if (left == 0)
      return false; // not even the origin fits
    if (ad->count + 1 > left) {
      // Keep what routes first: names with an advertisement of their own
      // that lists the origin back (confirmed links), then the others, in
      // name order; a made-up name has no advertisement.
      std::vector<node_id> keep;
      keep.reserve(left - 1);
      for (int pass = 0; pass < 2; ++pass)
        for (auto x : ad->neighbours()) {
          if (keep.size() == left - 1)
            break;
          auto other = advert_of(x);
          bool confirmed = other && other->lists(ad->origin);
          if (confirmed == (pass == 0))
            keep.push_back(x);
        }
      ad = make_advert(ad->origin, ad->seq, std::move(keep));
    }
  }
  store(ad, v, now);
  return true;
}

bool routing_table::install(const std::string& origin, uint64_t seq,
                            std::vector<std::string> neighbours,
                            clock::time_point now, std::string_view via) {
  node_id from = via.empty() ? no_node : neighbour(via);
  if (!via.empty() && from == no_node)
    return false;
  auto* names = budget(from);
  auto id = intern_name(origin, names);
  if (!id || id.id() == self_)
    return false;
  if (auto held = advert_of(id.id()); held && held->seq >= seq)
    return false;
  std::vector<name_ref> refs;
  for (auto& n : neighbours)
    if (auto x = intern_name(n, names))
      refs.push_back(std::move(x));
  std::vector<node_id> ids;
  for (auto& r : refs)
    ids.push_back(r.id());
  auto ad = make_advert(id.id(), seq, std::move(ids));
  return install(ad, from, now);
}

bool routing_table::set_own(std::vector<std::string> neighbours, uint64_t seq,
                            bool renew) {
  std::vector<name_ref> refs;
  for (auto& n : neighbours)
    if (auto x = intern_name(n))
      refs.push_back(std::move(x));
  std::vector<node_id> ids;
  for (auto& r : refs)
    ids.push_back(r.id());
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
    forget(i);
    changed = true;
  }
  if (changed)
    ++version_;
  return changed;
}

void routing_table::clear_learned() {
  for (size_t i = 0; i < db_.size(); ++i)
    if (i != self_ && db_[i])
      forget(i);
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
      auto n = std::max<size_t>(v + 1, name_id_bound());
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
      routes_.resize(std::max<size_t>(v + 1, name_id_bound()));
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
  // Found, not interned: a name no advertisement here mentions has no
  // children, and stays so while the version stands, also if its id is
  // freed and reused meanwhile (the cache is keyed by id).
  auto root = find_name(origin);
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
    if (via_of_[i] != no_via)
      a.via = name_of(vias_[via_of_[i]].name.id());
    result.emplace(name_of(static_cast<node_id>(i)), std::move(a));
  }
  return result;
}

} // namespace quilt

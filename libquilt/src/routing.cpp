#include "quilt/routing.hpp"

#include <algorithm>
#include <deque>

namespace quilt {

routing_table::routing_table(std::string self) : self_(std::move(self)) {
  db_[self_] = advert{};
}

bool routing_table::install(const std::string& origin, uint64_t seq,
                            std::vector<std::string> neighbours,
                            clock::time_point now) {
  if (origin == self_)
    return false;
  auto i = db_.find(origin);
  if (i != db_.end() && i->second.seq >= seq)
    return false;
  std::sort(neighbours.begin(), neighbours.end());
  neighbours.erase(std::unique(neighbours.begin(), neighbours.end()),
                   neighbours.end());
  auto& a = db_[origin];
  bool changed = i == db_.end() || a.neighbours != neighbours;
  a.seq = seq;
  a.neighbours = std::move(neighbours);
  a.received = now;
  if (changed)
    ++version_;
  return true;
}

bool routing_table::set_own(std::vector<std::string> neighbours, uint64_t seq) {
  std::sort(neighbours.begin(), neighbours.end());
  neighbours.erase(std::unique(neighbours.begin(), neighbours.end()),
                   neighbours.end());
  auto& a = db_[self_];
  a.seq = seq;
  if (a.neighbours == neighbours)
    return false;
  a.neighbours = std::move(neighbours);
  ++version_;
  return true;
}

bool routing_table::expire(clock::time_point now, clock::duration max_age) {
  bool changed = false;
  for (auto i = db_.begin(); i != db_.end();) {
    if (i->first != self_ && now - i->second.received > max_age) {
      i = db_.erase(i);
      changed = true;
    } else {
      ++i;
    }
  }
  if (changed)
    ++version_;
  return changed;
}

void routing_table::clear_learned() {
  auto own = db_[self_];
  db_.clear();
  db_[self_] = std::move(own);
  ++version_;
}

bool routing_table::confirmed(const std::string& a,
                              const std::string& b) const {
  auto ia = db_.find(a);
  if (ia == db_.end()
      || !std::binary_search(ia->second.neighbours.begin(),
                             ia->second.neighbours.end(), b))
    return false;
  auto ib = db_.find(b);
  return ib == db_.end()
         || std::binary_search(ib->second.neighbours.begin(),
                               ib->second.neighbours.end(), a);
}

void routing_table::bfs(const std::string& root,
                        std::unordered_map<std::string, std::string>& parent,
                        std::unordered_map<std::string, uint32_t>& hops) const {
  parent.clear();
  hops.clear();
  std::deque<const std::string*> queue;
  hops[root] = 0;
  queue.push_back(&root);
  if (db_.count(root) == 0) {
    // A root without an advertisement (a leaf that sends no advertisements, e.g. the origin of a
    // broadcast that does not speak link-state): its links are the ones the
    // others confirm towards it. Without this, tree_children() of such a leaf
    // origin would be empty everywhere and its broadcast would stop at its
    // first hop.
    for (const auto& [v, ad] : db_) {
      if (!confirmed(v, root))
        continue;
      hops[v] = 1;
      parent[v] = root;
      queue.push_back(&v);
    }
  }
  while (!queue.empty()) {
    const auto& u = *queue.front();
    queue.pop_front();
    auto i = db_.find(u);
    if (i == db_.end())
      continue; // a leaf: reachable, but says nothing about its links
    auto h = hops[u] + 1;
    // Sorted neighbour lists make the tree the same on every node.
    for (const auto& v : i->second.neighbours) {
      if (hops.count(v) > 0 || !confirmed(u, v))
        continue;
      hops[v] = h;
      parent[v] = u;
      queue.push_back(&v); // stable: db_ does not change during a search
    }
  }
}

void routing_table::recompute() {
  if (computed_ == version_)
    return;
  computed_ = version_;
  routes_.clear();
  std::unordered_map<std::string, std::string> parent;
  std::unordered_map<std::string, uint32_t> hops;
  bfs(self_, parent, hops);
  // Resolve first hops by walking up each parent chain once, memoized.
  std::unordered_map<std::string, const std::string*> first;
  for (auto& [dest, h] : hops) {
    if (dest == self_)
      continue;
    std::vector<const std::string*> chain;
    const std::string* hop = &dest;
    while (parent[*hop] != self_ && first.count(*hop) == 0) {
      chain.push_back(hop);
      hop = &parent[*hop];
    }
    const std::string* result = first.count(*hop) > 0 ? first[*hop] : hop;
    first[*hop] = result;
    for (auto c : chain)
      first[*c] = result;
    routes_[dest] = route_entry{dest, *result, h};
  }
}

const route_entry* routing_table::lookup(const std::string& destination) {
  recompute();
  auto i = routes_.find(destination);
  return i == routes_.end() ? nullptr : &i->second;
}

std::vector<route_entry> routing_table::routes() {
  recompute();
  std::vector<route_entry> result;
  result.reserve(routes_.size());
  for (auto& [dest, r] : routes_)
    result.push_back(r);
  std::sort(result.begin(), result.end(),
            [](const auto& a, const auto& b) {
              return a.destination < b.destination;
            });
  return result;
}

std::pair<size_t, uint64_t> routing_table::digest() {
  recompute();
  uint64_t sum = 0;
  for (auto& [dest, r] : routes_)
    sum += r.hops;
  return {routes_.size(), sum};
}

void routing_table::topology(
  std::vector<std::string>& nodes,
  std::vector<std::pair<std::string, std::string>>& links) {
  recompute();
  nodes.clear();
  links.clear();
  nodes.push_back(self_);
  for (auto& [dest, r] : routes_)
    nodes.push_back(dest);
  std::sort(nodes.begin(), nodes.end());
  for (auto& a : nodes) {
    auto i = db_.find(a);
    if (i == db_.end())
      continue;
    for (auto& b : i->second.neighbours) {
      if (!std::binary_search(nodes.begin(), nodes.end(), b)
          || !confirmed(a, b))
        continue;
      // Each link once: from the smaller name, or from the side that
      // advertises it when the other is a leaf.
      bool b_has_ad = db_.count(b) > 0;
      if (a < b || !b_has_ad)
        links.emplace_back(std::min(a, b), std::max(a, b));
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
  auto i = children_.find(origin);
  if (i != children_.end())
    return i->second;
  std::unordered_map<std::string, std::string> parent;
  std::unordered_map<std::string, uint32_t> hops;
  bfs(origin, parent, hops);
  std::vector<std::string> kids;
  auto own = db_.find(self_);
  for (auto& n : own->second.neighbours) {
    auto p = parent.find(n);
    if (p != parent.end() && p->second == self_)
      kids.push_back(n);
  }
  // Bound the cache: a broadcast storm from many origins recomputes.
  if (children_.size() > 4096)
    children_.clear();
  return children_.emplace(origin, std::move(kids)).first->second;
}

} // namespace quilt

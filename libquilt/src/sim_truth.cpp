#include "sim_truth.hpp"

#include <algorithm>

namespace quilt {

namespace {

constexpr size_t npos = static_cast<size_t>(-1);

} // namespace

sim_truth::sim_truth(const mesh_graph& graph,
                     std::chrono::milliseconds detect_window)
  : graph_(graph),
    window_(detect_window),
    links_of_(graph.nodes.size()),
    alive_(graph.nodes.size(), false),
    stalled_until_(graph.nodes.size()),
    node_since_(graph.nodes.size()),
    link_works_(graph.links.size(), true),
    link_since_(graph.links.size()) {
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    index_.emplace(graph.nodes[i], i);
  for (size_t k = 0; k < graph.links.size(); ++k) {
    auto [a, b] = graph.links[k];
    links_of_[a].emplace_back(b, k);
    links_of_[b].emplace_back(a, k);
  }
}

void sim_truth::set_alive(size_t node, bool alive, time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  alive_[node] = alive;
  stalled_until_[node] = time_point{}; // a killed node's stall ends with it
  node_since_[node] = now;
  changed();
}

void sim_truth::stall(size_t node, time_point until) {
  std::lock_guard<std::mutex> guard{mtx_};
  stalled_until_[node] = std::max(stalled_until_[node], until);
  // Its neighbours may notice the stall until a window after it ends.
  node_since_[node] = stalled_until_[node];
  changed();
}

void sim_truth::set_link(size_t k, bool works, time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (link_works_[k] == works)
    return;
  link_works_[k] = works;
  link_since_[k] = now;
  changed();
}

bool sim_truth::up(size_t node, time_point now) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return alive_[node] && now >= stalled_until_[node];
}

bool sim_truth::link_works(size_t k) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return link_works_[k];
}

time_point sim_truth::next_change(time_point now) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto next = time_point::max();
  for (size_t i = 0; i < alive_.size(); ++i)
    if (alive_[i] && stalled_until_[i] > now)
      next = std::min(next, stalled_until_[i]);
  return next;
}

std::vector<std::vector<size_t>> sim_truth::adjacency(time_point now) const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::vector<size_t>> adj(alive_.size());
  auto is_up = [&](size_t i) {
    return alive_[i] && now >= stalled_until_[i];
  };
  for (size_t k = 0; k < graph_.links.size(); ++k) {
    auto [a, b] = graph_.links[k];
    if (!link_works_[k] || !is_up(a) || !is_up(b))
      continue;
    adj[a].push_back(b);
    adj[b].push_back(a);
  }
  return adj;
}

const std::vector<std::optional<sim_truth::digest>>&
sim_truth::expected(time_point now) {
  std::vector<bool> up_now(alive_.size());
  uint64_t version;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (size_t i = 0; i < alive_.size(); ++i)
      up_now[i] = alive_[i] && now >= stalled_until_[i];
    version = version_;
  }
  if (version == expected_version_ && up_now == expected_up_)
    return expected_;
  auto adj = adjacency(now);
  auto n = up_now.size();
  expected_.assign(n, std::nullopt);
  smallest_ = UINT32_MAX;
  std::vector<uint32_t> dist(n, UINT32_MAX);
  std::vector<size_t> queue;
  queue.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!up_now[i])
      continue;
    // A breadth-first search from each up node: routes follow hop counts.
    queue.clear();
    queue.push_back(i);
    dist[i] = 0;
    uint64_t sum = 0;
    for (size_t q = 0; q < queue.size(); ++q)
      for (auto v : adj[queue[q]])
        if (dist[v] == UINT32_MAX) {
          dist[v] = dist[queue[q]] + 1;
          sum += dist[v];
          queue.push_back(v);
        }
    for (auto v : queue)
      dist[v] = UINT32_MAX;
    auto routes = static_cast<uint32_t>(queue.size() - 1);
    expected_[i] = digest{routes, sum};
    smallest_ = std::min(smallest_, routes + 1);
  }
  if (smallest_ == UINT32_MAX)
    smallest_ = 0;
  expected_version_ = version;
  expected_up_ = std::move(up_now);
  return expected_;
}

uint32_t sim_truth::smallest_component(time_point now) {
  expected(now);
  return smallest_;
}

size_t sim_truth::link_between(size_t a, size_t b) const {
  for (auto [peer, k] : links_of_[a])
    if (peer == b)
      return k;
  return npos;
}

void sim_truth::peer_down(size_t node, const std::string& neighbour,
                          time_point now) {
  auto j = index_.find(neighbour);
  if (j == index_.end())
    return; // not a node of the scenario: nothing to judge
  auto k = link_between(node, j->second);
  std::lock_guard<std::mutex> guard{mtx_};
  auto other = j->second;
  if (!alive_[other] || now < stalled_until_[other])
    return; // it was right: the neighbour is dead or frozen
  if (k != npos && !link_works_[k])
    return; // right: the link is cut
  // Right too when the neighbour or the link changed within the window:
  // the down may answer a death, a stall or a cut that has since ended.
  auto since = node_since_[other];
  if (k != npos)
    since = std::max(since, link_since_[k]);
  if (now - since < window_)
    return;
  ++false_downs_;
}

uint64_t sim_truth::false_downs() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return false_downs_;
}

} // namespace quilt

// Mesh topologies (SPEC §9). The generators' link choices are part of the
// contract: a scenario's seed must give the same links in every release, so
// any change to how they draw numbers changes every seeded scenario.

#include "quilt/topology.hpp"

#include <algorithm>
#include <random>
#include <set>
#include <stdexcept>

namespace quilt {

namespace {

/// Collects links once each; emits them sorted.
struct graph_builder {
  size_t n;
  std::set<std::pair<size_t, size_t>> edges;

  explicit graph_builder(size_t n) : n(n) {}

  bool link(size_t a, size_t b) {
    if (a == b || a >= n || b >= n)
      return false;
    return edges.emplace(std::min(a, b), std::max(a, b)).second;
  }

  mesh_graph finish() const {
    mesh_graph g;
    g.nodes.reserve(n);
    for (size_t i = 0; i < n; ++i)
      g.nodes.push_back("n" + std::to_string(i));
    g.links.assign(edges.begin(), edges.end());
    return g;
  }
};

/// A uniform-enough pick in [0, k): std::mt19937_64's output is fixed by the
/// standard, distributions are not, so this keeps generators reproducible
/// across standard libraries.
size_t pick(std::mt19937_64& rng, size_t k) {
  return static_cast<size_t>(rng() % k);
}

} // namespace

std::vector<std::pair<std::string, std::string>>
mesh_graph::named_links() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(links.size());
  for (auto [a, b] : links)
    out.emplace_back(nodes[a], nodes[b]);
  return out;
}

// -- generators ---------------------------------------------------------------

mesh_graph make_line(size_t n) {
  graph_builder g{n};
  for (size_t i = 0; i + 1 < n; ++i)
    g.link(i, i + 1);
  return g.finish();
}

mesh_graph make_ring(size_t n) {
  graph_builder g{n};
  for (size_t i = 0; i + 1 < n; ++i)
    g.link(i, i + 1);
  if (n >= 3)
    g.link(n - 1, 0);
  return g.finish();
}

mesh_graph make_star(size_t n) {
  graph_builder g{n};
  for (size_t i = 1; i < n; ++i)
    g.link(0, i);
  return g.finish();
}

mesh_graph make_grid(size_t n, size_t width) {
  if (width == 0)
    throw std::invalid_argument("grid width must be at least 1");
  graph_builder g{n};
  for (size_t i = 0; i < n; ++i) {
    if (i % width + 1 < width)
      g.link(i, i + 1); // ignored past the last node
    g.link(i, i + width);
  }
  return g.finish();
}

mesh_graph make_full(size_t n) {
  graph_builder g{n};
  for (size_t a = 0; a < n; ++a)
    for (size_t b = a + 1; b < n; ++b)
      g.link(a, b);
  return g.finish();
}

mesh_graph make_random(size_t n, size_t degree, uint64_t seed) {
  graph_builder g{n};
  if (n < 2)
    return g.finish();
  std::mt19937_64 rng{seed};
  // A random spanning tree over a random order keeps it connected without
  // making the low names hubs.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  for (size_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[pick(rng, i + 1)]);
  for (size_t i = 1; i < n; ++i)
    g.link(order[i], order[pick(rng, i)]);
  size_t want = std::min(n * degree / 2, n * (n - 1) / 2);
  while (g.edges.size() < want)
    g.link(pick(rng, n), pick(rng, n));
  return g.finish();
}

mesh_graph make_scale_free(size_t n, size_t m, uint64_t seed) {
  if (m == 0)
    throw std::invalid_argument("scale-free m must be at least 1");
  graph_builder g{n};
  std::mt19937_64 rng{seed};
  std::vector<size_t> ends; // each link's two ends: degree-weighted picks
  size_t core = std::min(n, m + 1);
  for (size_t a = 0; a < core; ++a)
    for (size_t b = a + 1; b < core; ++b) {
      g.link(a, b);
      ends.push_back(a);
      ends.push_back(b);
    }
  for (size_t v = core; v < n; ++v) {
    std::set<size_t> targets; // the core has m + 1 >= m distinct nodes
    while (targets.size() < m)
      targets.insert(ends[pick(rng, ends.size())]);
    for (auto t : targets) {
      g.link(v, t);
      ends.push_back(v);
      ends.push_back(t);
    }
  }
  return g.finish();
}

mesh_graph make_topology(std::string_view kind, size_t n, size_t degree,
                         size_t width, size_t m, uint64_t seed) {
  if (kind == "line")
    return make_line(n);
  if (kind == "ring")
    return make_ring(n);
  if (kind == "star")
    return make_star(n);
  if (kind == "grid")
    return make_grid(n, width);
  if (kind == "full")
    return make_full(n);
  if (kind == "random")
    return make_random(n, degree, seed);
  if (kind == "scale-free")
    return make_scale_free(n, m, seed);
  throw std::invalid_argument("unknown topology kind: " + std::string{kind});
}

mesh_graph make_explicit(std::vector<std::string> nodes,
                         std::vector<std::pair<size_t, size_t>> links) {
  for (auto& [a, b] : links) {
    if (a == b || a >= nodes.size() || b >= nodes.size())
      throw std::invalid_argument("make_explicit: bad link " +
                                  std::to_string(a) + "-" + std::to_string(b) +
                                  " among " + std::to_string(nodes.size()) +
                                  " nodes");
    if (a > b)
      std::swap(a, b);
  }
  std::sort(links.begin(), links.end());
  links.erase(std::unique(links.begin(), links.end()), links.end());
  mesh_graph g;
  g.nodes = std::move(nodes);
  g.links = std::move(links);
  return g;
}

// -- queries ------------------------------------------------------------------

bool is_connected(const mesh_graph& g) {
  if (g.nodes.size() < 2)
    return true;
  std::vector<std::vector<size_t>> adj(g.nodes.size());
  for (auto [a, b] : g.links) {
    adj[a].push_back(b);
    adj[b].push_back(a);
  }
  std::vector<bool> seen(g.nodes.size(), false);
  std::vector<size_t> stack{0};
  seen[0] = true;
  size_t count = 1;
  while (!stack.empty()) {
    auto u = stack.back();
    stack.pop_back();
    for (auto v : adj[u])
      if (!seen[v]) {
        seen[v] = true;
        ++count;
        stack.push_back(v);
      }
  }
  return count == g.nodes.size();
}

std::vector<size_t> degrees(const mesh_graph& g) {
  std::vector<size_t> out(g.nodes.size(), 0);
  for (auto [a, b] : g.links) {
    ++out[a];
    ++out[b];
  }
  return out;
}

} // namespace quilt

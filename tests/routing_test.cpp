// Unit tests of quilt::routing_table (link-state routing, SPEC §5-6): pure
// C++, no sockets, no actors, no real clock. Meshes from the simulation's
// generators (SPEC §9: line, ring, star, grid, full, random, scale-free) are
// built as one routing table per node with every advertisement installed (a
// converged flood); every answer is compared with a breadth-first search the
// test does on its own copy of the graph.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "quilt/routing.hpp"

using namespace quilt;
using namespace std::chrono_literals;
using strings = std::vector<std::string>;
using link_list = std::vector<std::pair<std::string, std::string>>;

namespace {

// A fixed, far-from-zero start time; tests advance it by hand.
const time_point t0 = time_point{} + 1h;

std::string name(int i) {
  return "n" + std::to_string(i);
}

// -- generators (SPEC §9) ------------------------------------------------------

/// An undirected graph on nodes 0..n-1, each edge once as (smaller, larger).
struct graph {
  std::string label;
  int n = 0;
  std::set<std::pair<int, int>> edges;

  void link(int a, int b) {
    if (a != b)
      edges.emplace(std::min(a, b), std::max(a, b));
  }
};

graph make_line(int n) {
  graph g{"line " + std::to_string(n), n, {}};
  for (int i = 0; i + 1 < n; ++i)
    g.link(i, i + 1);
  return g;
}

graph make_ring(int n) {
  graph g = make_line(n);
  g.label = "ring " + std::to_string(n);
  g.link(n - 1, 0);
  return g;
}

graph make_star(int n) {
  graph g{"star " + std::to_string(n), n, {}};
  for (int i = 1; i < n; ++i)
    g.link(0, i);
  return g;
}

/// Row-major, n{r*width+c}; the last row may be short.
graph make_grid(int n, int width) {
  graph g{"grid " + std::to_string(n) + "/" + std::to_string(width), n, {}};
  for (int i = 0; i < n; ++i) {
    if ((i % width) + 1 < width && i + 1 < n)
      g.link(i, i + 1);
    if (i + width < n)
      g.link(i, i + width);
  }
  return g;
}

graph make_full(int n) {
  graph g{"full " + std::to_string(n), n, {}};
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b)
      g.link(a, b);
  return g;
}

/// Relabels nodes by a random permutation, so that names (which break ties)
/// say nothing about the structure.
graph shuffled(graph g, std::mt19937& rng) {
  std::vector<int> perm(g.n);
  for (int i = 0; i < g.n; ++i)
    perm[i] = i;
  for (int i = g.n - 1; i > 0; --i)
    std::swap(perm[i], perm[rng() % (i + 1)]);
  graph r{g.label, g.n, {}};
  for (auto [a, b] : g.edges)
    r.link(perm[a], perm[b]);
  return r;
}

/// Connected: a random spanning tree, then random links up to about
/// n * degree / 2.
graph make_random(int n, int degree, uint32_t seed) {
  std::mt19937 rng(seed);
  graph g{"random " + std::to_string(n) + " degree " + std::to_string(degree)
            + " seed " + std::to_string(seed),
          n, {}};
  for (int i = 1; i < n; ++i)
    g.link(i, static_cast<int>(rng() % i));
  size_t want = std::min<size_t>(size_t(n) * degree / 2,
                                 size_t(n) * (n - 1) / 2);
  while (g.edges.size() < want)
    g.link(static_cast<int>(rng() % n), static_cast<int>(rng() % n));
  return shuffled(std::move(g), rng);
}

/// Disconnected: a connected random graph per entry of `sizes` (an entry of
/// 1 is an isolated node), names interleaved across components.
graph make_components(const std::vector<int>& sizes, int degree,
                      uint32_t seed) {
  std::mt19937 rng(seed);
  graph g{"components seed " + std::to_string(seed), 0, {}};
  for (int size : sizes) {
    graph part = make_random(size, degree, static_cast<uint32_t>(rng()));
    for (auto [a, b] : part.edges)
      g.link(g.n + a, g.n + b);
    g.n += size;
  }
  return shuffled(std::move(g), rng);
}

/// Random links with no spanning tree: sparse enough to fall apart.
graph make_sparse(int n, int links, uint32_t seed) {
  std::mt19937 rng(seed);
  graph g{"sparse " + std::to_string(n) + " seed " + std::to_string(seed), n,
          {}};
  while (g.edges.size() < size_t(links))
    g.link(static_cast<int>(rng() % n), static_cast<int>(rng() % n));
  return g;
}

/// Barabasi-Albert: a clique of m + 1 nodes, then each new node links to m
/// distinct existing ones chosen in proportion to their degree.
graph make_scale_free(int n, int m, uint32_t seed) {
  std::mt19937 rng(seed);
  graph g{"scale-free " + std::to_string(n) + " m " + std::to_string(m)
            + " seed " + std::to_string(seed),
          n, {}};
  std::vector<int> ends; // every edge's endpoints: degree-weighted sampling
  for (int a = 0; a <= m; ++a)
    for (int b = a + 1; b <= m; ++b) {
      g.link(a, b);
      ends.push_back(a);
      ends.push_back(b);
    }
  for (int v = m + 1; v < n; ++v) {
    std::set<int> targets;
    while (targets.size() < size_t(m))
      targets.insert(ends[rng() % ends.size()]);
    for (int t : targets) {
      g.link(v, t);
      ends.push_back(v);
      ends.push_back(t);
    }
  }
  return g;
}

// -- a simulated mesh ------------------------------------------------------------

/// One routing table per node that speaks link-state. lists[i] is what node
/// i advertises (its up neighbours); the tests edit it and re-advertise. A
/// stub is a node without a table or advertisement that others may list.
struct mesh {
  std::string label;
  int n = 0;
  strings names;
  std::map<std::string, int> index;
  std::vector<std::set<int>> lists;
  std::vector<bool> speaks;
  std::vector<uint64_t> seq;
  std::vector<routing_table> tables; // by node index; stubs' stay unused

  /// `whole`: every node gets every advertisement; otherwise only those of
  /// its own connected component (what a flood really reaches).
  explicit mesh(const graph& g, bool whole = true,
                const std::set<int>& stubs = {})
    : label(g.label), n(g.n), lists(g.n), speaks(g.n, true), seq(g.n, 1000) {
    for (int i = 0; i < n; ++i) {
      names.push_back(name(i));
      index[names.back()] = i;
      tables.emplace_back(names.back());
    }
    for (auto [a, b] : g.edges) {
      lists[a].insert(b);
      lists[b].insert(a);
    }
    for (int s : stubs)
      speaks[s] = false;
    for (int i = 0; i < n; ++i)
      if (speaks[i])
        REQUIRE(tables[i].set_own(listed(i), seq[i]) == !lists[i].empty());
    auto component = components();
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        if (i != j && speaks[i] && speaks[j]
            && (whole || component[i] == component[j]))
          REQUIRE(tables[i].install(names[j], seq[j], listed(j), t0));
  }

  strings listed(int i) const {
    strings r;
    for (int j : lists[i])
      r.push_back(names[j]);
    return r;
  }

  /// Node i's new advertisement, with a higher seq: set as its own and
  /// flooded to every other table.
  void advertise(int i, time_point now = t0) {
    seq[i] += 1;
    tables[i].set_own(listed(i), seq[i]);
    for (int j = 0; j < n; ++j)
      if (j != i && speaks[j])
        REQUIRE(tables[j].install(names[i], seq[i], listed(i), now));
  }

  /// Whether `from` (which speaks) may use its link to `to`: it lists `to`,
  /// and `to` lists it back or has no advertisement. The test's own reading
  /// of the rule, independent of routing_table::confirmed().
  bool usable(int from, int to) const {
    return speaks[from] && lists[from].count(to) > 0
           && (!speaks[to] || lists[to].count(from) > 0);
  }

  /// Hop counts from `src` (-1: unreachable). Stubs are leaves: nothing is
  /// known about their links, so nothing is routed through them. A stub
  /// source starts from the nodes that list it (it sends on all its links).
  std::vector<int> bfs(int src) const {
    std::vector<int> dist(n, -1);
    std::vector<int> queue{src};
    dist[src] = 0;
    if (!speaks[src])
      for (int v = 0; v < n; ++v)
        if (usable(v, src)) {
          dist[v] = 1;
          queue.push_back(v);
        }
    for (size_t q = 0; q < queue.size(); ++q) {
      int u = queue[q];
      for (int v : lists[u])
        if (dist[v] < 0 && usable(u, v)) {
          dist[v] = dist[u] + 1;
          queue.push_back(v);
        }
    }
    return dist;
  }

  /// Confirmed links (both ends list each other), each once as (a, b), a < b.
  std::vector<std::pair<int, int>> links() const {
    std::vector<std::pair<int, int>> r;
    for (int a = 0; a < n; ++a)
      for (int b : lists[a])
        if (a < b && usable(a, b) && usable(b, a))
          r.emplace_back(a, b);
    return r;
  }

  /// Connected-component id per node, over usable links.
  std::vector<int> components() const {
    std::vector<int> comp(n, -1);
    for (int s = 0; s < n; ++s) {
      if (comp[s] >= 0)
        continue;
      std::vector<int> queue{s};
      comp[s] = s;
      for (size_t q = 0; q < queue.size(); ++q) {
        int u = queue[q];
        for (int v = 0; v < n; ++v)
          if (comp[v] < 0 && (usable(u, v) || usable(v, u))) {
            comp[v] = s;
            queue.push_back(v);
          }
      }
    }
    return comp;
  }
};

/// Collects failures so one CHECK reports the first few with context,
/// instead of thousands of assertions per graph.
struct problems {
  std::vector<std::string> list;
  template <class... Ts>
  void add(const Ts&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    list.push_back(out.str());
  }
  std::string summary() const {
    std::ostringstream out;
    out << list.size() << " problem(s)";
    for (size_t i = 0; i < list.size() && i < 12; ++i)
      out << "\n  " << list[i];
    return out.str();
  }
};

#define CHECK_NO_PROBLEMS(p)                                                   \
  do {                                                                         \
    INFO((p).summary());                                                       \
    CHECK((p).list.empty());                                                   \
  } while (false)

/// lookup() and routes() of every table against the test's BFS: hop counts
/// equal, the next hop a neighbour one hop closer, next hops followed from
/// table to table reach the destination in exactly `hops` steps.
void check_routes(mesh& m) {
  INFO(m.label);
  problems p;
  for (int s = 0; s < m.n; ++s) {
    if (!m.speaks[s])
      continue;
    auto dist = m.bfs(s);
    if (m.tables[s].lookup(m.names[s]) != nullptr)
      p.add(m.names[s], " has a route to itself");
    size_t reachable = 0;
    for (int d = 0; d < m.n; ++d) {
      if (d == s)
        continue;
      const route_entry* r = m.tables[s].lookup(m.names[d]);
      if (dist[d] < 0) {
        if (r != nullptr)
          p.add(m.names[s], " -> ", m.names[d], ": unreachable, but route via ",
                r->next_hop, " hops ", r->hops);
        continue;
      }
      ++reachable;
      if (r == nullptr) {
        p.add(m.names[s], " -> ", m.names[d], ": no route, BFS says ",
              dist[d], " hops");
        continue;
      }
      if (r->destination != m.names[d])
        p.add(m.names[s], " -> ", m.names[d], ": destination ",
              r->destination);
      if (r->hops != uint32_t(dist[d]))
        p.add(m.names[s], " -> ", m.names[d], ": hops ", r->hops,
              ", BFS says ", dist[d]);
      auto nh = m.index.find(r->next_hop);
      if (nh == m.index.end() || !m.usable(s, nh->second)) {
        p.add(m.names[s], " -> ", m.names[d], ": next hop ", r->next_hop,
              " is not a neighbour");
        continue;
      }
      int h = nh->second;
      int rest = h == d ? 0 : (m.speaks[h] ? m.bfs(h)[d] : -1);
      if (rest != dist[d] - 1)
        p.add(m.names[s], " -> ", m.names[d], ": next hop ", r->next_hop,
              " is ", rest, " hops from it, want ", dist[d] - 1);
      // Follow the next hops through the tables: no loops, shortest.
      int cur = s;
      int steps = 0;
      while (cur != d && steps <= m.n) {
        const route_entry* step =
          m.speaks[cur] ? m.tables[cur].lookup(m.names[d]) : nullptr;
        if (step == nullptr) {
          p.add(m.names[s], " -> ", m.names[d], ": path dead-ends at ",
                m.names[cur]);
          break;
        }
        cur = m.index.at(step->next_hop);
        ++steps;
      }
      if (cur == d && steps != dist[d])
        p.add(m.names[s], " -> ", m.names[d], ": path of ", steps,
              " steps, want ", dist[d]);
      else if (cur != d && steps > m.n)
        p.add(m.names[s], " -> ", m.names[d], ": routing loop");
    }
    // routes(): exactly the reachable destinations, sorted, same entries.
    auto all = m.tables[s].routes();
    if (all.size() != reachable)
      p.add(m.names[s], ": routes() has ", all.size(), " entries, want ",
            reachable);
    for (size_t i = 0; i < all.size(); ++i) {
      if (i > 0 && !(all[i - 1].destination < all[i].destination))
        p.add(m.names[s], ": routes() not sorted at ", all[i].destination);
      const route_entry* r = m.tables[s].lookup(all[i].destination);
      if (r == nullptr || r->next_hop != all[i].next_hop
          || r->hops != all[i].hops)
        p.add(m.names[s], ": routes() entry for ", all[i].destination,
              " differs from lookup()");
    }
  }
  CHECK_NO_PROBLEMS(p);
}

/// topology(): reachable nodes (self included), sorted; every usable link
/// among them once, smaller name first, sorted.
void check_topology(mesh& m) {
  INFO(m.label);
  problems p;
  for (int s = 0; s < m.n; ++s) {
    if (!m.speaks[s])
      continue;
    auto dist = m.bfs(s);
    strings want_nodes;
    for (int i = 0; i < m.n; ++i)
      if (dist[i] >= 0)
        want_nodes.push_back(m.names[i]);
    std::sort(want_nodes.begin(), want_nodes.end());
    link_list want_links;
    for (int a = 0; a < m.n; ++a)
      for (int b : m.lists[a])
        if (dist[a] >= 0 && dist[b] >= 0 && m.usable(a, b)
            && (m.names[a] < m.names[b] || !m.speaks[b]))
          want_links.emplace_back(std::min(m.names[a], m.names[b]),
                                  std::max(m.names[a], m.names[b]));
    std::sort(want_links.begin(), want_links.end());
    strings nodes{"stale"};
    link_list links{{"stale", "stale"}};
    m.tables[s].topology(nodes, links);
    if (nodes != want_nodes)
      p.add(m.names[s], ": topology nodes ", nodes.size(), ", want ",
            want_nodes.size());
    if (links != want_links)
      p.add(m.names[s], ": topology links ", links.size(), ", want ",
            want_links.size());
  }
  CHECK_NO_PROBLEMS(p);
}

/// tree_children(origin) on every node: the parent -> child edges form a
/// shortest-path spanning tree of what origin reaches, so a reverse-path
/// broadcast reaches every node once, with one transmission per node but
/// the origin. Returns the transmissions per origin.
std::vector<size_t> check_trees(mesh& m) {
  INFO(m.label);
  problems p;
  std::vector<size_t> sent(m.n, 0);
  for (int o = 0; o < m.n; ++o) {
    auto dist = m.bfs(o);
    std::vector<int> parents(m.n, 0);
    std::vector<std::vector<int>> kids(m.n);
    if (!m.speaks[o]) // a stub origin sends on all its links itself
      for (int v = 0; v < m.n; ++v)
        if (m.usable(v, o)) {
          ++parents[v];
          kids[o].push_back(v);
          ++sent[o];
        }
    for (int v = 0; v < m.n; ++v) {
      if (!m.speaks[v])
        continue;
      strings children = m.tables[v].tree_children(m.names[o]); // a copy
      for (auto& c : children) {
        auto ci = m.index.find(c);
        if (ci == m.index.end() || !m.usable(v, ci->second)) {
          p.add("origin ", m.names[o], ": ", m.names[v], " has child ", c,
                " that is not its neighbour");
          continue;
        }
        int k = ci->second;
        if (dist[v] < 0 || dist[k] != dist[v] + 1)
          p.add("origin ", m.names[o], ": ", m.names[v], " (", dist[v],
                " hops) has child ", c, " (", dist[k], " hops)");
        ++parents[k];
        kids[v].push_back(k);
        ++sent[o];
      }
    }
    size_t reached = 0;
    for (int v = 0; v < m.n; ++v) {
      int want = (v != o && dist[v] >= 0) ? 1 : 0;
      reached += dist[v] >= 0 ? 1 : 0;
      if (parents[v] != want)
        p.add("origin ", m.names[o], ": ", m.names[v], " has ", parents[v],
              " parents, want ", want);
    }
    // Deliver a broadcast along the tree: each node reached exactly once.
    std::vector<int> got(m.n, 0);
    std::vector<int> queue{o};
    got[o] = 1;
    for (size_t q = 0; q < queue.size(); ++q)
      for (int k : kids[queue[q]])
        if (got[k]++ == 0)
          queue.push_back(k);
    for (int v = 0; v < m.n; ++v)
      if (got[v] != (dist[v] >= 0 ? 1 : 0))
        p.add("origin ", m.names[o], ": broadcast reaches ", m.names[v], " ",
              got[v], " times, BFS distance ", dist[v]);
    if (sent[o] != reached - 1)
      p.add("origin ", m.names[o], ": ", sent[o], " transmissions for ",
            reached, " reachable nodes");
  }
  CHECK_NO_PROBLEMS(p);
  return sent;
}

/// Transmissions of a plain flood from `origin` over its component: the
/// origin sends on every link, every other node on all but the one it heard
/// it from: 2L - (N - 1).
size_t flood_cost(const mesh& m, int origin) {
  auto dist = m.bfs(origin);
  size_t nodes = 0;
  size_t links = 0;
  for (int a = 0; a < m.n; ++a)
    nodes += dist[a] >= 0 ? 1 : 0;
  for (auto [a, b] : m.links())
    links += dist[a] >= 0 && dist[b] >= 0 ? 1 : 0;
  return 2 * links - (nodes - 1);
}

/// Everything on one mesh; for meshes with no stubs also the broadcast cost
/// against a flood.
void check_all(mesh& m) {
  check_routes(m);
  check_topology(m);
  auto sent = check_trees(m);
  if (std::count(m.speaks.begin(), m.speaks.end(), false) == 0) {
    INFO(m.label);
    bool cheaper_somewhere = false;
    for (int o = 0; o < m.n; ++o) {
      size_t flood = flood_cost(m, o);
      CHECK(sent[o] <= flood);
      cheaper_somewhere = cheaper_somewhere || sent[o] < flood;
    }
    // A graph with a cycle somewhere makes some flood redundant.
    bool has_cycle = false;
    auto comp = m.components();
    std::map<int, std::pair<size_t, size_t>> size; // comp -> (nodes, links)
    for (int a = 0; a < m.n; ++a)
      size[comp[a]].first += 1;
    for (auto [a, b] : m.links())
      size[comp[a]].second += 1;
    for (auto& [c, nl] : size)
      has_cycle = has_cycle || nl.second >= nl.first;
    CHECK(cheaper_somewhere == has_cycle);
  }
}

bool connected(const mesh& m) {
  auto comp = m.components();
  return std::all_of(comp.begin(), comp.end(),
                     [&](int c) { return c == comp[0]; });
}

bool connected_without(const graph& g, std::pair<int, int> cut) {
  std::vector<std::vector<int>> adj(g.n);
  for (auto [a, b] : g.edges)
    if (std::make_pair(a, b) != cut && std::make_pair(b, a) != cut) {
      adj[a].push_back(b);
      adj[b].push_back(a);
    }
  std::vector<bool> seen(g.n, false);
  std::vector<int> queue{0};
  seen[0] = true;
  for (size_t q = 0; q < queue.size(); ++q)
    for (int v : adj[queue[q]])
      if (!seen[v]) {
        seen[v] = true;
        queue.push_back(v);
      }
  return std::count(seen.begin(), seen.end(), true) == g.n;
}

strings route_snapshot(routing_table& t) {
  strings r;
  for (auto& e : t.routes())
    r.push_back(e.destination + " via " + e.next_hop + " in "
                + std::to_string(e.hops));
  return r;
}

std::vector<strings> snapshot(mesh& m) {
  std::vector<strings> r;
  for (int i = 0; i < m.n; ++i)
    r.push_back(m.speaks[i] ? route_snapshot(m.tables[i]) : strings{});
  return r;
}

} // namespace

// -- generated meshes, converged -------------------------------------------------

TEST_CASE("generators build the graphs SPEC §9 describes", "[routing]") {
  CHECK(make_line(5).edges.size() == 4);
  CHECK(make_ring(6).edges.size() == 6);
  CHECK(make_ring(6).edges.count({0, 5}) == 1);
  CHECK(make_star(10).edges.size() == 9);
  CHECK(make_grid(20, 5).edges.size() == 4 * 4 + 3 * 5);
  CHECK(make_grid(20, 5).edges.count({4, 5}) == 0); // no wrap across rows
  CHECK(make_full(8).edges.size() == 28);
  auto r = make_random(40, 4, 7);
  CHECK(r.edges.size() == 80);
  CHECK(connected(mesh(r)));
  CHECK(make_random(40, 4, 7).edges == r.edges); // reproducible
  CHECK(make_scale_free(50, 2, 3).edges.size() == 3 + 47 * 2);
  CHECK(connected(mesh(make_scale_free(50, 2, 3))));
  CHECK_FALSE(connected(mesh(make_components({20, 15, 10, 1, 1}, 3, 5))));
}

TEST_CASE("line: routes, topology and broadcast trees", "[routing]") {
  for (int n : {5, 20}) {
    mesh m(make_line(n));
    check_all(m);
  }
  mesh m(make_line(5));
  auto r = m.tables[0].lookup("n4");
  REQUIRE(r != nullptr);
  CHECK(r->next_hop == "n1");
  CHECK(r->hops == 4);
}

TEST_CASE("ring: routes, topology and broadcast trees", "[routing]") {
  for (int n : {6, 25}) {
    mesh m(make_ring(n));
    check_all(m);
  }
  mesh m(make_ring(25));
  auto r = m.tables[0].lookup("n24");
  REQUIRE(r != nullptr);
  CHECK(r->next_hop == "n24"); // the closing link
  CHECK(r->hops == 1);
  r = m.tables[0].lookup("n13");
  REQUIRE(r != nullptr);
  CHECK(r->hops == 12);
}

TEST_CASE("star: routes, topology and broadcast trees", "[routing]") {
  mesh m(make_star(10));
  check_all(m);
  for (int i = 1; i < 10; ++i) {
    auto r = m.tables[i].lookup(name(i == 9 ? 1 : i + 1));
    REQUIRE(r != nullptr);
    CHECK(r->next_hop == "n0");
    CHECK(r->hops == 2);
  }
}

TEST_CASE("grid: routes, topology and broadcast trees", "[routing]") {
  mesh m(make_grid(20, 5)); // 4 rows of 5
  check_all(m);
  auto r = m.tables[0].lookup("n19");
  REQUIRE(r != nullptr);
  CHECK(r->hops == 3 + 4);
  mesh ragged(make_grid(22, 5)); // a short last row
  check_all(ragged);
}

TEST_CASE("full mesh: routes, topology and broadcast trees", "[routing]") {
  mesh m(make_full(8));
  check_all(m);
  for (int s = 0; s < 8; ++s)
    for (auto& e : m.tables[s].routes()) {
      CHECK(e.hops == 1);
      CHECK(e.next_hop == e.destination);
    }
}

TEST_CASE("random connected graphs: routes, topology and broadcast trees",
          "[routing]") {
  struct {
    int n, degree;
    uint32_t seed;
  } cases[] = {{30, 3, 1}, {40, 4, 2}, {50, 3, 3}, {60, 4, 4}, {45, 2, 5}};
  for (auto c : cases) {
    mesh m(make_random(c.n, c.degree, c.seed));
    REQUIRE(connected(m));
    check_all(m);
  }
}

TEST_CASE("random disconnected graphs: unreachable means no route",
          "[routing]") {
  std::vector<graph> graphs{make_components({20, 15, 10, 1, 1}, 3, 11),
                            make_components({25, 25}, 4, 12),
                            make_sparse(40, 25, 13), make_sparse(60, 40, 14)};
  for (auto& g : graphs) {
    // A real flood stays inside its component; but stale advertisements
    // from the far side of a partition must not matter either.
    for (bool whole : {false, true}) {
      mesh m(g, whole);
      REQUIRE_FALSE(connected(m));
      check_all(m);
    }
  }
}

TEST_CASE("scale-free graph: routes, topology and broadcast trees",
          "[routing]") {
  for (uint32_t seed : {1u, 2u}) {
    mesh m(make_scale_free(50, 2, seed));
    REQUIRE(connected(m));
    check_all(m);
  }
}

TEST_CASE("broadcast trees are far cheaper than flooding", "[routing]") {
  mesh m(make_grid(20, 5));
  auto sent = check_trees(m);
  for (int o = 0; o < m.n; ++o) {
    CHECK(sent[o] == 19);
    CHECK(flood_cost(m, o) == 2 * 31 - 19);
  }
  mesh r(make_random(50, 4, 21));
  sent = check_trees(r);
  for (int o = 0; o < r.n; ++o) {
    CHECK(sent[o] == 49);
    CHECK(flood_cost(r, o) == 2 * 100 - 49);
  }
}

// -- changes -------------------------------------------------------------------

TEST_CASE("a link removed on both ends, one end, and re-added", "[routing]") {
  for (auto g : {make_grid(20, 5), make_ring(6), make_random(40, 3, 31)}) {
    mesh m(g);
    check_all(m);
    auto before = snapshot(m);
    // A link of n0 whose loss leaves the graph connected.
    int a = 0;
    int b = -1;
    for (int c : m.lists[0])
      if (b < 0 && connected_without(g, {0, c}))
        b = c;
    REQUIRE(b >= 0);
    INFO(g.label << ": link " << m.names[a] << "-" << m.names[b]);
    REQUIRE(m.tables[a].lookup(m.names[b])->hops == 1);

    // One end drops it, the other still lists it: no longer confirmed.
    m.lists[a].erase(b);
    m.advertise(a);
    check_all(m);
    CHECK(m.tables[a].lookup(m.names[b])->hops > 1);
    CHECK(m.tables[b].lookup(m.names[a])->hops > 1);
    CHECK(m.tables[b].lookup(m.names[a])->next_hop != m.names[a]);
    auto one_sided = snapshot(m);

    // The other end drops it too: same graph, same routes.
    m.lists[b].erase(a);
    m.advertise(b);
    check_all(m);
    CHECK(snapshot(m) == one_sided);

    // Re-added on one end only: still not confirmed.
    m.lists[a].insert(b);
    m.advertise(a);
    check_all(m);
    CHECK(snapshot(m) == one_sided);

    // Both ends: back to the routes of the start.
    m.lists[b].insert(a);
    m.advertise(b);
    check_all(m);
    CHECK(snapshot(m) == before);
  }
}

TEST_CASE("ring of 6 without one link routes the long way", "[routing]") {
  mesh m(make_ring(6));
  m.lists[0].erase(5);
  m.lists[5].erase(0);
  m.advertise(0);
  m.advertise(5);
  auto r = m.tables[0].lookup("n5");
  REQUIRE(r != nullptr);
  CHECK(r->next_hop == "n1");
  CHECK(r->hops == 5);
  strings nodes;
  link_list links;
  m.tables[3].topology(nodes, links);
  CHECK(nodes.size() == 6);
  CHECK(links == link_list{{"n0", "n1"}, {"n1", "n2"}, {"n2", "n3"},
                           {"n3", "n4"}, {"n4", "n5"}});
}

TEST_CASE("a node dropped by all its neighbours is unreachable everywhere",
          "[routing]") {
  for (auto g : {make_ring(25), make_grid(20, 5), make_scale_free(50, 2, 41)}) {
    mesh m(g);
    // The hub of the scale-free graph is the most interesting one.
    int gone = 0;
    for (int i = 0; i < m.n; ++i)
      if (m.lists[i].size() > m.lists[gone].size())
        gone = i;
    if (g.label.rfind("ring", 0) == 0)
      gone = 7;
    INFO(g.label << ": " << m.names[gone] << " goes away");
    for (int j : std::set<int>(m.lists[gone])) {
      m.lists[j].erase(gone);
      m.advertise(j);
    }
    // Its stale advertisement, still listing them, stays installed.
    for (int j = 0; j < m.n; ++j)
      if (j != gone)
        REQUIRE(m.tables[j].database().count(m.names[gone]) == 1);
    for (int j = 0; j < m.n; ++j)
      if (j != gone) {
        CHECK(m.tables[j].lookup(m.names[gone]) == nullptr);
        strings nodes;
        link_list links;
        m.tables[j].topology(nodes, links);
        CHECK(std::count(nodes.begin(), nodes.end(), m.names[gone]) == 0);
      }
    // Its own table, still listing its former neighbours, has no routes.
    CHECK(m.tables[gone].routes().empty());
    // The rest is re-routed around it (graph minus the node).
    check_all(m);
  }
}

TEST_CASE("a restarted node's newer advertisement replaces its former one",
          "[routing]") {
  mesh m(make_ring(25));
  auto before = snapshot(m);
  const int k = 7;
  // k dies; its neighbours drop it.
  for (int j : {6, 8}) {
    m.lists[j].erase(k);
    m.advertise(j);
  }
  check_all(m);
  CHECK(m.tables[0].lookup("n7") == nullptr);

  // k restarts: an empty table, a seq from its clock (far above the old one),
  // and at first only n6 is back up on both sides. n8 lists it again already
  // but k's new advertisement does not list n8: that link does not count.
  m.tables[k] = routing_table(m.names[k]);
  m.seq[k] += 1'000'000;
  m.lists[k] = {6};
  m.advertise(k);
  for (int j = 0; j < m.n; ++j) // the others' current advertisements
    if (j != k)
      REQUIRE(m.tables[k].install(m.names[j], m.seq[j], m.listed(j), t0));
  m.lists[6].insert(k);
  m.advertise(6);
  m.lists[8].insert(k);
  m.advertise(8);
  check_all(m);
  // n8 reaches n7 the long way round: the ring without 7-8 is a line.
  REQUIRE(m.tables[8].lookup("n7") != nullptr);
  CHECK(m.tables[8].lookup("n7")->hops == 24);
  for (int j = 0; j < m.n; ++j)
    if (j != k)
      CHECK(m.tables[j].database().at("n7").seq == m.seq[k]);

  // A delayed copy of its former life's advertisement is ignored.
  auto v = m.tables[8].version();
  CHECK_FALSE(m.tables[8].install("n7", 1001, {"n6", "n8"}, t0));
  CHECK(m.tables[8].version() == v);
  CHECK(m.tables[8].lookup("n7")->hops == 24);

  // n8 comes up on k's side too: the ring is whole again.
  m.lists[k].insert(8);
  m.advertise(k);
  check_all(m);
  CHECK(snapshot(m) == before);
}

TEST_CASE("sequence numbers: only newer advertisements are installed",
          "[routing]") {
  routing_table t("a");
  CHECK(t.set_own({"b"}, 1));
  REQUIRE(t.install("b", 10, {"a", "c"}, t0));
  REQUIRE(t.install("c", 10, {"b"}, t0));
  REQUIRE(t.lookup("c") != nullptr);
  CHECK(t.lookup("c")->hops == 2);
  auto v = t.version();

  SECTION("equal seq, different content: not installed") {
    CHECK_FALSE(t.install("b", 10, {"a"}, t0));
  }
  SECTION("older seq: not installed") {
    CHECK_FALSE(t.install("b", 9, {"a"}, t0));
    CHECK_FALSE(t.install("b", 0, {}, t0));
  }
  SECTION("an advertisement of this node from elsewhere: not installed") {
    CHECK_FALSE(t.install("a", 1000, {}, t0));
    CHECK(t.database().at("a").neighbours == strings{"b"});
  }
  SECTION("newer seq: installed, routes follow") {
    CHECK(t.install("b", 11, {"a"}, t0));
    CHECK(t.version() != v);
    CHECK(t.lookup("c") == nullptr);
    CHECK(t.database().at("b").seq == 11);
    CHECK(t.install("b", 12, {"c", "a"}, t0));
    REQUIRE(t.lookup("c") != nullptr);
    CHECK(t.lookup("c")->hops == 2);
    return;
  }
  CHECK(t.version() == v);
  CHECK(t.database().at("b").seq == 10);
  CHECK(t.database().at("b").neighbours == strings{"a", "c"});
  REQUIRE(t.lookup("c") != nullptr);
  CHECK(t.lookup("c")->hops == 2);
}

TEST_CASE("a newer advertisement with the same links changes no routes",
          "[routing]") {
  routing_table t("a");
  t.set_own({"b"}, 1);
  REQUIRE(t.install("b", 10, {"a", "c"}, t0));
  auto v = t.version();
  // Installed (to be flooded on), but routes have not changed.
  CHECK(t.install("b", 11, {"c", "a", "a"}, t0 + 10s));
  CHECK(t.version() == v);
  CHECK(t.database().at("b").seq == 11);
  CHECK(t.database().at("b").received == t0 + 10s);
}

TEST_CASE("neighbour lists are sorted and deduplicated", "[routing]") {
  routing_table t("m");
  CHECK(t.set_own({"z", "b", "z", "c"}, 1));
  CHECK_FALSE(t.set_own({"c", "b", "z"}, 2)); // same set
  CHECK(t.database().at("m").neighbours == strings{"b", "c", "z"});
  REQUIRE(t.install("z", 5, {"y", "m", "a", "m"}, t0));
  CHECK(t.database().at("z").neighbours == strings{"a", "m", "y"});
  REQUIRE(t.install("y", 5, {"z"}, t0));
  REQUIRE(t.install("a", 5, {"z"}, t0));
  REQUIRE(t.install("b", 5, {"m"}, t0));
  REQUIRE(t.install("c", 5, {"m"}, t0));
  // b, c, z at 1; a, y at 2 via z.
  auto all = t.routes();
  REQUIRE(all.size() == 5);
  CHECK(all[0].destination == "a");
  CHECK(all[0].next_hop == "z");
  CHECK(all[0].hops == 2);
  CHECK(all[4].destination == "z");
  CHECK(all[4].hops == 1);
  CHECK(t.set_own({"b"}, 3));
  CHECK(t.lookup("z") == nullptr);
  CHECK(t.lookup("y") == nullptr);
}

TEST_CASE("expire forgets stale advertisements, never the own one",
          "[routing]") {
  // a - b - c - d - e, all learned by a at different times.
  routing_table t("a");
  t.set_own({"b"}, 1);
  REQUIRE(t.install("b", 1, {"a", "c"}, t0 + 50s));
  REQUIRE(t.install("c", 1, {"b", "d"}, t0));
  REQUIRE(t.install("d", 1, {"c", "e"}, t0 + 50s));
  REQUIRE(t.install("e", 1, {"d"}, t0 + 50s));
  REQUIRE(t.lookup("e") != nullptr);
  CHECK(t.lookup("e")->hops == 4);
  auto v = t.version();

  CHECK_FALSE(t.expire(t0 + 30s, 60s));
  CHECK(t.version() == v);
  CHECK(t.database().size() == 5);

  // c is 70 s old: gone. b still lists it, so c is a stub now: reachable,
  // but nothing is routed through it.
  CHECK(t.expire(t0 + 70s, 60s));
  CHECK(t.version() != v);
  CHECK(t.database().count("c") == 0);
  REQUIRE(t.lookup("c") != nullptr);
  CHECK(t.lookup("c")->hops == 2);
  CHECK(t.lookup("d") == nullptr);
  CHECK(t.lookup("e") == nullptr);
  strings nodes;
  link_list links;
  t.topology(nodes, links);
  CHECK(nodes == strings{"a", "b", "c"});
  CHECK(links == link_list{{"a", "b"}, {"b", "c"}});

  // c's fresh advertisement brings the rest back.
  REQUIRE(t.install("c", 2, {"b", "d"}, t0 + 71s));
  REQUIRE(t.lookup("e") != nullptr);
  CHECK(t.lookup("e")->hops == 4);

  // Everything learned ages out; the own entry (never refreshed) stays, and
  // its neighbour b, now without an advertisement, is a reachable stub.
  CHECK(t.expire(t0 + 1000s, 60s));
  CHECK(t.database().size() == 1);
  CHECK(t.database().count("a") == 1);
  CHECK(t.database().at("a").neighbours == strings{"b"});
  auto all = t.routes();
  REQUIRE(all.size() == 1);
  CHECK(all[0].destination == "b");
  CHECK(all[0].hops == 1);
  CHECK_FALSE(t.expire(t0 + 2000s, 60s));
}

TEST_CASE("a re-sent advertisement keeps its origin from expiring",
          "[routing]") {
  routing_table t("a");
  t.set_own({"b"}, 1);
  REQUIRE(t.install("b", 1, {"a", "c"}, t0));
  REQUIRE(t.install("c", 1, {"b"}, t0));
  REQUIRE(t.install("b", 2, {"a", "c"}, t0 + 50s)); // refresh, same links
  CHECK(t.expire(t0 + 70s, 60s));                    // c only
  CHECK(t.database().count("b") == 1);
  CHECK(t.database().count("c") == 0);
}

TEST_CASE("clear_learned keeps only the own advertisement", "[routing]") {
  mesh m(make_ring(6));
  auto& t = m.tables[0];
  REQUIRE(t.routes().size() == 5);
  t.clear_learned();
  CHECK(t.database().size() == 1);
  CHECK(t.database().at("n0").neighbours == strings{"n1", "n5"});
  // Its neighbours are stubs until their advertisements come back.
  auto all = t.routes();
  REQUIRE(all.size() == 2);
  CHECK(all[0].destination == "n1");
  CHECK(all[1].destination == "n5");
  for (int j = 1; j < 6; ++j)
    REQUIRE(t.install(m.names[j], m.seq[j], m.listed(j), t0));
  check_all(m);
}

// -- stubs -----------------------------------------------------------------------

TEST_CASE("a stub neighbour (no advertisement) is reachable through the node "
          "that lists it",
          "[routing]") {
  // a - b - c - d, x listed by a only, z by a and d; x and z never advertise.
  graph g{"stubs", 6, {}};
  const int a = 0, b = 1, c = 2, d = 3, x = 4, z = 5;
  g.link(a, b);
  g.link(b, c);
  g.link(c, d);
  g.link(a, x);
  g.link(a, z);
  g.link(d, z);
  mesh m(g, true, {x, z});
  check_all(m);

  auto r = m.tables[a].lookup("n4");
  REQUIRE(r != nullptr);
  CHECK(r->next_hop == "n4");
  CHECK(r->hops == 1);
  r = m.tables[b].lookup("n4");
  REQUIRE(r != nullptr);
  CHECK(r->next_hop == "n0");
  CHECK(r->hops == 2);
  r = m.tables[d].lookup("n4");
  REQUIRE(r != nullptr);
  CHECK(r->hops == 4);
  // Nothing is known of a stub's links: it is no shortcut from a to d.
  r = m.tables[a].lookup("n3");
  REQUIRE(r != nullptr);
  CHECK(r->next_hop == "n1");
  CHECK(r->hops == 3);
  // ... but both its neighbours reach it directly.
  CHECK(m.tables[d].lookup("n5")->hops == 1);
  CHECK(m.tables[a].lookup("n5")->hops == 1);

  strings nodes;
  link_list links;
  m.tables[c].topology(nodes, links);
  CHECK(nodes == strings{"n0", "n1", "n2", "n3", "n4", "n5"});
  CHECK(links == link_list{{"n0", "n1"}, {"n0", "n4"}, {"n0", "n5"},
                           {"n1", "n2"}, {"n2", "n3"}, {"n3", "n5"}});

  // A stub that starts advertising without listing a: the link is gone.
  m.speaks[x] = true;
  m.lists[x].clear();
  m.advertise(x);
  CHECK(m.tables[a].lookup("n4") == nullptr);
  check_all(m);
}

TEST_CASE("random graphs with stub nodes", "[routing]") {
  for (uint32_t seed : {51u, 52u, 53u}) {
    graph g = make_random(40, 3, seed);
    std::set<int> stubs;
    std::mt19937 rng(seed);
    while (stubs.size() < 5)
      stubs.insert(static_cast<int>(rng() % g.n));
    mesh m(g, true, stubs);
    check_all(m);
  }
}

TEST_CASE("a broadcast from a stub neighbour reaches every node once",
          "[routing]") {
  // tree_children(origin) for an origin without an advertisement: the tree
  // grows from the nodes that list it (a stub sends on all its links).
  graph g = make_grid(20, 5);
  mesh m(g, true, {0, 12}); // a corner and an inner node
  auto sent = check_trees(m);
  CHECK(sent[0] == 19); // n12 is a leaf: reachable, never a relay
  CHECK(sent[12] == 19); // likewise n0
  CHECK(m.tables[1].tree_children("n0").size() > 0);
  // An origin nobody knows has no tree (the caller must flood).
  CHECK(m.tables[1].tree_children("nobody").empty());
}

// -- scale ---------------------------------------------------------------------

TEST_CASE("a 1000-node random graph: all routes of one node", "[routing]") {
  graph g = make_random(1000, 4, 99);
  std::vector<std::set<int>> adj(g.n);
  for (auto [a, b] : g.edges) {
    adj[a].insert(b);
    adj[b].insert(a);
  }
  auto names_of = [&](int i) {
    strings r;
    for (int j : adj[i])
      r.push_back(name(j));
    return r;
  };
  routing_table t(name(0));
  t.set_own(names_of(0), 1);
  for (int i = 1; i < g.n; ++i)
    REQUIRE(t.install(name(i), 1, names_of(i), t0));
  // The test's BFS.
  std::vector<int> dist(g.n, -1);
  std::vector<int> queue{0};
  dist[0] = 0;
  for (size_t q = 0; q < queue.size(); ++q)
    for (int v : adj[queue[q]])
      if (dist[v] < 0) {
        dist[v] = dist[queue[q]] + 1;
        queue.push_back(v);
      }
  size_t wrong = 0;
  for (int d = 1; d < g.n; ++d) {
    auto r = t.lookup(name(d));
    if (r == nullptr || r->hops != uint32_t(dist[d])
        || adj[0].count(std::stoi(r->next_hop.substr(1))) == 0)
      ++wrong;
  }
  CHECK(wrong == 0);
  CHECK(t.routes().size() == 999);
  strings nodes;
  link_list links;
  t.topology(nodes, links);
  CHECK(nodes.size() == 1000);
  CHECK(links.size() == 2000);
  // A few broadcast origins.
  size_t kids = 0;
  for (int o : {0, 1, 500, 999})
    kids += t.tree_children(name(o)).size();
  CHECK(kids >= adj[0].size()); // as origin, n0 sends to every neighbour
}

// -- names counted by reference, budgets per neighbour (SPEC §12) -------------

namespace {

/// `n` made-up names starting at `first`, joined by spaces (the wire form).
std::string made_up(const std::string& prefix, size_t first, size_t n) {
  std::string text;
  for (size_t i = first; i < first + n; ++i) {
    if (!text.empty())
      text += ' ';
    text += prefix + std::to_string(i);
  }
  return text;
}

/// Parses and installs an advertisement the way protocol::on_link_state
/// does for one that arrived over a link from `via`. False when refused.
bool deliver(routing_table& t, const std::string& via,
             const std::string& origin, uint64_t seq, const std::string& text,
             time_point now, size_t* skipped = nullptr) {
  auto from = t.neighbour(via);
  auto o = intern_name(origin, t.budget(from));
  if (!o)
    return false;
  auto ad = parse_advert(o.id(), seq, text, t.budget(from), skipped);
  return ad && t.install(ad, from, now);
}

} // namespace

TEST_CASE("names no advertisement uses are freed, and their ids reused",
          "[routing][names]") {
  auto base = interned_names();
  {
    routing_table t("free-a");
    CHECK(interned_names() == base + 1); // the table holds its own name
    REQUIRE(t.install("free-b", 1, {"free-a", "free-c"}, t0));
    auto listed = strings{"free-a"};
    for (int i = 0; i < 100; ++i)
      listed.push_back("free-x" + std::to_string(i));
    REQUIRE(t.install("free-c", 1, listed, t0));
    CHECK(interned_names() == base + 103);
    auto bound = name_id_bound();
    auto x7 = find_name("free-x7");
    CHECK(x7 != no_node);
    // c's next advertisement no longer lists the x names: nothing uses them.
    REQUIRE(t.install("free-c", 2, {"free-a", "free-b"}, t0));
    CHECK(interned_names() == base + 3);
    CHECK(find_name("free-x7") == no_node);
    CHECK(t.lookup("free-x7") == nullptr);
    // New names take the freed ids: the id space does not grow.
    REQUIRE(t.install("free-b", 2, {"free-a", "free-c", "free-y0", "free-y1"},
                      t0));
    CHECK(name_id_bound() == bound);
    CHECK(interned_names() == base + 5);
    // Forgetting an advertisement frees its origin and what it listed.
    CHECK(t.expire(t0 + 1h, 1min));
    CHECK(interned_names() == base + 1);
    CHECK(find_name("free-b") == no_node);
  }
  CHECK(interned_names() == base); // the table's own name went with it
}

TEST_CASE("a shared advertisement holds its names while any table holds it",
          "[routing][names]") {
  auto base = interned_names();
  routing_table a("share-a");
  routing_table b("share-b");
  advert_ptr ad;
  {
    auto origin = intern_name("share-o");
    ad = parse_advert(origin.id(), 5, "share-a share-b share-z", nullptr);
  }
  REQUIRE(ad);
  auto copy = ad;
  REQUIRE(a.install(ad, no_node, t0));
  REQUIRE(b.install(copy, no_node, t0));
  ad.reset();
  copy.reset();
  CHECK(interned_names() == base + 4);
  REQUIRE(a.install("share-o", 6, {"share-a"}, t0));
  CHECK(find_name("share-z") != no_node); // b still holds the old one
  CHECK(name_of(b.advert_of(find_name("share-o"))->neighbours().first[2])
        == "share-z");
  b.clear_learned();
  CHECK(find_name("share-z") == no_node);
  CHECK(interned_names() == base + 3);
}

TEST_CASE("a freed id reused for another name does not confuse a table that "
          "knew the first",
          "[routing][names]") {
  routing_table a("reuse-a");
  routing_table b("reuse-b");
  b.set_own({"reuse-m"}, 1);
  REQUIRE(a.install("reuse-n", 1, {"reuse-a", "reuse-x"}, t0));
  a.set_own({"reuse-n"}, 1);
  REQUIRE(a.lookup("reuse-x") != nullptr);
  CHECK(a.tree_children("reuse-x").empty());
  auto x = find_name("reuse-x");
  // x goes away; b learns a new name, which takes x's id.
  REQUIRE(a.install("reuse-n", 2, {"reuse-a"}, t0));
  CHECK(find_name("reuse-x") == no_node);
  REQUIRE(b.install("reuse-m", 1, {"reuse-b", "reuse-y"}, t0));
  REQUIRE(find_name("reuse-y") == x);
  // a has no route to y (nor to x), by name or by id; b routes to y.
  CHECK(a.lookup("reuse-y") == nullptr);
  CHECK(a.lookup("reuse-x") == nullptr);
  CHECK(a.next_hop(x) == no_node);
  CHECK(a.routes().size() == 1);
  CHECK(a.tree_children("reuse-y").empty());
  auto r = b.lookup("reuse-y");
  REQUIRE(r != nullptr);
  CHECK(r->next_hop == "reuse-m");
  CHECK(r->hops == 2);
  strings nodes;
  link_list links;
  a.topology(nodes, links);
  CHECK(nodes == strings{"reuse-a", "reuse-n"});
}

TEST_CASE("a name beyond the neighbour's budget is left out, not the whole "
          "advertisement",
          "[routing][names]") {
  SECTION("parse_advert on a budget of 3") {
    auto base = interned_names();
    auto* budget = new name_budget(3);
    auto origin = intern_name("skip-o");
    auto known = intern_name("skip-known");
    size_t skipped = 0;
    auto ad = parse_advert(origin.id(), 1,
                           "skip-1 skip-2 skip-known skip-3 skip-4 skip-5 "
                           "not/a/name",
                           budget, &skipped);
    REQUIRE(ad);
    CHECK(ad->text == "skip-1 skip-2 skip-3 skip-known");
    CHECK(skipped == 3);
    CHECK(budget->held == 3);
    CHECK(interned_names() == base + 5);
    ad.reset();
    CHECK(budget->held == 0); // freed names give their budget back
    CHECK(interned_names() == base + 2);
    release(budget);
  }
  SECTION("a table's budget for one neighbour") {
    routing_table t("skip-a");
    t.set_own({"skip-b", "skip-c"}, 1);
    // b spends its whole budget on made-up names (4,096 per advertisement).
    size_t sent = 0;
    for (size_t k = 0; sent < max_names_per_neighbour; ++k) {
      auto n = std::min<size_t>(4095, max_names_per_neighbour - sent - 1);
      REQUIRE(deliver(t, "skip-b", "skip-f" + std::to_string(k), 1,
                      made_up("skip-m", sent, n), t0));
      sent += n + 1;
    }
    CHECK(t.load_of("skip-b").names == max_names_per_neighbour);
    // Known names still come through b, unknown ones are left out.
    size_t skipped = 0;
    REQUIRE(deliver(t, "skip-b", "skip-b", 1, "skip-a skip-new skip-c",
                    t0, &skipped));
    CHECK(skipped == 1);
    CHECK(t.database().at("skip-b").neighbours
          == strings{"skip-a", "skip-c"});
    // What no named neighbour delivered has no budget to count against.
    CHECK(t.neighbour("") == no_node);
    CHECK(t.budget(no_node) == nullptr);
    // A new origin through b has no room: refused.
    CHECK_FALSE(deliver(t, "skip-b", "skip-new", 1, "skip-b", t0));
    // c's budget is its own: a new node d behind c is taken and routed.
    REQUIRE(deliver(t, "skip-c", "skip-c", 1, "skip-a skip-d", t0));
    REQUIRE(deliver(t, "skip-c", "skip-d", 1, "skip-c", t0));
    auto r = t.lookup("skip-d");
    REQUIRE(r != nullptr);
    CHECK(r->next_hop == "skip-c");
    CHECK(t.load_of("skip-c").names == 1);
  }
}

TEST_CASE("the issue's flood: 1,030 advertisements of 4,096 made-up names "
          "through one neighbour stay within its budgets",
          "[routing][names]") {
  auto base = interned_names();
  routing_table t("flood-a");
  t.set_own({"flood-x", "flood-b"}, 1);
  REQUIRE(deliver(t, "flood-b", "flood-b", 1, "flood-a flood-c", t0));
  REQUIRE(deliver(t, "flood-b", "flood-c", 1, "flood-b", t0));
  auto real_entries = t.held_entries();
  // x floods: made-up origins, each listing 4,096 made-up names.
  size_t refused = 0;
  for (size_t k = 0; k < 1030; ++k)
    if (!deliver(t, "flood-x", "flood-o" + std::to_string(k), 1,
                 made_up("flood-m", k * 4096, 4096), t0))
      ++refused;
  auto load = t.load_of("flood-x");
  CHECK(load.names == max_names_per_neighbour);
  CHECK(load.entries <= max_entries_per_neighbour);
  // Each advertisement brought 4,097 new names (its origin too): the 32nd
  // ran out, and every new origin after it is refused.
  CHECK(refused == 1030 - 32);
  // Then it lists names it got in, under origins it got in (no new names
  // needed): what the entry budget is for.
  auto names = made_up("flood-m", 0, 4096);
  for (size_t k = 0; k < 100; ++k)
    deliver(t, "flood-x", "flood-m" + std::to_string(10000 + k), 1, names,
            t0);
  load = t.load_of("flood-x");
  CHECK(load.entries == max_entries_per_neighbour);
  CHECK(load.entries <= max_entries_per_neighbour);
  CHECK(load.names <= max_names_per_neighbour);
  // The table's own count of what it holds: the real mesh plus one
  // neighbour's budget, a few tens of MiB (routing.hpp).
  CHECK(t.held_entries() <= real_entries + max_entries_per_neighbour);
  CHECK(interned_names() - base <= 5 + max_names_per_neighbour);
  // Real nodes stay reachable; a new one behind b is taken and routed.
  REQUIRE(deliver(t, "flood-b", "flood-c", 2, "flood-b flood-d", t0));
  REQUIRE(deliver(t, "flood-b", "flood-d", 1, "flood-c", t0));
  for (auto n : {"flood-b", "flood-c", "flood-d"}) {
    auto r = t.lookup(n);
    REQUIRE(r != nullptr);
    CHECK(r->next_hop == "flood-b");
  }
  // Once the flood stops, its advertisements age out and every name and
  // entry it brought in is freed.
  REQUIRE(deliver(t, "flood-b", "flood-b", 2, "flood-a flood-c", t0 + 80s));
  REQUIRE(deliver(t, "flood-b", "flood-c", 3, "flood-b flood-d", t0 + 80s));
  REQUIRE(deliver(t, "flood-b", "flood-d", 2, "flood-c", t0 + 80s));
  CHECK(t.expire(t0 + 100s, 90s));
  CHECK(t.load_of("flood-x").names == 0);
  CHECK(t.load_of("flood-x").entries == 0);
  CHECK(t.held_entries() == 3 + 3 + 2); // b, c and d, each with its origin
  CHECK(interned_names() == base + 5);
}

TEST_CASE("an advertisement over the neighbour's entry budget is installed "
          "without what does not fit, confirmed links first",
          "[routing][names]") {
  routing_table t("trim-a");
  t.set_own({"trim-b"}, 1);
  // Fill b's entry budget with advertisements of known names (no new names
  // beyond the 4,096 listed and the origins).
  auto names = made_up("trim-m", 0, 4094);
  REQUIRE(deliver(t, "trim-b", "trim-b", 1, "trim-a trim-z", t0));
  REQUIRE(deliver(t, "trim-b", "trim-z", 1, "trim-b trim-last", t0));
  size_t k = 0;
  while (t.load_of("trim-b").entries + 4096 <= max_entries_per_neighbour)
    REQUIRE(deliver(t, "trim-b", "trim-o" + std::to_string(k++), 1, names,
                    t0));
  auto left = max_entries_per_neighbour - t.load_of("trim-b").entries;
  REQUIRE(left < 4096);
  REQUIRE(left > 3);
  // One more, from a node next to b and z (both list it back: confirmed
  // links), listing 4,094 names besides: b and z are kept (z sorts last),
  // and as many others as fit.
  REQUIRE(deliver(t, "trim-b", "trim-b", 2, "trim-a trim-z trim-last", t0));
  left = max_entries_per_neighbour - t.load_of("trim-b").entries;
  advert_ptr ad;
  {
    auto o = intern_name("trim-last");
    ad = parse_advert(o.id(), 1, "trim-b trim-z " + names, nullptr);
  }
  REQUIRE(ad->count == 4096);
  auto via = t.neighbour("trim-b");
  REQUIRE(t.install(ad, via, t0));
  CHECK(ad->count == left - 1); // the copy installed, for the flood onward
  CHECK(t.load_of("trim-b").entries == max_entries_per_neighbour);
  CHECK(t.advert_of(find_name("trim-last"))->lists(find_name("trim-b")));
  CHECK(t.advert_of(find_name("trim-last"))->lists(find_name("trim-z")));
  auto r = t.lookup("trim-last");
  REQUIRE(r != nullptr);
  CHECK(r->hops == 2);
  // Full: a new origin does not fit at all.
  {
    auto o = intern_name("trim-none");
    ad = parse_advert(o.id(), 1, "trim-b", nullptr);
  }
  CHECK_FALSE(t.install(ad, via, t0));
  // b's own newer version still fits in what its older one held.
  REQUIRE(deliver(t, "trim-b", "trim-b", 3, "trim-a trim-z trim-last", t0));
}

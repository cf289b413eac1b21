// Topology generators (SPEC §9): every generator's node names, link count,
// the degree of every node, connectivity, reproducibility by seed, and the
// small sizes (1, 2, 3 nodes); explicit graphs and the graph queries.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "quilt/topology.hpp"

using namespace quilt;

namespace {

using links_t = std::vector<std::pair<size_t, size_t>>;

std::vector<std::string> names(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back("n" + std::to_string(i));
  return out;
}

size_t pairs(size_t n) {
  return n * (n - 1) / 2;
}

/// Links are (smaller, larger), sorted, each once, within the nodes.
void check_well_formed(const mesh_graph& g) {
  for (auto [a, b] : g.links) {
    CHECK(a < b);
    CHECK(b < g.nodes.size());
  }
  CHECK(std::is_sorted(g.links.begin(), g.links.end()));
  CHECK(std::adjacent_find(g.links.begin(), g.links.end()) == g.links.end());
}

size_t sum(const std::vector<size_t>& xs) {
  return std::accumulate(xs.begin(), xs.end(), size_t{0});
}

/// The degree of node i of a row-major grid, counted from its neighbours.
size_t grid_degree(size_t i, size_t n, size_t width) {
  size_t c = i % width;
  size_t d = 0;
  d += c > 0 ? 1 : 0;                      // left
  d += c + 1 < width && i + 1 < n ? 1 : 0; // right
  d += i >= width ? 1 : 0;                 // up
  d += i + width < n ? 1 : 0;              // down
  return d;
}

} // namespace

// -- line, ring, star ---------------------------------------------------------

TEST_CASE("line: n0-n1-...-n{N-1}, ends degree 1, inner nodes 2") {
  for (size_t n : {1, 2, 3, 4, 10, 100}) {
    INFO("line " << n);
    auto g = make_line(n);
    check_well_formed(g);
    CHECK(g.nodes == names(n));
    CHECK(g.links.size() == n - 1);
    for (size_t i = 0; i + 1 < n; ++i)
      CHECK(g.links[i] == std::pair<size_t, size_t>{i, i + 1});
    auto d = degrees(g);
    REQUIRE(d.size() == n);
    for (size_t i = 0; i < n; ++i) {
      size_t want = n == 1 ? 0 : (i == 0 || i + 1 == n) ? 1 : 2;
      CHECK(d[i] == want);
    }
    CHECK(is_connected(g));
  }
  CHECK(make_line(5).named_links() ==
        std::vector<std::pair<std::string, std::string>>{
            {"n0", "n1"}, {"n1", "n2"}, {"n2", "n3"}, {"n3", "n4"}});
  CHECK(make_line(0).nodes.empty());
  CHECK(make_line(0).links.empty());
}

TEST_CASE("ring: the line closed by n{N-1}-n0, every node degree 2") {
  for (size_t n : {3, 4, 5, 10, 100}) {
    INFO("ring " << n);
    auto g = make_ring(n);
    check_well_formed(g);
    CHECK(g.nodes == names(n));
    CHECK(g.links.size() == n);
    CHECK(std::count(g.links.begin(), g.links.end(),
                     std::pair<size_t, size_t>{0, n - 1}) == 1);
    for (auto d : degrees(g))
      CHECK(d == 2);
    CHECK(is_connected(g));
  }
  SECTION("below 3 nodes there is nothing to close") {
    CHECK(make_ring(1).links.empty());
    CHECK(degrees(make_ring(1)) == std::vector<size_t>{0});
    CHECK(make_ring(2).links == links_t{{0, 1}});
    CHECK(degrees(make_ring(2)) == std::vector<size_t>{1, 1});
    CHECK(make_ring(3).links == links_t{{0, 1}, {0, 2}, {1, 2}});
  }
}

TEST_CASE("star: hub n0 with degree n-1, every other node degree 1") {
  for (size_t n : {1, 2, 3, 6, 50}) {
    INFO("star " << n);
    auto g = make_star(n);
    check_well_formed(g);
    CHECK(g.nodes == names(n));
    CHECK(g.links.size() == n - 1);
    for (auto [a, b] : g.links)
      CHECK(a == 0);
    auto d = degrees(g);
    CHECK(d[0] == n - 1);
    for (size_t i = 1; i < n; ++i)
      CHECK(d[i] == 1);
    CHECK(is_connected(g));
  }
}

// -- grid ---------------------------------------------------------------------

TEST_CASE("grid: row-major, corners 2, edges 3, inner nodes 4") {
  auto g = make_grid(12, 4); // 3 rows of 4
  check_well_formed(g);
  CHECK(g.nodes == names(12));
  CHECK(g.links.size() == 3 * 3 + 2 * 4);
  auto d = degrees(g);
  for (size_t corner : {0, 3, 8, 11})
    CHECK(d[corner] == 2);
  for (size_t edge : {1, 2, 4, 7, 9, 10})
    CHECK(d[edge] == 3);
  for (size_t inner : {5, 6})
    CHECK(d[inner] == 4);
  // n{r*width+c}: right and lower neighbours.
  CHECK(std::count(g.links.begin(), g.links.end(),
                   std::pair<size_t, size_t>{5, 6}) == 1);
  CHECK(std::count(g.links.begin(), g.links.end(),
                   std::pair<size_t, size_t>{5, 9}) == 1);
  CHECK(std::count(g.links.begin(), g.links.end(),
                   std::pair<size_t, size_t>{3, 4}) ==
        0); // no wrap from a row's end to the next row
  CHECK(is_connected(g));
}

TEST_CASE("grid: a short last row") {
  auto g = make_grid(10, 4); // rows of 4, 4, 2
  check_well_formed(g);
  CHECK(g.links.size() == (3 + 3 + 1) + (4 + 2));
  auto d = degrees(g);
  CHECK(d == std::vector<size_t>{2, 3, 3, 2, 3, 4, 3, 2, 2, 2});
  CHECK(is_connected(g));
}

TEST_CASE("grid: every node's degree, for many sizes and widths") {
  for (size_t n : {1, 2, 3, 5, 9, 10, 11, 12, 49, 100}) {
    for (size_t width : {1, 2, 3, 4, 7, 10, 200}) {
      INFO("grid " << n << " width " << width);
      auto g = make_grid(n, width);
      check_well_formed(g);
      CHECK(g.nodes == names(n));
      auto d = degrees(g);
      for (size_t i = 0; i < n; ++i)
        CHECK(d[i] == grid_degree(i, n, width));
      CHECK(sum(d) == 2 * g.links.size());
      CHECK(is_connected(g));
    }
  }
  // Width 1 and a width past the node count are lines.
  CHECK(make_grid(6, 1).links == make_line(6).links);
  CHECK(make_grid(6, 6).links == make_line(6).links);
  CHECK(make_grid(6, 50).links == make_line(6).links);
  CHECK_THROWS_AS(make_grid(4, 0), std::invalid_argument);
}

// -- full ---------------------------------------------------------------------

TEST_CASE("full: every pair, every node degree n-1") {
  for (size_t n : {1, 2, 3, 7, 30}) {
    INFO("full " << n);
    auto g = make_full(n);
    check_well_formed(g);
    CHECK(g.nodes == names(n));
    CHECK(g.links.size() == pairs(n));
    for (auto d : degrees(g))
      CHECK(d == n - 1);
    CHECK(is_connected(g));
  }
}

// -- random -------------------------------------------------------------------

TEST_CASE("random: connected, n * degree / 2 links capped, mean degree") {
  for (size_t n : {1, 2, 3, 4, 10, 50, 100, 300}) {
    for (size_t degree : {1, 2, 3, 4, 8}) {
      for (uint64_t seed : {0, 1, 2, 42}) {
        INFO("random " << n << " degree " << degree << " seed " << seed);
        auto g = make_random(n, degree, seed);
        check_well_formed(g);
        CHECK(g.nodes == names(n));
        CHECK(is_connected(g));
        // The spanning tree's n - 1 at least, every pair at most.
        size_t want =
            n < 2 ? 0 : std::max(n - 1, std::min(n * degree / 2, pairs(n)));
        CHECK(g.links.size() == want);
        auto d = degrees(g);
        CHECK(sum(d) == 2 * want);
        for (auto x : d)
          CHECK((n == 1 || x >= 1)); // connected: nobody is alone
        if (n >= 2 && n * degree / 2 >= n - 1 && n * degree / 2 <= pairs(n) &&
            n * degree % 2 == 0)
          CHECK(sum(d) == n * degree); // mean degree exactly `degree`
      }
    }
  }
  SECTION("a degree past n - 1 gives the full graph") {
    CHECK(make_random(5, 10, 3).links == make_full(5).links);
    CHECK(make_random(2, 7, 3).links == links_t{{0, 1}});
  }
  SECTION("mean degree of a large graph") {
    auto g = make_random(1000, 4, 99);
    auto mean = static_cast<double>(sum(degrees(g))) / 1000.0;
    CHECK(mean == Approx(4.0));
  }
}

TEST_CASE("random: same seed, same links; another seed, other links") {
  for (size_t n : {2, 10, 50, 100}) {
    for (uint64_t seed : {1, 2, 42}) {
      INFO("random " << n << " seed " << seed);
      CHECK(make_random(n, 4, seed).links == make_random(n, 4, seed).links);
    }
  }
  CHECK(make_random(50, 4, 1).links != make_random(50, 4, 2).links);
  CHECK(make_random(10, 3, 1).links != make_random(10, 3, 2).links);
  CHECK(make_random(100, 4, 0).links != make_random(100, 4, 1).links);
  // Pinned: a scenario's seed must keep giving these links in later
  // releases (std::mt19937_64 is fixed by the standard; no distribution).
  CHECK(make_random(8, 3, 1).links == links_t{{0, 2},
                                              {0, 3},
                                              {0, 5},
                                              {1, 2},
                                              {1, 3},
                                              {1, 4},
                                              {2, 3},
                                              {2, 7},
                                              {3, 4},
                                              {4, 6},
                                              {5, 6},
                                              {5, 7}});
}

// -- scale-free ---------------------------------------------------------------

TEST_CASE("scale-free: connected, m(m+1)/2 + (n-m-1)*m links, degree >= m") {
  for (size_t m : {1, 2, 3, 5}) {
    for (size_t n : {1, 2, 3, 4, 6, 10, 50, 200}) {
      for (uint64_t seed : {0, 1, 7, 42}) {
        INFO("scale-free " << n << " m " << m << " seed " << seed);
        auto g = make_scale_free(n, m, seed);
        check_well_formed(g);
        CHECK(g.nodes == names(n));
        CHECK(is_connected(g));
        auto d = degrees(g);
        if (n <= m + 1) {
          // Only the core: a clique of the n nodes.
          CHECK(g.links == make_full(n).links);
          continue;
        }
        CHECK(g.links.size() == m * (m + 1) / 2 + (n - m - 1) * m);
        for (size_t i = 0; i <= m; ++i)
          CHECK(d[i] >= m); // the core: a clique of m + 1
        for (size_t i = m + 1; i < n; ++i)
          CHECK(d[i] >= m); // m links of its own, more from later nodes
        // The newest node has exactly its own m links.
        CHECK(d[n - 1] == m);
      }
    }
  }
  SECTION("the oldest nodes become hubs") {
    auto d = degrees(make_scale_free(200, 2, 7));
    CHECK(*std::max_element(d.begin(), d.end()) >= 12);
  }
  CHECK_THROWS_AS(make_scale_free(10, 0, 1), std::invalid_argument);
}

TEST_CASE("scale-free: same seed, same links; another seed, other links") {
  for (size_t n : {2, 10, 50, 100}) {
    for (uint64_t seed : {1, 2, 42}) {
      INFO("scale-free " << n << " seed " << seed);
      CHECK(make_scale_free(n, 2, seed).links ==
            make_scale_free(n, 2, seed).links);
    }
  }
  CHECK(make_scale_free(50, 2, 1).links != make_scale_free(50, 2, 2).links);
  CHECK(make_scale_free(20, 1, 1).links != make_scale_free(20, 1, 2).links);
  // Pinned, as for random.
  CHECK(make_scale_free(8, 2, 1).links == links_t{{0, 1},
                                                  {0, 2},
                                                  {0, 3},
                                                  {0, 5},
                                                  {0, 6},
                                                  {0, 7},
                                                  {1, 2},
                                                  {2, 3},
                                                  {2, 4},
                                                  {2, 6},
                                                  {2, 7},
                                                  {3, 4},
                                                  {4, 5}});
}

// -- by kind name -------------------------------------------------------------

TEST_CASE("make_topology: SPEC §9 kind names") {
  CHECK(make_topology("line", 7, 0, 0, 0, 1).links == make_line(7).links);
  CHECK(make_topology("ring", 7, 0, 0, 0, 1).links == make_ring(7).links);
  CHECK(make_topology("star", 7, 0, 0, 0, 1).links == make_star(7).links);
  CHECK(make_topology("grid", 12, 0, 4, 0, 1).links == make_grid(12, 4).links);
  CHECK(make_topology("full", 7, 0, 0, 0, 1).links == make_full(7).links);
  CHECK(make_topology("random", 30, 4, 0, 0, 5).links ==
        make_random(30, 4, 5).links);
  CHECK(make_topology("scale-free", 30, 0, 0, 2, 5).links ==
        make_scale_free(30, 2, 5).links);
  // Parameters of other kinds and the seed do not matter to the others.
  CHECK(make_topology("ring", 7, 3, 2, 5, 99).links == make_ring(7).links);
  CHECK_THROWS_AS(make_topology("hexagon", 4, 0, 0, 0, 1),
                  std::invalid_argument);
  CHECK_THROWS_AS(make_topology("explicit", 4, 0, 0, 0, 1),
                  std::invalid_argument);
  CHECK_THROWS_AS(make_topology("grid", 4, 0, 0, 0, 1), std::invalid_argument);
  CHECK_THROWS_AS(make_topology("scale-free", 4, 0, 0, 0, 1),
                  std::invalid_argument);
}

// -- explicit graphs and queries ----------------------------------------------

TEST_CASE("make_explicit: links (smaller, larger), sorted, each once") {
  auto g = make_explicit({"c", "a", "b", "d"},
                         {{2, 1}, {0, 1}, {1, 2}, {3, 0}, {1, 0}});
  CHECK(g.nodes == std::vector<std::string>{"c", "a", "b", "d"});
  CHECK(g.links == links_t{{0, 1}, {0, 3}, {1, 2}});
  CHECK(g.named_links() == std::vector<std::pair<std::string, std::string>>{
                               {"c", "a"}, {"c", "d"}, {"a", "b"}});
  CHECK(is_connected(g));
  CHECK(degrees(g) == std::vector<size_t>{2, 2, 1, 1});
  auto lonely = make_explicit({"a"}, {});
  CHECK(lonely.links.empty());
  CHECK(is_connected(lonely));
  CHECK_THROWS_AS(make_explicit({"a", "b"}, {{1, 1}}), std::invalid_argument);
  CHECK_THROWS_AS(make_explicit({"a", "b"}, {{0, 2}}), std::invalid_argument);
}

TEST_CASE("is_connected and degrees") {
  CHECK(is_connected(mesh_graph{}));
  CHECK(degrees(mesh_graph{}).empty());
  CHECK(is_connected(make_explicit({"a"}, {})));
  CHECK_FALSE(is_connected(make_explicit({"a", "b"}, {})));
  CHECK_FALSE(
      is_connected(make_explicit({"a", "b", "c", "d"}, {{0, 1}, {2, 3}})));
  CHECK(is_connected(
      make_explicit({"a", "b", "c", "d"}, {{0, 1}, {2, 3}, {1, 3}})));
  CHECK(degrees(make_explicit({"a", "b", "c"}, {{0, 1}})) ==
        std::vector<size_t>{1, 1, 0});
}

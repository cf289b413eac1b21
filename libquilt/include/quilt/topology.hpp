// Mesh topologies (SPEC §9): named undirected graphs, the generators a
// simulation scenario names (line, ring, star, grid, full, random,
// scale-free), explicit graphs, and the queries tests and the simulator ask
// of them. No sockets, no actors: plain data.
//
// Generated nodes are named n0 .. n{N-1}. The random generators take a seed
// and depend on nothing else (std::mt19937_64's output is fixed by the
// standard; no std:: distribution is used), so the same kind, size and seed
// give the same links on every platform.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quilt {

/// An undirected graph whose nodes are named. Links are listed once each,
/// as (smaller index, larger index) pairs, sorted.
struct mesh_graph {
  std::vector<std::string> nodes;
  std::vector<std::pair<size_t, size_t>> links;

  /// The links by name.
  std::vector<std::pair<std::string, std::string>> named_links() const;
};

// -- generators ---------------------------------------------------------------

/// n0 - n1 - ... - n{N-1}.
mesh_graph make_line(size_t n);

/// The line closed by n{N-1} - n0 (no closing link below 3 nodes).
mesh_graph make_ring(size_t n);

/// Hub n0 linked to every other node.
mesh_graph make_star(size_t n);

/// Row-major grid of `width` nodes per row: n{r*width+c} links to its right
/// and lower neighbours; the last row may be short. Throws
/// std::invalid_argument for a zero width.
mesh_graph make_grid(size_t n, size_t width);

/// Every pair linked.
mesh_graph make_full(size_t n);

/// Always connected: a random spanning tree, then random links until there
/// are min(n * degree / 2, n * (n - 1) / 2), never fewer than the tree's
/// n - 1. Same n, degree and seed: same links.
mesh_graph make_random(size_t n, size_t degree, uint64_t seed);

/// Barabasi-Albert: a clique of m + 1 nodes (all of them when n <= m + 1),
/// then each new node links to m distinct earlier nodes chosen in proportion
/// to their degree. Connected. Throws std::invalid_argument for a zero m.
mesh_graph make_scale_free(size_t n, size_t m, uint64_t seed);

/// By SPEC §9 kind name: line, ring, star, grid, full, random, scale-free
/// ("explicit" is not a generator). Throws std::invalid_argument for an
/// unknown kind or a zero width / m.
mesh_graph make_topology(std::string_view kind, size_t n, size_t degree,
                         size_t width, size_t m, uint64_t seed);

/// A graph as listed: `nodes` kept in their order, `links` made (smaller,
/// larger), sorted, each once (a link given both ways counts once). Throws
/// std::invalid_argument for a link of a node to itself or an index past
/// the nodes.
mesh_graph make_explicit(std::vector<std::string> nodes,
                         std::vector<std::pair<size_t, size_t>> links);

// -- queries ------------------------------------------------------------------

/// Whether every node reaches every other over the links (true for a graph
/// of 0 or 1 nodes).
bool is_connected(const mesh_graph& g);

/// The number of links at each node, by node index.
std::vector<size_t> degrees(const mesh_graph& g);

} // namespace quilt

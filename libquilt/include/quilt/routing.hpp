// Link-state routing, free of I/O (docs/PROTOCOL.md, "Routing").
//
// Every node floods a link-state advertisement (LSA) listing its up
// neighbours, versioned by the message id it was sent with (ids only grow,
// also across restarts). Each node keeps the newest LSA per origin and runs a
// breadth-first search from itself over links that both ends confirm; the
// first hop on the path to each destination is its next hop. Ties go to the
// neighbour whose name sorts first, so every node computes the same
// shortest-path trees from the same database, which is what reverse-path
// broadcast needs.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace quilt {

/// One route as shown by the console's `routes`.
struct route_entry {
  std::string destination;
  std::string next_hop;
  uint32_t hops = 0;
};

/// The link-state database and the routes computed from it.
class routing_table {
public:
  using clock = std::chrono::steady_clock;

  explicit routing_table(std::string self);

  /// Installs `origin`'s advertisement when `seq` is newer than the one held.
  /// Returns true when installed (the caller floods it on).
  bool install(const std::string& origin, uint64_t seq,
               std::vector<std::string> neighbours, clock::time_point now);

  /// Sets this node's own neighbour list (not aged). Returns true when it
  /// differs from the previous one.
  bool set_own(std::vector<std::string> neighbours, uint64_t seq);

  /// Forgets advertisements older than `max_age`. Returns true on a change.
  bool expire(clock::time_point now, clock::duration max_age);

  /// Drops everything learned from others (e.g. after a restart of the
  /// owner); keeps the own entry.
  void clear_learned();

  /// The next hop and hop count towards `destination`, if reachable.
  const route_entry* lookup(const std::string& destination);

  /// Every reachable destination except this node, sorted by name.
  std::vector<route_entry> routes();

  /// Number of routes and the sum of their hop counts: compared with a
  /// breadth-first search of the real graph, it tells whether this node's
  /// routes are shortest paths without listing them.
  std::pair<size_t, uint64_t> digest();

  /// Reachable nodes (this one included) and the confirmed links among
  /// them, each link once with the smaller name first.
  void topology(std::vector<std::string>& nodes,
                std::vector<std::pair<std::string, std::string>>& links);

  /// Neighbours of this node that are its children in the shortest-path
  /// tree rooted at `origin`: where a broadcast from `origin` goes next.
  const std::vector<std::string>& tree_children(const std::string& origin);

  /// Advertisements held, own included, as (origin, seq, neighbours).
  struct advert {
    uint64_t seq = 0;
    std::vector<std::string> neighbours; ///< Sorted.
    clock::time_point received{};
  };
  const std::map<std::string, advert>& database() const { return db_; }

  /// Counts changes; bumps whenever routes may have changed.
  uint64_t version() const { return version_; }

private:
  /// Whether the link a-b is confirmed: a lists b, and b lists a or has no
  /// advertisement at all (a neighbour that does not speak link-state).
  bool confirmed(const std::string& a, const std::string& b) const;

  /// Breadth-first search from `root`; fills parent and hop count maps.
  void bfs(const std::string& root,
           std::unordered_map<std::string, std::string>& parent,
           std::unordered_map<std::string, uint32_t>& hops) const;

  void recompute();

  std::string self_;
  std::map<std::string, advert> db_; // sorted: deterministic iteration
  uint64_t version_ = 0;
  uint64_t computed_ = ~uint64_t{0};
  std::unordered_map<std::string, route_entry> routes_;
  std::unordered_map<std::string, std::vector<std::string>> children_;
  uint64_t children_version_ = ~uint64_t{0};
};

} // namespace quilt

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
//
// What nodes in one process hold in common is stored once: node names are
// interned process-wide (tables hold 4-byte ids), and an advertisement is an
// immutable object that every node installing it shares by pointer, so a
// node's database costs a pointer per origin, not a copy of every list.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quilt/message.hpp"

namespace quilt {

// -- node names ---------------------------------------------------------------

/// A node name interned in this process.
using node_id = uint32_t;

/// No node: a name that could not be interned.
inline constexpr node_id no_node = UINT32_MAX;

/// Names interned at most: a bound on what a flood of made-up names in
/// foreign advertisements can cost the process.
inline constexpr size_t max_interned_names = 4u << 20;

/// The id of `name`, interning it on first use; no_node when the table is
/// full. Thread-safe.
node_id intern_name(std::string_view name);

/// The id of `name` if it was interned, else no_node. Thread-safe.
node_id find_name(std::string_view name);

/// How many names are interned.
size_t interned_names();

/// The name of an interned id. Thread-safe; the reference stays valid for
/// the life of the process.
const std::string& name_of(node_id id);

// -- advertisements -------------------------------------------------------------

/// One link-state advertisement: immutable once made, shared by every node
/// that installs it and by every message that carries it between nodes of
/// one process.
struct advert_body {
  /// A run of node ids.
  struct ids {
    const node_id* first;
    const node_id* last;
    const node_id* begin() const { return first; }
    const node_id* end() const { return last; }
    size_t size() const { return static_cast<size_t>(last - first); }
    bool operator==(const ids& x) const {
      return size() == x.size() && std::equal(first, last, x.first);
    }
    bool operator!=(const ids& x) const { return !(*this == x); }
  };

  node_id origin = no_node;
  /// Number of neighbours.
  uint32_t count = 0;
  uint64_t seq = 0;
  /// References held (advert_ptr).
  mutable std::atomic<uint32_t> refs{0};
  /// The wire form: the names joined by single spaces.
  std::string text;

  /// The origin's up neighbours, sorted by name (the search order).
  ids neighbours() const { return {tail(), tail() + count}; }

  /// The same ids sorted by value, for membership tests.
  ids sorted() const { return {tail() + count, tail() + 2 * count}; }

  bool lists(node_id x) const;

private:
  // Both lists live right behind the body, in the same allocation: a
  // search that walks thousands of advertisements touches one block each.
  const node_id* tail() const {
    return reinterpret_cast<const node_id*>(this + 1);
  }
};

/// Makes an advertisement; sorts and de-duplicates `neighbours`.
advert_ptr make_advert(node_id origin, uint64_t seq,
                       std::vector<node_id> neighbours);

/// Neighbours an advertisement may list (a node's peer table holds 4,096).
inline constexpr size_t max_advert_neighbours = 4096;

/// Parses the wire form (space-separated names). Null when a name cannot be
/// interned or there are more than max_advert_neighbours.
advert_ptr parse_advert(node_id origin, uint64_t seq, std::string_view text);

// -- routes ---------------------------------------------------------------------

/// One route as shown by the console's `routes`.
struct route_entry {
  std::string destination;
  std::string next_hop;
  uint32_t hops = 0;
};

/// How one destination's route differs between two route tables.
struct route_change {
  enum kind_t : uint8_t { added, changed, removed } kind = added;
  /// The new route; for `removed`, the route that went away.
  route_entry route;
};

/// The differences from `before` to `after`, both sorted by destination (as
/// routing_table::routes() returns them), in destination order: what a
/// watcher of the node is told after routes were recomputed.
std::vector<route_change> diff_routes(const std::vector<route_entry>& before,
                                      const std::vector<route_entry>& after);

/// The link-state database and the routes computed from it.
class routing_table {
public:
  using clock = std::chrono::steady_clock;

  explicit routing_table(std::string self);

  /// Installs `ad` when its seq is newer than the one held for its origin.
  /// Returns true when installed (the caller floods it on).
  bool install(advert_ptr ad, clock::time_point now);

  /// Whether an advertisement from `origin` with `seq` would be installed.
  bool is_newer(node_id origin, uint64_t seq) const {
    if (origin == self_)
      return false;
    auto held = advert_of(origin);
    return !held || held->seq < seq;
  }

  /// The same from names (tests, tools).
  bool install(const std::string& origin, uint64_t seq,
               std::vector<std::string> neighbours, clock::time_point now);

  /// Sets this node's own neighbour list (not aged) with `seq` when it
  /// differs from the previous one, or when `renew` (a periodic refresh).
  /// Returns true when it differed.
  bool set_own(std::vector<std::string> neighbours, uint64_t seq,
               bool renew = true);

  /// This node's own advertisement.
  const advert_ptr& own() const { return db_[self_]; }

  /// The advertisement held for `origin`, or null.
  const advert_body* advert_of(node_id origin) const {
    return origin < db_.size() ? db_[origin].get() : nullptr;
  }

  /// Calls f(ad) for every advertisement held, own included.
  template <class F>
  void for_each_advert(F f) const {
    for (auto& ad : db_)
      if (ad)
        f(ad);
  }

  /// Forgets advertisements older than `max_age`. Returns true on a change.
  bool expire(clock::time_point now, clock::duration max_age);

  /// Drops everything learned from others (e.g. after a restart of the
  /// owner); keeps the own entry.
  void clear_learned();

  /// The next hop and hop count towards `destination`, if reachable. The
  /// pointer is valid until the next call.
  const route_entry* lookup(const std::string& destination);

  /// The next hop towards `destination` (no_node if unreachable).
  node_id next_hop(node_id destination);

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

  /// Advertisements held, own included, as (origin, seq, neighbours), for
  /// tests: a snapshot built on each call.
  struct advert {
    uint64_t seq = 0;
    std::vector<std::string> neighbours; ///< Sorted.
    clock::time_point received{};
  };
  std::map<std::string, advert> database() const;

  /// Advertisements held, own included.
  size_t adverts() const { return count_ + 1; }

  /// Counts changes; bumps whenever routes may have changed.
  uint64_t version() const { return version_; }

  node_id self() const { return self_; }

private:
  struct route_slot {
    node_id next = no_node;
    uint32_t hops = 0;
  };

  /// Whether the link a-b is confirmed: a lists b, and b lists a or has no
  /// advertisement at all (a neighbour that does not speak link-state).
  bool confirmed(node_id a, node_id b) const;

  /// Breadth-first search from `root` into the scratch arrays; returns the
  /// nodes reached in search order (root first).
  const std::vector<node_id>& bfs(node_id root);

  void recompute();
  void grow(node_id id);
  void store(advert_ptr ad, clock::time_point now);

  node_id self_;
  std::vector<advert_ptr> db_;           // by origin id
  /// When each advertisement arrived, in seconds since `epoch_`: four bytes
  /// a slot, precise enough for ageing out after minutes.
  std::vector<int32_t> received_;
  clock::time_point epoch_{};
  bool has_epoch_ = false;
  size_t count_ = 0;                      // learned adverts held
  uint64_t version_ = 0;
  uint64_t computed_ = ~uint64_t{0};
  std::vector<route_slot> routes_;        // by destination id
  std::vector<node_id> reached_;          // route destinations, search order
  route_entry lookup_result_;
  /// Search scratch, by node id: parents and hop counts of the last search.
  /// One per thread, not per table: thousands of tables share a process,
  /// and a search is over before another starts on the same thread.
  struct scratch {
    std::vector<node_id> parent;
    std::vector<uint32_t> hops;
    std::vector<node_id> order;
  };
  static scratch& search();
  std::unordered_map<node_id, std::vector<std::string>> children_;
  uint64_t children_version_ = ~uint64_t{0};
};

} // namespace quilt

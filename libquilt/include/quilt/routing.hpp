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
#include "quilt/time.hpp"

namespace quilt {

// -- node names ---------------------------------------------------------------

/// A node name interned in this process.
using node_id = uint32_t;

/// No node: a name that could not be interned.
inline constexpr node_id no_node = UINT32_MAX;

/// Names interned at once at most: the process-wide backstop behind the
/// per-neighbour budgets below (a node with many flooding neighbours).
inline constexpr size_t max_interned_names = 4u << 20;

/// Names are counted by reference: a name is forgotten, and its id reused
/// for another name, once nothing holds it. What holds a name: an
/// advertisement (its origin and every name it lists), a routing table (its
/// own name, and the neighbours it keeps budgets for) and a name_ref.
///
/// An id on its own is only meaningful while something holds the name: a
/// thread reads name_of(id) without a lock, so it must hold (directly, or
/// through an advertisement or table it holds) a reference for as long as
/// it uses the id.
class name_ref;

/// What names one neighbour's advertisements made this process intern and
/// still hold (routing_table keeps one per neighbour). A name counts against
/// the budget that created it until the name is freed, whichever
/// advertisement holds it by then: re-listing a name in another
/// advertisement does not make it free. Counted by reference; the name table
/// updates it under its lock.
struct name_budget {
  explicit name_budget(uint32_t limit) : limit(limit) {
  }
  /// Names created on this budget's account that are still alive.
  std::atomic<uint32_t> held{0};
  /// References: the routing table's and one per name held.
  std::atomic<uint32_t> refs{1};
  uint32_t limit;
};

/// Drops a reference to `b` (deletes it with the last).
void release(name_budget* b) noexcept;

/// The name `name` held by a new reference, interning it on first use. A
/// new name counts against `budget` (null: no budget); the result is empty
/// when the name is new and the budget is spent or the process holds
/// max_interned_names. Thread-safe.
name_ref intern_name(std::string_view name, name_budget* budget = nullptr);

/// The id of `name` if it is interned, else no_node. Takes no reference:
/// the id is only good while the caller holds the name some other way, or
/// for a lookup in a table only this thread changes (an id that is not held
/// by the table cannot be reused for a name the table holds before the table
/// changes). Thread-safe.
node_id find_name(std::string_view name);

/// How many names are interned (alive) now.
size_t interned_names();

/// One more than the largest id handed out so far: what tables indexed by
/// id grow to. Freed ids are reused first, so it stays near the most names
/// ever alive at once.
size_t name_id_bound();

/// The name of an interned id, read without a lock. Valid while the caller
/// holds a reference to the name (see above).
const std::string& name_of(node_id id);

/// Takes and drops one more reference to an id already held.
void retain_name(node_id id) noexcept;
void release_name(node_id id) noexcept;

/// One counted reference to an interned name.
class name_ref {
public:
  name_ref() noexcept = default;
  /// A new reference to `id`, which the caller already holds.
  explicit name_ref(node_id id) noexcept : id_(id) {
    if (id_ != no_node)
      retain_name(id_);
  }
  name_ref(const name_ref& x) noexcept : name_ref(x.id_) {
  }
  name_ref(name_ref&& x) noexcept : id_(x.id_) {
    x.id_ = no_node;
  }
  name_ref& operator=(name_ref x) noexcept {
    std::swap(id_, x.id_);
    return *this;
  }
  ~name_ref() {
    if (id_ != no_node)
      release_name(id_);
  }
  /// Takes over a reference the caller holds.
  static name_ref adopt(node_id id) noexcept {
    name_ref r;
    r.id_ = id;
    return r;
  }
  node_id id() const noexcept { return id_; }
  explicit operator bool() const noexcept { return id_ != no_node; }

private:
  node_id id_ = no_node;
};

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

/// Makes an advertisement; sorts and de-duplicates `neighbours`. The ids
/// must be held by the caller; the advertisement takes references of its
/// own to them and to `origin`.
advert_ptr make_advert(node_id origin, uint64_t seq,
                       std::vector<node_id> neighbours);

/// Neighbours an advertisement may list (a node's peer table holds 4,096).
inline constexpr size_t max_advert_neighbours = 4096;

/// Parses the wire form (space-separated names; `origin` held by the
/// caller). A name that is not a valid node name (SPEC §2), or that is new
/// and cannot be interned (the budget is spent, or the process's table is
/// full), is left out and counted in `*skipped`: one name the node will not
/// take never costs it a whole advertisement. Null when the text lists more
/// than max_advert_neighbours names.
advert_ptr parse_advert(node_id origin, uint64_t seq, std::string_view text,
                        name_budget* budget = nullptr,
                        size_t* skipped = nullptr);

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

// -- what one neighbour may make a node hold -----------------------------------
//
// A flood of made-up names through one neighbour must cost a node a few
// tens of MiB at most, and still leave room for every real node of a mesh
// of tens of thousands. What a neighbour's advertisements make a table hold
// is counted against that neighbour (the one that delivered the version
// held):
//
// - Names it introduced (new to the process when its advertisement was
//   parsed), while they live. A name costs at most about 240 bytes: the
//   name table's slot (48: string, count, budget), the string's heap block
//   for names of 16-64 characters (80), the hash index's node and bucket
//   (80), and 30 bytes in every table indexed by id (database 8, arrival 4,
//   neighbour 2, route 8, search scratch 8). 2^17 names: 30 MiB at most,
//   20 MiB with names of up to 15 characters.
// - Entries of the advertisements it delivered: each listed name, plus one
//   for the advertisement itself. An entry costs at most 73 bytes (its id in
//   the two sorted lists, 8, and its text, a name of up to 64 characters and
//   a space), an advertisement's own block about as much. 2^18 entries:
//   18 MiB at most.
//
// So one neighbour costs at most about 48 MiB, and a mesh of 50,000 nodes
// of 4 links each (250,000 entries, 50,000 names) fits behind any one
// neighbour (a leaf has only one). What does not fit is left out, never
// evicted: names already held stay, an advertisement over the entry budget
// is installed without the names that do not fit, and only one whose origin
// does not fit is refused.
//
// The limit: a flood relayed by an honest node counts against that node's
// budget at the nodes behind it. There the flood takes what the real mesh
// behind that neighbour leaves free (its first hop already cut it to one
// budget): real nodes already known stay reachable, and so does a new node
// whose advertisements also arrive through another neighbour, but a new
// node reached only through that neighbour may be left out until the
// flood's advertisements expire (3 x lsa_refresh after they stop coming).

/// New names one neighbour's advertisements may make the process hold.
inline constexpr uint32_t max_names_per_neighbour = 1u << 17;

/// Entries (listed names, plus one per advertisement) one neighbour's
/// advertisements may make a table hold.
inline constexpr uint64_t max_entries_per_neighbour = 1u << 18;

/// The link-state database and the routes computed from it.
class routing_table {
public:

  explicit routing_table(std::string self);

  /// Installs `ad`, delivered by the neighbour `via` (no_node: by no
  /// neighbour, and on no budget), when its seq is newer than the one held
  /// for its origin. When the advertisement does not fit in what is left of
  /// `via`'s entry budget, a copy without the names that do not fit is
  /// installed and `ad` is set to it (what the caller floods on is what it
  /// holds). Returns true when installed (the caller floods it on); false
  /// for an old one, the own origin, or when not even its origin fits.
  bool install(advert_ptr& ad, node_id via, clock::time_point now);

  /// The neighbour called `name`, for install() and budget(): its id, held
  /// by this table until the neighbour has nothing left in it and its entry
  /// is reused for another. no_node when the process's name table is full.
  node_id neighbour(std::string_view name);

  /// The budget for names `via`'s advertisements introduce, for
  /// intern_name() and parse_advert(); null for no_node or when the table
  /// keeps no more neighbours (65,535).
  name_budget* budget(node_id via);

  /// What the advertisements `via` delivered make this table hold.
  struct neighbour_load {
    size_t adverts = 0;
    uint64_t entries = 0; ///< Listed names, plus one per advertisement.
    size_t names = 0;     ///< Names they introduced that are still alive.
  };
  neighbour_load load_of(std::string_view via) const;

  /// Entries held for all neighbours: listed names, plus one per
  /// advertisement, own excluded.
  uint64_t held_entries() const { return entries_; }

  /// Whether an advertisement from `origin` with `seq` would be installed.
  bool is_newer(node_id origin, uint64_t seq) const {
    if (origin == self_)
      return false;
    auto held = advert_of(origin);
    return !held || held->seq < seq;
  }

  /// The same from names (tests, tools); `via` empty: no neighbour. New
  /// names count against `via`'s budget; those that do not fit are left
  /// out, and an origin that does not fit is refused.
  bool install(const std::string& origin, uint64_t seq,
               std::vector<std::string> neighbours, clock::time_point now,
               std::string_view via = {});

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
    std::string via; ///< The neighbour that delivered it, if any.
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

  /// A neighbour that delivered advertisements held here.
  struct via_entry {
    via_entry() = default;
    via_entry(via_entry&& x) noexcept
      : name(std::move(x.name)), names(x.names), adverts(x.adverts),
        entries(x.entries) {
      x.names = nullptr;
    }
    via_entry& operator=(via_entry&& x) noexcept {
      std::swap(name, x.name);
      std::swap(names, x.names);
      std::swap(adverts, x.adverts);
      std::swap(entries, x.entries);
      return *this;
    }
    ~via_entry() {
      if (names)
        release(names);
    }
    bool idle() const {
      return adverts == 0
             && names->held.load(std::memory_order_relaxed) == 0;
    }
    name_ref name;
    name_budget* names = nullptr; ///< One reference held.
    size_t adverts = 0;
    uint64_t entries = 0;
  };
  static constexpr uint16_t no_via = UINT16_MAX;

  /// The index of `via`'s entry, made on first use; no_via when none.
  uint16_t via_slot(node_id via);
  void charge(uint16_t v, uint64_t entries, int sign);

  void recompute();
  void grow(node_id id);
  void store(advert_ptr ad, uint16_t via, clock::time_point now);
  void forget(size_t id);

  name_ref self_ref_;
  node_id self_;
  std::vector<advert_ptr> db_;           // by origin id
  /// When each advertisement arrived, in seconds since `epoch_`: four bytes
  /// a slot, precise enough for ageing out after minutes.
  std::vector<int32_t> received_;
  /// Which neighbour delivered each advertisement (an index into vias_):
  /// two bytes a slot, as a simulation holds one per node and origin.
  std::vector<uint16_t> via_of_;
  std::vector<via_entry> vias_;
  uint16_t last_via_ = no_via; ///< Most installs come from the last one.
  uint64_t entries_ = 0;
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

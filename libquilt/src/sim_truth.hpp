// What a simulation knows that its nodes do not (SPEC §13): which nodes are
// up (running and not stalled), which links work (not cut, loss below 1.0),
// the routes every up node should hold, and whether a node that declares a
// neighbour down is wrong. No CAF and no sockets: the driver feeds it the
// events, nodes report their verdicts through it, tests drive it by hand.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "quilt/time.hpp"
#include "quilt/topology.hpp"

namespace quilt {

class sim_truth {
public:

  /// `detect_window`: how long a neighbour may take to notice a change
  /// (dead_after_ms): a down declared within it of a death, a stall, a cut
  /// or a heal may be that change's echo, not an error.
  sim_truth(const mesh_graph& graph, std::chrono::milliseconds detect_window);

  // -- changes (the driver) ---------------------------------------------------

  void set_alive(size_t node, bool alive, time_point now);

  /// `node` is frozen from now until `until`.
  void stall(size_t node, time_point until);

  /// Whether link `k` carries messages: not cut and loss below 1.0.
  void set_link(size_t k, bool works, time_point now);

  // -- questions --------------------------------------------------------------

  /// Running and not stalled at `now`.
  bool up(size_t node, time_point now) const;

  bool link_works(size_t k) const;

  /// The next time a stall ends after `now` (time_point::max(): none): the
  /// truth changes then without an event.
  time_point next_change(time_point now) const;

  /// Neighbours over working links, among nodes up at `now`.
  std::vector<std::vector<size_t>> adjacency(time_point now) const;

  /// What a right route table of an up node sums to: the nodes it reaches
  /// and the sum of their hop counts on shortest paths.
  struct digest {
    uint32_t routes = 0;
    uint64_t hop_sum = 0;
  };

  /// Per node: its digest when up at `now`, nothing when not. Computed once
  /// per state of the mesh (a breadth-first search from every up node).
  const std::vector<std::optional<digest>>& expected(time_point now);

  /// Of the up nodes, the smallest number of nodes in a component:
  /// every node must hold at least this many advertisements.
  uint32_t smallest_component(time_point now);

  // -- verdicts (any thread) -------------------------------------------------

  /// `node` declared `neighbour` down at `now`: counted as false when the
  /// neighbour was up and their link worked for the whole window before.
  void peer_down(size_t node, const std::string& neighbour, time_point now);

  uint64_t false_downs() const;

private:
  /// The link between two nodes, or npos.
  size_t link_between(size_t a, size_t b) const;

  void changed() {
    ++version_;
  }

  const mesh_graph& graph_;
  std::chrono::milliseconds window_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::vector<std::pair<size_t, size_t>>> links_of_; // (peer, k)

  mutable std::mutex mtx_;
  std::vector<bool> alive_;
  std::vector<time_point> stalled_until_;
  /// Since when the node has been what it is now (started, killed, or its
  /// last stall ended).
  std::vector<time_point> node_since_;
  std::vector<bool> link_works_;
  std::vector<time_point> link_since_;
  uint64_t false_downs_ = 0;

  uint64_t version_ = 0;
  uint64_t expected_version_ = UINT64_MAX;
  std::vector<bool> expected_up_; ///< Who was up when expected_ was made.
  std::vector<std::optional<digest>> expected_;
  uint32_t smallest_ = 0;
};

} // namespace quilt

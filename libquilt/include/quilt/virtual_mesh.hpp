// A deterministic, in-memory mesh of quilt::protocol instances (SPEC §9,
// quilt-sim's deterministic mode): no sockets, no actors, no threads, no
// real clock.
//
// Every node is one quilt::protocol with its own protocol_callee. A link
// opened to address:port resolves to the node advertising that endpoint (at
// send time, so a restarted node is reached again the way a redialling
// DEALER reaches it). A sent message is encoded with quilt::encode, carried
// for a fixed latency and decoded with quilt::decode on arrival, so the wire
// path's validation applies; its previous hop is the sender's name, as the
// DEALER's routing id would say.
//
// Time is virtual: one priority queue holds deliveries, timer ticks (at each
// node's next_wakeup()) and ping timeouts, ordered by time and then by
// insertion, so the same calls give the same run, event for event (inbox
// entries' received_ms alone come from the real clock).
//
// Every call that names a node unknown to the mesh throws
// std::invalid_argument.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "quilt/message.hpp"
#include "quilt/protocol.hpp"
#include "quilt/routing.hpp"
#include "quilt/stats.hpp"
#include "quilt/topology.hpp"
#include "quilt/types.hpp"

namespace quilt {

// -- outcomes -----------------------------------------------------------------

/// The outcome of a ping (what quilt-console's `ping` reports).
struct mesh_ping_result {
  bool done = false;       ///< False while waiting for an answer.
  bool replied = false;    ///< A pong arrived.
  std::string from;        ///< Who answered: the target, or an error's hop.
  uint64_t rtt_us = 0;     ///< Virtual round-trip time.
  /// Empty when replied; else "unreachable", "ttl_expired", "rejected"
  /// (an error message's code), "timeout", "bad_destination" or "down"
  /// (the pinging node is not running).
  std::string error;
};

/// The outcome of a send or broadcast.
struct mesh_send_result {
  bool accepted = false;
  uint64_t id = 0;
  std::string error; ///< "unreachable", "bad_destination", "down"...
};

using mesh_trace_hop = trace_hop;
using mesh_traceroute_result = traceroute_result;

/// A message handed to a node as destination: every `msg` (unicast or
/// broadcast) and every broadcast of another command. Unicast pings, pongs
/// and errors (heartbeats among them) are not kept: they take one path and
/// cannot be duplicated.
struct mesh_delivery {
  std::string origin;
  std::string destination;
  command cmd = command::msg;
  uint64_t id = 0;
  std::string text; ///< The msg text; empty for other commands.
};

// -- the mesh -----------------------------------------------------------------

class virtual_mesh {
public:
  using duration = std::chrono::microseconds;

  struct options {
    /// One-way delay of every message.
    duration latency{100};
    /// Frames of a message may add up to this many bytes (SPEC §7).
    size_t max_message_bytes = 65536;
    /// Defaults for add_node: advertise address, and the first port (node
    /// i listens on base_port + i unless its config says otherwise).
    std::string advertise = "127.0.0.1";
    uint16_t base_port = 30000;
    /// Keep the messages deliveries() lists (their counts for
    /// delivery_count() and duplicate_deliveries() are kept regardless).
    bool record_deliveries = true;
  };

  virtual_mesh();
  explicit virtual_mesh(options opts);
  ~virtual_mesh();

  virtual_mesh(const virtual_mesh&) = delete;
  virtual_mesh& operator=(const virtual_mesh&) = delete;

  // -- building ---------------------------------------------------------------

  /// Adds and starts a node at the current virtual time (its first tick is
  /// due at once). `cfg.name` is replaced by `name` when that is non-empty;
  /// an empty advertise or a zero port get the mesh defaults; an empty name
  /// becomes "advertise:port" (SPEC §7). Throws std::invalid_argument for an
  /// invalid or taken name or endpoint. Returns the node's index.
  size_t add_node(const std::string& name, protocol_config cfg = {});

  /// `a` dials `b` like a [[peers]] entry: a.connect(b's advertise, port).
  /// Remembered, so a restarted `a` dials `b` again. Throws
  /// std::invalid_argument for unknown names.
  void connect(const std::string& a, const std::string& b);

  /// Adds every node of `g` (with config `defaults`, its name replaced) and
  /// connects each link, the smaller index dialling the larger.
  void build(const mesh_graph& g, const protocol_config& defaults = {});

  // -- faults ---------------------------------------------------------------

  /// Drops every message between `a` and `b`, both ways, from now on (those
  /// in flight too), until healed.
  void cut(const std::string& a, const std::string& b);

  /// Undoes cut(a, b).
  void heal(const std::string& a, const std::string& b);

  /// Cuts every link between `side` and the other nodes.
  void partition(const std::vector<std::string>& side);

  /// Heals every cut link.
  void heal_all();

  /// Stops a node: it gets no ticks, messages to it are dropped, its
  /// counters go to the mesh totals. No effect on a dead node.
  void kill(const std::string& name);

  /// Starts a fresh protocol for a node (killed or not): same name and
  /// config, a larger first id, every peer it was told to connect to dialled
  /// again.
  void restart(const std::string& name);

  bool alive(const std::string& name) const;

  // -- time -------------------------------------------------------------------

  /// Virtual time elapsed since the mesh was created.
  duration elapsed() const {
    return std::chrono::duration_cast<duration>(now_ - start_);
  }

  /// The virtual clock as the protocols see it.
  time_point now() const { return now_; }

  /// Runs every event due up to `t`, then sets the clock to `t`.
  void run_until(time_point t);

  /// run_until(now() + d).
  void run_for(duration d);

  /// Runs until converged() holds (checked whenever routing changed, at
  /// most once per `step` of virtual time) or `limit` has passed. Returns
  /// the virtual time from the call to convergence.
  std::optional<duration> run_until_converged(duration limit,
                                              duration step
                                              = std::chrono::milliseconds(1));

  /// Runs the next event, if any; returns false when the queue is empty.
  bool step();

  /// Events waiting in the queue.
  size_t pending_events() const { return queue_.size(); }

  // -- traffic ----------------------------------------------------------------

  /// Starts a ping from `from` to `to` with `ttl` (default: the node's
  /// default_ttl); its outcome arrives as the mesh runs, "timeout" after
  /// `timeout`. Returns a handle for ping_result().
  uint64_t start_ping(const std::string& from, const std::string& to,
                      std::optional<uint8_t> ttl = std::nullopt,
                      duration timeout = std::chrono::seconds(2));

  /// The outcome of start_ping (done = false while pending).
  const mesh_ping_result& ping_result(uint64_t handle) const;

  /// Pings and runs the mesh until the answer (or the timeout).
  mesh_ping_result ping(const std::string& from, const std::string& to,
                        std::optional<uint8_t> ttl = std::nullopt,
                        duration timeout = std::chrono::seconds(2));

  /// Pings with ttl 1, 2, ... up to `max_hops` (default: the node's
  /// default_ttl), running the mesh for each answer; stops at the target,
  /// at an error other than ttl_expired, or after 3 silent hops in a row.
  mesh_traceroute_result traceroute(const std::string& from,
                                    const std::string& to,
                                    std::optional<uint8_t> max_hops
                                    = std::nullopt,
                                    duration per_hop = std::chrono::seconds(2));

  /// Originates a text message (does not run the mesh).
  mesh_send_result send(const std::string& from, const std::string& to,
                         const std::string& text);

  /// send(from, "all", text).
  mesh_send_result broadcast(const std::string& from, const std::string& text);

  /// Puts raw frames (destination first) on the wire from `from` to `to`,
  /// as if `from` had sent them: they arrive after the latency and go
  /// through quilt::decode like any message (fuzzing, foreign peers).
  void inject(const std::string& from, const std::string& to,
              std::vector<std::string> frames);

  // -- queries ----------------------------------------------------------------

  size_t size() const { return nodes_.size(); }
  std::vector<std::string> names() const;
  std::optional<size_t> index(const std::string& name) const;

  /// The node's current protocol (a killed node's stays readable).
  protocol& node(const std::string& name);
  const protocol& node(const std::string& name) const;

  /// The running instance's counters, as quilt-console `stats` shows them:
  /// the protocol's plus rx, tx, tx_by_command, dropped_invalid and
  /// dropped_queue_full kept by the mesh's links.
  node_stats stats(const std::string& name) const;

  /// Counters of every instance that ever ran, killed ones included.
  node_stats total_stats() const;

  /// Messages sent mesh-wide (handed to a link that reached a running
  /// node, also when cut), by command, since the mesh was created.
  const std::array<uint64_t, command_count>& transmissions() const {
    return transmissions_;
  }
  uint64_t transmissions(command c) const {
    return transmissions_[static_cast<size_t>(c)];
  }

  /// Messages lost: sent to an endpoint with no running node, over a cut
  /// link, or arriving at a node that was killed meanwhile.
  uint64_t lost() const { return lost_; }

  /// Messages that failed quilt::decode on arrival.
  uint64_t invalid() const { return invalid_; }

  /// The running instance's deliveries (see mesh_delivery), oldest first.
  /// Empty unless options.record_deliveries.
  const std::vector<mesh_delivery>& deliveries(const std::string& name) const;

  /// How many times the running instance of `name` was handed the message
  /// (origin, id) (counted for the messages mesh_delivery keeps).
  size_t delivery_count(const std::string& name, const std::string& origin,
                        uint64_t id) const;

  /// Deliveries of a message a node instance had already been handed (same
  /// origin and id): must stay 0.
  uint64_t duplicate_deliveries() const { return duplicates_; }

  /// Links as connected, each once by name (smaller name first).
  std::vector<std::pair<std::string, std::string>> links() const;

  /// Links with both ends running and not cut.
  std::vector<std::pair<std::string, std::string>> live_links() const;

  bool is_cut(const std::string& a, const std::string& b) const;

  /// Hop counts by breadth-first search over live links from `name`
  /// (itself at 0), for running nodes only.
  std::map<std::string, uint32_t> bfs_hops(const std::string& name) const;

  /// Empty when every running node's routes are exactly the live graph's
  /// shortest paths (every reachable node listed with its hop count, via a
  /// neighbour on a shortest path, nothing else); else the first problem
  /// found, for diagnostics.
  std::string convergence_problem() const;

  bool converged() const { return convergence_problem().empty(); }

  /// Bumped whenever any node's routing table or the live graph changed.
  uint64_t routing_changes() const { return routing_changes_; }

private:
  struct node_state;
  class callee;

  struct event {
    enum kind_t : uint8_t { deliver, tick, ping_timeout } kind;
    time_point at;
    uint64_t seq;
    size_t node;          // receiver / ticking node / pinging node
    uint64_t generation;  // the instance it is meant for
    size_t from = 0;      // deliver: sender
    uint64_t handle = 0;  // ping_timeout
    std::vector<std::string> frames; // deliver
  };

  struct ping_record {
    mesh_ping_result result;
    time_point sent{};
    std::tuple<size_t, uint64_t, uint64_t> key; // node, generation, ping id
  };

  node_state& lookup(const std::string& name);
  const node_state& lookup(const std::string& name) const;
  void start(node_state& n);
  void retire(node_state& n);
  void push(std::unique_ptr<event> ev);
  /// Schedules frames from node `from` to arrive at `to` after the latency.
  void deliver_later(size_t from, const node_state& to,
                     std::vector<std::string> frames);
  void process(event& ev);
  void after_call(node_state& n, bool after_tick = false);
  void transmit(node_state& from, const std::string& address, uint16_t port,
                const message& x);
  void on_pong(node_state& n, uint64_t ping_id, const std::string& from,
               uint64_t rtt_us);
  void on_error(node_state& n, const message& x);
  void finish_ping(uint64_t handle, mesh_ping_result r);
  static std::pair<size_t, size_t> key(size_t a, size_t b);
  void topology_changed() { ++routing_changes_; }
  /// All-pairs hop counts over live links; -1 for unreachable or dead.
  std::vector<std::vector<int32_t>> live_distances() const;

  options opts_;
  time_point start_;
  time_point now_;
  uint64_t seq_ = 0;
  std::vector<std::unique_ptr<event>> queue_; // a heap, earliest on top
  std::vector<std::unique_ptr<node_state>> nodes_;
  std::unordered_map<std::string, size_t> by_name_;
  std::map<std::pair<std::string, uint16_t>, size_t> by_endpoint_;
  std::set<std::pair<size_t, size_t>> links_;
  std::set<std::pair<size_t, size_t>> cut_;
  std::array<uint64_t, command_count> transmissions_{};
  uint64_t lost_ = 0;
  uint64_t invalid_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t routing_changes_ = 0;
  node_stats retired_;
  uint64_t next_handle_ = 1;
  std::unordered_map<uint64_t, ping_record> pings_;
  /// (node, instance generation, ping id) -> handle of a pending ping
  std::map<std::tuple<size_t, uint64_t, uint64_t>, uint64_t> ping_handles_;
  /// Answers that arrived inside protocol::ping (a ping to the node itself)
  std::map<std::tuple<size_t, uint64_t, uint64_t>, mesh_ping_result> early_;
  bool in_ping_ = false;
};

} // namespace quilt

// What a node does with a valid message, a timer tick or a user request
// (SPEC §5-6), free of I/O: the owner supplies the clock and performs the
// sends through a small callee interface, so tests and the simulator drive
// the same code that quiltd runs.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "quilt/broadcast_store.hpp"
#include "quilt/dedupe.hpp"
#include "quilt/flood_link.hpp"
#include "quilt/link.hpp"
#include "quilt/log.hpp"
#include "quilt/message.hpp"
#include "quilt/routing.hpp"
#include "quilt/security.hpp"
#include "quilt/stats.hpp"

namespace quilt {


/// Identifies one outgoing link (a DEALER, or a direct actor link).
using link_id = uint32_t;

/// The state of a peer as shown by `peers` (SPEC §8).
/// `auth_failed`: our link's CURVE handshake fails (a wrong public_key).
enum class peer_state : uint8_t { connecting, up, down, auth_failed };

const char* to_string(peer_state x);

/// What the protocol knows about one peer.
struct peer_info {
  std::string name;           ///< Empty until heard from.
  std::string address;        ///< Listen address; empty if incoming-only.
  uint16_t port = 0;          ///< Listen port; 0 until its server_connect.
  peer_state state = peer_state::connecting;
  std::optional<uint64_t> rtt_us;
  std::optional<uint64_t> last_seen_ms; ///< Age of the last message heard.
  bool configured = false;    ///< From [[peers]] or a user's connect.
  /// Its CURVE key: from [[peers]], or the key its first server_connect's
  /// connection authenticated with. The server key to dial it with, and
  /// the only key that may speak for its name and endpoint. Empty: plain.
  std::string public_key;
};

/// A message kept in the inbox.
struct inbox_entry {
  std::string from;
  std::string to;
  uint64_t id = 0;
  std::string text;
  int64_t received_ms = 0; ///< Unix epoch milliseconds.
};

/// Settings of the protocol logic, taken from node_config.
struct protocol_config {
  std::string name;
  std::string advertise;
  uint16_t port = 0;
  uint32_t heartbeat_ms = 1000;
  uint32_t dead_after_ms = 5000;
  uint8_t default_ttl = 32;
  size_t inbox_limit = 1000;
  size_t dedupe_capacity = 65536;
  std::chrono::milliseconds dedupe_window{60000};
  /// How often a node re-floods its link state unchanged; others forget an
  /// advertisement not refreshed for three times this.
  std::chrono::milliseconds lsa_refresh{30000};
  /// Unix time minus `now` as handed to the protocol, for inbox times. Empty:
  /// read the system clock (tests that drive the protocol by hand).
  std::optional<std::chrono::microseconds> unix_offset;
  /// Which addresses a server_connect from a remote connection may make
  /// this node dial (SPEC §10); configured peers' addresses always may.
  dial_policy dial = dial_policy::allow_all();
  /// Replace the link to a neighbour that is heard but has not answered
  /// over it for dead_after_ms (CURVE listeners park a connection whose
  /// routing id is taken, see zmq_transport.cpp).
  bool redial_unanswered = false;
  /// Links open at most for peers the config does not list (SPEC §12).
  size_t max_peers = 1024;
  /// Under CURVE: names bound to a client key by `authorized_keys` lines
  /// `KEY NAME` (Z85 keys). Only that key may speak for the name.
  std::unordered_map<std::string, std::string> name_keys;
  /// The largest message peers accept (limits.max_message_bytes): summary
  /// parts and acknowledgements are cut to fit.
  size_t max_message_bytes = 65536;
  /// How long a unicast msg this node originates is sent again until its
  /// destination confirms it, and how long broadcasts are kept to repair
  /// with (SPEC §14); zero: sent once, never confirmed, nothing kept.
  std::chrono::milliseconds delivery_timeout{10000};
  /// Messages waiting for confirmation at most, and their text's bytes at
  /// most: past either, the oldest is given up (not_delivered).
  size_t max_unconfirmed = 1024;
  size_t max_unconfirmed_bytes = size_t{16} << 20;
};

/// How the protocol reaches the outside world. Every call happens inside a
/// call into `protocol`, on the owner's thread.
class protocol_callee {
public:
  virtual ~protocol_callee();

  /// Opens an outgoing link to a peer's listen endpoint. `server_key` is
  /// the peer's CURVE key as its connection showed it, or empty.
  virtual void open_link(link_id id, const std::string& address,
                         uint16_t port, const std::string& server_key) = 0;

  /// Whether link `id` is answered (its connection established). The
  /// protocol counts a peer as up only over an answered link.
  virtual link_status status_of(link_id) const {
    return link_status::connected;
  }

  /// Which connection link `id` is on: a number that changes whenever the
  /// transport connects it afresh, after which a different process (the
  /// peer restarted) may be behind it. Constant for a transport without
  /// connections.
  virtual uint32_t connection_of(link_id) const { return 0; }

  /// Whether link `id` loses nothing it takes (link_counters::lossless):
  /// the flood's copies sent over it are not acknowledged.
  virtual bool lossless(link_id) const { return false; }

  /// Closes an outgoing link; messages still queued may be dropped.
  virtual void close_link(link_id id) = 0;

  /// Queues `x` for transmission on link `id`. False when the link had no
  /// room (the owner counts that drop): the protocol counts as forwarded
  /// only what a link took.
  virtual bool send(link_id id, const message& x) = 0;

  /// Queues `x` only while link `id` is less than half full, so that bulk
  /// (the flood over a lossless link) leaves room for hellos and
  /// acknowledgements. False when it is not: not a drop, the caller keeps
  /// `x` and offers it again later.
  virtual bool offer(link_id id, const message& x) { return send(id, x); }

  /// Queues `x`, which the protocol no longer needs: an owner that keeps
  /// messages can take it without a copy.
  virtual bool send(link_id id, message&& x) {
    return send(id, static_cast<const message&>(x));
  }

  /// A message addressed to this node (any command) was handled.
  virtual void delivered(const message& x) = 0;

  /// A pong answered a ping this node originated.
  virtual void pong_received(const std::string& from, uint64_t ping_id,
                             uint64_t rtt_us) = 0;

  /// An `error` about a message this node originated arrived.
  virtual void error_received(const message& x) = 0;

  /// A peer changed state.
  virtual void peer_changed(const peer_info& x) = 0;

  /// A route appeared, changed or went away (only while routes are
  /// watched, see protocol::watch_routes).
  virtual void route_changed(const route_change&) {
  }

  /// The destination confirmed a msg this node originated (msg_ack), `rtt_us`
  /// after its first copy went; at once for a msg to this node itself.
  virtual void delivery_confirmed(const std::string& /*dest*/,
                                  uint64_t /*id*/, uint64_t /*rtt_us*/) {
  }

  /// A msg this node originated was not confirmed within delivery_timeout
  /// (or was pushed out of the bounded set waiting for confirmation).
  virtual void not_delivered(const std::string& /*dest*/, uint64_t /*id*/) {
  }
};

/// The node's protocol state machine.
class protocol {
public:
  protocol(protocol_config cfg, protocol_callee& callee,
           uint64_t first_id);

  // -- inputs ---------------------------------------------------------------

  /// Handles a decoded, valid message. `prev_hop` is the sender's routing id
  /// when it is a node name, else empty (a foreign client). `via` is where
  /// a server_connect's connection came from; null means inside this
  /// process, which the dial policy trusts.
  void handle(message& x, const std::string& prev_hop, time_point now,
              const connection_info* via = nullptr);

  /// Handles a batch of valid messages that all came from `prev_hop`.
  void handle_batch(message_batch& batch, const std::string& prev_hop,
                    time_point now);

  /// Runs timers: heartbeats, dead-neighbour detection, re-announcements.
  void tick(time_point now);

  /// The next time `tick` has work to do.
  time_point next_wakeup() const { return next_wakeup_; }

  // -- user requests --------------------------------------------------------

  /// Dials a peer at address:port and announces this node to it. False when
  /// address:port is this node's own.
  /// `public_key` (Z85) is the peer's CURVE key when configured with one:
  /// its name is then bound to that key.
  bool connect(const std::string& address, uint16_t port, bool configured,
               time_point now, const std::string& public_key = {});

  /// Originates a ping; returns its id, or nullopt when there is no route
  /// (counted under dropped_unroutable). Pinging this node answers at once.
  /// A ping to all is answered by each node that gets it (pong_received
  /// once per node).
  std::optional<uint64_t> ping(const std::string& target, uint8_t ttl,
                               time_point now);

  /// Originates a text message; returns its id or nullopt without route.
  std::optional<uint64_t> send_text(const std::string& destination,
                                    const std::string& text, time_point now);

  // -- reload (SPEC §15; protocol_reload.cpp) ---------------------------------

  /// A `[[peers]]` entry removed by a reload: its link is closed and it is
  /// no longer dialled (as a neighbour it goes down first, so the mesh
  /// learns it). False when no peer has that endpoint. It may come back
  /// like any unconfigured peer, by its own server_connect.
  bool disconnect(const std::string& address, uint16_t port, time_point now);

  /// A reload's dial policy and names bound to keys, from now on.
  void set_trust(dial_policy dial,
                 std::unordered_map<std::string, std::string> name_keys);

  /// Closes the links of peers the config does not list whose CURVE key is
  /// not in `keys` (Z85): a reload revoked it. Returns how many.
  size_t revoke(const std::vector<std::string>& keys, time_point now);

  // -- watching routes --------------------------------------------------------

  /// Starts (or stops) reporting route changes to the callee. Routes are
  /// computed lazily, so nothing is diffed unless someone watches: starting
  /// takes the current routes as the baseline.
  void watch_routes(bool on);

  /// Tells the callee how the routes differ from those last reported; the
  /// owner calls it after inputs. Cheap when unwatched or unchanged: one
  /// comparison of the routing table's version.
  void report_route_changes();

  // -- queries --------------------------------------------------------------

  const std::string& name() const { return cfg_.name; }
  const protocol_config& config() const { return cfg_; }

  /// Peers in the order they became known.
  std::vector<peer_info> peers(time_point now) const;

  /// Number of peers that are up.
  size_t peers_up() const;

  /// Names of neighbours that are up and can be sent to.
  std::vector<std::string> neighbours() const;

  /// Routes to every reachable node, neighbours included (hops 1).
  std::vector<route_entry> routes() { return rt_.routes(); }

  /// This node's view of the mesh: reachable nodes and links among them.
  void topology(std::vector<std::string>& nodes,
                std::vector<std::pair<std::string, std::string>>& links) {
    rt_.topology(nodes, links);
  }

  /// The link-state database and routes, for tests.
  routing_table& routing() { return rt_; }

  /// The last `n` inbox entries, oldest first.
  std::vector<inbox_entry> inbox(size_t n) const;

  /// Counters maintained by the protocol stage.
  const node_stats& stats() const { return stats_; }

  /// Number of routes and the sum of their hop counts.
  std::pair<size_t, uint64_t> route_digest() { return rt_.digest(); }

  /// Records a drop that happened outside the protocol (e.g. overload).
  node_stats& mutable_stats() { return stats_; }

private:
  struct peer {
    peer_info info;
    std::optional<link_id> link;
    time_point created{};
    time_point last_seen{};
    /// When it last answered our heartbeat (a pong from it), or came up.
    time_point answered{};
    bool heard = false;
    /// Ever up: a peer the config does not list that never was is
    /// forgotten after dead_after_ms (SPEC §12).
    bool was_up = false;
    time_point next_announce{};
    /// Our last heartbeats to it, to time the pong that answers one
    /// however late it comes: under load later than the next heartbeat,
    /// when a round trip matters most (retransmit_after).
    struct heartbeat_sent {
      uint64_t id = 0;
      time_point at{};
    };
    std::array<heartbeat_sent, 8> heartbeats{};
    uint8_t next_heartbeat = 0;
    /// What it is owed of the link-state flood (flooding.cpp).
    flood_link flood;
    /// When it is probed next while suspect (silent for suspect_after()).
    time_point next_probe{};
    /// When this node resumed from a stall of its own while the peer was
    /// up: the peer is kept for resume_grace() from then (docs/PROTOCOL.md
    /// "Liveness"). Once per silence: hearing from it ends that silence.
    std::optional<time_point> grace_from;
  };

  peer* find_by_name(const std::string& name);
  /// Whether `p` is a neighbour (SPEC §12): a peer this node has a link to
  /// that is up, i.e. answered over that link and heard from.
  static bool is_neighbour(const peer* p) {
    return p && p->link && p->info.state == peer_state::up;
  }
  /// Whether `name` is a node of the mesh as this node knows it: a peer
  /// with a link, or the origin of an advertisement held.
  bool is_known_node(const std::string& name) const;
  /// Whether the message from a client (no neighbour) must be dropped as
  /// spoofed: routing, or speaking for a node of the mesh.
  bool is_spoofed(const message& x, const std::string& prev_hop) const;
  /// The key a CURVE connection must have to speak for `name`, or null.
  const std::string* key_of(const std::string& name) const;
  /// Peers the config does not list that have a link.
  size_t unconfigured_links() const;
  /// Whether a new peer for a server_connect from `address` fits the rate
  /// of new peers one address may make (a token bucket per address).
  bool admit_new_peer(const std::string& address, time_point now);
  /// The largest sequence number an advertisement may carry at `now`:
  /// sequence numbers are clock-derived ids (Unix microseconds x 1024), so
  /// one far ahead of this node's clock is made up (docs/PROTOCOL.md).
  uint64_t seq_ceiling(time_point now) const;
  /// Takes this node's name back from an advertisement in its name that it
  /// did not make (`seq` newer than its own): floods a newer one.
  void reclaim_name(uint64_t seq, const std::string& prev_hop,
                    time_point now);
  peer* find_by_endpoint(const std::string& address, uint16_t port);
  peer& add_peer();
  void heard_from(peer& p, time_point now);
  /// Brings a heard-from peer up once its link is answered; shows a failed
  /// CURVE handshake.
  void check_link(peer& p, time_point now);
  void set_state(peer& p, peer_state s);
  void ensure_link(peer& p);
  /// Replaces the link to a neighbour that does not answer over it.
  void redial(peer& p, time_point now);
  void announce(peer& p, const std::string& destination);
  uint64_t next_id() { return next_id_++; }

  /// What handle() does, acknowledgements aside.
  void receive(message& x, const std::string& prev_hop, time_point now,
               const connection_info* via);
  /// What handle() does once the sender is accounted for.
  void dispatch(message& x, const std::string& prev_hop, time_point now);
  void on_server_connect(message& x, const std::string& prev_hop,
                         time_point now, const connection_info* via);
  /// The dial policy's verdict on dialling `address` for `via`.
  bool may_dial(const std::string& address, const connection_info* via) const;
  void on_local(message& x, time_point now);
  void remove_peer(peer* p);
  void rename(peer& p, const std::string& name);
  void on_broadcast(message& x, const std::string& prev_hop, time_point now);
  void forward(message& x, time_point now);
  void reply_error(const message& about, std::string_view code,
                   std::string_view detail = {});

  /// Sends a locally created message to its destination; false without route.
  bool originate(message& x, time_point now);

  /// The link towards `destination`, if any.
  std::optional<link_id> next_hop(const std::string& destination);

  void send_on(peer& p, const message& x);
  void recompute_wakeup(time_point now);

  // -- routing ---------------------------------------------------------------

  /// A routing command from a neighbour (the others are spoofed).
  void on_routing(message& x, const std::string& prev_hop, time_point now);
  void on_link_state(message& x, peer& hop, time_point now);
  /// `hop` sent a copy of `origin`'s advertisement that is not newer.
  void stale_copy(peer& hop, node_id origin, uint64_t seq, time_point now);
  /// Re-advertises this node's neighbours when they changed (or `force`),
  /// at most once per lsa_min_interval() unless forced.
  void update_own_lsa(time_point now, bool force);
  /// Floods this node's own advertisement to every up neighbour.
  void flood_own_lsa(time_point now);
  std::chrono::milliseconds lsa_min_interval() const;
  bool send_advert(peer& p, const advert_body* ad, bool no_ack = false);

  // -- reliable flooding (flooding.cpp) ---------------------------------------

  /// Starts the summary exchange with a neighbour that came up (or forgot
  /// everything): it is owed what our summary shows it lacks.
  void start_summary(peer& p, time_point now);
  /// Owes `origin`'s advertisement to every up neighbour but `except`.
  void owe_all(node_id origin, const std::string& except, time_point now);
  /// Owes `origin`'s advertisement to `p` (sent by pump()).
  void owe(peer& p, node_id origin, time_point now);
  void send_summary_part(peer& p, const flood_link::summary_part& x);
  /// Sends `origin`'s advertisement `ad` to `p` now, owed as `e`.
  void transmit(peer& p, node_id origin, flood_link::owed_advert& e,
                const advert_body* ad, time_point now);
  /// Sends what `p` is owed while fewer than the window are in flight
  /// (over a lossless link: while the link takes them).
  void pump(peer& p, time_point now);
  /// `p`'s lossless link refused a copy for want of room: pump() again soon.
  void retry_when_room(peer& p, time_point now);
  /// `p` has `origin`'s advertisement with `seq` (or newer).
  /// `acked_at`: when a link_ack said so (its round trip is sampled);
  /// default: a copy of the neighbour's said so, which times nothing.
  void acknowledged(peer& p, node_id origin, uint64_t seq,
                    time_point acked_at = {});
  /// Sends again what `p` has not acknowledged in time.
  void retransmit(peer& p, time_point now);
  /// After acknowledgements from `p`: sends again at once what they show
  /// lost (a copy sent before one acknowledged).
  void detect_losses(peer& p, time_point now);
  void on_link_ack(message& x, peer& p, time_point now);
  void on_link_summary(message& x, peer& p, time_point now);
  /// Acknowledges the advertisement `x` from `p`, unless our own copy on
  /// its way to `p` will.
  void ack_advert(peer& p, const message& x);
  /// Sends the acknowledgements queued while handling input.
  void flush_acks();
  /// What this node sends for `origin`: the advertisement held, its own as
  /// last flooded.
  /// The advertisement of `origin` this node floods (its own as last
  /// published), or null; held by the routing table (or published_).
  const advert_body* held_advert(node_id origin) const;
  /// Whether `p`'s link loses nothing it takes (protocol_callee::lossless).
  bool lossless(const peer& p) const;
  /// How long `p` has to acknowledge a transmission, the `tries`-th.
  std::chrono::milliseconds retransmit_after(const peer& p,
                                             uint32_t tries) const;
  /// Bytes of names and numbers one link_ack or link_summary may carry.
  size_t list_bytes() const;

  // -- broadcasts that survive (broadcasts.cpp) -------------------------------

  /// Sends the kept broadcast `e` on to `p` (ttl - 1) and remembers that
  /// `p` owes an acknowledgement for it.
  void send_broadcast(peer& p, broadcast_store::entry& e, time_point now);
  /// Remembers that `p` was sent `e`: it owes an acknowledgement.
  void track_broadcast(peer& p, broadcast_store::entry& e, time_point now);
  /// `p` has (origin, id): it sent it to us, or acknowledged it.
  void broadcast_held(peer& p, std::string_view origin, uint64_t id);
  /// Gives recent broadcasts to neighbours that became children in their
  /// origin's tree (a death, a link up) since they were forwarded.
  void repair_broadcasts(time_point now);
  /// Sends again the broadcasts `p` has not acknowledged in time.
  void retransmit_broadcasts(peer& p, time_point now);
  void follow_connection(peer& p, time_point now);
  /// What handle() leaves for the end of its input: acknowledgements and
  /// broadcast repairs.
  void after_input(time_point now);
  /// Whether reverse-path broadcast may be used: routes have been stable
  /// long enough for every node to agree on them.
  bool routes_settled(time_point now) const;

  protocol_config cfg_;
  protocol_callee& callee_;
  log_limiter logs_;
  /// New peers per source address: tokens and when they were counted.
  struct dial_bucket {
    double tokens = 0;
    time_point at{};
  };
  std::unordered_map<std::string, dial_bucket> dial_buckets_;
  uint64_t next_id_;
  uint64_t first_id_;
  link_id next_link_ = 1;
  std::vector<std::unique_ptr<peer>> peers_; // in the order they appeared
  std::unordered_map<std::string, peer*> by_name_;
  std::deque<inbox_entry> inbox_;
  dedupe_cache dedupe_;
  struct pending_ping {
    time_point sent;
    /// A ping to all: every node's pong is an answer, until it is
    /// forgotten (after a minute), not only the first.
    bool broadcast = false;
  };
  std::unordered_map<uint64_t, pending_ping> pending_pings_;
  node_stats stats_;
  time_point next_heartbeat_{};
  time_point next_wakeup_{};
  message scratch_;
  routing_table rt_;
  uint64_t rt_version_seen_ = 0;
  time_point rt_changed_at_{};
  time_point next_lsa_refresh_{};
  time_point last_lsa_{};    ///< When the own advertisement was last flooded.
  bool lsa_pending_ = false; ///< A changed own advertisement waits to go.
  advert_ptr published_;     ///< The own advertisement last flooded.
  bool watching_routes_ = false;
  uint64_t watched_version_ = 0;
  std::vector<route_entry> watched_routes_; ///< As last reported.
  /// Neighbours with acknowledgements to send (flush_acks).
  std::vector<peer*> ack_dirty_;
  /// Nesting of handle() calls: acknowledgements go out at the outermost.
  int handling_ = 0;
  /// Broadcasts of the last delivery_timeout_ms, to repair with.
  broadcast_store recent_{4096, 16 << 20};
  /// The routing table's version, and whether routes were settled, when
  /// recent broadcasts were last checked against the trees.
  uint64_t repair_version_ = 0;
  bool repair_settled_ = false;

  // -- failure detection (SPEC §14) -------------------------------------------

  /// Silence after which an up neighbour is suspect: probed every
  /// probe_interval() until it is heard or dead_after_ms have passed.
  clock::duration suspect_after() const;
  clock::duration probe_interval() const;
  /// A tick this much later than it was due means this node did not run.
  clock::duration stall_after() const;
  /// How long a node that did not run keeps its neighbours from the resume.
  clock::duration resume_grace() const;
  /// When `p`, up, is declared down unless it is heard from before.
  time_point deadline(const peer& p) const;
  /// Sees whether this node itself stalled since its last tick, and gives
  /// its neighbours the chance to be heard before they are judged.
  void check_local_health(time_point now);
  /// Sends a ping (ttl 1) to each suspect neighbour whose probe is due.
  void probe_suspects(time_point now);
  /// Pings neighbour `p` with ttl 1: a heartbeat, or a suspect's probe.
  void send_heartbeat(peer& p, time_point now);

  bool ticked_ = false; ///< tick() ran before: its lateness means something.

public:
  // -- delivery confirmation (SPEC §14, docs/PROTOCOL.md) ----------------------

  /// Whether msg `id` (originated here) waits for its destination's msg_ack.
  bool awaiting_confirmation(uint64_t id) const {
    return unconfirmed_.count(id) != 0;
  }

  /// Number of messages waiting for confirmation.
  size_t unconfirmed() const { return unconfirmed_.size(); }

private:
  /// A msg this node originated that its destination has not confirmed.
  struct unconfirmed_msg {
    message msg;         ///< The copy sent again.
    time_point first{};  ///< When its first copy went.
    time_point next{};   ///< When the next copy is due.
    time_point deadline{};
    uint32_t copies = 0; ///< Copies a link took so far.
  };

  /// Keeps `x` (just originated) until its destination confirms it.
  void track_unconfirmed(const message& x, time_point now);
  /// Gives up on the oldest waiting msg (the set is full).
  void give_up_oldest();
  /// Confirms a unicast msg to its origin; false when a copy was stored
  /// before (a duplicate: counted, confirmed again, not stored again).
  bool confirm_msg(const message& x, time_point now);
  /// A msg_ack for a msg this node originated.
  void on_msg_ack(const message& x, time_point now);
  /// Sends due copies again, gives up on messages past their deadline.
  void retransmit_due(time_point now);
  /// The gap after `copies` copies: doubling from 50 ms to a cap.
  clock::duration retransmit_gap(uint32_t copies) const;
  /// The earliest due copy or deadline, or time_point::max().
  time_point next_retransmission() const;
  /// Whether `name` advertises link state: a Quilt node, which confirms.
  bool advertises(const std::string& name) const;

  /// By id, which grows with time: the first entry is the oldest.
  std::map<uint64_t, unconfirmed_msg> unconfirmed_;
  size_t unconfirmed_bytes_ = 0;
  /// Unicast msgs stored here, by (origin, id): a retransmitted copy is
  /// confirmed again but stored once.
  dedupe_cache unicast_seen_;
};

} // namespace quilt

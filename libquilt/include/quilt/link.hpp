// The pluggable link layer. A transport gives a node one listening endpoint
// and one outgoing link per peer; ZeroMQ tcp, ZeroMQ inproc and direct
// in-process links implement the same interface, so the actors above it do
// not know which one carries their messages.
//
// Outgoing links take typed messages: a ZeroMQ link packs them into frames,
// a direct link hands them to the receiving node as they are. Listeners
// deliver to an inbound_sink: raw frames from ZeroMQ, typed messages from a
// direct link. Nothing is delivered before the node attaches its sink, so a
// message that arrives while a node starts waits in the transport (ZeroMQ's
// receive queue) instead of being lost.
#pragma once

#include <array>
#include <atomic>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "quilt/message.hpp"
#include "quilt/security.hpp"

namespace quilt {

/// Where a message's connection came from, as its transport saw it. On a
/// plain listener only a server_connect carries it (the dial policy needs
/// it, SPEC §10); on a CURVE listener every message does, so the protocol
/// can check the key of whoever claims a name (SPEC §12). One is shared by
/// the messages of a connection.
struct connection_info {
  /// Inside one process (inproc): no address, nothing to police.
  bool in_process = false;
  std::string address;   ///< The remote IP (libzmq's Peer-Address).
  std::string curve_key; ///< Z85 client key it authenticated with, or "".
};

using connection_info_ptr = std::shared_ptr<const connection_info>;

/// One multipart message received on a listening endpoint.
struct inbound {
  std::string peer;   ///< Routing id of the sender's connection.
  bool req = false;   ///< Came with an empty delimiter: wants one reply.
  std::string packed; ///< Frames from destination on (see packed.hpp).
  /// Plain: server_connect only; CURVE: every message.
  connection_info_ptr via;
};

using inbound_batch = std::vector<inbound>;

/// Flow control from a listening socket to its node: the messages the
/// transport handed over that the node has not finished with. At `limit`
/// the transport stops reading the socket, so senders back up into
/// ZeroMQ's and TCP's buffers and then into their own bounded queues,
/// instead of into this process's memory. A paused transport looks again
/// now and then and reads once the node is down to half (no call from the
/// node's threads into the transport, whose lifetime they do not share).
/// Thread-safe.
class inbound_flow {
public:
  explicit inbound_flow(int64_t limit) : limit_(limit) {
  }

  int64_t limit() const { return limit_; }

  int64_t pending() const {
    return pending_.load(std::memory_order_relaxed);
  }

  /// The transport: how many messages it may hand over now.
  int64_t room() const {
    auto p = pending();
    return p < limit_ ? limit_ - p : 0;
  }

  /// The transport, paused: whether to read again.
  bool drained() const { return pending() <= limit_ / 2; }

  /// The transport: `n` messages were handed over.
  void take(int64_t n) { pending_.fetch_add(n, std::memory_order_relaxed); }

  /// The node: `n` messages are done with (handled, dropped or lost).
  void give_back(int64_t n) {
    pending_.fetch_sub(n, std::memory_order_relaxed);
  }

  /// Messages whose credit went without being settled: lost with the
  /// mailbox of an actor that stopped, and counted by nobody else.
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }

  void count_lost(int64_t n) {
    lost_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }

private:
  const int64_t limit_;
  std::atomic<int64_t> pending_{0};
  std::atomic<uint64_t> lost_{0};
};

/// A share of a counted pool held by the messages it covers, carried with
/// them from actor to actor. It gives its share back when settled (the
/// messages were handled, or dropped and counted) or destroyed, wherever
/// that happens; destroyed unsettled (with the mailbox of an actor that
/// stopped), its messages count as lost in the pool, unless it was made
/// with `count_loss` false because another credit on the same messages
/// counts them. So the pool's count never drifts, whichever actor fails
/// and whatever it held. A copy (CAF may make one) holds nothing.
/// Pool: give_back(int64_t) and count_lost(int64_t), thread-safe.
template <class Pool>
class counted_credit {
public:
  counted_credit() = default;
  counted_credit(std::shared_ptr<Pool> pool, int64_t n,
                 bool count_loss = true)
    : pool_(std::move(pool)), n_(n), count_loss_(count_loss) {
  }
  counted_credit(counted_credit&& x) noexcept
    : pool_(std::move(x.pool_)), n_(std::exchange(x.n_, 0)),
      count_loss_(x.count_loss_) {
  }
  counted_credit& operator=(counted_credit&& x) noexcept {
    if (this != &x) {
      release(true);
      pool_ = std::move(x.pool_);
      n_ = std::exchange(x.n_, 0);
      count_loss_ = x.count_loss_;
    }
    return *this;
  }
  counted_credit(const counted_credit&) : counted_credit() {
  }
  counted_credit& operator=(const counted_credit&) = delete;
  ~counted_credit() { release(true); }

  /// The messages are done with and counted: gives the share back.
  void settle() { release(false); }

  /// Moves `n` (at most all) of this share into a new credit.
  counted_credit split(int64_t n) {
    n = std::min(n, n_);
    n_ -= n;
    return counted_credit{pool_, n, count_loss_};
  }

  /// Takes over `x`'s share of the same pool (messages joining a batch).
  void merge(counted_credit&& x) {
    if (!pool_) {
      pool_ = x.pool_;
      count_loss_ = x.count_loss_;
    }
    n_ += std::exchange(x.n_, 0);
  }

  int64_t size() const { return n_; }

private:
  void release(bool lost) {
    if (pool_ && n_ > 0) {
      if (lost && count_loss_)
        pool_->count_lost(n_);
      pool_->give_back(n_);
    }
    n_ = 0;
  }

  std::shared_ptr<Pool> pool_;
  int64_t n_ = 0;
  bool count_loss_ = true;
};

/// The share of a listener's flow held by the messages it covers.
using flow_credit = counted_credit<inbound_flow>;

/// What a message holds in memory while it travels between the nodes of a
/// process: the message itself and the heap its strings use. A shared
/// advertisement counts only as its pointer: every copy of the flood and
/// the routing tables share one.
int64_t message_bytes(const message& x);

/// Hellos and acknowledgements (server_connect, ping, pong, link_ack,
/// msg_ack): what keeps neighbours up and clears what senders owe (each
/// one refused costs a retransmission), small and few, sent first under
/// load (RFC 4222). They may use a budget's reserve.
bool is_priority(command x);

/// The bytes of messages [first, last) of a batch.
int64_t batch_bytes(const message_batch& batch, size_t first, size_t last);

/// A bound on the bytes of messages in flight (SPEC §14 "Memory"): taken
/// when a node queues a message for a link (originated or forwarded), given
/// back when the receiving node has handled it, or when it is dropped on
/// the way. One bounds a whole process (every node's links share it, see
/// byte_budget::process), another each link. Bytes are what a message
/// holds in memory (message_bytes), not its size on the wire. Past the
/// limit a message is refused, except that hellos and acknowledgements
/// (`priority`) may use a reserve above it, so that a node under load
/// still hears its neighbours and clears what it owes (RFC 4222): the
/// hard bound is limit + reserve. Thread-safe, lock-free.
class byte_budget {
public:
  explicit byte_budget(int64_t limit, int64_t reserve = -1)
    : limit_(limit), reserve_(reserve < 0 ? limit / 8 : reserve) {
  }

  int64_t limit() const { return limit_; }
  int64_t reserve() const { return reserve_; }

  int64_t used() const { return used_.load(std::memory_order_relaxed); }

  /// The most ever held at once.
  int64_t peak() const { return peak_.load(std::memory_order_relaxed); }

  /// Takes `n` bytes if they fit (under limit, or limit + reserve for a
  /// priority message); false, taking nothing, if they do not.
  bool try_take(int64_t n, bool priority) {
    auto cap = priority ? limit_ + reserve_ : limit_;
    auto cur = used_.load(std::memory_order_relaxed);
    do {
      if (cur + n > cap) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    } while (!used_.compare_exchange_weak(cur, cur + n,
                                          std::memory_order_relaxed));
    auto now = cur + n;
    auto top = peak_.load(std::memory_order_relaxed);
    while (now > top
           && !peak_.compare_exchange_weak(top, now,
                                           std::memory_order_relaxed)) {
    }
    return true;
  }

  void give_back(int64_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }

  /// Messages refused since the start (each counted by its node too).
  uint64_t refused() const {
    return refused_.load(std::memory_order_relaxed);
  }

  /// Bytes whose credit went unsettled (lost with the mailbox of an actor
  /// that stopped): given back all the same, and tallied here.
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }

  void count_lost(int64_t n) {
    lost_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }

  /// The process's budget, shared by every node that was not given its
  /// own (node_options::budget): default_process_bytes() of memory.
  static const std::shared_ptr<byte_budget>& process();

  /// An eighth of physical memory, at least 64 MiB and at most 1 GiB: a
  /// node's queues, not its tables, and a process with one node never
  /// needs more (see docs/PROTOCOL.md "Flow control").
  static int64_t default_process_bytes();

private:
  const int64_t limit_;
  const int64_t reserve_;
  std::atomic<int64_t> used_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> lost_{0};
};

/// The bytes of messages on their way, held in the process's budget and
/// in their link's, carried with the messages from actor to actor and
/// given back (settled) where they are handled or dropped. Destroyed
/// unsettled it gives them back too (see counted_credit); a copy holds
/// nothing.
class bytes_credit {
public:
  bytes_credit() = default;
  /// Credit for `n` bytes already taken from both budgets.
  bytes_credit(std::shared_ptr<byte_budget> process,
               std::shared_ptr<byte_budget> link, int64_t n)
    : process_(std::move(process), n), link_(std::move(link), n) {
  }

  int64_t size() const { return process_.size(); }

  void settle() {
    process_.settle();
    link_.settle();
  }

  /// Moves `n` bytes (at most all) into a new credit.
  bytes_credit split(int64_t n) {
    bytes_credit x;
    x.process_ = process_.split(n);
    x.link_ = link_.split(n);
    return x;
  }

  /// Takes over `x`'s bytes (both must come from the same budgets).
  void merge(bytes_credit&& x) {
    process_.merge(std::move(x.process_));
    link_.merge(std::move(x.link_));
  }

private:
  counted_credit<byte_budget> process_;
  counted_credit<byte_budget> link_;
};

/// Where a listener delivers what it receives. Calls come from the
/// transport's thread (frames) or the sending node's thread (messages); an
/// implementation must not block.
class inbound_sink {
public:
  virtual ~inbound_sink();

  /// Raw messages read from a ZeroMQ listening socket, with their share of
  /// the listener's flow (see inbound_flow).
  virtual void frames(inbound_batch&& batch, flow_credit credit) = 0;

  /// Typed messages from the node named `from` over a direct link. They were
  /// made by a node's protocol, so they need no decoding; `in_flight` is
  /// decremented by the receiver once it took them (the link's bound).
  virtual void messages(std::string from, message_batch&& batch,
                        std::shared_ptr<std::atomic<uint64_t>> in_flight)
    = 0;

  /// The same with the messages' bytes in the budgets (byte_budget), to be
  /// settled once the receiving node has handled them. This default is for
  /// sinks that keep nothing: the bytes are given back at once.
  virtual void messages(std::string from, message_batch&& batch,
                        std::shared_ptr<std::atomic<uint64_t>> in_flight,
                        bytes_credit bytes) {
    bytes.settle();
    messages(std::move(from), std::move(batch), std::move(in_flight));
  }
};

using inbound_sink_ptr = std::shared_ptr<inbound_sink>;

/// Whether an outgoing link's connection is established, as its transport
/// sees it: "the node's own link is answered" (SPEC §12) once `connected`.
enum class link_status : uint8_t {
  connecting,  ///< Dialling, or redialling after a disconnect.
  connected,   ///< The handshake with the peer's listener succeeded.
  auth_failed, ///< The CURVE handshake failed (a wrong server key).
};

/// Counters a link shares with its owner; updated from any thread.
struct link_counters {
  /// Set by the transport. Transports that have no handshake to report
  /// (direct links, inproc) leave it `connected`; a ZeroMQ tcp DEALER
  /// starts `connecting` and follows its socket monitor.
  std::atomic<link_status> status{link_status::connected};
  /// Connections made so far: a new one may reach a restarted process,
  /// which must not be sent again what its former self may have had.
  std::atomic<uint32_t> connection{0};
  /// Set by the transport: the link loses nothing it took. Whatever it
  /// cannot carry it refuses at send, where the sender sees it (a direct
  /// link in one process; a conditioned one while its direction has no
  /// loss and no cut). Copies of the flood sent over it need no
  /// acknowledgement (message::no_ack, docs/PROTOCOL.md "Flooding").
  std::atomic<bool> lossless{false};
  std::atomic<uint64_t> tx{0};         ///< Messages handed to the wire.
  std::atomic<uint64_t> dropped{0};    ///< Dropped: queue full or too old.
  std::atomic<uint64_t> queued{0};     ///< Waiting for the wire right now.
  /// Of `tx`, the copies a node forwarded (message::forwarded): what its
  /// `forwarded` counts, so a copy is forwarded once it left, and dropped
  /// if it never does.
  std::atomic<uint64_t> forwarded{0};
  /// Messages the link took, by quilt::command.
  std::array<std::atomic<uint64_t>, command_count> tx_by_command{};

  /// Counts the first `taken` messages of `batch` under their commands.
  void count_taken(const message_batch& batch, size_t taken);

  /// What sending the first `taken` messages of a batch adds.
  struct sent_tally {
    std::array<uint64_t, command_count> by_command{};
    uint64_t n = 0;
    uint64_t forwarded = 0;
  };

  /// Counts what sending the first `taken` messages of `batch` adds,
  /// without counting it yet (the batch may move before it is sent).
  static sent_tally tally(const message_batch& batch, size_t taken);

  /// Counts sent messages: tx, forwarded and by command.
  void count_sent(const sent_tally& x);
};

using link_counters_ptr = std::shared_ptr<const link_counters>;

/// Options of an outgoing link.
struct dial_options {
  std::string identity;      ///< Our node name, the routing id peers see.
  uint64_t queue_limit = 10000;
  /// Messages that wait longer than this for a connection are dropped, so
  /// a peer that comes back is not flooded with stale heartbeats.
  uint32_t max_queue_age_ms = 5000;
  uint64_t max_message_bytes = 65536;
  /// CURVE client keys (Z85); all empty for a plain link.
  std::string curve_public_key;
  std::string curve_secret_key;
  std::string curve_server_key;
  /// ZMTP heartbeats on tcp (ZMQ_HEARTBEAT_IVL / _TIMEOUT / _TTL): a
  /// connection whose other end stopped answering for `heartbeat_timeout_ms`
  /// is dropped and redialled. 0: off.
  uint32_t heartbeat_ivl_ms = 0;
  uint32_t heartbeat_timeout_ms = 0;
  /// Counters the link updates instead of making its own: a decorator's
  /// link (conditioned_transport) shares them with the link it wraps, so
  /// what waits in either and what either drops shows in one place, live.
  /// None: the link makes its own.
  std::shared_ptr<link_counters> counters;
};

/// Counters of a listening endpoint; updated from the transport's thread.
struct listener_counters {
  /// Connections refused in the CURVE handshake: a client key that is not
  /// authorized, or a client that does not speak CURVE.
  std::atomic<uint64_t> rejected_auth{0};
};

/// Options of a listening endpoint.
struct listen_options {
  /// The listening node's name: a simulation's network model
  /// (conditioned_transport) names a link's directions by it.
  std::string name;
  uint64_t max_message_bytes = 65536;
  /// With a secret key the endpoint is a CURVE server that admits only
  /// `curve.authorized` client keys.
  std::optional<curve_identity> curve;
  std::shared_ptr<listener_counters> counters;
  /// The flow control of what the listener hands to its node (see
  /// inbound_flow); none: a flow of 4096 messages of the transport's own.
  std::shared_ptr<inbound_flow> flow;
  /// TCP keepalive on tcp: a connection whose client's host stopped
  /// answering (a crash, a cut cable) is closed about `reap_after_ms`
  /// after it went quiet, which frees its routing id for the restarted
  /// peer. Not ZMTP heartbeats: a client's answer to those waits behind
  /// everything it sent before, so while this node pushes back (flow
  /// control) they would close live connections and lose what was in
  /// flight. 0: off.
  uint32_t reap_after_ms = 0;
};

/// A node's link to one peer's listening endpoint.
class outgoing_link {
public:
  virtual ~outgoing_link();

  /// Queues messages for the peer; the link may move them out of `batch`.
  /// Past the queue limit the tail of the batch is dropped and counted in
  /// `counters().dropped`. Returns how many messages were taken.
  virtual size_t send(message_batch& batch) = 0;

  /// The same, with the batch's bytes in the budgets. A link that carries
  /// the messages to a node of this process (direct) hands the bytes on
  /// with them; this default, for links that hand them to a socket
  /// (ZeroMQ, whose queue is bounded by queue_limit), gives them back once
  /// the link took or dropped them.
  virtual size_t send(message_batch& batch, bytes_credit& bytes) {
    auto taken = send(batch);
    bytes.settle();
    return taken;
  }

  /// Counters of this link.
  virtual const link_counters& counters() const = 0;

  /// The counters, kept alive beyond the link.
  virtual link_counters_ptr shared_counters() const = 0;
};

using outgoing_link_ptr = std::shared_ptr<outgoing_link>;

/// Identifies a listening endpoint within its transport.
using listener_id = uint64_t;

/// A way to move messages between nodes. One transport serves many nodes.
class transport {
public:
  virtual ~transport();

  /// The endpoint string for a node reachable at address:port.
  virtual std::string endpoint(const std::string& address,
                               uint16_t port) const = 0;

  /// Binds a listening endpoint; on failure returns a one-line reason.
  /// Nothing is delivered until attach().
  virtual std::variant<listener_id, std::string>
  listen(const std::string& endpoint, const listen_options& opts) = 0;

  /// Delivers what the listener receives to `sink` from now on (replacing
  /// an earlier sink).
  virtual void attach(listener_id id, inbound_sink_ptr sink) = 0;

  /// Stops listening. The sink may still be called until the transport
  /// has processed the close, so it must hold only what stays valid.
  virtual void close_listener(listener_id id) = 0;

  /// Sends a one-frame reply to a lock-step (REQ) client of a listener.
  virtual void reply(listener_id id, std::string peer, std::string text) = 0;

  /// Opens a link to `endpoint`; it reconnects for ever until destroyed.
  virtual outgoing_link_ptr dial(const std::string& endpoint,
                                 const dial_options& opts) = 0;
  /// A reload (SPEC §15): a CURVE listener admits only these client keys
  /// (Z85) from now on and closes the connections it holds whose key is
  /// not among them. A transport without keys has nothing to do.
  virtual void authorize(listener_id /*id*/,
                         std::vector<std::string> /*keys*/) {
  }
};

} // namespace quilt

// The pluggable link layer. A transport gives a node one listening endpoint
// and one outgoing link per peer; ZeroMQ tcp, ZeroMQ inproc and direct
// in-process links implement the same interface, so the actors above it do
// not know which one carries their frames.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace quilt {

/// One multipart message received on a listening endpoint.
struct inbound {
  std::string peer;   ///< Routing id of the sender's connection.
  bool req = false;   ///< Came with an empty delimiter: wants one reply.
  std::string packed; ///< Frames from destination on (see packed.hpp).
};

using inbound_batch = std::vector<inbound>;

/// Receives batches from a listening endpoint, on the transport's thread.
/// It must not block.
using inbound_handler = std::function<void(inbound_batch&&)>;

/// Counters a link shares with its owner; updated from any thread.
struct link_counters {
  std::atomic<uint64_t> tx{0};         ///< Messages handed to the wire.
  std::atomic<uint64_t> dropped{0};    ///< Dropped: queue full or too old.
  std::atomic<uint64_t> queued{0};     ///< Waiting for the wire right now.
};

/// Options of an outgoing link.
struct dial_options {
  std::string identity;      ///< Our node name, the routing id peers see.
  uint64_t queue_limit = 10000;
  /// Messages that wait longer than this for a connection are dropped, so
  /// a peer that comes back is not flooded with stale heartbeats.
  uint32_t max_queue_age_ms = 5000;
  uint64_t max_message_bytes = 65536;
};

/// Options of a listening endpoint.
struct listen_options {
  uint64_t max_message_bytes = 65536;
};

/// A node's link to one peer's listening endpoint.
class outgoing_link {
public:
  virtual ~outgoing_link();

  /// Queues packed messages for the peer. Past the queue limit the tail of
  /// the batch is dropped and counted in `counters().dropped`. Returns how
  /// many messages were taken. Thread-safe.
  virtual size_t send(std::vector<std::string>&& batch) = 0;

  /// Counters of this link.
  virtual const link_counters& counters() const = 0;
};

using outgoing_link_ptr = std::shared_ptr<outgoing_link>;

/// Identifies a listening endpoint within its transport.
using listener_id = uint64_t;

/// A way to move frames between nodes. One transport serves many nodes.
class transport {
public:
  virtual ~transport();

  /// The endpoint string for a node reachable at address:port.
  virtual std::string endpoint(const std::string& address,
                               uint16_t port) const = 0;

  /// Starts listening; on failure returns a one-line reason.
  virtual std::variant<listener_id, std::string>
  listen(const std::string& endpoint, const listen_options& opts,
         inbound_handler handler) = 0;

  /// Stops listening. The handler may still be called until the transport
  /// has processed the close, so it must hold only what stays valid.
  virtual void close_listener(listener_id id) = 0;

  /// Sends a one-frame reply to a lock-step (REQ) client of a listener.
  virtual void reply(listener_id id, std::string peer, std::string text) = 0;

  /// Opens a link to `endpoint`; it reconnects for ever until destroyed.
  virtual outgoing_link_ptr dial(const std::string& endpoint,
                                 const dial_options& opts) = 0;
};

} // namespace quilt

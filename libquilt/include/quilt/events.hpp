// What a node tells those watching it (quilt-console watch, quiltd's line
// interface): events, the bounded queue each watcher gets, and the one-line
// form both print (SPEC §11). No CAF here: the actors carry these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace quilt {

/// Something a user watching a node wants to see. Only the fields of its
/// kind are set; events are built only while someone watches.
struct node_event {
  enum kind_t : uint8_t {
    peer_up,
    peer_down,
    route_added,
    route_changed,
    route_removed,
    msg,
    error, ///< An error about a message this node originated (`text`).
  };
  kind_t kind = error;
  int64_t ts_ms = 0;       ///< When, in Unix epoch milliseconds.
  std::string peer;        ///< peer_*: its name, or ADDRESS:PORT if unnamed.
  std::string destination; ///< route_*.
  std::string next_hop;    ///< route_*; for route_removed the one it had.
  uint32_t hops = 0;       ///< route_*; 0 for route_removed.
  std::string from;        ///< msg.
  std::string to;          ///< msg: this node's name, or `all`.
  uint64_t id = 0;         ///< msg.
  std::string text;        ///< msg: its text; error: what happened.
};

/// The event name of SPEC §11 (`peer_up`, ..., `msg`, or `error`).
const char* to_string(node_event::kind_t x);

/// The events a watcher is sent at once, and how many it missed before
/// them because it did not keep up.
struct event_batch {
  std::vector<node_event> events;
  uint64_t dropped = 0;
};

/// One watcher's events on their way: at most one batch travels at a time
/// (the watcher acknowledges it), and what waits meanwhile is bounded, so a
/// slow or stuck watcher costs the node at most `limit` events; beyond
/// that, events are counted as dropped and the count goes with the next
/// batch.
class event_queue {
public:
  explicit event_queue(size_t limit = 1024) : limit_(limit) {
  }

  void push(node_event x);

  /// Whether a batch may go now: something waits and none is unanswered.
  bool ready() const {
    return !busy_ && (!waiting_.empty() || dropped_ > 0);
  }

  /// The batch to send; the queue is busy until acknowledged().
  event_batch take();

  void acknowledged() {
    busy_ = false;
  }

  size_t waiting() const {
    return waiting_.size();
  }

  /// Dropped since the last batch went.
  uint64_t dropped() const {
    return dropped_;
  }

private:
  size_t limit_;
  std::vector<node_event> waiting_;
  uint64_t dropped_ = 0;
  bool busy_ = false;
};

/// The one-line form (no newline), e.g.
/// `14:03:07.412 route_changed destination=c next_hop=d hops=2`; the time
/// is local. quilt-console watch and quiltd's line interface print this.
std::string event_line(const node_event& x);

} // namespace quilt

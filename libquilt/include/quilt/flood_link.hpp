// What a node owes one neighbour of the link-state flood: the advertisements
// it still has to send or to see acknowledged, its summary parts in flight,
// and the acknowledgements it has to send back (docs/PROTOCOL.md
// "Flooding"). Plain data: protocol (flooding.cpp) runs the state machine.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "quilt/id_table.hpp"
#include "quilt/routing.hpp"
#include "quilt/time.hpp"

namespace quilt {

struct flood_link {

  /// One origin whose advertisement the neighbour is owed. Keyed by origin,
  /// not by advertisement: whatever is held for the origin when it goes out
  /// is sent, so a newer advertisement replaces an older one still waiting.
  struct owed_advert {
    uint64_t sent_seq = 0;  ///< Sequence number in flight; 0: not sent.
    time_point sent_at{};
    uint32_t tries = 0;     ///< Transmissions of sent_seq so far.
    uint32_t stamp = 0;     ///< Matches its entry in `in_flight`.
    bool waiting = false;   ///< In `waiting`, to be sent.
  };

  /// One part of this node's summary, until the neighbour acknowledges it.
  struct summary_part {
    uint64_t id = 0;
    std::string after; ///< Covers names above this one ("": from the start)
    std::string upto;  ///< ... up to this one ("": to the end).
    std::string entries;
    time_point sent_at{};
    uint32_t tries = 0;
  };

  id_table<owed_advert> owed;
  /// Origins to send, oldest first; may name ones no longer waiting.
  std::deque<node_id> waiting;
  /// Over a link that loses nothing, the origins refused for want of room
  /// wait as one bit each, by node id, not as an entry of `owed`: a
  /// 10,000-node flood refuses millions of copies, and their entries'
  /// insertions and rehashes were a sixth of its time. Emptied (and freed)
  /// whenever `waiting` empties.
  std::vector<uint64_t> held_back;

  bool holds_back(node_id o) const {
    return o / 64 < held_back.size() && ((held_back[o / 64] >> (o % 64)) & 1);
  }
  void hold_back(node_id o) {
    if (o / 64 >= held_back.size())
      held_back.resize(o / 64 + 1);
    held_back[o / 64] |= uint64_t{1} << (o % 64);
  }
  void release(node_id o) {
    if (o / 64 < held_back.size())
      held_back[o / 64] &= ~(uint64_t{1} << (o % 64));
  }
  /// Origins sent and not acknowledged, with their stamps, in send order;
  /// may name ones since acknowledged or replaced (their stamp differs).
  std::deque<std::pair<node_id, uint32_t>> in_flight;
  /// Advertisements in flight: at most the window (flooding.cpp).
  size_t sending = 0;
  uint32_t next_stamp = 0;
  std::vector<summary_part> summary;
  /// When the earliest retransmission may be due.
  time_point next_due = time_point::max();
  /// The neighbour has sent a routing command: it speaks link-state. Until
  /// then it gets only our summary (a foreign peer drops it unanswered).
  bool speaks = false;
  /// When this exchange began (start_summary): the neighbour came up, or
  /// dialled us afresh. A broadcast seen before then is not repaired to it:
  /// it may be a restarted node that delivered it in its former life.
  time_point since{};
  /// The link's connection then (protocol_callee::connection_of): when it
  /// changes, the exchange is over and `since` starts again.
  uint32_t connection = 0;
  /// Acknowledgements to send back: advertisements, summary parts and
  /// broadcasts (origin and id).
  std::vector<std::pair<std::string, uint64_t>> acks;
  std::vector<uint64_t> summary_acks;
  std::vector<std::pair<std::string, uint64_t>> broadcast_acks;

  /// A broadcast sent to the neighbour and not acknowledged, by its serial
  /// in the node's recent broadcasts (broadcast_store.hpp).
  struct owed_broadcast {
    time_point sent_at{};
    uint32_t tries = 0;
  };
  std::unordered_map<uint64_t, owed_broadcast> broadcasts;

  /// Loss or delay? When this neighbour last acknowledged one of our
  /// advertisements, and the stamp of the latest copy it acknowledged. A
  /// copy sent before one that was acknowledged was lost (links keep
  /// order); a copy with nothing acknowledged after it waits in the
  /// neighbour's input as long as acknowledgements keep coming: sending it
  /// again would only add to that input (as RACK tells loss from delay,
  /// RFC 8985).
  time_point last_ack{};
  uint32_t acked_stamp = 0;
  /// The last probe: a copy resent when acknowledgements stopped. One a
  /// wait, not one for each copy outstanding.
  time_point probed_at{};

  /// Round trip of an advertisement to its acknowledgement, smoothed as
  /// TCP does (RFC 6298); sampled only from copies sent once (Karn's rule).
  std::chrono::microseconds srtt{0};
  std::chrono::microseconds rttvar{0};

  void sample_rtt(std::chrono::microseconds r) {
    if (srtt.count() == 0 && rttvar.count() == 0) {
      srtt = r;
      rttvar = r / 2;
      return;
    }
    auto err = srtt > r ? srtt - r : r - srtt;
    rttvar = (3 * rttvar + err) / 4;
    srtt = (7 * srtt + r) / 8;
  }

  /// The wait the measured round trips call for (zero until one was).
  std::chrono::microseconds rto() const { return srtt + 4 * rttvar; }

  bool has_acks() const {
    return !acks.empty() || !summary_acks.empty() || !broadcast_acks.empty();
  }
};

} // namespace quilt

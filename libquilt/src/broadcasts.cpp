// Broadcasts that survive loss and deaths (SPEC §14, docs/PROTOCOL.md
// "Broadcasts that survive"). Each copy a node sends a neighbour that speaks
// link-state is acknowledged (in link_ack) and sent again until it is, for
// as long as the broadcast is kept (limits.delivery_timeout_ms). When the
// routing table changes (a death, a link up), a node gives each recent
// broadcast to the neighbours that are now its children in the origin's
// tree and are not known to have it: a subtree cut off by a death on the
// way gets it from its new parent. The dedupe cache keeps delivery
// exactly-once whatever copies arrive.
#include <algorithm>

#include "quilt/protocol.hpp"

namespace quilt {

namespace {

/// Unacknowledged broadcasts tracked per neighbour; past it copies go
/// untracked (as before acknowledgements), so a flood of broadcasts costs
/// bounded memory.
constexpr size_t max_owed_broadcasts = 1024;

} // namespace

void protocol::track_broadcast(peer& p, broadcast_store::entry& e,
                               time_point now) {
  if (std::find(e.sent.begin(), e.sent.end(), p.info.name) == e.sent.end())
    e.sent.push_back(p.info.name);
  auto& owed = p.flood.broadcasts;
  if (!p.flood.speaks || owed.size() >= max_owed_broadcasts)
    return;
  owed[e.serial] = {now, 1};
  auto due = now + retransmit_after(p, 1);
  p.flood.next_due = std::min(p.flood.next_due, due);
  next_wakeup_ = std::min(next_wakeup_, due);
}

void protocol::send_broadcast(peer& p, broadcast_store::entry& e,
                              time_point now) {
  if (!p.link || e.msg.ttl <= 1)
    return;
  auto copy = e.msg;
  copy.ttl -= 1;
  if (callee_.send(*p.link, std::move(copy)))
    ++stats_.broadcast_tx;
  track_broadcast(p, e, now);
}

void protocol::broadcast_held(peer& p, std::string_view origin, uint64_t id) {
  auto e = recent_.find(origin, id);
  if (!e)
    return;
  if (!e->has(p.info.name))
    e->have.push_back(p.info.name);
  p.flood.broadcasts.erase(e->serial);
}

void protocol::follow_connection(peer& p, time_point now) {
  if (!p.link)
    return;
  auto c = callee_.connection_of(*p.link);
  if (c == p.flood.connection)
    return;
  // Connected afresh: perhaps to a restarted process we did not see go
  // (it came back within dead_after_ms). It cannot tell a copy its former
  // self delivered from a new one: nothing owed is sent again, and only
  // broadcasts seen from now on are given to it.
  p.flood.connection = c;
  p.flood.since = now;
  p.flood.broadcasts.clear();
}

void protocol::retransmit_broadcasts(peer& p, time_point now) {
  follow_connection(p, now);
  auto& owed = p.flood.broadcasts;
  if (!p.link || callee_.status_of(*p.link) != link_status::connected) {
    // The connection dropped: the process behind it may be gone, and what
    // answers when it reconnects may be its successor, which cannot tell a
    // copy its former self delivered from a new one. A copy queued now
    // would reach it first thing. Nothing is sent again over this link.
    owed.clear();
    return;
  }
  for (auto i = owed.begin(); i != owed.end();) {
    auto e = recent_.find(i->first);
    if (!e) {
      i = owed.erase(i); // its time is up
      continue;
    }
    auto due = i->second.sent_at + retransmit_after(p, i->second.tries);
    if (now >= due) {
      auto copy = e->msg;
      copy.ttl -= 1;
      if (p.link)
        callee_.send(*p.link, std::move(copy));
      ++stats_.retransmitted;
      i->second.sent_at = now;
      ++i->second.tries;
      due = now + retransmit_after(p, i->second.tries);
    }
    p.flood.next_due = std::min(p.flood.next_due, due);
    next_wakeup_ = std::min(next_wakeup_, due);
    ++i;
  }
}

void protocol::repair_broadcasts(time_point now) {
  recent_.expire(now, cfg_.delivery_timeout);
  auto settled = routes_settled(now);
  if (rt_.version() == repair_version_ && settled == repair_settled_)
    return;
  repair_version_ = rt_.version();
  repair_settled_ = settled;
  // A neighbour that connected afresh (a restart) owes nothing any more
  // and starts its `since` again: checked once, not per broadcast.
  for (auto& p : peers_)
    if (is_neighbour(p.get()))
      follow_connection(*p, now);
  recent_.for_each([&](broadcast_store::entry& e) {
    // An origin we cannot reach has no tree here; whoever stays reachable
    // from it is reached by the nodes that can.
    if (e.msg.ttl <= 1 || !rt_.lookup(e.msg.origin))
      return;
    for (auto& name : rt_.tree_children(e.msg.origin)) {
      auto p = find_by_name(name);
      if (!is_neighbour(p) || name == e.msg.origin || e.has(name)
          || p->flood.broadcasts.count(e.serial) > 0)
        continue;
      // It was not our neighbour when we saw the broadcast: it did not stay
      // reachable (a partition that healed), or it restarted and cannot
      // tell the broadcast from one its former self delivered.
      if (e.seen < p->flood.since)
        continue;
      // A foreign peer does not acknowledge: sent once is enough.
      if (!p->flood.speaks
          && std::find(e.sent.begin(), e.sent.end(), name) != e.sent.end())
        continue;
      send_broadcast(*p, e, now);
    }
  });
}

void protocol::after_input(time_point now) {
  repair_broadcasts(now);
  if (!ack_dirty_.empty())
    flush_acks();
}

} // namespace quilt

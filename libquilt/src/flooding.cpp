// Reliable flooding of link-state advertisements (docs/PROTOCOL.md
// "Flooding"), as OSPF floods (RFC 2328 §13): every advertisement sent to a
// neighbour stays owed until the neighbour acknowledges it, and goes again
// when it does not in time. A link that comes up starts with an exchange of
// summaries, so each side sends only what the other lacks. What is owed is
// kept per origin, sent at most `window` at a time: a neighbour behind a
// slow link holds at most that many advertisements in its queue, and the
// newest for each origin, whatever changed while they waited.
//
// A link that loses nothing it takes (a direct link between the nodes of
// one process, while its simulated direction has no loss and no cut) needs
// none of that: what it refuses the sender sees at once, and what it takes
// arrives. Copies sent over it go unacknowledged (message::no_ack) and owe
// nothing; only what it refuses waits, and goes when it has room again.
// Most of a simulation's flood crosses such links: acknowledging each copy
// had made a 10,000-node run 9 times slower (issue 17).
#include <algorithm>
#include <string_view>

#include "quilt/codec.hpp"
#include "quilt/protocol.hpp"

namespace quilt {

namespace {

/// Advertisements in flight to one neighbour. Enough to keep a link of
/// 1,000 advertisements a second busy over 100 ms of round trip; few enough
/// that hellos and acknowledgements queued behind them wait little.
constexpr size_t window = 128;

/// How soon a link that refused a copy for want of room is tried again:
/// its queue drains as fast as the neighbour reads it.
constexpr auto room_retry = std::chrono::milliseconds(2);

/// Splits "a b c d" at single spaces.
template <class F>
void for_each_token(std::string_view x, F f) {
  while (!x.empty()) {
    auto end = x.find(' ');
    f(x.substr(0, end));
    if (end == std::string_view::npos)
      break;
    x.remove_prefix(end + 1);
  }
}

/// Calls f(name, seq) for each pair of a validated "name seq ..." list.
template <class F>
void for_each_pair(std::string_view x, F f) {
  std::string_view name;
  bool first = true;
  for_each_token(x, [&](std::string_view token) {
    if (first) {
      name = token;
    } else {
      uint64_t seq = 0;
      parse_decimal(token, seq);
      f(name, seq);
    }
    first = !first;
  });
}

void append_pair(std::string& out, std::string_view name, uint64_t seq) {
  if (!out.empty())
    out += ' ';
  out.append(name);
  out += ' ';
  append_decimal(out, seq); // one per acknowledgement: no string each
}

} // namespace

size_t protocol::list_bytes() const {
  // Room for the header frames and a name of 64 bytes; large lists in
  // parts of at most 8 KiB, so that one lost part costs little.
  constexpr size_t header = 200;
  auto room = cfg_.max_message_bytes > header + 100
                ? cfg_.max_message_bytes - header
                : size_t{100};
  return std::min<size_t>(room, 8192);
}

std::chrono::milliseconds protocol::retransmit_after(const peer& p,
                                                     uint32_t tries) const {
  // Half a heartbeat, or three round trips on a slow link; doubled for each
  // copy that went unanswered: up to 8 times that for a neighbour that
  // speaks link-state (the window bounds what it is sent), up to the
  // refresh period for one that never answered (a foreign peer).
  auto base = std::chrono::milliseconds(std::max<uint32_t>(
    cfg_.heartbeat_ms / 2, 10));
  if (p.info.rtt_us)
    base = std::max(base, std::chrono::milliseconds(3 * *p.info.rtt_us / 1000));
  // A neighbour whose input waits behind a flood acknowledges late, and
  // later as the flood goes on; sending it everything again would only
  // lengthen its input (3,000 nodes on real-time links collapsed so:
  // issue 17). As TCP waits (RFC 6298): what the round trips measured
  // call for, from the copies acknowledged without a second one.
  base = std::max(base, std::chrono::duration_cast<std::chrono::milliseconds>(
                          p.flood.rto()));
  auto shift = std::min<uint32_t>(tries > 0 ? tries - 1 : 0,
                                  p.flood.speaks ? 3 : 20);
  return std::min(base * (1 << shift),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                    cfg_.lsa_refresh));
}

const advert_body* protocol::held_advert(node_id origin) const {
  // Our own as last flooded: a newer one waits for lsa_min_interval().
  // Not counted: the routing table holds it while the caller looks.
  if (origin == rt_.self())
    return published_.get();
  return rt_.advert_of(origin);
}

bool protocol::lossless(const peer& p) const {
  return p.link && callee_.lossless(*p.link);
}

bool protocol::send_advert(peer& p, const advert_body* ad, bool no_ack) {
  scratch_.destination = "all";
  scratch_.cmd = command::link_state;
  scratch_.origin = name_of(ad->origin);
  scratch_.id = ad->seq;
  scratch_.ttl = cfg_.default_ttl;
  scratch_.args.clear();
  scratch_.advert = advert_ptr{ad}; // shared with every node that installs it
  // Another node's advertisement is forwarded traffic; a link that drops
  // the copy takes it back out of `forwarded`.
  scratch_.forwarded = ad->origin != rt_.self();
  scratch_.no_ack = no_ack;
  // Unacknowledged, it is offered: a link that has no room for it now
  // leaves it owed, to go when it has.
  bool taken = p.link
               && (no_ack ? callee_.offer(*p.link, scratch_)
                          : callee_.send(*p.link, scratch_));
  if (taken && scratch_.forwarded)
    ++stats_.forwarded;
  scratch_.forwarded = false;
  scratch_.no_ack = false;
  scratch_.advert.reset();
  return taken;
}

void protocol::send_summary_part(peer& p,
                                 const flood_link::summary_part& x) {
  if (!p.link)
    return;
  message m;
  m.destination = p.info.name;
  m.cmd = command::link_summary;
  m.origin = cfg_.name;
  m.id = x.id;
  m.ttl = 1;
  m.args = {x.after, x.upto, x.entries};
  callee_.send(*p.link, std::move(m));
}

void protocol::start_summary(peer& p, time_point now) {
  // It may have forgotten everything (a restart): its summary, sent as it
  // comes up, tells us what it lacks. What it is owed still is kept: it may
  // not have restarted at all (a neighbour that dials us afresh), and then
  // no summary of its own comes to say what it lacks; a lost copy
  // forgotten here stayed lost until its origin's refresh. The broadcasts
  // owed go: a restarted node must not be given what its former self
  // delivered (broadcasts.cpp).
  p.flood.summary.clear();
  p.flood.broadcasts.clear();
  p.flood.since = now;
  if (p.link)
    p.flood.connection = callee_.connection_of(*p.link);
  std::vector<std::pair<const std::string*, uint64_t>> held;
  rt_.for_each_advert([&](const advert_ptr& ad) {
    if (auto mine = held_advert(ad->origin))
      held.emplace_back(&name_of(ad->origin), mine->seq);
  });
  // In name order, so that each part covers a range of names and the
  // neighbour can tell what we lack from what a part leaves out.
  std::sort(held.begin(), held.end(),
            [](auto& x, auto& y) { return *x.first < *y.first; });
  auto limit = list_bytes();
  std::string after;
  flood_link::summary_part part;
  auto close = [&](bool last) {
    part.id = next_id();
    part.after = after;
    if (!last)
      after = part.upto;
    else
      part.upto.clear();
    p.flood.summary.push_back(std::move(part));
    part = flood_link::summary_part{};
  };
  for (auto& [name, seq] : held) {
    if (!part.entries.empty()
        && part.entries.size() + name->size() + 22 > limit)
      close(false);
    append_pair(part.entries, *name, seq);
    part.upto = *name;
  }
  close(true);
  for (auto& x : p.flood.summary) {
    x.sent_at = now;
    x.tries = 1;
    send_summary_part(p, x);
  }
  auto due = now + retransmit_after(p, 1);
  p.flood.next_due = std::min(p.flood.next_due, due);
  next_wakeup_ = std::min(next_wakeup_, due);
}

void protocol::owe_all(node_id origin, const std::string& except,
                       time_point now) {
  for (auto& p : peers_) {
    if (!is_neighbour(p.get()) || p->info.name.empty()
        || p->info.name == except)
      continue;
    owe(*p, origin, now);
  }
}

void protocol::owe(peer& p, node_id origin, time_point now) {
  auto& f = p.flood;
  if (f.holds_back(origin))
    return; // waits for room; goes as whatever is held then
  // Looked up, not inserted: over a lossless link most copies go at once
  // and leave nothing owed.
  auto* known = f.owed.find(origin);
  if (known && known->waiting)
    return; // goes as whatever is held when its turn comes
  if (known && known->sent_seq != 0) {
    auto ad = held_advert(origin);
    if (!ad || ad->seq <= known->sent_seq)
      return; // the one in flight is the newest
    // A newer one replaces the one in flight: its entry in in_flight no
    // longer matches.
    known->sent_seq = 0;
    --f.sending;
  }
  // Nothing waits before it and the link (a lossless one) or the window
  // has room: it goes at once.
  if (f.waiting.empty() && f.speaks && is_neighbour(&p)) {
    if (auto ad = held_advert(origin)) {
      if (lossless(p)) {
        if (send_advert(p, ad, true)) {
          if (known)
            f.owed.erase(origin);
          return;
        }
        retry_when_room(p, now); // it waits below
      } else if (f.sending < window) {
        transmit(p, origin, known ? *known : f.owed[origin], ad, now);
        return;
      }
    }
  }
  f.waiting.push_back(origin);
  if (lossless(p)) {
    // It waits for room, and the timer set when the link refused pumps
    // it (or its first routing command, for a neighbour not yet heard).
    if (known)
      f.owed.erase(origin);
    f.hold_back(origin);
    return;
  }
  auto& e = known ? *known : f.owed[origin];
  e.waiting = true;
  // What waits before it may have been acknowledged meanwhile (still in
  // the queue, no longer owed) while the window has room: nothing else
  // may come to pump it.
  pump(p, now);
}

void protocol::retry_when_room(peer& p, time_point now) {
  // Not at once: the link would only refuse again until the neighbour
  // read some of its queue.
  p.flood.next_due = std::min(p.flood.next_due, now + room_retry);
  next_wakeup_ = std::min(next_wakeup_, p.flood.next_due);
}

void protocol::transmit(peer& p, node_id origin,
                        flood_link::owed_advert& e, const advert_body* ad,
                        time_point now) {
  auto& f = p.flood;
  e.waiting = false;
  e.sent_seq = ad->seq;
  e.sent_at = now;
  e.tries = 1;
  e.stamp = ++f.next_stamp;
  ++f.sending;
  f.in_flight.emplace_back(origin, e.stamp);
  send_advert(p, ad);
  auto due = now + retransmit_after(p, 1);
  f.next_due = std::min(f.next_due, due);
  next_wakeup_ = std::min(next_wakeup_, due);
}

void protocol::pump(peer& p, time_point now) {
  auto& f = p.flood;
  if (!f.speaks || !is_neighbour(&p))
    return;
  auto clear = lossless(p); // no window: the link's room paces it
  while ((clear || f.sending < window) && !f.waiting.empty()) {
    auto origin = f.waiting.front();
    f.waiting.pop_front();
    // Waiting as a bit (held back by a lossless link) or as an entry (it
    // was owed while the link could lose; a link's lossless flag follows
    // the simulated conditions).
    flood_link::owed_advert* entry = nullptr;
    if (f.holds_back(origin)) {
      f.release(origin);
    } else {
      entry = f.owed.find(origin);
      if (!entry || !entry->waiting)
        continue; // acknowledged while it waited
    }
    auto ad = held_advert(origin);
    if (!ad) {
      if (entry)
        f.owed.erase(origin); // expired meanwhile
      continue;
    }
    if (!clear) {
      transmit(p, origin, entry ? *entry : f.owed[origin], ad, now);
      continue;
    }
    if (send_advert(p, ad, true)) {
      if (entry)
        f.owed.erase(origin);
      continue;
    }
    // The link is full: the rest waits for it to drain.
    if (entry)
      f.owed.erase(origin);
    f.hold_back(origin);
    f.waiting.push_front(origin);
    retry_when_room(p, now);
    break;
  }
  if (f.waiting.empty())
    std::vector<uint64_t>{}.swap(f.held_back);
}

void protocol::acknowledged(peer& p, node_id origin, uint64_t seq,
                            time_point acked_at) {
  auto& f = p.flood;
  if (f.holds_back(origin)) {
    // It has what waits for room: not sent (pump() skips it).
    if (auto ad = held_advert(origin); !ad || seq >= ad->seq)
      f.release(origin);
    return;
  }
  auto i = f.owed.find(origin);
  if (!i)
    return;
  auto& e = *i;
  if (e.sent_seq != 0) {
    if (seq < e.sent_seq)
      return; // an older one: the one in flight is still owed
    --f.sending;
    if (acked_at != time_point{}) {
      f.last_ack = acked_at;
      // A copy sent again may be acknowledged for its first: neither its
      // stamp nor its round trip says anything then (Karn's rule).
      if (e.tries == 1) {
        f.acked_stamp = std::max(f.acked_stamp, e.stamp);
        if (acked_at > e.sent_at)
          f.sample_rtt(std::chrono::duration_cast<std::chrono::microseconds>(
            acked_at - e.sent_at));
      }
    }
  } else if (auto ad = held_advert(origin); ad && seq < ad->seq) {
    return; // it waits to send a newer one than the neighbour has
  }
  f.owed.erase(origin);
}

void protocol::detect_losses(peer& p, time_point now) {
  auto& f = p.flood;
  // The oldest copy still owed: those before it were acknowledged or
  // replaced (in_flight is in send order), and are dropped here so that
  // this look stays cheap.
  while (!f.in_flight.empty()) {
    auto [origin, stamp] = f.in_flight.front();
    auto e = f.owed.find(origin);
    if (e && e->sent_seq != 0 && e->stamp == stamp)
      break;
    f.in_flight.pop_front();
  }
  // Sent before one acknowledged since: lost. retransmit() sends it now.
  if (!f.in_flight.empty() && f.in_flight.front().second < f.acked_stamp) {
    f.next_due = now;
    retransmit(p, now);
  }
}

void protocol::retransmit(peer& p, time_point now) {
  auto& f = p.flood;
  if (now < f.next_due)
    return;
  f.next_due = time_point::max();
  std::deque<std::pair<node_id, uint32_t>> still;
  for (auto [origin, stamp] : f.in_flight) {
    auto i = f.owed.find(origin);
    if (!i || i->sent_seq == 0 || i->stamp != stamp)
      continue; // acknowledged or replaced since
    auto& e = *i;
    // A copy sent before one the neighbour acknowledged was lost: links
    // keep order, and the neighbour acknowledges in the order it reads. It
    // goes again at once, not a whole wait later (as TCP's RACK, RFC 8985:
    // the reordering window of a link that never reorders is nil). Only a
    // lost acknowledgement makes this copy one too many.
    auto due = e.stamp < f.acked_stamp
                 ? e.sent_at
                 : e.sent_at + retransmit_after(p, e.tries);
    // Lost, or waiting behind the neighbour's input? A copy sent before one
    // it acknowledged was lost: links keep order. One with nothing
    // acknowledged after it is not resent while acknowledgements still
    // come; when they stop for a whole wait, only the oldest goes again, as
    // a probe (TCP's timeout resends one segment): its acknowledgement, or
    // those of copies before it, tell which were lost. Resending them all
    // into a neighbour that is behind only lengthens its input.
    if (now >= due && e.stamp > f.acked_stamp) {
      auto wait = retransmit_after(p, 1);
      auto quiet = f.last_ack + wait;
      auto next_probe = f.probed_at + wait;
      if (now < quiet || now < next_probe) {
        due = std::max(quiet, next_probe);
      } else {
        f.probed_at = now;
      }
    }
    if (now >= due) {
      auto ad = held_advert(origin);
      if (!ad) {
        --f.sending;
        f.owed.erase(origin);
        continue;
      }
      e.sent_seq = ad->seq;
      e.sent_at = now;
      ++e.tries;
      e.stamp = ++f.next_stamp;
      ++stats_.retransmitted;
      send_advert(p, ad);
      due = now + retransmit_after(p, e.tries);
    }
    still.emplace_back(origin, e.stamp);
    f.next_due = std::min(f.next_due, due);
  }
  f.in_flight.swap(still);
  for (auto& x : f.summary) {
    auto due = x.sent_at + retransmit_after(p, x.tries);
    if (now >= due) {
      x.sent_at = now;
      ++x.tries;
      // To a neighbour that never answered, it asks whether it speaks
      // link-state at all (a foreign peer does not): not counted.
      if (f.speaks)
        ++stats_.retransmitted;
      send_summary_part(p, x);
      due = now + retransmit_after(p, x.tries);
    }
    f.next_due = std::min(f.next_due, due);
  }
  retransmit_broadcasts(p, now);
  // Acknowledgements freed room in the window, or a retransmission made
  // none: either way whatever waits may go now.
  pump(p, now);
}

void protocol::on_link_ack(message& x, peer& p, time_point now) {
  ++stats_.delivered;
  for_each_pair(x.arg(0), [&](std::string_view name, uint64_t seq) {
    if (auto origin = find_name(name); origin != no_node)
      acknowledged(p, origin, seq, now);
  });
  for_each_pair(x.arg(2), [&](std::string_view origin, uint64_t id) {
    broadcast_held(p, origin, id);
  });
  detect_losses(p, now);
  auto& parts = p.flood.summary;
  if (!x.arg(1).empty())
    p.flood.last_ack = now; // it works through what we sent
  for_each_token(x.arg(1), [&](std::string_view token) {
    uint64_t id = 0;
    parse_decimal(token, id);
    parts.erase(std::remove_if(parts.begin(), parts.end(),
                               [id](auto& part) { return part.id == id; }),
                parts.end());
  });
  pump(p, now);
}

void protocol::on_link_summary(message& x, peer& p, time_point now) {
  ++stats_.delivered;
  if (!p.flood.has_acks())
    ack_dirty_.push_back(&p);
  p.flood.summary_acks.push_back(x.id);
  std::string_view after = x.arg(0);
  std::string_view upto = x.arg(1);
  auto in_range = [&](std::string_view name) {
    return (after.empty() || name > after) && (upto.empty() || name <= upto);
  };
  // What it has: acknowledges what we owe it, and is not sent.
  std::unordered_map<node_id, uint64_t> has;
  for_each_pair(x.arg(2), [&](std::string_view name, uint64_t seq) {
    if (auto origin = find_name(name); origin != no_node) {
      has[origin] = seq;
      acknowledged(p, origin, seq);
    }
  });
  // What it lacks, or holds older: owed. What it holds newer it sends us
  // when our summary reaches it.
  rt_.for_each_advert([&](const advert_ptr& ad) {
    auto mine = held_advert(ad->origin);
    if (!mine || !in_range(name_of(ad->origin)))
      return;
    auto i = has.find(ad->origin);
    if (i == has.end() || i->second < mine->seq)
      owe(p, ad->origin, now);
  });
  pump(p, now);
}

void protocol::ack_advert(peer& p, const message& x) {
  if (x.no_ack)
    return; // its link lost nothing: the sender owes nothing for it
  auto seq = x.advert ? x.advert->seq : x.id;
  auto origin = x.advert ? x.advert->origin : find_name(x.origin);
  // Implied acknowledgement (RFC 2328 §13.5): the copies of a flood cross
  // on most links, and ours, in flight to `p`, acknowledges theirs when it
  // arrives. Should ours be lost, theirs comes again; ours is no longer
  // owed by then (theirs acknowledged it), so that copy is acknowledged.
  if (origin != no_node)
    if (auto e = p.flood.owed.find(origin); e && e->sent_seq >= seq)
      return;
  if (!p.flood.has_acks())
    ack_dirty_.push_back(&p);
  p.flood.acks.emplace_back(x.origin, seq);
}

void protocol::flush_acks() {
  auto limit = list_bytes();
  for (auto* p : ack_dirty_) {
    auto& f = p->flood;
    message m;
    m.destination = p->info.name;
    m.cmd = command::link_ack;
    m.origin = cfg_.name;
    m.ttl = 1;
    std::string adverts;
    std::string parts;
    std::string broadcasts;
    auto size = [&] { return adverts.size() + parts.size() + broadcasts.size(); };
    auto send = [&] {
      m.id = next_id();
      m.args = {std::move(adverts), std::move(parts), std::move(broadcasts)};
      adverts.clear();
      parts.clear();
      broadcasts.clear();
      if (p->link && is_neighbour(p))
        callee_.send(*p->link, m);
    };
    for (auto& [origin, seq] : f.acks) {
      if (size() + origin.size() + 22 > limit)
        send();
      append_pair(adverts, origin, seq);
    }
    for (auto id : f.summary_acks) {
      if (size() + 21 > limit)
        send();
      if (!parts.empty())
        parts += ' ';
      append_decimal(parts, id);
    }
    for (auto& [origin, id] : f.broadcast_acks) {
      if (size() + origin.size() + 22 > limit)
        send();
      append_pair(broadcasts, origin, id);
    }
    if (size() > 0)
      send();
    f.acks.clear();
    f.summary_acks.clear();
    f.broadcast_acks.clear();
  }
  ack_dirty_.clear();
}

} // namespace quilt

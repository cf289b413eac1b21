#include "quilt/events.hpp"

#include <cstdio>
#include <ctime>

#include "quilt/codec.hpp"

namespace quilt {

const char* to_string(node_event::kind_t x) {
  switch (x) {
    case node_event::peer_up:
      return "peer_up";
    case node_event::peer_down:
      return "peer_down";
    case node_event::route_added:
      return "route_added";
    case node_event::route_changed:
      return "route_changed";
    case node_event::route_removed:
      return "route_removed";
    case node_event::msg:
      return "msg";
    case node_event::error:
      break;
  }
  return "error";
}

void event_queue::push(node_event x) {
  if (waiting_.size() >= limit_) {
    ++dropped_;
    return;
  }
  waiting_.push_back(std::move(x));
}

event_batch event_queue::take() {
  event_batch b;
  b.events.swap(waiting_);
  b.dropped = dropped_;
  dropped_ = 0;
  busy_ = true;
  return b;
}

namespace {

std::string local_time(int64_t ts_ms) {
  auto secs = static_cast<time_t>(ts_ms / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[16];
  auto ms = static_cast<int>(ts_ms % 1000);
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", tm.tm_hour,
                tm.tm_min, tm.tm_sec, ms < 0 ? 0 : ms);
  return buf;
}

} // namespace

std::string event_line(const node_event& x) {
  std::string out = local_time(x.ts_ms);
  out += ' ';
  out += to_string(x.kind);
  switch (x.kind) {
    case node_event::peer_up:
    case node_event::peer_down:
      out += " peer=" + x.peer;
      break;
    case node_event::route_added:
    case node_event::route_changed:
      out += " destination=" + x.destination + " next_hop=" + x.next_hop
             + " hops=" + std::to_string(x.hops);
      break;
    case node_event::route_removed:
      out += " destination=" + x.destination + " next_hop=" + x.next_hop
             + " hops=-";
      break;
    case node_event::msg:
      // The text comes last: it may hold spaces and `=`.
      out += " from=" + x.from + " to=" + x.to + " id=" + to_decimal(x.id)
             + " text=" + x.text;
      break;
    case node_event::error:
      out += ' ' + x.text;
      break;
  }
  return out;
}

} // namespace quilt

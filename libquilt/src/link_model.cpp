#include "quilt/link_model.hpp"

#include <algorithm>

namespace quilt {

link_params link_change::applied_to(link_params base) const {
  if (latency_ms)
    base.latency_ms = *latency_ms;
  if (jitter_ms)
    base.jitter_ms = *jitter_ms;
  if (loss)
    base.loss = *loss;
  if (bandwidth_kbps)
    base.bandwidth_kbps = *bandwidth_kbps;
  return base;
}

uint64_t link_rng::next() {
  // splitmix64 (Steele, Lea, Flood 2014): one add and three mixes per
  // draw, every seed a full-period sequence.
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double link_rng::uniform() {
  // The top 53 bits: every double in [0, 1) a multiple of 2^-53.
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

uint64_t link_rng::upto(uint64_t n) {
  if (n == UINT64_MAX)
    return next();
  // Lemire's multiply-shift is biased by at most n / 2^64: far below what
  // a simulation's jitter (microseconds up to a minute) could show.
  auto range = static_cast<unsigned __int128>(n + 1);
  return static_cast<uint64_t>((range * next()) >> 64);
}

std::optional<time_point>
link_direction::admit(time_point now, size_t bytes, bool may_lose) {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  // A lost message still took the link's time: it was sent, then lost on
  // the way (as a frame lost on a wire was transmitted first).
  auto start = std::max(now, busy_until_);
  if (params_.bandwidth_kbps > 0) {
    // bytes x 8 / kbps ms = bytes x 8000 / kbps us, rounded up so that a
    // byte never crosses a slow link for free.
    auto us = (static_cast<uint64_t>(bytes) * 8000 + params_.bandwidth_kbps - 1)
              / params_.bandwidth_kbps;
    busy_until_ = start + microseconds(us);
  } else {
    busy_until_ = start;
  }
  if (may_lose && params_.loss > 0.0
      && (params_.loss >= 1.0 || rng_.uniform() < params_.loss))
    return std::nullopt;
  auto arrival = busy_until_ + milliseconds(params_.latency_ms);
  // Jitter in whole milliseconds: the copies of a flood that leave
  // together arrive in at most jitter_ms + 1 groups, each one batch at one
  // timer. Drawn in microseconds, every jittered message was a timer and a
  // batch of its own, and a 1,000-node run 2.5 times slower.
  if (params_.jitter_ms > 0)
    arrival += milliseconds(rng_.upto(params_.jitter_ms));
  // Never before the message sent before it: a link does not reorder.
  arrival = std::max(arrival, last_arrival_);
  last_arrival_ = arrival;
  return arrival;
}

} // namespace quilt

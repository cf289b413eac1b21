// The network a simulation puts between its nodes (SPEC §13): each
// direction of a link delays, jitters, loses and paces what crosses it.
// Pure arithmetic on a clock the caller passes in, with every random draw
// from a seed: the simulator's conditioned transport runs it on real time
// or on the test coordinator's virtual time, and tests drive it by hand.
#pragma once

#include <chrono>

#include "quilt/time.hpp"
#include <cstddef>
#include <cstdint>
#include <optional>

namespace quilt {

/// What one direction of a link does to a message (SPEC §13 [network]).
struct link_params {
  uint64_t latency_ms = 0;     ///< One-way delay, 0..60000.
  uint64_t jitter_ms = 0;      ///< Plus uniform 0..jitter_ms, 0..60000.
  double loss = 0.0;           ///< Chance a message is lost, 0.0..1.0.
  uint64_t bandwidth_kbps = 0; ///< 0: unlimited; 0..10000000.

  /// Nothing to model: a message arrives at once and always.
  bool perfect() const {
    return latency_ms == 0 && jitter_ms == 0 && loss <= 0.0
           && bandwidth_kbps == 0;
  }

  friend bool operator==(const link_params& x, const link_params& y) {
    return x.latency_ms == y.latency_ms && x.jitter_ms == y.jitter_ms
           && x.loss == y.loss && x.bandwidth_kbps == y.bandwidth_kbps;
  }
};

/// Some of a link's parameters ([[network.links]], a `degrade` event):
/// those set replace the link's, the others stay.
struct link_change {
  std::optional<uint64_t> latency_ms;
  std::optional<uint64_t> jitter_ms;
  std::optional<double> loss;
  std::optional<uint64_t> bandwidth_kbps;

  bool empty() const {
    return !latency_ms && !jitter_ms && !loss && !bandwidth_kbps;
  }

  /// `base` with this change applied.
  link_params applied_to(link_params base) const;
};

/// The generator of a link direction's draws: small, fast, and the same
/// sequence on every platform for a seed (unlike std's distributions).
class link_rng {
public:
  explicit link_rng(uint64_t seed) : state_(seed) {
  }

  /// The next 64 random bits (splitmix64).
  uint64_t next();

  /// Uniform in [0, 1).
  double uniform();

  /// Uniform in [0, n] (n inclusive).
  uint64_t upto(uint64_t n);

private:
  uint64_t state_;
};

/// One direction of one link: when each message sent on it arrives, or
/// that it is lost. Messages leave in the order they were sent and are
/// never reordered: a message arrives no earlier than the one before it.
class link_direction {
public:

  explicit link_direction(uint64_t seed, link_params p = {})
    : rng_(seed), params_(p) {
  }

  /// From now on (messages already sent keep their arrival time).
  void set(const link_params& p) {
    params_ = p;
  }

  const link_params& params() const {
    return params_;
  }

  /// A message of `bytes` (its frames' lengths added up) sent at `now`:
  /// when it arrives, or nothing when it is lost. With a bandwidth it is
  /// on the wire for bytes x 8 / kbps ms after the messages before it;
  /// then it takes latency plus a jitter draw. `may_lose` false: timed,
  /// never lost (and no loss drawn).
  std::optional<time_point> admit(time_point now, size_t bytes,
                                  bool may_lose = true);

  /// When the link finishes sending what it took so far (now or earlier
  /// when idle): what waits for the bandwidth is the link's queue.
  time_point busy_until() const {
    return busy_until_;
  }

private:
  link_rng rng_;
  link_params params_;
  time_point busy_until_{};
  time_point last_arrival_{};
};

} // namespace quilt

// Remembers (origin, id) pairs of recent broadcasts (SPEC §5).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>

#include "quilt/time.hpp"

namespace quilt {

/// A bounded, time-windowed set of (origin, id). Entries older than `window`
/// are forgotten; past `capacity` the oldest entry goes first.
class dedupe_cache {
public:

  dedupe_cache(size_t capacity, std::chrono::milliseconds window);

  /// Records (origin, id) and returns true if it was not seen before.
  bool insert(std::string_view origin, uint64_t id, clock::time_point now);

  /// Number of remembered pairs.
  size_t size() const { return order_.size(); }

private:
  struct entry {
    std::string key;
    clock::time_point at;
  };

  void expire(clock::time_point now);

  size_t capacity_;
  std::chrono::milliseconds window_;
  std::unordered_set<std::string> keys_;
  std::deque<entry> order_;
};

} // namespace quilt

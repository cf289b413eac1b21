// The broadcasts a node received or sent lately, kept so that a copy lost
// on a link, or a subtree cut off by a death, can be given them again
// (docs/PROTOCOL.md "Broadcasts that survive"). Bounded in time (the
// delivery timeout), in number and in bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quilt/message.hpp"
#include "quilt/time.hpp"

namespace quilt {

class broadcast_store {
public:

  struct entry {
    uint64_t serial = 0;
    message msg;       ///< As received: the ttl it arrived with.
    time_point seen{};
    /// Neighbours known to have it: it came from them, or they said so.
    std::vector<std::string> have;
    /// Neighbours it was sent to (and may still be owed to).
    std::vector<std::string> sent;
    bool has(const std::string& name) const;
  };

  /// At most `count` broadcasts and `bytes` of their args.
  broadcast_store(size_t count, size_t bytes);

  /// Keeps a copy of `x` (a broadcast seen for the first time); returns it.
  entry& add(const message& x, time_point now);

  /// The entry for (origin, id), or null.
  entry* find(std::string_view origin, uint64_t id);
  entry* find(uint64_t serial);

  /// Forgets broadcasts seen more than `keep` ago.
  void expire(time_point now, std::chrono::milliseconds keep);

  /// Calls f(entry&) for every broadcast kept, oldest first.
  template <class F>
  void for_each(F f) {
    for (auto& [serial, e] : by_serial_)
      f(e);
  }

  size_t size() const { return by_serial_.size(); }

private:
  static std::string key(std::string_view origin, uint64_t id);
  void drop_oldest();

  size_t max_count_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  uint64_t next_serial_ = 1;
  std::map<uint64_t, entry> by_serial_;
  std::unordered_map<std::string, uint64_t> by_key_;
};

} // namespace quilt

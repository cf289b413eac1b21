#include "quilt/dedupe.hpp"

#include "quilt/codec.hpp"

namespace quilt {

dedupe_cache::dedupe_cache(size_t capacity, std::chrono::milliseconds window)
  : capacity_(capacity), window_(window) {
  // No reserve: a node in a simulation of thousands sees few broadcasts.
}

bool dedupe_cache::insert(std::string_view origin, uint64_t id,
                          clock::time_point now) {
  expire(now);
  // One string key: origin, a separator names can't contain, decimal id.
  std::string key;
  key.reserve(origin.size() + 21);
  key.append(origin);
  key.push_back('/');
  key.append(to_decimal(id));
  if (!keys_.insert(key).second)
    return false;
  if (order_.size() >= capacity_) {
    keys_.erase(order_.front().key);
    order_.pop_front();
  }
  order_.push_back(entry{std::move(key), now});
  return true;
}

void dedupe_cache::expire(clock::time_point now) {
  while (!order_.empty() && now - order_.front().at > window_) {
    keys_.erase(order_.front().key);
    order_.pop_front();
  }
}

} // namespace quilt

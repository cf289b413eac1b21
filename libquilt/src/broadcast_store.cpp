#include "quilt/broadcast_store.hpp"

#include <algorithm>

#include "quilt/codec.hpp"

namespace quilt {

namespace {

size_t bytes_of(const message& x) {
  size_t n = x.origin.size() + 64;
  for (size_t i = 0; i < x.arg_count(); ++i)
    n += x.arg(i).size();
  return n;
}

} // namespace

bool broadcast_store::entry::has(const std::string& name) const {
  return std::find(have.begin(), have.end(), name) != have.end();
}

broadcast_store::broadcast_store(size_t count, size_t bytes)
  : max_count_(count), max_bytes_(bytes) {
}

std::string broadcast_store::key(std::string_view origin, uint64_t id) {
  std::string k{origin};
  k += ' ';
  k += to_decimal(id);
  return k;
}

broadcast_store::entry& broadcast_store::add(const message& x,
                                             time_point now) {
  auto size = bytes_of(x);
  while (!by_serial_.empty()
         && (by_serial_.size() >= max_count_ || bytes_ + size > max_bytes_))
    drop_oldest();
  auto serial = next_serial_++;
  auto& e = by_serial_[serial];
  e.serial = serial;
  e.msg = x;
  // Its own args: the frames it arrived in may be shared with a forward.
  if (e.msg.args.empty())
    for (size_t i = 0; i < x.arg_count(); ++i)
      e.msg.args.emplace_back(x.arg(i));
  e.msg.wire.clear();
  e.msg.forwarded = false;
  e.seen = now;
  bytes_ += size;
  by_key_[key(x.origin, x.id)] = serial;
  return e;
}

broadcast_store::entry* broadcast_store::find(std::string_view origin,
                                              uint64_t id) {
  auto i = by_key_.find(key(origin, id));
  return i == by_key_.end() ? nullptr : find(i->second);
}

broadcast_store::entry* broadcast_store::find(uint64_t serial) {
  auto i = by_serial_.find(serial);
  return i == by_serial_.end() ? nullptr : &i->second;
}

void broadcast_store::expire(time_point now, std::chrono::milliseconds keep) {
  while (!by_serial_.empty() && now - by_serial_.begin()->second.seen > keep)
    drop_oldest();
}

void broadcast_store::drop_oldest() {
  auto i = by_serial_.begin();
  bytes_ -= bytes_of(i->second.msg);
  by_key_.erase(key(i->second.msg.origin, i->second.msg.id));
  by_serial_.erase(i);
}

} // namespace quilt

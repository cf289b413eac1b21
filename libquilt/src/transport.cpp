// What every transport shares: the sink and link destructors and the cut
// links of a simulation's faults.
#include "quilt/link.hpp"

#include <algorithm>

namespace quilt {

inbound_sink::~inbound_sink() = default;
outgoing_link::~outgoing_link() = default;
transport::~transport() = default;

void link_counters::count_taken(const message_batch& batch, size_t taken) {
  // Batches are mostly of one command: one atomic add per run.
  size_t i = 0;
  while (i < taken) {
    auto cmd = batch[i].cmd;
    size_t j = i + 1;
    while (j < taken && batch[j].cmd == cmd)
      ++j;
    tx_by_command[static_cast<size_t>(cmd)].fetch_add(
      j - i, std::memory_order_relaxed);
    i = j;
  }
}

link_counters::sent_tally link_counters::tally(const message_batch& batch,
                                               size_t taken) {
  sent_tally x;
  x.n = taken;
  for (size_t i = 0; i < taken; ++i) {
    ++x.by_command[static_cast<size_t>(batch[i].cmd)];
    x.forwarded += batch[i].forwarded;
  }
  return x;
}

void link_counters::count_sent(const sent_tally& x) {
  for (size_t k = 0; k < command_count; ++k)
    if (x.by_command[k] > 0)
      tx_by_command[k].fetch_add(x.by_command[k], std::memory_order_relaxed);
  tx.fetch_add(x.n, std::memory_order_relaxed);
  if (x.forwarded > 0)
    forwarded.fetch_add(x.forwarded, std::memory_order_relaxed);
}

namespace {

std::pair<std::string, std::string> ordered(const std::string& a,
                                            const std::string& b) {
  return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
}

} // namespace

void link_faults::set_cut(const std::string& a, const std::string& b, bool cut) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (cut)
    cut_.insert(ordered(a, b));
  else
    cut_.erase(ordered(a, b));
  any_cut_ = !cut_.empty();
}

void link_faults::heal_all() {
  std::lock_guard<std::mutex> guard{mtx_};
  cut_.clear();
  any_cut_ = false;
}

bool link_faults::is_cut(const std::string& a, const std::string& b) const {
  if (!any_cut_.load(std::memory_order_acquire))
    return false;
  std::lock_guard<std::mutex> guard{mtx_};
  return cut_.count(ordered(a, b)) > 0;
}

} // namespace quilt

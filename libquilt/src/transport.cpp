// What every transport shares: the sink and link destructors and the link
// counters' arithmetic.
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

} // namespace quilt

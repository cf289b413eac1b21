// What every transport shares: the sink and link destructors and the link
// counters' arithmetic.
#include "quilt/link.hpp"

#include <algorithm>

#include <unistd.h>

namespace quilt {

inbound_sink::~inbound_sink() = default;
outgoing_link::~outgoing_link() = default;
transport::~transport() = default;

namespace {

/// The heap a string uses beyond the object (none within libstdc++'s
/// short-string buffer of 15 characters).
int64_t heap_of(const std::string& s) {
  return s.size() > 15 ? static_cast<int64_t>(s.size()) + 1 : 0;
}

} // namespace

int64_t message_bytes(const message& x) {
  // By sizes, not capacities: the same message counts the same wherever it
  // is measured (charged at the sender, split off where it is dropped).
  auto n = static_cast<int64_t>(sizeof(message)) + heap_of(x.destination)
           + heap_of(x.origin) + heap_of(x.wire);
  n += static_cast<int64_t>(x.args.size() * sizeof(std::string));
  for (const auto& a : x.args)
    n += heap_of(a);
  return n;
}

bool is_priority(command x) {
  return x == command::server_connect || x == command::ping
         || x == command::pong || x == command::link_ack
         || x == command::msg_ack;
}

int64_t batch_bytes(const message_batch& batch, size_t first, size_t last) {
  int64_t n = 0;
  for (size_t i = first; i < last && i < batch.size(); ++i)
    n += message_bytes(batch[i]);
  return n;
}

const std::shared_ptr<byte_budget>& byte_budget::process() {
  static const auto budget
    = std::make_shared<byte_budget>(default_process_bytes());
  return budget;
}

int64_t byte_budget::default_process_bytes() {
  auto pages = sysconf(_SC_PHYS_PAGES);
  auto page = sysconf(_SC_PAGESIZE);
  int64_t physical = pages > 0 && page > 0
                       ? static_cast<int64_t>(pages) * page
                       : int64_t{1} << 30;
  return std::clamp<int64_t>(physical / 8, int64_t{64} << 20,
                             int64_t{1} << 30);
}

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

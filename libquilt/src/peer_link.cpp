// The OUTGOING PEER actor: packs messages for one link and hands them to the
// transport, which queues them (bounded) until the peer takes them.
#include <caf/all.hpp>

#include "node_shared.hpp"
#include "quilt/packed.hpp"

namespace quilt {

namespace {

struct peer_link_state {
  static inline const char* name = "quilt.peer-link";
  outgoing_link_ptr link;
  std::vector<std::string> packed;
};

peer_link_actor::behavior_type
peer_link(peer_link_actor::stateful_pointer<peer_link_state> self,
          std::shared_ptr<node_shared> node, std::string endpoint,
          std::shared_ptr<std::atomic<int64_t>> inflight) {
  dial_options opts;
  opts.identity = node->cfg.name;
  opts.queue_limit = node->cfg.queue_limit;
  opts.max_message_bytes = node->cfg.max_message_bytes;
  opts.max_queue_age_ms = node->cfg.dead_after_ms;
  self->state.link = node->net->dial(endpoint, opts);
  auto counters = std::shared_ptr<const link_counters>(
    self->state.link, &self->state.link->counters());
  {
    std::lock_guard<std::mutex> guard{node->mtx};
    node->links.push_back(counters);
  }
  self->attach_functor([node, counters](const caf::error&) {
    // Keep the closed link's counts in the node's totals.
    std::lock_guard<std::mutex> guard{node->mtx};
    auto& v = node->links;
    for (auto i = v.begin(); i != v.end(); ++i) {
      if (*i == counters) {
        node->retired_tx += counters->tx;
        node->retired_dropped += counters->dropped;
        v.erase(i);
        break;
      }
    }
  });
  return {
    [=](message_batch& batch) {
      auto& st = self->state;
      *inflight -= static_cast<int64_t>(batch.size());
      st.packed.resize(batch.size());
      for (size_t i = 0; i < batch.size(); ++i)
        pack_message(batch[i], st.packed[i]);
      auto taken = st.link->send(std::move(st.packed));
      st.packed.clear();
      auto& by_cmd = node->counters.tx_by_command;
      for (size_t i = 0; i < taken; ++i)
        by_cmd[static_cast<size_t>(batch[i].cmd)] += 1;
    },
  };
}

} // namespace

peer_link_actor spawn_peer_link(caf::actor_system& sys,
                                std::shared_ptr<node_shared> node,
                                std::string endpoint,
                                std::shared_ptr<std::atomic<int64_t>> inflight) {
  return sys.spawn(peer_link, std::move(node), std::move(endpoint),
                   std::move(inflight));
}

} // namespace quilt

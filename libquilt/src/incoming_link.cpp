// The INCOMING LINK actor: one per sending peer, fed by the transport thread.
#include <caf/all.hpp>

#include "node_shared.hpp"
#include "quilt/name.hpp"

namespace quilt {

namespace {

struct incoming_link_state {
  static inline const char* name = "quilt.incoming-link";
  std::string peer;
  uint64_t rx = 0;
};

incoming_link_actor::behavior_type
incoming_link(incoming_link_actor::stateful_pointer<incoming_link_state> self,
              std::shared_ptr<node_shared> node, std::string peer) {
  self->state.peer = std::move(peer);
  // When this actor ends for any reason, the next message from its peer
  // spawns a fresh one.
  self->attach_functor([node, addr = self->address(),
                        key = self->state.peer](const caf::error&) {
    std::lock_guard<std::mutex> guard{node->mtx};
    auto i = node->incoming.find(key);
    if (i != node->incoming.end() && i->second.address() == addr)
      node->incoming.erase(i);
  });
  return {
    [=](inbound_batch& batch) {
      self->state.rx += batch.size();
      // One processor per peer keeps each link's messages in order.
      self->send(node->processor_for(self->state.peer), std::move(batch));
    },
  };
}

} // namespace

incoming_link_actor spawn_incoming_link(std::shared_ptr<node_shared> node,
                                        std::string peer) {
  return node->sys.spawn(incoming_link, node, std::move(peer));
}

void node_shared::dispatch(inbound_batch&& batch) {
  // Group by sender; batches usually come from one peer at a time.
  size_t begin = 0;
  while (begin < batch.size()) {
    size_t end = begin + 1;
    while (end < batch.size() && batch[end].peer == batch[begin].peer)
      ++end;
    // The same rule as the processors' previous hop: a node name or foreign.
    auto key = is_valid_name(batch[begin].peer) ? batch[begin].peer
                                                : foreign_peer_key;
    incoming_link_actor dest;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (closed)
        return;
      auto i = incoming.find(key);
      if (i == incoming.end()) {
        // Bound the number of incoming actors: past it, senders share one.
        if (incoming.size() >= 4096)
          key = foreign_peer_key;
        i = incoming.find(key);
        if (i == incoming.end()) {
          i = incoming.emplace(key, spawn_incoming_link(self_ptr(), key)).first;
          // Spawning made CAF remember this (foreign) thread's actor system
          // and hold its logger, which would keep ~actor_system waiting.
          caf::logger::set_current_actor_system(nullptr);
        }
      }
      dest = i->second;
    }
    inbound_batch part;
    if (begin == 0 && end == batch.size()) {
      part = std::move(batch);
    } else {
      part.reserve(end - begin);
      for (size_t k = begin; k < end; ++k)
        part.push_back(std::move(batch[k]));
    }
    caf::anon_send(dest, std::move(part));
    begin = end;
  }
}

processor_actor node_shared::processor_for(const std::string& peer) {
  std::lock_guard<std::mutex> guard{mtx};
  if (processors.empty())
    return {};
  return processors[std::hash<std::string>{}(peer) % processors.size()];
}

protocol_actor node_shared::protocol_handle() {
  std::lock_guard<std::mutex> guard{mtx};
  return protocol;
}

} // namespace quilt

// The OUTGOING PEER actor (the original's outgoing thread): hands the
// protocol's messages for one peer to its link, which queues them (bounded)
// until the peer takes them. The ZeroMQ link packs them into frames here,
// off the protocol actor's thread.
#include <caf/all.hpp>

#include "node_context.hpp"

namespace quilt {

namespace {

struct peer_link_state {
  static inline const char* name = "quilt.peer-link";
  outgoing_link_ptr link;
};

} // namespace

peer_link_actor spawn_peer_link(const node_context_ptr& node,
                                outgoing_link_ptr link,
                                std::shared_ptr<std::atomic<int64_t>> inflight) {
  auto fn = [](peer_link_actor::stateful_pointer<peer_link_state> self,
               outgoing_link_ptr link,
               std::shared_ptr<std::atomic<int64_t>> inflight)
    -> peer_link_actor::behavior_type {
    self->state.link = std::move(link);
    return {
      [=](message_batch& batch, bytes_credit& bytes) {
        // The link counts them as queued before they stop counting as in
        // flight, so the protocol actor never sees room that is not there.
        // Their bytes go on with them (or come back where they are dropped).
        auto n = static_cast<int64_t>(batch.size());
        self->state.link->send(batch, bytes);
        *inflight -= n;
      },
      [=](close_atom) { self->quit(); },
    };
  };
  return node->sys.spawn(fn, std::move(link), std::move(inflight));
}

} // namespace quilt

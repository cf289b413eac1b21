// The PROCESSOR actor: decodes and validates raw frames, answers lock-step
// clients, and hands valid messages to the protocol actor.
#include <caf/all.hpp>

#include "node_context.hpp"
#include "quilt/codec.hpp"
#include "quilt/log.hpp"
#include "quilt/name.hpp"
#include "quilt/packed.hpp"

namespace quilt {

namespace {

struct processor_state {
  static inline const char* name = "quilt.processor";
  protocol_actor protocol;
};

} // namespace

processor_actor spawn_processor(const node_context_ptr& node,
                                protocol_actor protocol) {
  auto fn = [node](processor_actor::stateful_pointer<processor_state> self,
                   protocol_actor proto) -> processor_actor::behavior_type {
    self->state.protocol = std::move(proto);
    return {
      [=](inbound_frames& in) {
        auto& batch = in.msgs;
        decoded_batch out;
        out.reserve(batch.size());
        uint64_t invalid = 0;
        for (auto& in : batch) {
          out.emplace_back();
          auto& d = out.back();
          // The frames become the message's wire form: a forward sends them
          // on as they came, with no copy into strings and back.
          auto r = decode_packed(std::move(in.packed),
                                 node->cfg.max_message_bytes, node->cfg.name,
                                 d.msg);
          if (!r.ok) {
            ++invalid;
            QUILT_DEBUG(node->cfg.name, "dropped invalid message: "
                                          << to_string(r.reason) << ' '
                                          << r.detail);
          }
          if (in.req)
            node->net->reply(node->listener, in.peer, req_reply(r));
          if (!r.ok) {
            out.pop_back();
            continue;
          }
          if (is_valid_name(in.peer))
            d.prev_hop = std::move(in.peer);
          d.via = std::move(in.via);
        }
        if (invalid > 0)
          node->counters.dropped_invalid += invalid;
        auto n = static_cast<int64_t>(out.size());
        auto valid = in.credit.split(n);
        in.credit.settle(); // the invalid ones, counted
        if (out.empty())
          return;
        // A loss of these is counted by their flow credit, not twice.
        auto held = take_backlog(node->backlog, n, false);
        self->send(self->state.protocol,
                   decoded_frames{std::move(out), std::move(valid),
                                  std::move(held)});
      },
      [=](wire_atom, protocol_actor& proto) {
        self->state.protocol = std::move(proto);
      },
    };
  };
  return node->sys.spawn(fn, std::move(protocol));
}

} // namespace quilt

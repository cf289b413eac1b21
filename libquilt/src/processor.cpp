// The PROCESSOR actor: decodes and validates raw frames, answers lock-step
// clients, and hands valid messages to the protocol actor.
#include <caf/all.hpp>

#include "node_shared.hpp"
#include "quilt/codec.hpp"
#include "quilt/log.hpp"
#include "quilt/name.hpp"
#include "quilt/packed.hpp"

namespace quilt {

namespace {

struct processor_state {
  static inline const char* name = "quilt.processor";
};

processor_actor::behavior_type
processor(processor_actor::stateful_pointer<processor_state> self,
          std::shared_ptr<node_shared> node) {
  return {
    [=](inbound_batch& batch) {
      auto& c = node->counters;
      decoded_batch out;
      out.reserve(batch.size());
      // One more slot than allowed, so an overlong message shows as such.
      std::string_view frames[65];
      uint64_t invalid = 0;
      uint64_t overload = 0;
      bool overloaded = node->backlog.load(std::memory_order_relaxed)
                        > protocol_backlog_limit;
      for (auto& in : batch) {
        auto n = std::min(unpack_frames(in.packed, frames, 65), size_t{65});
        out.emplace_back();
        auto& d = out.back();
        auto r = decode(frames, n, node->cfg.max_message_bytes, node->cfg.name,
                        d.msg);
        if (r.ok && overloaded) {
          r.ok = false;
          r.reason = reject::overloaded;
          r.detail = "protocol backlog full";
          ++overload;
        } else if (!r.ok) {
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
      }
      c.rx += batch.size();
      if (invalid > 0)
        c.dropped_invalid += invalid;
      if (overload > 0)
        c.dropped_overload += overload;
      if (!out.empty()) {
        node->backlog += static_cast<int64_t>(out.size());
        self->send(node->protocol_handle(), std::move(out));
      }
    },
  };
}

} // namespace

processor_actor spawn_processor(std::shared_ptr<node_shared> node, size_t) {
  return node->sys.spawn(processor, std::move(node));
}

} // namespace quilt

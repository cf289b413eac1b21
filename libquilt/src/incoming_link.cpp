// The INCOMING LINK actor: the listener's sink, one per node (the original's
// incoming thread). It admits what arrives or rejects it while the protocol
// actor's backlog is full (before any decoding is spent on it), counts every
// received message, and keeps each sender's messages in order by handing
// them all to the same processor.
#include <caf/all.hpp>

#include <functional>

#include "node_context.hpp"
#include "quilt/codec.hpp"

namespace quilt {

namespace {

struct incoming_link_state {
  static inline const char* name = "quilt.incoming-link";
  std::vector<processor_actor> processors;
  protocol_actor protocol;
};

/// Posts to an incoming link actor from the transport's side.
class actor_sink : public inbound_sink {
public:
  explicit actor_sink(incoming_link_actor dest) : dest_(std::move(dest)) {
  }

  void frames(inbound_batch&& batch, flow_credit credit) override {
    caf::anon_send(dest_, inbound_frames{std::move(batch), std::move(credit)});
  }

  void messages(std::string from, message_batch&& batch,
                std::shared_ptr<std::atomic<uint64_t>> in_flight) override {
    caf::anon_send(dest_, direct_batch{std::move(from), std::move(batch),
                                       std::move(in_flight)});
  }

  void messages(std::string from, message_batch&& batch,
                std::shared_ptr<std::atomic<uint64_t>> in_flight,
                bytes_credit bytes) override {
    caf::anon_send(dest_, direct_batch{std::move(from), std::move(batch),
                                       std::move(in_flight),
                                       std::move(bytes)});
  }

private:
  incoming_link_actor dest_;
};

bool overloaded(const node_context& node) {
  return node.backlog->pending() > node.opts.backlog_limit;
}

/// Drops (and counts) what an overloaded node can drop of a direct batch;
/// returns what is left. Copies of the flood sent unacknowledged
/// (message::no_ack) stay: their sender keeps nothing owed for them, so
/// dropped here they would be missing until their origin's next refresh.
/// The sender's queue limit and the process's budget bound them.
size_t shed(node_context& node, direct_batch& batch) {
  auto& msgs = batch.msgs;
  size_t kept = 0;
  int64_t dropped_bytes = 0;
  for (size_t k = 0; k < msgs.size(); ++k) {
    if (!msgs[k].no_ack) {
      dropped_bytes += message_bytes(msgs[k]);
      continue;
    }
    if (k != kept)
      msgs[kept] = std::move(msgs[k]);
    ++kept;
  }
  node.counters.dropped_overload += msgs.size() - kept;
  msgs.resize(kept);
  if (kept == 0)
    batch.bytes.settle();
  else
    batch.bytes.split(dropped_bytes).settle();
  return kept;
}

} // namespace

incoming_link_actor spawn_incoming_link(const node_context_ptr& node) {
  auto fn = [node](incoming_link_actor::stateful_pointer<incoming_link_state>
                     self) -> incoming_link_actor::behavior_type {
    auto pick = [self](const std::string& peer) -> const processor_actor* {
      auto& procs = self->state.processors;
      if (procs.empty())
        return nullptr;
      return &procs[procs.size() == 1
                      ? 0
                      : std::hash<std::string>{}(peer) % procs.size()];
    };
    return {
      [=](inbound_frames& in) {
        auto& batch = in.msgs;
        node->counters.rx += batch.size();
        if (overloaded(*node) || self->state.processors.empty()) {
          decode_result r;
          r.reason = reject::overloaded;
          r.detail = "protocol backlog full";
          for (auto& in : batch)
            if (in.req)
              node->net->reply(node->listener, std::move(in.peer),
                               req_reply(r));
          node->counters.dropped_overload += batch.size();
          in.credit.settle();
          return;
        }
        if (self->state.processors.size() == 1) {
          self->send(*pick({}), std::move(in));
          return;
        }
        // Split by sender; batches usually come from one peer at a time.
        size_t begin = 0;
        while (begin < batch.size()) {
          size_t end = begin + 1;
          while (end < batch.size() && batch[end].peer == batch[begin].peer)
            ++end;
          inbound_frames part;
          part.credit = in.credit.split(static_cast<int64_t>(end - begin));
          if (begin == 0 && end == batch.size()) {
            part.msgs = std::move(batch);
          } else {
            part.msgs.reserve(end - begin);
            for (size_t k = begin; k < end; ++k)
              part.msgs.push_back(std::move(batch[k]));
          }
          auto dest = pick(part.msgs.front().peer);
          self->send(*dest, std::move(part));
          begin = end;
        }
      },
      [=](direct_batch& batch) {
        // Made by a node's protocol: nothing to decode, so no processor.
        auto n = batch.msgs.size();
        node->counters.rx += n;
        batch.release();
        if (!self->state.protocol) {
          node->counters.dropped_overload += n;
          batch.bytes.settle();
          return;
        }
        if (overloaded(*node)) {
          n = shed(*node, batch);
          if (n == 0)
            return;
        }
        // Lost with a failed protocol actor, the batch's messages are
        // counted by this credit (dropped_overload): nobody else counts them.
        batch.backlog = take_backlog(node->backlog, static_cast<int64_t>(n),
                                     true);
        self->send(self->state.protocol, std::move(batch));
      },
      [=](wire_atom, std::vector<processor_actor>& procs,
          protocol_actor& proto) {
        self->state.processors = std::move(procs);
        self->state.protocol = std::move(proto);
      },
    };
  };
  return node->sys.spawn(fn);
}

inbound_sink_ptr make_sink(incoming_link_actor incoming) {
  return std::make_shared<actor_sink>(std::move(incoming));
}

} // namespace quilt

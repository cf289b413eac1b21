#include "watch.hpp"

#include <csignal>
#include <iostream>

#include <caf/all.hpp>

#include "quilt/codec.hpp"

namespace quilt::console {

namespace {

volatile std::sig_atomic_t interrupted = 0;

void on_sigint(int) {
  interrupted = 1;
}

/// Catches SIGINT while watching, and puts back what was there before (the
/// interactive prompt's readline has its own).
struct sigint_guard {
  struct sigaction old {};
  sigint_guard() {
    interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
  }
  ~sigint_guard() {
    sigaction(SIGINT, &old, nullptr);
  }
};

/// The six events of SPEC §11; errors about this node's own pings are the
/// line interface's business.
bool watched(const node_event& e) {
  return e.kind != node_event::error;
}

void print(const event_batch& b, bool json) {
  if (b.dropped > 0)
    std::cerr << "quilt-console: " << b.dropped
              << " events dropped: the node's queue for this watch was full"
              << std::endl;
  for (auto& e : b.events) {
    if (!watched(e))
      continue;
    if (json)
      std::cout << event_json(e).dump(-1, ' ', false,
                                      nlohmann::ordered_json::error_handler_t::replace)
                << '\n';
    else
      std::cout << event_line(e) << '\n';
  }
  std::cout << std::flush;
}

/// A failure while streaming, printed as emit() would.
int fail(const outcome& o, bool json) {
  if (json)
    std::cout << o.json.dump() << std::endl;
  else
    std::cerr << o.text << std::flush;
  return o.status;
}

int stream(caf::scoped_actor& self, const node_actor& node, bool json) {
  sigint_guard guard;
  auto sink = caf::actor_cast<event_sink_actor>(self.ptr());
  outcome err;
  bool subscribed = false;
  self->monitor(node);
  self->request(node, std::chrono::seconds(5), subscribe_atom::value, sink)
    .receive([&](bool) { subscribed = true; },
             [&](caf::error& e) { err = request_failed(e); });
  if (!subscribed)
    return fail(err, json);
  bool lost = false;
  // The wait is short so that SIGINT, which only sets a flag, ends it soon.
  while (!interrupted && !lost)
    self->receive(
      [&](const event_batch& b) {
        print(b, json);
        return true; // the acknowledgement: the node sends the next batch
      },
      [&](const caf::down_msg& m) { lost = m.source == node.address(); },
      caf::after(std::chrono::milliseconds(100)) >> [] {});
  self->demonitor(node.address());
  if (lost)
    return fail(failure(unreachable, "unreachable", "lost the node"), json);
  return ok;
}

} // namespace

outcome watch(caf::scoped_actor& self, const node_actor& node) {
  outcome o;
  o.stream = [&self, node](bool json) { return stream(self, node, json); };
  return o;
}

nlohmann::ordered_json event_json(const node_event& x) {
  // In SPEC §11's order: ts_ms and event first, then the event's fields.
  nlohmann::ordered_json j = {{"ts_ms", x.ts_ms}, {"event", to_string(x.kind)}};
  switch (x.kind) {
    case node_event::peer_up:
    case node_event::peer_down:
      j["peer"] = x.peer;
      break;
    case node_event::route_added:
    case node_event::route_changed:
    case node_event::route_removed:
      j["destination"] = x.destination;
      j["next_hop"] = x.next_hop;
      j["hops"] = x.kind == node_event::route_removed ? nlohmann::ordered_json(nullptr)
                                                       : nlohmann::ordered_json(x.hops);
      break;
    case node_event::msg:
      j["from"] = x.from;
      j["to"] = x.to;
      j["id"] = to_decimal(x.id); // may exceed 2^53 (SPEC §8)
      j["text"] = x.text;
      break;
    case node_event::error:
      j["text"] = x.text;
      break;
  }
  return j;
}

} // namespace quilt::console

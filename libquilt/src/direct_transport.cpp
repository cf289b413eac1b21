#include "quilt/direct_transport.hpp"

#include <algorithm>

namespace quilt {

/// The listeners of a direct transport, by endpoint. Shared with its links,
/// which may outlive the transport object.
struct direct_transport::registry {
  /// A batch that arrived before the node attached its sink.
  struct early {
    std::string from;
    message_batch batch;
    std::shared_ptr<std::atomic<uint64_t>> in_flight;
    bytes_credit bytes;
  };

  struct listener {
    listener_id id = 0;
    std::string name;
    inbound_sink_ptr sink; // null until attached
    std::vector<early> waiting;
  };

  std::mutex mtx;
  listener_id next_id = 1;
  std::unordered_map<std::string, listener> by_endpoint;
  std::unordered_map<listener_id, std::string> endpoints;

  /// The node name listening on `endpoint` and its sink; false when
  /// nobody listens there. A listener not attached yet has no sink.
  bool find(const std::string& endpoint, inbound_sink_ptr& sink,
            std::string& name) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = by_endpoint.find(endpoint);
    if (i == by_endpoint.end())
      return false;
    sink = i->second.sink;
    name = i->second.name;
    return true;
  }

  /// Keeps (moves) a batch for a listener that is not attached yet; false,
  /// leaving the batch as it was, when the listener is gone or got its sink
  /// meanwhile.
  bool keep(const std::string& endpoint, const std::string& from,
            message_batch& batch,
            const std::shared_ptr<std::atomic<uint64_t>>& in_flight,
            bytes_credit& bytes) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = by_endpoint.find(endpoint);
    if (i == by_endpoint.end() || i->second.sink)
      return false;
    i->second.waiting.push_back(
      early{from, std::move(batch), in_flight, std::move(bytes)});
    return true;
  }
};

namespace {

class direct_link : public outgoing_link {
public:
  direct_link(std::shared_ptr<direct_transport::registry> r,
              std::string endpoint, const dial_options& opts)
    : registry_(std::move(r)),
      endpoint_(std::move(endpoint)),
      identity_(opts.identity),
      limit_(opts.queue_limit),
      counters_(opts.counters ? opts.counters
                              : std::make_shared<link_counters>()),
      // What is on its way to the receiver is the link's queue: the
      // protocol actor that feeds this link sees it in counters().queued.
      in_flight_(counters_, &counters_->queued) {
    // What it cannot carry it refuses at send (the protocol actor counts
    // what waits against the same limit first); what it takes arrives.
    counters_->lossless.store(true, std::memory_order_relaxed);
  }

  size_t send(message_batch& batch) override {
    bytes_credit none;
    return send(batch, none);
  }

  size_t send(message_batch& batch, bytes_credit& bytes) override {
    if (batch.empty()) {
      bytes.settle();
      return 0;
    }
    inbound_sink_ptr sink;
    std::string peer;
    if (!registry_->find(endpoint_, sink, peer)) {
      counters_->dropped += batch.size(); // nobody listens: nothing connects
      bytes.settle();
      return 0;
    }
    auto waiting = in_flight_->load(std::memory_order_relaxed);
    size_t room = waiting >= limit_ ? 0 : static_cast<size_t>(limit_ - waiting);
    size_t taken = std::min(batch.size(), room);
    if (taken < batch.size()) {
      counters_->dropped += batch.size() - taken;
      // The dropped tail's bytes come back here; the rest go on.
      bytes.split(batch_bytes(batch, taken, batch.size())).settle();
      batch.resize(taken);
    }
    if (taken == 0) {
      bytes.settle();
      return 0;
    }
    in_flight_->fetch_add(taken, std::memory_order_relaxed);
    // The receiver is still starting: its sink gets this when it attaches.
    // A refused keep leaves the batch as it was.
    // Counted as sent once handed over (or kept), which moves the batch.
    auto sent = link_counters::tally(batch, taken);
    while (!sink) {
      if (registry_->keep(endpoint_, identity_, batch, in_flight_, bytes)) {
        counters_->count_sent(sent);
        batch.clear();
        return taken;
      }
      if (!registry_->find(endpoint_, sink, peer)) {
        *in_flight_ -= taken;
        counters_->dropped += taken;
        bytes.settle();
        return 0;
      }
    }
    counters_->count_sent(sent);
    sink->messages(identity_, std::move(batch), in_flight_, std::move(bytes));
    batch.clear();
    return taken;
  }

  const link_counters& counters() const override { return *counters_; }

  link_counters_ptr shared_counters() const override { return counters_; }

private:
  std::shared_ptr<direct_transport::registry> registry_;
  std::string endpoint_;
  std::string identity_;
  uint64_t limit_;
  std::shared_ptr<link_counters> counters_;
  std::shared_ptr<std::atomic<uint64_t>> in_flight_;
};

} // namespace

direct_transport::direct_transport()
  : registry_(std::make_shared<registry>()) {
}

direct_transport::~direct_transport() = default;

std::string direct_transport::endpoint(const std::string& address,
                                       uint16_t port) const {
  return "direct://" + address + ":" + std::to_string(port);
}

std::variant<listener_id, std::string>
direct_transport::listen(const std::string& endpoint,
                         const listen_options& opts) {
  std::lock_guard<std::mutex> guard{registry_->mtx};
  auto& r = *registry_;
  if (r.by_endpoint.count(endpoint) > 0)
    return "cannot listen on " + endpoint + ": Address already in use";
  auto id = r.next_id++;
  r.by_endpoint.emplace(endpoint, registry::listener{id, opts.name, nullptr, {}});
  r.endpoints.emplace(id, endpoint);
  return id;
}

void direct_transport::attach(listener_id id, inbound_sink_ptr sink) {
  std::lock_guard<std::mutex> guard{registry_->mtx};
  auto& r = *registry_;
  auto i = r.endpoints.find(id);
  if (i == r.endpoints.end())
    return;
  auto& l = r.by_endpoint[i->second];
  l.sink = sink;
  // Under the lock (a sink only posts to a mailbox): whoever finds the sink
  // after this sends after the batches that waited for it.
  for (auto& w : l.waiting)
    sink->messages(std::move(w.from), std::move(w.batch),
                   std::move(w.in_flight), std::move(w.bytes));
  l.waiting.clear();
}

void direct_transport::close_listener(listener_id id) {
  inbound_sink_ptr last; // released outside the lock
  std::lock_guard<std::mutex> guard{registry_->mtx};
  auto& r = *registry_;
  auto i = r.endpoints.find(id);
  if (i == r.endpoints.end())
    return;
  auto j = r.by_endpoint.find(i->second);
  last = std::move(j->second.sink);
  // Batches that waited for a node that never attached: their senders get
  // the room back (they count as sent and lost, as on a dead connection).
  for (auto& w : j->second.waiting) {
    *w.in_flight -= w.batch.size();
    w.bytes.settle();
  }
  r.by_endpoint.erase(j);
  r.endpoints.erase(i);
}

void direct_transport::reply(listener_id, std::string, std::string) {
}

outgoing_link_ptr direct_transport::dial(const std::string& endpoint,
                                         const dial_options& opts) {
  return std::make_shared<direct_link>(registry_, endpoint, opts);
}

} // namespace quilt

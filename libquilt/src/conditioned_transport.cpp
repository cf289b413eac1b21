// The simulator's network as a decorator of a transport (see the header).
//
// Each direction of a link (sender -> listener, by node name) is one
// `direction`: its link_direction (timing and draws), whether it is cut,
// and the batches on their way, under one mutex. Every link dialled for
// that direction shares it, so a redial keeps the order, the draws and the
// busy time. Batches are handed to the wrapped links by one `wire` actor:
// a direction asks the actor system's clock for one message to it at its
// queue head's due time, so the same code runs on real time and on the test
// coordinator's virtual time.
#include "quilt/conditioned_transport.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/send.hpp>

namespace quilt {


namespace {

constexpr auto not_held = time_point::min().time_since_epoch().count();

/// FNV-1a, 64 bits: std::hash may differ between standard libraries, and a
/// direction's draws must be the same wherever the simulation runs.
uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// The seed of direction from -> to's draws: the run's seed and both names,
/// so a direction draws the same whatever the others do.
uint64_t direction_seed(uint64_t seed, const std::string& from,
                        const std::string& to) {
  char le[8];
  for (int i = 0; i < 8; ++i)
    le[i] = static_cast<char>(seed >> (8 * i));
  auto h = fnv1a(0xcbf29ce484222325ULL, std::string_view{le, 8});
  h = fnv1a(h, from);
  // A separator: "ab" -> "c" and "a" -> "bc" are different directions.
  h = fnv1a(h, std::string_view{"\0", 1});
  return fnv1a(h, to);
}

size_t decimal_digits(uint64_t x) {
  size_t n = 1;
  for (; x >= 10; x /= 10)
    ++n;
  return n;
}

/// The message's frames' lengths added up, as pack_message writes them
/// (SPEC §13: routing id and length prefixes excluded), without packing.
size_t wire_bytes(const message& x) {
  auto n = x.destination.size() + std::strlen(to_string(x.cmd))
           + x.origin.size() + decimal_digits(x.id) + decimal_digits(x.ttl);
  auto args = x.arg_count();
  for (size_t i = 0; i < args; ++i)
    n += x.arg(i).size();
  return n;
}

/// What one dial made: the wrapped link and the counters it shares with its
/// conditioned link. Batches on their way hold it, so they still reach the
/// wrapped link after the conditioned one is gone (as a wire delivers what
/// it carries after the sender hung up).
struct dialled {
  outgoing_link_ptr inner;
  std::shared_ptr<link_counters> counters;
  uint64_t limit = 0;
  /// Whether the wrapped link loses nothing it takes: the conditioned one
  /// does not either while its direction has no loss and no cut.
  bool inner_lossless = false;
};

using dialled_ptr = std::shared_ptr<dialled>;

/// A node's stall: until when what arrives for it waits.
struct node_hold {
  std::atomic<time_point::rep> until{not_held};

  time_point get() const {
    return time_point{time_point::duration{
      until.load(std::memory_order_acquire)}};
  }
};

/// A batch on its way: when it arrives, through which dial.
struct arrival {
  time_point at;
  message_batch batch;
  dialled_ptr via;
  bytes_credit bytes; ///< The batch's bytes in the budgets.
};

/// One direction of one link.
struct direction {
  direction(uint64_t i, uint64_t seed, link_params p,
            std::shared_ptr<node_hold> h)
    : id(i), hold(std::move(h)), model(seed, p) {
  }

  /// What never arrived (the transport went first) counts as dropped by
  /// its link, as a DEALER's queue closed with its socket.
  ~direction() {
    for (auto& a : queue) {
      auto n = a.batch.size();
      a.via->counters->queued -= n;
      a.via->counters->dropped += n;
      a.bytes.settle();
    }
  }

  const uint64_t id; ///< Index in state::by_id, named by the wire's timers.
  const std::shared_ptr<node_hold> hold; ///< The destination's.

  std::mutex mtx; // guards the rest
  link_direction model;
  bool cut = false;
  /// The dials that send this way: told whether it may lose now.
  std::vector<std::weak_ptr<dialled>> dials;

  /// Tells the links that send this way whether it may lose a message now
  /// (link_counters::lossless); `mtx` held. A copy sent while it could not
  /// is not acknowledged, so the model never loses one (condition()): one
  /// the node queued before a cut or a loss reached this direction still
  /// arrives, as if it had left just before.
  void publish() {
    auto lossless = !cut && model.params().loss <= 0.0;
    for (auto i = dials.begin(); i != dials.end();) {
      if (auto d = i->lock()) {
        d->counters->lossless.store(d->inner_lossless && lossless,
                                    std::memory_order_relaxed);
        ++i;
      } else {
        i = dials.erase(i);
      }
    }
  }
  std::deque<arrival> queue; ///< Arrival times never decrease.
  uint64_t waiting = 0;      ///< Messages in `queue`.
  /// The delivery the clock was asked for, if any; a timer for any other
  /// time was superseded and does nothing.
  std::optional<time_point> timer;
};

} // namespace

struct conditioned_transport::state {
  state(caf::actor_system& s, uint64_t sd, link_params d)
    : sys(s), seed(sd), defaults(d) {
  }

  caf::actor_system& sys;
  const uint64_t seed;
  caf::actor wire; ///< Set once by the constructor.
  std::atomic<uint64_t> transmissions{0};
  std::atomic<uint64_t> lost{0};

  // Guards the rest. Taken before a direction's mutex, never after it.
  std::mutex mtx;
  link_params defaults;
  std::unordered_map<std::string, std::string> listeners; // endpoint -> name
  std::unordered_map<listener_id, std::string> endpoints;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<direction>>
    directions;
  std::vector<std::shared_ptr<direction>> by_id; // never shrinks
  std::unordered_map<std::string, std::shared_ptr<node_hold>> holds;

  time_point now() const { return sys.clock().now(); }

  /// `mtx` held.
  std::shared_ptr<node_hold> hold_of(const std::string& node) {
    auto& h = holds[node];
    if (!h)
      h = std::make_shared<node_hold>();
    return h;
  }

  /// Direction from -> to, made with the defaults if new; `mtx` held.
  direction& direction_for(const std::string& from, const std::string& to) {
    auto& d = directions[{from, to}];
    if (!d) {
      d = std::make_shared<direction>(by_id.size(),
                                      direction_seed(seed, from, to),
                                      defaults, hold_of(to));
      by_id.push_back(d);
    }
    return *d;
  }

  /// Asks the clock for a delivery of `d` at `due`, unless one comes
  /// earlier; `d.mtx` held.
  void wake(direction& d, time_point due) {
    if (d.timer && *d.timer <= due)
      return;
    d.timer = due;
    sys.clock().schedule_message(
      due, caf::actor_cast<caf::strong_actor_ptr>(wire),
      caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, d.id,
                                int64_t{due.time_since_epoch().count()}));
  }

  /// Hands every batch of `d` due by `now` to its wrapped link, in order,
  /// and asks for the next; `d.mtx` held (a send that found the queue empty
  /// would otherwise overtake the last batch).
  void deliver(direction& d, time_point now) {
    auto held = d.hold->get();
    while (!d.queue.empty()) {
      auto& head = d.queue.front();
      auto due = std::max(head.at, held);
      if (due > now) {
        wake(d, due);
        return;
      }
      auto n = head.batch.size();
      d.waiting -= n;
      // Out of the model's share first: the wrapped link's room check
      // counts what waits here, in the counters both share.
      head.via->counters->queued -= n;
      head.via->inner->send(head.batch, head.bytes);
      d.queue.pop_front();
    }
  }

  /// The wire's timer for direction `id` at `at`.
  void on_timer(uint64_t id, int64_t at) {
    std::shared_ptr<direction> d;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (id < by_id.size())
        d = by_id[id];
    }
    if (!d)
      return;
    std::lock_guard<std::mutex> guard{d->mtx};
    if (!d->timer || d->timer->time_since_epoch().count() != at)
      return; // superseded by an earlier one
    d->timer.reset();
    deliver(*d, now());
  }
};

namespace {

using state_ptr = std::shared_ptr<conditioned_transport::state>;

/// A dialled link under the model.
class conditioned_link : public outgoing_link {
public:
  conditioned_link(state_ptr st, std::string endpoint, std::string from,
                   dialled_ptr via)
    : st_(std::move(st)), endpoint_(std::move(endpoint)),
      from_(std::move(from)), via_(std::move(via)) {
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
    auto* d = resolve();
    if (d == nullptr) {
      // Nobody listens there yet: no direction to model, and the wrapped
      // link counts what it cannot deliver.
      return count(via_->inner->send(batch, bytes));
    }
    std::lock_guard<std::mutex> guard{d->mtx};
    if (d->queue.empty() && !d->cut && d->model.params().perfect()
        && !held(*d))
      return count(via_->inner->send(batch, bytes));
    return condition(*d, batch, bytes);
  }

  const link_counters& counters() const override { return *via_->counters; }

  link_counters_ptr shared_counters() const override {
    return via_->counters;
  }

  /// The direction, once someone listens on the endpoint. Directions live
  /// as long as the state this link holds.
  direction* resolve() {
    auto* d = dir_.load(std::memory_order_acquire);
    if (d != nullptr)
      return d;
    std::lock_guard<std::mutex> guard{st_->mtx};
    auto i = st_->listeners.find(endpoint_);
    if (i == st_->listeners.end())
      return nullptr;
    d = &st_->direction_for(from_, i->second);
    {
      std::lock_guard<std::mutex> dg{d->mtx};
      d->dials.push_back(via_);
      d->publish();
    }
    dir_.store(d, std::memory_order_release);
    return d;
  }

private:
  size_t count(size_t taken) {
    st_->transmissions.fetch_add(taken, std::memory_order_relaxed);
    return taken;
  }

  /// Whether the destination is stalled now; `d.mtx` held.
  bool held(const direction& d) const {
    auto until = d.hold->until.load(std::memory_order_acquire);
    return until != not_held
           && st_->now().time_since_epoch().count() < until;
  }

  /// The model's way: each message is lost (cut, or a loss draw), dropped
  /// (no room) or queued for its arrival; `d.mtx` held.
  size_t condition(direction& d, message_batch& batch, bytes_credit& bytes) {
    auto& c = *via_->counters;
    auto limit = via_->limit;
    // What waits here or in the wrapped link, as the protocol reads it:
    // only this link adds to it, and only under this mutex.
    auto used = std::max<uint64_t>(c.queued.load(std::memory_order_relaxed),
                                   d.waiting);
    uint64_t room = used >= limit ? 0 : limit - used;
    auto now = st_->now();
    link_counters::sent_tally lost;
    size_t taken = 0;
    uint64_t queued = 0;
    for (auto& x : batch) {
      if (!d.cut && room == 0)
        break; // the tail is dropped
      ++taken;
      // Each message's bytes wait with it, or come back where it is lost.
      auto share = bytes.split(message_bytes(x));
      // A copy sent unacknowledged (the direction could not lose it when
      // its node sent it) is not lost: nobody would send it again.
      auto at = d.cut && !x.no_ack
                  ? std::nullopt
                  : d.model.admit(now, wire_bytes(x), !x.no_ack);
      if (!at) {
        share.settle();
        ++lost.n;
        ++lost.by_command[static_cast<size_t>(x.cmd)];
        lost.forwarded += x.forwarded;
        continue;
      }
      --room;
      ++queued;
      enqueue(d, *at, std::move(x), std::move(share));
    }
    bytes.settle(); // the dropped tail's
    if (taken < batch.size())
      c.dropped.fetch_add(batch.size() - taken, std::memory_order_relaxed);
    c.queued.fetch_add(queued, std::memory_order_relaxed);
    // Lost on the way, after the link took them: the sender cannot tell.
    c.count_sent(lost);
    st_->lost.fetch_add(lost.n, std::memory_order_relaxed);
    batch.clear();
    return count(taken);
  }

  /// Queues `x` to arrive at `at`, with the batch before it when that
  /// arrives at the same time through the same dial; `d.mtx` held.
  void enqueue(direction& d, time_point at, message&& x,
               bytes_credit&& share) {
    ++d.waiting;
    if (!d.queue.empty()) {
      auto& last = d.queue.back();
      if (last.at == at && last.via == via_) {
        last.batch.push_back(std::move(x));
        last.bytes.merge(std::move(share));
        return;
      }
      d.queue.push_back(arrival{at, {}, via_, std::move(share)});
      d.queue.back().batch.push_back(std::move(x));
      return;
    }
    d.queue.push_back(arrival{at, {}, via_, std::move(share)});
    d.queue.back().batch.push_back(std::move(x));
    st_->wake(d, std::max(at, d.hold->get()));
  }

  state_ptr st_;
  std::string endpoint_;
  std::string from_;
  dialled_ptr via_;
  std::atomic<direction*> dir_{nullptr};
};

} // namespace

conditioned_transport::conditioned_transport(caf::actor_system& sys,
                                             std::shared_ptr<transport> inner,
                                             uint64_t seed,
                                             link_params defaults)
  : inner_(std::move(inner)),
    state_(std::make_shared<state>(sys, seed, defaults)) {
  // Hidden: a simulation waits for its nodes' actors to finish before it
  // destroys the transport, which stops this one.
  std::weak_ptr<state> weak = state_;
  state_->wire = sys.spawn<caf::hidden>(
    [weak](caf::event_based_actor*) -> caf::behavior {
      return {
        [weak](uint64_t id, int64_t at) {
          // Gone with the transport: a timer still pending does nothing.
          if (auto st = weak.lock())
            st->on_timer(id, at);
        },
      };
    });
}

conditioned_transport::~conditioned_transport() {
  caf::anon_send_exit(state_->wire, caf::exit_reason::user_shutdown);
}

std::string conditioned_transport::endpoint(const std::string& address,
                                            uint16_t port) const {
  return inner_->endpoint(address, port);
}

std::variant<listener_id, std::string>
conditioned_transport::listen(const std::string& endpoint,
                              const listen_options& opts) {
  auto res = inner_->listen(endpoint, opts);
  if (auto id = std::get_if<listener_id>(&res)) {
    std::lock_guard<std::mutex> guard{state_->mtx};
    state_->listeners[endpoint] = opts.name;
    state_->endpoints[*id] = endpoint;
  }
  return res;
}

void conditioned_transport::attach(listener_id id, inbound_sink_ptr sink) {
  inner_->attach(id, std::move(sink));
}

void conditioned_transport::close_listener(listener_id id) {
  inner_->close_listener(id);
  std::lock_guard<std::mutex> guard{state_->mtx};
  auto i = state_->endpoints.find(id);
  if (i == state_->endpoints.end())
    return;
  state_->listeners.erase(i->second);
  state_->endpoints.erase(i);
}

void conditioned_transport::reply(listener_id id, std::string peer,
                                  std::string text) {
  inner_->reply(id, std::move(peer), std::move(text));
}

void conditioned_transport::authorize(listener_id id,
                                      std::vector<std::string> keys) {
  inner_->authorize(id, std::move(keys));
}

outgoing_link_ptr conditioned_transport::dial(const std::string& endpoint,
                                              const dial_options& opts) {
  auto via = std::make_shared<dialled>();
  via->counters = opts.counters ? opts.counters
                                : std::make_shared<link_counters>();
  via->limit = opts.queue_limit;
  auto o = opts;
  o.counters = via->counters;
  via->inner = inner_->dial(endpoint, o);
  // Lossless only once its direction is known to be (resolve()).
  via->inner_lossless = via->counters->lossless.exchange(false);
  auto link = std::make_shared<conditioned_link>(state_, endpoint,
                                                 opts.identity, std::move(via));
  link->resolve();
  return link;
}

void conditioned_transport::change(const std::string& a, const std::string& b,
                                   const link_change& c) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  for (auto* d : {&state_->direction_for(a, b), &state_->direction_for(b, a)}) {
    std::lock_guard<std::mutex> dg{d->mtx};
    d->model.set(c.applied_to(d->model.params()));
    d->publish();
  }
}

void conditioned_transport::change_all(const link_change& c) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  state_->defaults = c.applied_to(state_->defaults);
  for (auto& d : state_->by_id) {
    std::lock_guard<std::mutex> dg{d->mtx};
    d->model.set(c.applied_to(d->model.params()));
    d->publish();
  }
}

link_params conditioned_transport::params(const std::string& from,
                                          const std::string& to) const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  auto i = state_->directions.find({from, to});
  if (i == state_->directions.end())
    return state_->defaults;
  std::lock_guard<std::mutex> dg{i->second->mtx};
  return i->second->model.params();
}

void conditioned_transport::set_cut(const std::string& a, const std::string& b,
                                    bool cut) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  for (auto* d : {&state_->direction_for(a, b), &state_->direction_for(b, a)}) {
    std::lock_guard<std::mutex> dg{d->mtx};
    d->cut = cut;
    d->publish();
  }
}

void conditioned_transport::heal_all() {
  std::lock_guard<std::mutex> guard{state_->mtx};
  for (auto& d : state_->by_id) {
    std::lock_guard<std::mutex> dg{d->mtx};
    d->cut = false;
    d->publish();
  }
}

void conditioned_transport::stall(const std::string& node, time_point until) {
  std::lock_guard<std::mutex> guard{state_->mtx};
  auto hold = state_->hold_of(node);
  hold->until.store(until.time_since_epoch().count(),
                    std::memory_order_release);
  // What already waits for the node now waits for `until`; a timer that
  // comes earlier finds it held and asks again, a later one (the stall was
  // shortened) is overtaken by this one.
  for (auto& d : state_->by_id) {
    if (d->hold != hold)
      continue;
    std::lock_guard<std::mutex> dg{d->mtx};
    if (!d->queue.empty())
      state_->wake(*d, std::max(d->queue.front().at, until));
  }
}

uint64_t conditioned_transport::transmissions() const {
  return state_->transmissions.load(std::memory_order_relaxed);
}

uint64_t conditioned_transport::lost() const {
  return state_->lost.load(std::memory_order_relaxed);
}

} // namespace quilt

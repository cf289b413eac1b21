// quilt-sim's driver: starts a scenario's nodes with start_node, waits for
// their routes to converge, runs the events and collects the report.
//
// The driver never blocks an actor and never reads the real clock for the
// simulation's time. It talks to nodes through short-lived probe actors that
// fill a shared box; the driver's thread waits for boxes with
// sim_clock::run_until, which sleeps on real time or, in deterministic mode,
// runs the test coordinator's jobs and jumps virtual time to the next due
// timer. So one code path drives both kinds of run.
#include "quilt/sim.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <ostream>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "quilt/actors.hpp"
#include "quilt/conditioned_transport.hpp"
#include "quilt/console.hpp"
#include "quilt/direct_transport.hpp"
#include "quilt/error.hpp"
#include "quilt/log.hpp"
#include "quilt/node.hpp"
#include "quilt/traceroute.hpp"
#include "quilt/zmq_transport.hpp"
#include "sim_console.hpp"
#include "sim_truth.hpp"

namespace quilt {

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

/// Unix time at virtual time zero of a deterministic run: 2026-01-01 UTC.
constexpr microseconds virtual_epoch{1767225600LL * 1000000};

/// Between two checks of every node's routes while a fault event waits for
/// its reconverged_ms (deterministic runs; real time checks as converge()).
constexpr milliseconds reconverge_check{10};

/// "2 s", "250 ms": a wait as the report's details say it.
std::string wait_text(milliseconds wait) {
  auto ms = wait.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                        : std::to_string(ms) + " ms";
}

std::atomic<int> stop_signal{0};

extern "C" void on_stop_signal(int sig) { stop_signal = sig; }

uint64_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

/// A value filled in by a probe actor and read by the driver's thread.
template <class T>
struct box {
  std::atomic<bool> done{false};
  T value{};

  void set(T x) {
    value = std::move(x);
    done.store(true, std::memory_order_release);
  }
  bool ready() const { return done.load(std::memory_order_acquire); }
};

/// Answers from many nodes to the same request.
template <class T>
struct gather_box {
  std::vector<std::optional<T>> values;
  std::atomic<size_t> remaining;

  explicit gather_box(size_t n) : values(n), remaining(n) {
  }
  bool ready() const { return remaining.load(std::memory_order_acquire) == 0; }
};

/// An event's outcome as a probe reports it.
struct outcome_value {
  bool ok = false;
  std::string detail;
  std::optional<uint64_t> latency_us;
  uint64_t message_id = 0; ///< send, broadcast: the id, for the audit
  /// broadcast: per target, how long the text took to its inbox, nothing
  /// when it was not there when the probe finished (the driver judges
  /// against the nodes still reachable then).
  std::vector<std::optional<uint64_t>> arrivals;
};

using outcome_box = box<outcome_value>;

std::string micros_text(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f ms", static_cast<double>(us) / 1000);
  return buf;
}

/// Whether the outcome meets the expectation (none: it ran).
bool meets(sim_expect e, bool reached) {
  switch (e) {
    case sim_expect::none:
      return true;
    case sim_expect::delivered:
    case sim_expect::all:
      return reached;
    case sim_expect::unreachable:
      return !reached;
  }
  return false;
}

// -- time -----------------------------------------------------------------------

/// The simulation's clock: the actor system's, real or virtual.
class sim_clock {
public:
  sim_clock(caf::actor_system& sys, bool deterministic)
    : sys_(sys),
      sched_(deterministic
               ? &dynamic_cast<caf::scheduler::test_coordinator&>(
                   sys.scheduler())
               : nullptr) {
  }

  bool deterministic() const { return sched_ != nullptr; }

  time_point now() const { return sys_.clock().now(); }

  /// From now on, whenever the clock reaches the time `f` last returned
  /// (at first: now), calls `f` again: the driver's samples and checks,
  /// taken exactly then on virtual time. Waits inside `f` do not call it.
  void observe(std::function<time_point(time_point)> f) {
    observer_ = std::move(f);
    observe_at_ = now();
  }

  void stop_observing() {
    observer_ = nullptr;
  }

  /// Calls the observer at `t` at the latest (an event wants a check now).
  void observe_by(time_point t) {
    observe_at_ = std::min(observe_at_, t);
  }

  /// Runs the simulation until `t`, or until `stop` holds. Returns whether
  /// `stop` held. A signal ends a wait only through `stop`: collecting what
  /// probes gather must finish even then, or the report would read boxes
  /// still being filled.
  bool run_until(time_point t, const std::function<bool()>& stop = {}) {
    if (!sched_) {
      for (;;) {
        observe_due();
        if (stop && stop())
          return true;
        auto left = std::min(t, observe_at()) - now();
        if (now() >= t)
          return false;
        std::this_thread::sleep_for(std::clamp<time_point::duration>(
          left, time_point::duration::zero(), 2ms));
      }
    }
    for (;;) {
      sched_->run();
      observe_due();
      if (stop && stop())
        return true;
      auto current = now();
      if (current >= t)
        return false;
      auto& pending = sched_->clock().schedule();
      auto next = pending.empty() ? t : std::min(t, pending.begin()->first);
      next = std::max(current, std::min(next, observe_at()));
      // advance_time fires what is due by then (trigger_timeouts would
      // fire every pending timer, due or not).
      sched_->advance_time(next > current ? next - current
                                          : time_point::duration::zero());
    }
  }

  bool run_for(time_point::duration d, const std::function<bool()>& stop = {}) {
    return run_until(now() + d, stop);
  }

  /// Runs until `stop` holds, at most `limit`.
  bool wait(const std::function<bool()>& stop,
            time_point::duration limit = 30s) {
    return run_for(limit, stop);
  }

  /// Lets every pending job run (deterministic mode), e.g. at teardown.
  void drain() {
    if (sched_)
      sched_->run();
  }

private:
  time_point observe_at() const {
    return observer_ && !observing_ ? observe_at_ : time_point::max();
  }

  void observe_due() {
    if (!observer_ || observing_ || now() < observe_at_)
      return;
    observing_ = true;
    observe_at_ = observer_(now());
    observing_ = false;
  }

  caf::actor_system& sys_;
  caf::scheduler::test_coordinator* sched_;
  std::function<time_point(time_point)> observer_;
  time_point observe_at_ = time_point::max();
  bool observing_ = false;
};

// -- probes -------------------------------------------------------------------

/// Asks every node in `targets` the same question; empty handles are skipped.
template <class T, class... Ts>
std::shared_ptr<gather_box<T>> gather(caf::actor_system& sys,
                                      const std::vector<node_actor>& targets,
                                      Ts... xs) {
  auto result = std::make_shared<gather_box<T>>(targets.size());
  if (targets.empty())
    return result;
  sys.spawn([=](caf::event_based_actor* self) {
    for (size_t i = 0; i < targets.size(); ++i) {
      if (!targets[i]) {
        result->remaining.fetch_sub(1, std::memory_order_acq_rel);
        continue;
      }
      self->request(targets[i], 10s, xs...)
        .then(
          [=](T& x) {
            result->values[i] = std::move(x);
            result->remaining.fetch_sub(1, std::memory_order_acq_rel);
          },
          [=](caf::error&) {
            result->remaining.fetch_sub(1, std::memory_order_acq_rel);
          });
    }
  });
  return result;
}

std::shared_ptr<outcome_box> probe_ping(caf::actor_system& sys,
                                        node_actor from, std::string to,
                                        uint8_t ttl, sim_expect expect,
                                        milliseconds wait) {
  auto out = std::make_shared<outcome_box>();
  sys.spawn([=](caf::event_based_actor* self) {
    self
      ->request(from, wait + 1s, ping_atom::value, to, ttl,
                static_cast<uint32_t>(wait.count()))
      .then(
        [=](const ping_result& r) {
          outcome_value v;
          v.ok = meets(expect, r.replied);
          if (r.replied) {
            v.detail = "pong from " + r.from + " in " + micros_text(r.rtt_us);
            v.latency_us = r.rtt_us;
          } else {
            if (r.error == "timeout")
              v.detail = "unreachable: no answer within " + wait_text(wait);
            else if (r.from.empty())
              v.detail = "unreachable: no route (" + r.error + ")";
            else
              v.detail = "unreachable: error " + r.error + " from " + r.from;
          }
          out->set(std::move(v));
        },
        [=](const caf::error& e) {
          out->set({meets(expect, false), "unreachable: " + describe(e), {},
                    0, {}});
        });
  });
  return out;
}

struct trace_state {
  traceroute_result result;
  int silent = 0;
};

std::shared_ptr<outcome_box> probe_traceroute(caf::actor_system& sys,
                                              node_actor from, std::string to,
                                              uint8_t max_hops,
                                              sim_expect expect,
                                              milliseconds wait) {
  auto out = std::make_shared<outcome_box>();
  auto finish = [=](const traceroute_result& r) {
    outcome_value v;
    v.ok = meets(expect, r.reached);
    std::string path;
    for (auto& h : r.hops)
      path += (path.empty() ? "" : " ") + h.node.value_or("*");
    v.detail = (r.reached ? "reached in " : "not reached after ")
               + std::to_string(r.hops.size()) + " hops: " + path;
    if (r.reached && !r.hops.empty())
      v.latency_us = r.hops.back().rtt_us;
    out->set(std::move(v));
  };
  sys.spawn([=](caf::stateful_actor<trace_state>* self) -> caf::behavior {
    self->state.result.target = to;
    self->send(self, tick_atom::value, uint64_t{1});
    return {
      [=](tick_atom, uint64_t ttl) {
        self
          ->request(from, wait + 1s, ping_atom::value, to,
                    static_cast<uint8_t>(ttl), static_cast<uint32_t>(wait.count()))
          .then(
            [=](const ping_result& r) {
              auto& st = self->state;
              if (trace_step(st.result, static_cast<uint32_t>(ttl), r,
                             st.silent)
                  && ttl < max_hops) {
                self->send(self, tick_atom::value, ttl + 1);
                return;
              }
              finish(st.result);
              self->quit();
            },
            [=](const caf::error&) {
              finish(self->state.result);
              self->quit();
            });
      },
    };
  });
  return out;
}

/// A send or broadcast being watched: polls the targets' inboxes for
/// (origin, id) every 50 ms until each has it or `wait` passed. Everything
/// the request handlers need lives here, so that each pending request
/// carries a pointer, not a copy of the target list.
struct delivery_state {
  std::vector<node_actor> targets;
  std::vector<std::string> names;
  std::string origin;
  std::string dest;
  sim_expect expect = sim_expect::none;
  milliseconds wait{2000};
  /// Unix time minus the clock: inboxes say when a text arrived in Unix
  /// milliseconds.
  microseconds unix_offset{0};
  std::shared_ptr<outcome_box> out;
  /// Per target: from the send until the text was in its inbox.
  std::vector<std::optional<uint64_t>> arrivals;
  uint64_t id = 0;
  time_point started{};
  size_t pending = 0; ///< Inbox requests of this round not answered yet.
  /// A unicast send whose origin confirms (SPEC §14): judged by the
  /// confirmation, the inbox read once it came (or `wait` passed) for the
  /// latency.
  bool confirm = false;
  /// The origin's answer: delivered, or the reason it was not; empty while
  /// waiting (and when `wait` passed first).
  std::optional<send_result> confirmation;
  bool last_round = false; ///< The inbox is being read for the verdict.
};

using delivery_ptr = caf::stateful_actor<delivery_state>*;

void finish_delivery(delivery_ptr self, bool sent) {
  auto& st = self->state;
  outcome_value v;
  v.message_id = st.id;
  if (!sent) {
    v.ok = meets(st.expect, false);
    v.detail = "unreachable: not sent, no route";
  } else if (st.dest == "all") {
    v.arrivals = std::move(st.arrivals); // judged by the driver
  } else if (st.confirm) {
    bool there = !st.arrivals.empty() && st.arrivals.front().has_value();
    bool confirmed = st.confirmation && st.confirmation->delivered;
    v.ok = meets(st.expect, confirmed && there);
    if (confirmed && there)
      v.detail = "delivered to " + st.dest + ", confirmed";
    else if (confirmed)
      v.detail = "confirmed, but not in " + st.dest + "'s inbox";
    else if (st.confirmation)
      v.detail = "unreachable: " + st.confirmation->error + " to " + st.dest
                 + (there ? " (in its inbox, its confirmations lost)" : "");
    else
      v.detail = "unreachable: not confirmed by " + st.dest + " within "
                 + wait_text(st.wait)
                 + (there ? " (in its inbox)" : "");
    if (there)
      v.latency_us = st.arrivals.front();
  } else {
    bool there = !st.arrivals.empty() && st.arrivals.front().has_value();
    v.ok = meets(st.expect, there);
    v.detail = there ? "delivered to " + st.dest
                     : "unreachable: not in " + st.dest + "'s inbox within "
                         + wait_text(st.wait);
    if (there)
      v.latency_us = st.arrivals.front();
  }
  st.out->set(std::move(v));
  self->quit();
}

/// One inbox request of the current round answered.
void delivery_answered(delivery_ptr self, uint64_t round) {
  auto& st = self->state;
  if (--st.pending > 0)
    return;
  bool all = std::all_of(st.arrivals.begin(), st.arrivals.end(),
                         [](const auto& x) { return x.has_value(); });
  if (st.confirm) {
    // Read once the outcome is known: the inbox says when the text came.
    if (st.last_round)
      finish_delivery(self, true);
    return;
  }
  if (all || self->clock().now() - st.started >= st.wait) {
    finish_delivery(self, true);
    return;
  }
  self->delayed_send(self, 50ms, tick_atom::value, round + 1);
}

/// A confirmed send's answer came: read the inbox once for the verdict.
void conclude_confirmation(delivery_ptr self, const send_result& c) {
  auto& st = self->state;
  if (st.last_round)
    return; // `wait` passed first
  st.confirmation = c;
  st.last_round = true;
  self->send(self, tick_atom::value, uint64_t{0});
}

std::shared_ptr<outcome_box>
probe_send(caf::actor_system& sys, node_actor from, delivery_state init_state,
           std::string text) {
  auto out = std::make_shared<outcome_box>();
  auto init = std::make_shared<delivery_state>(std::move(init_state));
  init->out = out;
  sys.spawn([init, from, text](delivery_ptr self) -> caf::behavior {
    auto& st = self->state;
    st = std::move(*init);
    st.arrivals.assign(st.targets.size(), std::nullopt);
    st.started = self->clock().now();
    self->request(from, 10s, send_atom::value, st.dest, text)
      .then(
        [self, from](const send_result& r) {
          if (!r.accepted) {
            finish_delivery(self, false);
            return;
          }
          auto& st = self->state;
          st.id = r.id;
          if (!st.confirm) {
            self->send(self, tick_atom::value, uint64_t{0});
            return;
          }
          // The origin answers within its delivery_timeout_ms; the event
          // waits `wait` for it at most.
          self->request(from, st.wait + 10s, confirm_atom::value, r.id)
            .then(
              [self](const send_result& c) {
                conclude_confirmation(self, c);
              },
              [self](const caf::error& e) {
                conclude_confirmation(
                  self, send_result{true, self->state.id, describe(e)});
              });
          self->delayed_send(self, st.wait, tick_atom::value,
                             std::numeric_limits<uint64_t>::max());
        },
        [self](const caf::error&) { finish_delivery(self, false); });
    return {
      [self](tick_atom, uint64_t round) {
        auto& st = self->state;
        if (st.confirm && round == std::numeric_limits<uint64_t>::max()) {
          if (st.last_round)
            return; // the answer came first: its read is under way
          st.last_round = true; // `wait` passed without an answer
        }
        st.pending = 1; // released below, after every request is out
        for (size_t i = 0; i < st.targets.size(); ++i) {
          if (st.arrivals[i] || !st.targets[i])
            continue;
          ++st.pending;
          self->request(st.targets[i], 10s, inbox_atom::value, uint32_t{1000})
            .then(
              [self, i, round](const std::vector<inbox_entry>& inbox) {
                auto& st = self->state;
                auto sent_us = duration_cast<microseconds>(
                                 st.started.time_since_epoch() + st.unix_offset)
                                 .count();
                for (auto& e : inbox)
                  if (e.from == st.origin && e.id == st.id) {
                    // Inboxes keep milliseconds: exact to 1 ms.
                    auto us = e.received_ms * 1000 - sent_us;
                    st.arrivals[i] = static_cast<uint64_t>(std::max<int64_t>(us, 0));
                    break;
                  }
                delivery_answered(self, round);
              },
              [self, round](const caf::error&) {
                delivery_answered(self, round);
              });
        }
        delivery_answered(self, round);
      },
    };
  });
  return out;
}

/// Stops a node after taking its counters; `stats` holds them.
std::shared_ptr<box<std::optional<node_stats>>> probe_kill(caf::actor_system& sys,
                                                           node_actor node) {
  auto out = std::make_shared<box<std::optional<node_stats>>>();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(node, 10s, stats_atom::value)
      .then(
        [=](const node_stats& s) {
          self->request(node, 10s, shutdown_atom::value)
            .then([=](bool) { out->set(s); },
                  [=](const caf::error&) { out->set(s); });
        },
        [=](const caf::error&) {
          self->send(node, shutdown_atom::value);
          out->set(std::nullopt);
        });
  });
  return out;
}

// -- the driver -----------------------------------------------------------------

class driver {
public:
  driver(const scenario& sc, const sim_options& opts, std::ostream& log,
         sim_report& report)
    : sc_(sc), opts_(opts), log_(log), report_(report) {
  }

  int run();

private:
  size_t size() const { return sc_.graph.nodes.size(); }
  const std::string& name(size_t i) const { return sc_.graph.nodes[i]; }

  void say(const std::string& text) {
    log_ << "quilt-sim: " << text << '\n' << std::flush;
    next_progress_ = steady_clock::now() + 2s;
  }

  /// Prints what() when nothing was printed for 2 s of wall time, so a long
  /// phase always shows signs of life.
  template <class F>
  void every_2s(F what) {
    if (steady_clock::now() >= next_progress_)
      say(what());
  }

  /// Simulated time since t = 0 (full routes), in ms.
  int64_t sim_ms(time_point t) const {
    return duration_cast<milliseconds>(t - t0_).count();
  }
  int64_t sim_ms() const { return sim_ms(clock_->now()); }

  /// --dot's picture of the mesh as it stands now, labelled as at `at_ms`.
  std::string picture(int64_t at_ms) const {
    return sim_dot(sc_, alive_, cut_, "t=" + std::to_string(at_ms) + " ms");
  }

  void make_system();
  node_config config_of(size_t i) const;
  std::optional<std::string> start(size_t i);
  std::vector<node_actor> live_handles() const;
  bool converge();
  /// The nodes reachable from `origin` now, over links that work, among
  /// nodes up (running, not stalled); not the origin itself. Sorted.
  std::vector<size_t> reachable_from(size_t origin) const;
  /// Every up node's routes against the truth: how many are right.
  struct route_check {
    size_t right = 0;
    size_t up = 0;
    bool answered = true; ///< false: a node did not answer in 30 s
  };
  route_check check_routes();
  /// The observer (sim_clock::observe): timeline samples and the checks
  /// that give fault events their reconverged_ms. Returns when to run next.
  time_point observe(time_point now);
  /// A fault event at `index` happened now: measure its reconvergence.
  void fault_at(size_t index);
  /// What the truth says about link k after a cut, heal or degrade.
  void update_link_truth(size_t k);
  void stall(size_t i, uint64_t ms);
  void degrade(const sim_event& ev);
  /// Judges a broadcast's outcome against the nodes still reachable.
  void judge_broadcast(size_t index, const std::vector<size_t>& targets,
                       outcome_value& v);
  milliseconds check_every() const;
  void launch(const sim_event& ev, size_t index);
  void kill(size_t i);
  std::pair<bool, std::string> restart(size_t i);
  void collect_outcomes(bool all);
  void audit_deliveries();
  void final_counts();
  void teardown();
  size_t index_of(const std::string& n) const;
  size_t link_index(const std::string& a, const std::string& b) const;
  void set_cut(size_t link, bool cut);
  bool open_console();
  std::optional<std::string> reserve_ports();
  void release_port(size_t i);
  void serve_console();

  const scenario& sc_;
  const sim_options& opts_;
  std::ostream& log_;
  sim_report& report_;

  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<sim_clock> clock_;
  std::shared_ptr<transport> net_;
  /// net_ as the simulation's network (SPEC §13): every transport runs
  /// under it; its delays, jitter, loss and bandwidth on direct only.
  std::shared_ptr<conditioned_transport> model_;
  /// The bytes of messages in flight, all nodes together (SPEC §14
  /// "Memory"): the simulation's own, so that runs in one process (tests)
  /// do not share one.
  std::shared_ptr<byte_budget> budget_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<node_actor> nodes_;
  std::vector<bool> alive_;
  std::vector<bool> cut_;
  std::string picture_; ///< --dot-at's picture, once taken
  std::vector<std::vector<std::pair<size_t, size_t>>> links_of_; // (peer, link)
  node_stats retired_;
  microseconds unix_offset_{0}; ///< Deterministic runs: virtual unix time.
  /// tcp: a bound socket per node's port until the node binds it, so the
  /// kernel never hands one out as the source port of another node's
  /// connection (ports from 32768 up are in Linux's ephemeral range).
  std::vector<int> reserved_;
  std::shared_ptr<sim_directory> dir_;
  node_actor console_;

  struct pending_event {
    size_t index;
    std::shared_ptr<outcome_box> box;
    std::vector<size_t> targets; ///< broadcast: the nodes it was sent to
  };
  std::deque<pending_event> pending_;
  /// send and broadcast ids with their origin, for the duplicate audit.
  std::vector<std::pair<std::string, uint64_t>> sent_;
  time_point t0_{};
  /// What the simulation knows that the nodes do not; shared with the
  /// nodes' on_peer_down, which may run on any thread.
  std::shared_ptr<sim_truth> truth_;
  /// Fault events waiting for every route to be right again: (event, when).
  std::vector<std::pair<size_t, time_point>> unconverged_;
  time_point next_check_ = time_point::max();
  time_point next_sample_ = time_point::max();
  uint64_t seen_tx_ = 0;
  uint64_t seen_lost_ = 0;
  /// Timeline samples, stamped with their clock time until t0 is known.
  std::vector<std::pair<time_point, sim_sample>> samples_;
  steady_clock::time_point next_progress_ = steady_clock::now() + 2s;
  steady_clock::time_point wall_start_ = steady_clock::now();
};

void driver::make_system() {
  cfg_ = std::make_unique<caf::actor_system_config>();
  configure_actor_system(*cfg_);
  // Many nodes share these workers. Work stealing runs what a worker just
  // scheduled first, so a flood races ahead depth-first: some nodes' links
  // back up to their limit and drop (counted, but a dropped advertisement
  // or broadcast copy is gone; 1,000 direct nodes lost up to 3.6% of a
  // broadcast that way under load). A global first-in first-out queue
  // keeps every node's share fair.
  cfg_->set("scheduler.policy", caf::atom(sc_.deterministic ? "testing"
                                                             : "sharing"));
  if (opts_.console_port)
    cfg_->load<caf::io::middleman>();
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
  clock_ = std::make_unique<sim_clock>(*sys_, sc_.deterministic);
  if (sc_.deterministic) {
    sys_->await_actors_before_shutdown(false);
    unix_offset_ = virtual_epoch
                   - duration_cast<microseconds>(
                     clock_->now().time_since_epoch());
  } else {
    unix_offset_ = duration_cast<microseconds>(
                     system_clock::now().time_since_epoch())
                   - duration_cast<microseconds>(
                     clock_->now().time_since_epoch());
  }
  switch (sc_.transport) {
    case sim_transport::direct:
      net_ = std::make_shared<direct_transport>();
      break;
    case sim_transport::inproc:
      net_ = std::make_shared<zmq_transport>(zmq_transport::scheme::inproc);
      break;
    case sim_transport::tcp:
      net_ = std::make_shared<zmq_transport>(zmq_transport::scheme::tcp);
      break;
  }
  budget_ = std::make_shared<byte_budget>(
    opts_.budget_bytes.value_or(byte_budget::default_process_bytes()));
  model_ = std::make_shared<conditioned_transport>(*sys_, net_, sc_.seed,
                                                   sc_.network.defaults);
  for (auto& l : sc_.network.links)
    model_->change(l.a, l.b, l.change);
  net_ = model_;
}

node_config driver::config_of(size_t i) const {
  node_config c = sc_.defaults;
  c.name = name(i);
  c.console_port = 0;
  c.level = log_level::warning;
  auto where = [&](size_t k, std::string& address, uint16_t& port) {
    if (sc_.transport == sim_transport::tcp) {
      address = "127.0.0.1";
      port = static_cast<uint16_t>(sc_.base_port + k);
    } else {
      // In-process endpoints: the name keeps them apart, whatever the size.
      address = name(k);
      port = sc_.base_port;
    }
  };
  where(i, c.host, c.port);
  c.advertise = c.host;
  // Each link is dialled by its smaller-indexed end (the other learns it
  // from the server_connect and dials back).
  for (auto [peer, link] : links_of_[i]) {
    if (peer < i)
      continue;
    peer_config p;
    where(peer, p.address, p.port);
    c.peers.push_back(p);
  }
  return c;
}

std::optional<std::string> driver::start(size_t i) {
  node_options o;
  // Ids and inbox times follow the simulation's clock, salted by the seed.
  // One offset for the whole run: a node restarted later starts later on
  // the same unix clock, so its ids are above its former self's.
  if (sc_.deterministic)
    o.unix_offset = unix_offset_;
  o.id_salt = sc_.seed * 1000003 + i;
  o.budget = budget_;
  // Every down a node declares is judged against the truth (false_downs).
  o.on_peer_down = [truth = truth_, sys = sys_.get(), i](const std::string& n) {
    truth->peer_down(i, n, sys->clock().now());
  };
  release_port(i);
  auto res = start_node(*sys_, config_of(i), net_, o);
  if (auto err = std::get_if<std::string>(&res))
    return *err;
  nodes_[i] = std::get<node_actor>(res);
  alive_[i] = true;
  truth_->set_alive(i, true, clock_->now());
  if (dir_)
    dir_->set(i, nodes_[i]);
  return std::nullopt;
}

std::vector<node_actor> driver::live_handles() const {
  std::vector<node_actor> result(size());
  for (size_t i = 0; i < size(); ++i)
    if (alive_[i])
      result[i] = nodes_[i];
  return result;
}

size_t driver::index_of(const std::string& n) const { return index_.at(n); }

size_t driver::link_index(const std::string& a, const std::string& b) const {
  auto ia = index_of(a);
  auto ib = index_of(b);
  for (auto [peer, link] : links_of_[ia])
    if (peer == ib)
      return link;
  return sc_.graph.links.size(); // the loader rejects unknown links
}

void driver::set_cut(size_t link, bool cut) {
  if (link >= cut_.size())
    return;
  cut_[link] = cut;
  auto [a, b] = sc_.graph.links[link];
  model_->set_cut(name(a), name(b), cut);
  update_link_truth(link);
}

void driver::update_link_truth(size_t k) {
  auto [a, b] = sc_.graph.links[k];
  // A link at loss 1.0 (either way) is as good as cut (SPEC §13).
  bool works = !cut_[k] && model_->params(name(a), name(b)).loss < 1.0
               && model_->params(name(b), name(a)).loss < 1.0;
  truth_->set_link(k, works, clock_->now());
}

milliseconds driver::check_every() const {
  if (sc_.deterministic)
    return reconverge_check;
  // Each check asks every node: a large mesh on real time is asked less
  // often, so that checking does not slow down what it checks.
  return std::max(milliseconds(100),
                  milliseconds(static_cast<int64_t>(size() / 20)));
}

driver::route_check driver::check_routes() {
  auto now = clock_->now();
  auto want = truth_->expected(now); // a copy: the truth may move on
  std::vector<node_actor> ask(size());
  for (size_t i = 0; i < size(); ++i)
    if (want[i])
      ask[i] = nodes_[i];
  // Every node of a component must hold an advertisement from each of its
  // members before its routes can be right: until then nodes answer from
  // that count alone, without computing routes.
  auto answers = gather<node_summary>(*sys_, ask, summary_atom::value,
                                      truth_->smallest_component(now));
  clock_->wait([&] { return answers->ready(); });
  route_check r;
  if (!answers->ready()) {
    r.answered = false;
    return r;
  }
  for (size_t i = 0; i < size(); ++i) {
    if (!want[i])
      continue;
    ++r.up;
    auto& got = answers->values[i];
    if (got && got->routes == want[i]->routes
        && got->hop_sum == want[i]->hop_sum)
      ++r.right;
  }
  return r;
}

time_point driver::observe(time_point now) {
  bool sample = sc_.sample_ms > 0 && now >= next_sample_;
  bool check = !unconverged_.empty() && now >= next_check_;
  if (sample || check) {
    auto r = check_routes();
    if (check && r.answered && r.right == r.up) {
      for (auto& [index, since] : unconverged_)
        report_.events[index].reconverged_ms = static_cast<uint64_t>(
          duration_cast<milliseconds>(now - since).count());
      unconverged_.clear();
    }
    if (check)
      next_check_ = now + check_every();
    if (sample) {
      sim_sample x;
      x.nodes_converged = r.right;
      auto tx = model_->transmissions();
      auto lost = model_->lost();
      x.messages = tx - seen_tx_;
      x.lost = lost - seen_lost_;
      seen_tx_ = tx;
      seen_lost_ = lost;
      samples_.emplace_back(now, x);
      auto every = milliseconds(sc_.sample_ms);
      while (next_sample_ <= now)
        next_sample_ += every;
    }
  }
  auto next = sc_.sample_ms > 0 ? next_sample_ : time_point::max();
  if (!unconverged_.empty())
    next = std::min(next, next_check_);
  return next;
}

void driver::fault_at(size_t index) {
  auto now = clock_->now();
  report_.events[index].fault = true;
  unconverged_.emplace_back(index, now);
  // Checked at once: a change the routes need not follow (a slower link)
  // has reconverged_ms 0.
  next_check_ = now;
  clock_->observe_by(now);
}

std::vector<size_t> driver::reachable_from(size_t origin) const {
  auto adj = truth_->adjacency(clock_->now());
  std::vector<bool> seen(size(), false);
  std::vector<size_t> order{origin};
  seen[origin] = true;
  for (size_t k = 0; k < order.size(); ++k)
    for (auto v : adj[order[k]])
      if (!seen[v]) {
        seen[v] = true;
        order.push_back(v);
      }
  order.erase(order.begin()); // not the origin itself
  std::sort(order.begin(), order.end());
  return order;
}

bool driver::converge() {
  auto start = clock_->now();
  auto deadline = start + milliseconds(opts_.converge_limit_ms);
  auto interval = sc_.deterministic ? milliseconds(50) : check_every();
  for (;;) {
    auto r = check_routes();
    if (!r.answered) {
      // A node did not answer in 30 s: ask again, unless time is up (a
      // mesh too busy to answer never converges, and must not hang here).
      if (clock_->now() >= deadline || stop_signal != 0) {
        say("routes did not converge within "
            + std::to_string(opts_.converge_limit_ms / 1000)
            + " s (nodes too busy to answer)");
        return false;
      }
      clock_->run_for(interval, [&] { return stop_signal != 0; });
      continue;
    }
    // Found after the deadline is too late, however close.
    if (r.right == r.up && clock_->now() <= deadline) {
      auto ms = duration_cast<milliseconds>(clock_->now() - start).count();
      report_.converged_ms = static_cast<uint64_t>(ms);
      say("converged: every node has full routes after " + std::to_string(ms)
          + " ms" + (sc_.deterministic ? " of virtual time" : "") + " ("
          + std::to_string(duration_cast<milliseconds>(steady_clock::now()
                                                       - wall_start_)
                             .count())
          + " ms since start)");
      return true;
    }
    every_2s([&] {
      return "converging: " + std::to_string(r.right) + "/"
             + std::to_string(r.up) + " nodes have full routes";
    });
    if (clock_->now() >= deadline || stop_signal != 0) {
      say((stop_signal != 0 ? std::string{"interrupted before routes converged"}
                            : "routes did not converge within "
                                + std::to_string(opts_.converge_limit_ms / 1000)
                                + " s")
          + " (" + std::to_string(r.right) + "/" + std::to_string(r.up)
          + " nodes had full routes)");
      return false;
    }
    clock_->run_for(interval, [&] { return stop_signal != 0; });
  }
}

void driver::kill(size_t i) {
  if (!alive_[i])
    return;
  alive_[i] = false;
  truth_->set_alive(i, false, clock_->now());
  auto b = probe_kill(*sys_, nodes_[i]);
  // The probe asks for stats, then for the shutdown, 10 s each at most.
  clock_->wait([&] { return b->ready(); }, 25s);
  if (b->ready() && b->value)
    retired_ += *b->value;
  nodes_[i] = node_actor{};
  if (dir_)
    dir_->set(i, {});
}

std::pair<bool, std::string> driver::restart(size_t i) {
  bool was_alive = alive_[i];
  kill(i);
  // The old listener closes asynchronously: try binding for a moment.
  std::optional<std::string> err;
  auto until = clock_->now() + 3s;
  do {
    err = start(i);
    if (!err)
      break;
    clock_->run_for(10ms);
  } while (clock_->now() < until);
  if (err)
    return {false, "cannot restart: " + *err};
  return {true, was_alive ? "restarted " + name(i) + " (it was running)"
                          : "restarted " + name(i)};
}

void driver::launch(const sim_event& ev, size_t index) {
  auto& out = report_.events[index];
  auto ttl = static_cast<uint8_t>(sc_.defaults.default_ttl);
  auto wait = milliseconds(ev.within_ms);
  auto node_of = [&](const std::string& n) {
    auto i = index_of(n);
    return alive_[i] ? nodes_[i] : node_actor{};
  };
  auto immediate = [&](std::string detail, bool ok = true) {
    out.ok = ok;
    out.detail = std::move(detail);
    say("t=" + std::to_string(ev.at_ms) + " ms " + to_string(ev.action) + " "
        + (ok ? "ok" : "FAILED") + ": " + out.detail);
  };
  auto fault = [&](std::string detail, bool ok = true) {
    fault_at(index);
    immediate(std::move(detail), ok);
  };
  // A stalled node answers nothing, so it starts nothing either.
  auto cannot_start = [&](const std::string& n) -> bool {
    auto i = index_of(n);
    if (alive_[i] && truth_->up(i, clock_->now()))
      return false;
    out.ok = meets(ev.expect, false);
    out.detail = "unreachable: " + n
                 + (alive_[i] ? " is stalled" : " is not running");
    say("t=" + std::to_string(ev.at_ms) + " ms " + to_string(ev.action) + " "
        + (out.ok ? "ok" : "FAILED") + ": " + out.detail);
    return true;
  };
  switch (ev.action) {
    case sim_action::ping:
    case sim_action::traceroute: {
      if (cannot_start(ev.from))
        return;
      auto from = nodes_[index_of(ev.from)];
      auto b = ev.action == sim_action::ping
                 ? probe_ping(*sys_, from, ev.to, ttl, ev.expect, wait)
                 : probe_traceroute(*sys_, from, ev.to, ttl, ev.expect, wait);
      pending_.push_back({index, b, {}});
      return;
    }
    case sim_action::send:
    case sim_action::broadcast: {
      if (cannot_start(ev.from))
        return;
      auto from = nodes_[index_of(ev.from)];
      delivery_state d;
      std::vector<size_t> indices;
      if (ev.action == sim_action::send) {
        d.targets.push_back(node_of(ev.to));
        d.names.push_back(ev.to);
      } else {
        indices = reachable_from(index_of(ev.from));
        for (auto k : indices) {
          d.targets.push_back(nodes_[k]);
          d.names.push_back(name(k));
        }
      }
      // A target that is not running stays in the list as an empty
      // handle: never asked, never found, so the send is not delivered.
      d.origin = ev.from;
      d.dest = ev.action == sim_action::send ? ev.to : "all";
      d.expect = ev.expect;
      d.wait = wait;
      d.confirm = ev.action == sim_action::send && ev.to != ev.from
                  && config_of(index_of(ev.from)).delivery_timeout_ms > 0;
      d.unix_offset = unix_offset_;
      auto b = probe_send(*sys_, from, std::move(d), ev.text);
      pending_.push_back({index, b, std::move(indices)});
      return;
    }
    case sim_action::kill: {
      bool was = alive_[index_of(ev.node)];
      kill(index_of(ev.node));
      return fault(was ? "killed " + ev.node : ev.node + " was not running");
    }
    case sim_action::restart: {
      auto [ok, detail] = restart(index_of(ev.node));
      return fault(detail, ok);
    }
    case sim_action::cut:
      set_cut(link_index(ev.a, ev.b), true);
      return fault("cut " + ev.a + "-" + ev.b);
    case sim_action::heal:
      set_cut(link_index(ev.a, ev.b), false);
      return fault("healed " + ev.a + "-" + ev.b);
    case sim_action::partition: {
      std::vector<bool> in_side(size(), false);
      for (auto& n : ev.side)
        in_side[index_of(n)] = true;
      size_t n = 0;
      for (size_t k = 0; k < sc_.graph.links.size(); ++k) {
        auto [a, b] = sc_.graph.links[k];
        if (in_side[a] != in_side[b]) {
          set_cut(k, true);
          ++n;
        }
      }
      return fault("partitioned " + std::to_string(ev.side.size())
                   + " nodes from the rest (" + std::to_string(n)
                   + " links cut)");
    }
    case sim_action::heal_all: {
      size_t n = static_cast<size_t>(std::count(cut_.begin(), cut_.end(), true));
      std::fill(cut_.begin(), cut_.end(), false);
      model_->heal_all();
      for (size_t k = 0; k < cut_.size(); ++k)
        update_link_truth(k);
      return fault("healed " + std::to_string(n) + " links");
    }
    case sim_action::degrade:
      degrade(ev);
      return fault(ev.a.empty() ? "degraded every link"
                                : "degraded " + ev.a + "-" + ev.b);
    case sim_action::stall: {
      auto i = index_of(ev.node);
      if (!alive_[i])
        return fault(ev.node + " was not running");
      stall(i, ev.duration_ms);
      return fault("stalled " + ev.node + " for "
                   + std::to_string(ev.duration_ms) + " ms");
    }
  }
}

void driver::degrade(const sim_event& ev) {
  if (ev.a.empty()) {
    model_->change_all(ev.change);
    for (size_t k = 0; k < cut_.size(); ++k)
      update_link_truth(k);
    return;
  }
  model_->change(ev.a, ev.b, ev.change);
  update_link_truth(link_index(ev.a, ev.b));
}

void driver::stall(size_t i, uint64_t ms) {
  auto now = clock_->now();
  auto until = now + milliseconds(ms);
  // What is sent to it waits in the network; its timers wait in its
  // protocol actor (the one that has any).
  model_->stall(name(i), until);
  truth_->stall(i, until);
  sys_->spawn([node = nodes_[i], ms](caf::event_based_actor* self) {
    self->request(node, 10s, children_atom::value)
      .then([self, ms](const std::vector<caf::actor>& children) {
        if (!children.empty())
          self->send(children.front(), stall_atom::value, ms);
      });
  });
}

void driver::judge_broadcast(size_t index, const std::vector<size_t>& targets,
                             outcome_value& v) {
  // Judged against the nodes reachable from the origin now, at the end of
  // its wait: a node killed or cut off after it left is not missing.
  auto& ev = sc_.events[index];
  auto still = reachable_from(index_of(ev.from));
  size_t count = 0;
  size_t reached = 0;
  uint64_t slowest = 0;
  std::string first_missing;
  for (size_t j = 0; j < targets.size() && j < v.arrivals.size(); ++j) {
    if (!std::binary_search(still.begin(), still.end(), targets[j]))
      continue;
    ++count;
    if (v.arrivals[j]) {
      ++reached;
      slowest = std::max(slowest, *v.arrivals[j]);
    } else if (first_missing.empty()) {
      first_missing = name(targets[j]);
    }
  }
  bool all = reached == count;
  v.ok = meets(ev.expect, all);
  v.detail = "reached " + std::to_string(reached) + "/" + std::to_string(count)
             + " live nodes";
  if (!all)
    v.detail += ", first missing: " + first_missing;
  if (all)
    v.latency_us = slowest;
}

void driver::collect_outcomes(bool all) {
  while (!pending_.empty()) {
    auto& p = pending_.front();
    if (!p.box->ready()) {
      if (!all)
        return;
      clock_->wait(
        [&] {
          every_2s([&] {
            return "t=" + std::to_string(sim_ms()) + " ms: waiting for "
                   + std::to_string(pending_.size()) + " event outcomes";
          });
          return p.box->ready() || stop_signal != 0;
        },
        120s);
      if (!p.box->ready()) {
        report_.events[p.index].ok = false;
        report_.events[p.index].detail = stop_signal != 0
                                           ? "no outcome: interrupted"
                                           : "no outcome: the probe never "
                                             "answered";
        pending_.pop_front();
        continue;
      }
    }
    auto& v = p.box->value;
    if (sc_.events[p.index].action == sim_action::broadcast && v.detail.empty())
      judge_broadcast(p.index, p.targets, v);
    auto& out = report_.events[p.index];
    out.ok = v.ok;
    out.detail = v.detail;
    out.latency_us = v.latency_us;
    auto& ev = sc_.events[p.index];
    if (v.message_id != 0)
      sent_.emplace_back(ev.from, v.message_id);
    say("t=" + std::to_string(ev.at_ms) + " ms " + to_string(ev.action) + " "
        + ev.from + (ev.to.empty() || ev.action == sim_action::broadcast
                       ? ""
                       : " -> " + ev.to)
        + " " + (out.ok ? "ok" : "FAILED") + ": " + out.detail);
    pending_.pop_front();
  }
}

void driver::audit_deliveries() {
  // Every message a send or broadcast event made, counted in every live
  // node's inbox: more than once anywhere is a duplicate delivery.
  if (sent_.empty())
    return;
  auto inboxes = gather<std::vector<inbox_entry>>(*sys_, live_handles(),
                                                  inbox_atom::value,
                                                  uint32_t{1000});
  clock_->wait([&] { return inboxes->ready(); });
  if (!inboxes->ready()) {
    say("the duplicate audit is incomplete: a node did not answer in 30 s");
    return;
  }
  for (auto& inbox : inboxes->values) {
    if (!inbox)
      continue;
    for (auto& sent : sent_) {
      auto n = std::count_if(inbox->begin(), inbox->end(), [&](auto& e) {
        return e.id == sent.second && e.from == sent.first;
      });
      if (n > 1)
        report_.duplicate_deliveries += static_cast<uint64_t>(n - 1);
    }
  }
}

void driver::final_counts() {
  auto stats = gather<node_stats>(*sys_, live_handles(), stats_atom::value);
  clock_->wait([&] { return stats->ready(); });
  node_stats total = retired_;
  if (stats->ready()) {
    for (auto& s : stats->values)
      if (s)
        total += *s;
  } else {
    say("the totals leave out running nodes: one did not answer in 30 s");
  }
  report_.messages = total.tx_by_command;
  report_.deliveries = total.delivered;
  report_.drops = total;
  report_.topology_nodes.clear();
  report_.topology_links.clear();
  // In the scenario's order: n0, n1, ... as generated.
  for (size_t i = 0; i < size(); ++i)
    if (alive_[i])
      report_.topology_nodes.push_back(name(i));
  for (size_t k = 0; k < sc_.graph.links.size(); ++k) {
    auto [a, b] = sc_.graph.links[k];
    if (!cut_[k] && alive_[a] && alive_[b])
      report_.topology_links.emplace_back(name(a), name(b));
  }
}

bool driver::open_console() {
  auto port = *opts_.console_port;
  auto where = "127.0.0.1:" + std::to_string(port);
  if (auto problem = console_port_problem("127.0.0.1", port); !problem.empty()) {
    say("cannot open the console on " + where + ": " + problem);
    return false;
  }
  dir_ = std::make_shared<sim_directory>(sc_.graph.nodes);
  console_ = spawn_sim_console(*sys_, dir_);
  // From the driver's own thread, never a scheduler's: publishing may block.
  auto published = sys_->middleman().publish(console_, port, "127.0.0.1", true);
  if (!published) {
    say("cannot open the console on " + where + ": "
        + describe(published.error()));
    return false;
  }
  say("console on " + where + ": quilt-console --port " + std::to_string(port)
      + " nodes (or --node NAME COMMAND)");
  return true;
}

void driver::serve_console() {
  auto port = std::to_string(*opts_.console_port);
  say("still running for the console: quilt-console --port " + port
      + " shutdown, SIGINT or SIGTERM ends the simulation");
  while (!clock_->run_for(100ms, [&] {
    return stop_signal != 0 || dir_->shutdown_requested.load();
  })) {
  }
  say(stop_signal != 0 ? "signal received: stopping the simulation"
                       : "the console asked to stop: stopping the simulation");
}

std::optional<std::string> driver::reserve_ports() {
  if (sc_.transport != sim_transport::tcp)
    return std::nullopt;
  reserved_.assign(size(), -1);
  for (size_t i = 0; i < size(); ++i) {
    auto port = static_cast<uint16_t>(sc_.base_port + i);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      std::string err = std::strerror(errno);
      if (fd >= 0)
        close(fd);
      return "cannot start " + name(i) + ": port " + std::to_string(port)
             + " on 127.0.0.1 is taken (" + err + ")"
             + (port >= 32768 ? "; ports from 32768 up are Linux's ephemeral "
                                "range, where connections come and go: pick "
                                "simulation.base_port so that every node's "
                                "port stays below 32768"
                              : "");
    }
    reserved_[i] = fd;
  }
  return std::nullopt;
}

void driver::release_port(size_t i) {
  if (i < reserved_.size() && reserved_[i] >= 0) {
    close(reserved_[i]);
    reserved_[i] = -1;
  }
}

void driver::teardown() {
  for (size_t i = 0; i < reserved_.size(); ++i)
    release_port(i);
  if (console_)
    caf::anon_send_exit(console_, caf::exit_reason::user_shutdown);
  for (size_t i = 0; i < size(); ++i)
    if (alive_[i])
      caf::anon_send(nodes_[i], shutdown_atom::value);
  nodes_.clear();
  if (clock_->deterministic()) {
    clock_->drain();
  } else {
    sys_->await_all_actors_done();
  }
  // Nodes first, then the transport they used, then the actor system.
  model_.reset();
  net_.reset();
  clock_.reset();
  sys_.reset();
  // Every credit has come back by now (handled, dropped, or destroyed with
  // a mailbox): what is left would be a leak in the bound.
  report_.budget_left_bytes = budget_->used();
}

int driver::run() {
  report_.scenario = sc_.path;
  report_.seed = sc_.seed;
  report_.transport = sc_.transport;
  report_.deterministic = sc_.deterministic;
  report_.nodes = size();
  report_.links = sc_.graph.links.size();
  for (size_t i = 0; i < size(); ++i)
    index_[name(i)] = i;
  links_of_.resize(size());
  for (size_t k = 0; k < sc_.graph.links.size(); ++k) {
    auto [a, b] = sc_.graph.links[k];
    links_of_[a].emplace_back(b, k);
    links_of_[b].emplace_back(a, k);
  }
  cut_.assign(sc_.graph.links.size(), false);
  nodes_.resize(size());
  alive_.assign(size(), false);
  set_log_level(log_level::warning);
  make_system();
  truth_ = std::make_shared<sim_truth>(
    sc_.graph, milliseconds(sc_.defaults.dead_after_ms));
  say("starting " + std::to_string(size()) + " nodes, "
      + std::to_string(report_.links) + " links (" + sc_.kind + ", "
      + to_string(sc_.transport) + (sc_.deterministic ? ", deterministic" : "")
      + ", seed " + std::to_string(sc_.seed) + ")");
  auto wall = [&] {
    return std::to_string(
      duration_cast<milliseconds>(steady_clock::now() - wall_start_).count());
  };
  int status = 0;
  if (opts_.console_port && !open_console()) {
    teardown();
    return 1;
  }
  if (auto err = reserve_ports()) {
    say(*err);
    teardown();
    return 1;
  }
  for (size_t i = 0; i < size(); ++i) {
    if (auto err = start(i)) {
      say("cannot start " + name(i) + ": " + *err);
      teardown();
      return 1;
    }
  }
  say(std::to_string(size()) + " nodes up after " + wall() + " ms");
  // The timeline starts now; its samples before full routes are negative.
  next_sample_ = clock_->now();
  clock_->observe([this](time_point now) { return observe(now); });
  for (size_t i = 0; i < sc_.events.size(); ++i) {
    sim_outcome o;
    o.at_ms = sc_.events[i].at_ms;
    o.action = sc_.events[i].action;
    report_.events.push_back(o);
  }
  bool converged = converge();
  t0_ = clock_->now();
  if (!converged) {
    status = 1;
    for (auto& o : report_.events)
      o.detail = "not run: routes never converged";
  } else {
    // From here samples fall on t = 0, sample_ms, 2 sample_ms, ...
    if (sc_.sample_ms > 0) {
      bool taken = !samples_.empty() && samples_.back().first == t0_;
      next_sample_ = taken ? t0_ + milliseconds(sc_.sample_ms) : t0_;
      clock_->observe_by(next_sample_);
    }
    for (size_t i = 0; i < sc_.events.size(); ++i) {
      auto& ev = sc_.events[i];
      clock_->run_until(t0_ + milliseconds(ev.at_ms), [&] {
        collect_outcomes(false);
        every_2s([&] {
          return "t=" + std::to_string(sim_ms()) + " ms: next event at "
                 + std::to_string(ev.at_ms) + " ms ("
                 + std::to_string(pending_.size()) + " outcomes pending)";
        });
        return stop_signal != 0;
      });
      if (stop_signal != 0) {
        say("signal received: the remaining events do not run");
        for (size_t k = i; k < sc_.events.size(); ++k)
          report_.events[k].detail = "not run: interrupted";
        break;
      }
      // The mesh changes only at events: before the first one after
      // --dot-at it stands as it did then.
      if (opts_.dot_at_ms && ev.at_ms > *opts_.dot_at_ms && picture_.empty())
        picture_ = picture(*opts_.dot_at_ms);
      launch(ev, i);
    }
    collect_outcomes(true);
    auto settled = clock_->now() + milliseconds(sc_.settle_ms);
    clock_->run_until(settled, [&] {
      every_2s([&] {
        return "t=" + std::to_string(sim_ms()) + " ms: settling until t="
               + std::to_string(sim_ms(settled)) + " ms";
      });
      return stop_signal != 0;
    });
  }
  clock_->stop_observing();
  if (converged)
    audit_deliveries();
  final_counts();
  report_.network_lost = model_->lost();
  report_.false_downs = truth_->false_downs();
  for (auto& [at, x] : samples_) {
    x.t_ms = duration_cast<milliseconds>(at - t0_).count();
    report_.timeline.push_back(x);
  }
  for (auto& o : report_.events)
    if (!o.ok)
      status = 1;
  if (report_.duplicate_deliveries > 0)
    status = 1;
  report_.peak_rss_bytes = peak_rss_bytes();
  report_.wall_ms = static_cast<uint64_t>(
    duration_cast<milliseconds>(steady_clock::now() - wall_start_).count());
  auto json = report_.to_json();
  if (opts_.report_path.empty()) {
    std::cout << json << '\n' << std::flush;
  } else {
    std::ofstream f{opts_.report_path};
    f << json << '\n';
    if (!f) {
      say("cannot write the report to " + opts_.report_path);
      status = 1;
    } else {
      say("report written to " + opts_.report_path);
    }
  }
  if (!opts_.dot_path.empty()) {
    std::ofstream f{opts_.dot_path};
    if (picture_.empty())
      picture_ = picture(opts_.dot_at_ms
                           ? static_cast<int64_t>(*opts_.dot_at_ms)
                           : sim_ms());
    f << picture_;
    if (!f) {
      say("cannot write the picture to " + opts_.dot_path);
      status = 1;
    }
  }
  size_t held = static_cast<size_t>(
    std::count_if(report_.events.begin(), report_.events.end(),
                  [](const sim_outcome& o) { return o.ok; }));
  report_.budget_limit_bytes = budget_->limit();
  report_.budget_peak_bytes = budget_->peak();
  report_.budget_refused = budget_->refused();
  say("messages in flight: at most " + std::to_string(budget_->peak() >> 20)
      + " MiB of the " + std::to_string(budget_->limit() >> 20)
      + " MiB budget, " + std::to_string(budget_->refused())
      + " refused (flood copies over lossless links wait and go again; "
        "the rest count in dropped_queue_full)");
  say(std::string{status == 0 ? "done" : "FAILED"} + ": "
      + std::to_string(held) + "/" + std::to_string(report_.events.size())
      + " events ok, " + std::to_string(report_.duplicate_deliveries)
      + " duplicate deliveries, " + wall() + " ms");
  if (console_ && stop_signal == 0)
    serve_console();
  teardown();
  return status;
}

} // namespace

int run_simulation(const scenario& sc, const sim_options& opts,
                   std::ostream& progress, sim_report& report) {
  stop_signal = 0;
  auto old_int = std::signal(SIGINT, on_stop_signal);
  auto old_term = std::signal(SIGTERM, on_stop_signal);
  driver d{sc, opts, progress, report};
  auto status = d.run();
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  return status;
}

} // namespace quilt

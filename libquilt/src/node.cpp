// The NODE SUPERVISOR actor (the original QuiltServer) and start_node.
//
// The supervisor spawns every actor of its node and hands each the handles
// it needs: the incoming link gets the processors, the processors get the
// protocol actor, the protocol actor gets the supervisor (which spawns an
// outgoing peer actor whenever the protocol opens a link). When a child ends
// unasked it is replaced and re-wired the same way; more than max_restarts
// replacements within restart_window and the node stops with an error.
#include "quilt/node.hpp"

#include <algorithm>
#include <deque>
#include <map>

#include <caf/all.hpp>

#include "node_context.hpp"
#include "quilt/error.hpp"
#include "quilt/log.hpp"
#include "quilt/reload.hpp"

namespace quilt {

const char* version() { return "0.1.0"; }

void add_quilt_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::quilt>();
  cfg.add_error_category(error_category, [](uint8_t code, caf::atom_value,
                                            const caf::message&) {
    return std::string{"quilt: "} + to_string(static_cast<ec>(code));
  });
}

const char* to_string(ec x) {
  switch (x) {
    case ec::none:
      return "none";
    case ec::not_a_simulation:
      return "not_a_simulation";
    case ec::no_such_node:
      return "no_such_node";
    case ec::shutting_down:
      return "shutting_down";
    case ec::too_many_restarts:
      return "too_many_restarts";
    case ec::needs_node:
      return "needs_node";
  }
  return "unknown";
}

void configure_actor_system(caf::actor_system_config& cfg) {
  add_quilt_types(cfg);
  // Work stealing: an actor a worker schedules (processor -> protocol ->
  // peer link) runs next on the same worker, where work sharing put each
  // one through a global locked queue and woke another thread for it. A
  // worker that ran dry spins briefly, then sleeps until a job is posted
  // to it: CAF's middle phase of 50 us naps kept idle nodes busy and put a
  // nap's length on every round trip. Sleeping workers look for work to
  // steal every 100 ms, so an idle node wakes 40 times a second in all.
  cfg.set("scheduler.policy", caf::atom("stealing"));
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  cfg.set("work-stealing.relaxed-sleep-duration",
          caf::timespan{std::chrono::milliseconds(100)});
  cfg.set("logger.verbosity", caf::atom("quiet"));
}

node_context::node_context(caf::actor_system& s, node_config c,
                           node_options o, std::shared_ptr<transport> n)
  : sys(s), cfg(std::move(c)), opts(o), net(std::move(n)),
    started(s.clock().now()) {
  using namespace std::chrono;
  // 4096 messages between the socket and the protocol actor, and never
  // more than 256 MiB of them.
  inbound = std::make_shared<inbound_flow>(std::clamp<int64_t>(
    static_cast<int64_t>((uint64_t{256} << 20) / cfg.max_message_bytes), 64,
    4096));
  budget = opts.budget ? opts.budget : byte_budget::process();
  if (opts.unix_offset) {
    unix_offset = *opts.unix_offset;
  } else {
    auto unix_now = duration_cast<microseconds>(
      system_clock::now().time_since_epoch());
    unix_offset = unix_now
                  - duration_cast<microseconds>(started.time_since_epoch());
  }
}

int64_t node_context::link_bytes() const {
  // Room for 64 messages of the largest size: 4 MiB at the defaults, where
  // queue_limit (10,000 messages of a few hundred bytes) binds first for
  // the usual small ones and this for large ones.
  return int64_t{64} * static_cast<int64_t>(cfg.max_message_bytes);
}

namespace {

struct supervisor_state {
  static inline const char* name = "quilt.supervisor";

  struct link_entry {
    std::string endpoint;
    std::string server_key; ///< Z85 CURVE key of the peer, or empty.
    peer_link_handle handle;
  };

  node_context_ptr node;
  /// The configuration in force: node->cfg as started, with what reloads
  /// applied since (peers, keys, dial policy, log level).
  node_config running;
  protocol_actor protocol;
  std::vector<processor_actor> processors;
  incoming_link_actor incoming;
  std::map<link_id, link_entry> links;
  std::vector<event_sink_actor> sinks;
  std::deque<time_point> restarts;
  bool stopping = false;
};

using supervisor_ptr = supervisor_actor::stateful_pointer<supervisor_state>;

/// Spawns the peer actor of link `id` (again) and tells the protocol.
void spawn_link(supervisor_ptr self, link_id id) {
  auto& st = self->state;
  auto& node = st.node;
  auto& entry = st.links[id];
  dial_options opts;
  opts.identity = node->cfg.name;
  opts.queue_limit = node->cfg.queue_limit;
  opts.max_message_bytes = node->cfg.max_message_bytes;
  opts.max_queue_age_ms = node->cfg.dead_after_ms;
  // A peer silent for dead_after_ms is down (SPEC §6): its connection is
  // given up at the same moment and redialled.
  opts.heartbeat_ivl_ms = node->cfg.heartbeat_ms;
  opts.heartbeat_timeout_ms = node->cfg.dead_after_ms;
  if (node->cfg.security.curve) {
    opts.curve_public_key = node->cfg.security.public_key;
    opts.curve_secret_key = node->cfg.security.secret_key;
    opts.curve_server_key = entry.server_key;
  }
  auto link = node->net->dial(entry.endpoint, opts);
  entry.handle.counters = link->shared_counters();
  entry.handle.inflight = std::make_shared<std::atomic<int64_t>>(0);
  entry.handle.actor = spawn_peer_link(node, std::move(link),
                                       entry.handle.inflight);
  self->monitor(entry.handle.actor);
  self->send(st.protocol, link_atom::value, id, entry.handle);
}

/// Spawns (or replaces) the protocol actor and points the processors at it.
void spawn_protocol_actor(supervisor_ptr self) {
  auto& st = self->state;
  // A new protocol knows none of the old one's links: it opens its own.
  for (auto& [id, entry] : st.links) {
    self->demonitor(entry.handle.actor.address());
    self->send(entry.handle.actor, close_atom::value);
  }
  st.links.clear();
  st.protocol = spawn_protocol(st.node, self);
  self->monitor(st.protocol);
  // Anonymous: the supervisor has no use for the acknowledgement.
  for (auto& s : st.sinks)
    caf::anon_send(st.protocol, subscribe_atom::value, s);
  for (auto& p : st.processors)
    self->send(p, wire_atom::value, st.protocol);
  self->send(st.incoming, wire_atom::value, st.processors, st.protocol);
  // A new protocol starts from the file as the node started with it: the
  // reloads since are applied to it again.
  auto plan = plan_reload(st.node->cfg, st.running);
  if (plan.changes_anything())
    self->request(st.protocol, caf::infinite, reload_atom::value,
                  reload_changes{std::move(plan), st.running})
      .then([](uint32_t) {}, [](const caf::error&) {});
}

void spawn_incoming(supervisor_ptr self) {
  auto& st = self->state;
  st.incoming = spawn_incoming_link(st.node);
  self->monitor(st.incoming);
  self->send(st.incoming, wire_atom::value, st.processors, st.protocol);
  st.node->net->attach(st.node->listener, make_sink(st.incoming));
}

/// Counts a replacement; false when the node has had too many.
bool may_restart(supervisor_ptr self, const char* what,
                 const caf::error& reason) {
  auto& st = self->state;
  auto& cfg = st.node->cfg;
  auto now = self->clock().now();
  while (!st.restarts.empty()
         && now - st.restarts.front() > st.node->opts.restart_window)
    st.restarts.pop_front();
  if (st.restarts.size() >= st.node->opts.max_restarts) {
    QUILT_ERROR(cfg.name, what << " ended (" << to_string(reason) << "): "
                               << st.restarts.size() << " restarts within "
                               << st.node->opts.restart_window.count()
                               << " ms, stopping the node");
    node_event e;
    e.ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
    e.text = "node " + cfg.name + " stopped: too many restarts";
    // The node is going: nobody would take the acknowledgement.
    for (auto& s : st.sinks)
      caf::anon_send(s, event_batch{{e}, 0});
    return false;
  }
  st.restarts.push_back(now);
  QUILT_ERROR(cfg.name, what << " ended (" << to_string(reason)
                             << "), restarting it");
  return true;
}

/// Stops every child and the listener, then the supervisor itself.
void stop_node(supervisor_ptr self, const caf::error& reason) {
  auto& st = self->state;
  st.stopping = true;
  st.node->net->close_listener(st.node->listener);
  auto stop = [&](const auto& child) {
    self->send_exit(child, caf::exit_reason::user_shutdown);
  };
  for (auto& p : st.processors)
    stop(p);
  stop(st.protocol);
  stop(st.incoming);
  for (auto& [id, entry] : st.links)
    stop(entry.handle.actor);
  // The protocol handle stays: requests delegated to it from now on get an
  // error answer from CAF instead of going nowhere.
  st.processors.clear();
  st.links.clear();
  if (reason)
    self->quit(reason);
}

void on_child_down(supervisor_ptr self, const caf::down_msg& msg) {
  auto& st = self->state;
  // A watcher gone: a protocol actor spawned later must not subscribe it.
  auto sink = std::find_if(st.sinks.begin(), st.sinks.end(), [&](auto& s) {
    return s.address() == msg.source;
  });
  if (sink != st.sinks.end()) {
    st.sinks.erase(sink);
    return;
  }
  if (st.stopping)
    return;
  auto restart = [&](const char* what) {
    if (may_restart(self, what, msg.reason))
      return true;
    stop_node(self, make_error(ec::too_many_restarts));
    return false;
  };
  if (msg.source == st.protocol.address()) {
    if (restart("protocol actor"))
      spawn_protocol_actor(self);
    return;
  }
  if (msg.source == st.incoming.address()) {
    if (restart("incoming link"))
      spawn_incoming(self);
    return;
  }
  for (auto& p : st.processors) {
    if (p.address() != msg.source)
      continue;
    if (restart("processor")) {
      p = spawn_processor(st.node, st.protocol);
      self->monitor(p);
      self->send(st.incoming, wire_atom::value, st.processors, st.protocol);
    }
    return;
  }
  for (auto& [id, entry] : st.links) {
    if (entry.handle.actor.address() != msg.source)
      continue;
    if (restart("outgoing peer actor"))
      spawn_link(self, id);
    return;
  }
}

/// The file as a reload read it, passed from the loader's thread.
struct loaded_config {
  std::variant<node_config, config_error> value;
};

} // namespace
} // namespace quilt

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quilt::loaded_config)

namespace quilt {
namespace {

std::string endpoint_text(const peer_config& p) {
  return p.address + ':' + std::to_string(p.port);
}

/// Applies a loaded file to the running node (SPEC §15) and answers `rp`
/// once the protocol actor has applied its part.
void apply_loaded(supervisor_ptr self, loaded_config& loaded,
                  caf::typed_response_promise<reload_report> rp) {
  auto& st = self->state;
  const auto& name = st.node->cfg.name;
  reload_report r;
  if (auto* err = std::get_if<config_error>(&loaded.value)) {
    r.error = err->text;
    r.log_level = to_string(current_log_level());
    QUILT_ERROR(name, describe(r));
    rp.deliver(std::move(r));
    return;
  }
  const auto& file = std::get<node_config>(loaded.value);
  auto plan = plan_reload(st.running, file);
  auto next = apply_reload(st.running, file);
  r.reloaded = true;
  for (const auto& p : plan.added)
    r.peers_added.push_back(endpoint_text(p));
  for (const auto& p : plan.removed)
    r.peers_removed.push_back(endpoint_text(p));
  r.restart_needed = plan.restart_needed;
  set_log_level(next.level);
  r.log_level = to_string(next.level);
  if (!plan.restart_needed.empty()) {
    std::string keys;
    for (const auto& k : plan.restart_needed)
      keys += (keys.empty() ? "" : ", ") + k;
    QUILT_WARN(name, "reload: " << keys
                                << " changed; the running node keeps the "
                                   "old value until it is restarted");
  }
  // The listener first: a revoked client is refused from now on, also when
  // it reconnects before the protocol actor has closed its link.
  if (plan.trust_changed && next.security.curve)
    st.node->net->authorize(st.node->listener, next.security.authorized_keys);
  st.running = next;
  if (!plan.changes_anything() || st.stopping) {
    QUILT_INFO(name, describe(r));
    rp.deliver(std::move(r));
    return;
  }
  self
    ->request(st.protocol, std::chrono::seconds(10), reload_atom::value,
              reload_changes{std::move(plan), std::move(next)})
    .then(
      [=](uint32_t revoked) mutable {
        r.links_revoked = revoked;
        QUILT_INFO(self->state.node->cfg.name, describe(r));
        rp.deliver(std::move(r));
      },
      [=](const caf::error& err) mutable {
        // The protocol actor failed meanwhile: its replacement gets the
        // running config (spawn_protocol_actor), which is the new one.
        QUILT_WARN(self->state.node->cfg.name,
                   "reload: the protocol actor did not answer ("
                     << to_string(err) << "); its replacement applies it");
        QUILT_INFO(self->state.node->cfg.name, describe(r));
        rp.deliver(std::move(r));
      });
}

/// A reload: the file is read on a thread of its own (reading files must
/// not hold a scheduler thread), then applied here.
caf::result<reload_report> reload(supervisor_ptr self) {
  auto& st = self->state;
  auto load = st.node->opts.load_config;
  if (!load) {
    reload_report r;
    r.error = no_config_file;
    r.log_level = to_string(current_log_level());
    return r;
  }
  auto rp = self->make_response_promise<reload_report>();
  auto loader = self->home_system().spawn<caf::detached>(
    [load](caf::event_based_actor* me) -> caf::behavior {
      return {[=](reload_atom) {
        me->quit();
        return loaded_config{load()};
      }};
    });
  self->request(loader, std::chrono::seconds(60), reload_atom::value)
    .then([=](loaded_config& x) mutable { apply_loaded(self, x, rp); },
          [=](const caf::error& err) mutable {
            reload_report r;
            r.error = "could not read the config file: " + to_string(err);
            r.log_level = to_string(current_log_level());
            rp.deliver(std::move(r));
          });
  return rp;
}

supervisor_actor::behavior_type supervisor(supervisor_ptr self,
                                           node_context_ptr node) {
  auto& st = self->state;
  st.node = node;
  st.running = node->cfg;
  // Order matters only for the handles: each child gets the ones it uses.
  st.protocol = spawn_protocol(node, self);
  self->monitor(st.protocol);
  for (size_t i = 0; i < node->cfg.processors; ++i) {
    st.processors.push_back(spawn_processor(node, st.protocol));
    self->monitor(st.processors.back());
  }
  spawn_incoming(self);
  self->set_down_handler(
    [=](caf::down_msg& msg) { on_child_down(self, msg); });
  auto to_protocol = [self] { return self->state.protocol; };
  return {
    [=](connect_atom a, std::string& address, uint16_t port) {
      return self->delegate(to_protocol(), a, std::move(address), port);
    },
    [=](ping_atom a, std::string& target, uint8_t ttl, uint32_t timeout) {
      return self->delegate(to_protocol(), a, std::move(target), ttl, timeout);
    },
    [=](ping_atom a, std::string& target, uint8_t ttl, uint32_t timeout,
        every_atom e) {
      return self->delegate(to_protocol(), a, std::move(target), ttl, timeout,
                            e);
    },
    [=](send_atom a, std::string& dest, std::string& text) {
      return self->delegate(to_protocol(), a, std::move(dest), std::move(text));
    },
    [=](confirm_atom a, uint64_t id) {
      return self->delegate(to_protocol(), a, id);
    },
    [=](peers_atom a) { return self->delegate(to_protocol(), a); },
    [=](routes_atom a) { return self->delegate(to_protocol(), a); },
    [=](topology_atom a) { return self->delegate(to_protocol(), a); },
    [=](inbox_atom a, uint32_t n) { return self->delegate(to_protocol(), a, n); },
    [=](stats_atom a) { return self->delegate(to_protocol(), a); },
    [=](status_atom a) { return self->delegate(to_protocol(), a); },
    [=](summary_atom a, uint32_t want) {
      return self->delegate(to_protocol(), a, want);
    },
    [=](subscribe_atom a, event_sink_actor& sink) {
      auto& sinks = self->state.sinks;
      if (std::find(sinks.begin(), sinks.end(), sink) == sinks.end()) {
        self->monitor(sink);
        sinks.push_back(sink);
      }
      return self->delegate(to_protocol(), a, std::move(sink));
    },
    [=](nodes_atom) -> caf::result<std::vector<node_summary>> {
      return make_error(ec::not_a_simulation);
    },
    [=](select_atom, const std::string&) -> caf::result<caf::actor> {
      return make_error(ec::not_a_simulation);
    },
    [=](reload_atom) { return reload(self); },
    [=](children_atom) {
      auto& st = self->state;
      std::vector<caf::actor> result;
      result.push_back(caf::actor_cast<caf::actor>(st.protocol));
      for (auto& p : st.processors)
        result.push_back(caf::actor_cast<caf::actor>(p));
      result.push_back(caf::actor_cast<caf::actor>(st.incoming));
      for (auto& [id, entry] : st.links)
        result.push_back(caf::actor_cast<caf::actor>(entry.handle.actor));
      return result;
    },
    [=](open_atom, link_id id, std::string& endpoint,
        std::string& server_key) {
      auto& st = self->state;
      // Only the node's own protocol actor opens links.
      if (st.stopping || self->current_sender() != st.protocol.address())
        return;
      st.links[id].endpoint = std::move(endpoint);
      st.links[id].server_key = std::move(server_key);
      spawn_link(self, id);
    },
    [=](close_atom, link_id id) {
      auto& st = self->state;
      if (self->current_sender() != st.protocol.address())
        return;
      auto i = st.links.find(id);
      if (i == st.links.end())
        return;
      self->demonitor(i->second.handle.actor.address());
      self->send(i->second.handle.actor, close_atom::value);
      st.links.erase(i);
    },
    [=](shutdown_atom) {
      auto& st = self->state;
      if (st.stopping) {
        self->quit();
        return true;
      }
      QUILT_INFO(st.node->cfg.name, "shutting down");
      stop_node(self, caf::error{});
      // Quit after this reply is on its way to a (possibly remote) asker.
      caf::anon_send(caf::actor_cast<node_actor>(self), shutdown_atom::value);
      return true;
    },
  };
}

} // namespace

std::variant<node_actor, std::string>
start_node(caf::actor_system& sys, const node_config& cfg,
           std::shared_ptr<transport> net, node_options opts) {
  auto node = std::make_shared<node_context>(sys, cfg, opts, net);
  // status.listen shows the endpoint actually bound (inproc or tcp).
  if (node->cfg.endpoint.empty())
    node->cfg.endpoint = net->endpoint(cfg.host, cfg.port);
  listen_options lopts;
  lopts.name = cfg.name;
  lopts.max_message_bytes = cfg.max_message_bytes;
  lopts.counters = node->listen_counters;
  lopts.flow = node->inbound;
  // A dead client's connection is closed, so its routing id is free for
  // its restart (the ROUTER does not hand a taken routing id over, see
  // zmq_transport.cpp): by the kernel at once when its process died, by
  // TCP keepalive within about dead_after_ms when its host did.
  lopts.reap_after_ms = cfg.dead_after_ms;
  if (cfg.security.curve)
    lopts.curve = curve_identity{cfg.security.public_key,
                                 cfg.security.secret_key,
                                 cfg.security.authorized_keys};
  const auto& endpoint = node->cfg.endpoint;
  auto res = net->listen(endpoint, lopts);
  if (auto err = std::get_if<std::string>(&res))
    return *err;
  node->listener = std::get<listener_id>(res);
  QUILT_INFO(cfg.name, "listening on " << endpoint);
  return caf::actor_cast<node_actor>(sys.spawn(supervisor, node));
}

} // namespace quilt

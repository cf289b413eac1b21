// The NODE SUPERVISOR actor (the original QuiltServer) and start_node.
#include "quilt/node.hpp"

#include <caf/all.hpp>

#include "node_shared.hpp"
#include "quilt/error.hpp"
#include "quilt/log.hpp"

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
  }
  return "unknown";
}

void configure_actor_system(caf::actor_system_config& cfg) {
  add_quilt_types(cfg);
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
}

namespace {

struct supervisor_state {
  static inline const char* name = "quilt.supervisor";
  std::shared_ptr<node_shared> node;
  bool stopping = false;
  uint32_t restarts = 0;
};

/// Spawns the processors and the protocol actor, monitored by `self`.
template <class Self>
void spawn_children(Self* self, const std::shared_ptr<node_shared>& node) {
  std::vector<processor_actor> procs;
  for (size_t i = 0; i < node->cfg.processors; ++i) {
    procs.push_back(spawn_processor(node, i));
    self->monitor(procs.back());
  }
  auto proto = spawn_protocol(node);
  self->monitor(proto);
  std::lock_guard<std::mutex> guard{node->mtx};
  node->processors = std::move(procs);
  node->protocol = proto;
}

node_actor::behavior_type
supervisor(node_actor::stateful_pointer<supervisor_state> self,
           std::shared_ptr<node_shared> node) {
  self->state.node = node;
  spawn_children(self, node);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.stopping)
      return;
    // A child ended without being asked to: replace it.
    std::lock_guard<std::mutex> guard{node->mtx};
    if (node->protocol && msg.source == node->protocol.address()) {
      QUILT_ERROR(node->cfg.name, "protocol actor ended ("
                                    << to_string(msg.reason)
                                    << "), restarting it");
      ++st.restarts;
      node->backlog = 0;
      node->protocol = spawn_protocol(node);
      self->monitor(node->protocol);
      return;
    }
    for (auto& p : node->processors) {
      if (p.address() == msg.source) {
        QUILT_ERROR(node->cfg.name, "processor ended ("
                                      << to_string(msg.reason)
                                      << "), restarting it");
        ++st.restarts;
        p = spawn_processor(node, 0);
        self->monitor(p);
        return;
      }
    }
  });
  auto to_protocol = [node] { return node->protocol_handle(); };
  return {
    [=](connect_atom a, std::string& address, uint16_t port) {
      return self->delegate(to_protocol(), a, std::move(address), port);
    },
    [=](ping_atom a, std::string& target, uint8_t ttl, uint32_t timeout) {
      return self->delegate(to_protocol(), a, std::move(target), ttl, timeout);
    },
    [=](send_atom a, std::string& dest, std::string& text) {
      return self->delegate(to_protocol(), a, std::move(dest), std::move(text));
    },
    [=](peers_atom a) { return self->delegate(to_protocol(), a); },
    [=](routes_atom a) { return self->delegate(to_protocol(), a); },
    [=](topology_atom a) { return self->delegate(to_protocol(), a); },
    [=](inbox_atom a, uint32_t n) { return self->delegate(to_protocol(), a, n); },
    [=](stats_atom a) { return self->delegate(to_protocol(), a); },
    [=](status_atom a) { return self->delegate(to_protocol(), a); },
    [=](subscribe_atom a, event_sink_actor& sink) {
      self->send(to_protocol(), a, std::move(sink));
    },
    [=](nodes_atom) -> caf::result<std::vector<node_summary>> {
      return make_error(ec::not_a_simulation);
    },
    [=](select_atom, const std::string&) -> caf::result<caf::actor> {
      return make_error(ec::not_a_simulation);
    },
    [=](children_atom) {
      std::vector<caf::actor> result;
      std::lock_guard<std::mutex> guard{node->mtx};
      result.push_back(caf::actor_cast<caf::actor>(node->protocol));
      for (auto& p : node->processors)
        result.push_back(caf::actor_cast<caf::actor>(p));
      return result;
    },
    [=](shutdown_atom) {
      auto& st = self->state;
      if (st.stopping) {
        self->quit();
        return true;
      }
      st.stopping = true;
      QUILT_INFO(node->cfg.name, "shutting down");
      node->net->close_listener(node->listener);
      {
        std::lock_guard<std::mutex> guard{node->mtx};
        node->closed = true;
        for (auto& p : node->processors)
          self->send_exit(p, caf::exit_reason::user_shutdown);
        self->send_exit(node->protocol, caf::exit_reason::user_shutdown);
        for (auto& [key, in] : node->incoming)
          self->send_exit(in, caf::exit_reason::user_shutdown);
        // The protocol handle stays: requests delegated to it from now on
        // get an error answer from CAF instead of going nowhere.
        node->processors.clear();
        node->incoming.clear();
      }
      // Quit after this reply is on its way to a (possibly remote) asker.
      caf::anon_send(self, shutdown_atom::value);
      return true;
    },
  };
}

} // namespace

std::variant<node_actor, std::string>
start_node(caf::actor_system& sys, const node_config& cfg,
           std::shared_ptr<transport> net) {
  auto node = std::make_shared<node_shared>(sys, cfg, net);
  // status.listen shows the endpoint actually bound (inproc or tcp).
  if (node->cfg.endpoint.empty())
    node->cfg.endpoint = net->endpoint(cfg.host, cfg.port);
  listen_options opts;
  opts.max_message_bytes = cfg.max_message_bytes;
  // The handler holds the node weakly: a closed node's wiring goes away even
  // if the transport still has the listener for a moment.
  std::weak_ptr<node_shared> weak = node;
  const auto& endpoint = node->cfg.endpoint;
  auto res = net->listen(endpoint, opts, [weak](inbound_batch&& batch) {
    if (auto n = weak.lock())
      n->dispatch(std::move(batch));
  });
  if (auto err = std::get_if<std::string>(&res))
    return *err;
  node->listener = std::get<listener_id>(res);
  QUILT_INFO(cfg.name, "listening on " << endpoint);
  return sys.spawn(supervisor, node);
}

} // namespace quilt

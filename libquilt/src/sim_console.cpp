// The console of a simulation: it answers for the simulation as a whole
// (`nodes`, `shutdown`) and hands out the node a user names with --node, so
// every node command of quilt-console then goes to that node's own
// supervisor, as it would for quiltd.
#include "sim_console.hpp"

#include <caf/all.hpp>

#include "quilt/error.hpp"

namespace quilt {

sim_directory::sim_directory(std::vector<std::string> names)
  : names_(std::move(names)), nodes_(names_.size()) {
}

void sim_directory::set(size_t i, node_actor node) {
  std::lock_guard<std::mutex> guard{mtx_};
  nodes_[i] = std::move(node);
}

std::vector<std::pair<std::string, node_actor>> sim_directory::running() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, node_actor>> result;
  for (size_t i = 0; i < names_.size(); ++i)
    if (nodes_[i])
      result.emplace_back(names_[i], nodes_[i]);
  return result;
}

node_actor sim_directory::find(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name)
      return nodes_[i];
  return {};
}

namespace {

struct summaries {
  std::vector<node_summary> values;
  size_t remaining = 0;
};

} // namespace

node_actor spawn_sim_console(caf::actor_system& sys,
                             std::shared_ptr<sim_directory> dir) {
  auto fn = [dir](node_actor::pointer self) -> node_actor::behavior_type {
    auto needs_node = [] { return make_error(ec::needs_node); };
    return {
      [=](connect_atom, const std::string&, uint16_t) -> caf::result<bool> {
        return needs_node();
      },
      [=](ping_atom, const std::string&, uint8_t,
          uint32_t) -> caf::result<ping_result> { return needs_node(); },
      [=](ping_atom, const std::string&, uint8_t, uint32_t,
          every_atom) -> caf::result<std::vector<ping_result>> {
        return needs_node();
      },
      [=](send_atom, const std::string&,
          const std::string&) -> caf::result<send_result> {
        return needs_node();
      },
      [=](confirm_atom, uint64_t) -> caf::result<send_result> {
        return needs_node();
      },
      [=](peers_atom) -> caf::result<std::vector<peer_info>> {
        return needs_node();
      },
      [=](routes_atom) -> caf::result<std::vector<route_entry>> {
        return needs_node();
      },
      [=](topology_atom) -> caf::result<mesh_topology> { return needs_node(); },
      [=](inbox_atom, uint32_t) -> caf::result<std::vector<inbox_entry>> {
        return needs_node();
      },
      [=](stats_atom) -> caf::result<node_stats> { return needs_node(); },
      [=](status_atom) -> caf::result<node_status> { return needs_node(); },
      [=](summary_atom, uint32_t) -> caf::result<node_summary> {
        return needs_node();
      },
      [=](subscribe_atom, const event_sink_actor&) -> caf::result<bool> {
        return needs_node();
      },
      [=](shutdown_atom) {
        dir->shutdown_requested = true;
        return true;
      },
      [=](children_atom) { return std::vector<caf::actor>{}; },
      [=](nodes_atom) -> caf::result<std::vector<node_summary>> {
        auto nodes = dir->running();
        if (nodes.empty())
          return std::vector<node_summary>{};
        auto rp = self->make_response_promise<std::vector<node_summary>>();
        auto acc = std::make_shared<summaries>();
        acc->values.resize(nodes.size());
        acc->remaining = nodes.size();
        for (size_t i = 0; i < nodes.size(); ++i) {
          acc->values[i].name = nodes[i].first;
          auto done = [=]() mutable {
            if (--acc->remaining == 0)
              rp.deliver(std::move(acc->values));
          };
          self->request(nodes[i].second, std::chrono::seconds(3),
                        summary_atom::value, uint32_t{0})
            .then(
              [=](const node_summary& s) mutable {
                acc->values[i] = s;
                done();
              },
              [=](const caf::error&) mutable { done(); });
        }
        return rp;
      },
      [=](reload_atom) -> caf::result<reload_report> { return needs_node(); },
      [=](select_atom, const std::string& name) -> caf::result<caf::actor> {
        auto node = dir->find(name);
        if (!node)
          return make_error(ec::no_such_node);
        return caf::actor_cast<caf::actor>(node);
      },
    };
  };
  return sys.spawn(fn);
}

} // namespace quilt

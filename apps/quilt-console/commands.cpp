#include "commands.hpp"

#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <caf/all.hpp>

#include "quilt/codec.hpp"
#include "quilt/documents.hpp"
#include "quilt/error.hpp"
#include "quilt/name.hpp"
#include "quilt/tables.hpp"
#include "quilt/traceroute.hpp"
#include "watch.hpp"

namespace quilt::console {

namespace {

using namespace std::chrono;
using nlohmann::json;

constexpr auto request_timeout = seconds(5);
/// A node answers a confirm request within its delivery_timeout_ms (at
/// most 600 s, SPEC §14): this only guards against a node that hangs.
constexpr auto confirm_timeout = seconds(600 + 30);
constexpr uint32_t ping_wait_ms = 2000;
constexpr auto ping_interval = milliseconds(200);

bool parse_count(const std::string& text, uint64_t& out, uint64_t max) {
  return parse_decimal(text, out) && out >= 1 && out <= max;
}

template <class T>
json or_null(const std::optional<T>& x) {
  return x ? json(*x) : json(nullptr);
}

/// Sends one request and waits for its single answer.
template <class Result, class... Ts>
std::optional<Result> ask(caf::scoped_actor& self, const node_actor& node,
                          outcome& out, std::chrono::milliseconds timeout,
                          Ts&&... xs) {
  std::optional<Result> result;
  self->request(node, timeout, std::forward<Ts>(xs)...)
    .receive([&](Result& r) { result = std::move(r); },
             [&](caf::error& err) { out = request_failed(err); });
  return result;
}

outcome accepted() {
  outcome o;
  o.json = {{"accepted", true}};
  o.text = "accepted\n";
  return o;
}

// -- commands -------------------------------------------------------------------

outcome do_status(caf::scoped_actor& self, const node_actor& node) {
  outcome o;
  auto s = ask<node_status>(self, node, o, request_timeout, status_atom::value);
  if (!s)
    return o;
  o.json = status_json(*s);
  o.text = text_table({{"name", s->name},
                  {"listen", s->listen},
                  {"processors", std::to_string(s->processors)},
                  {"uptime", std::to_string(s->uptime_ms / 1000) + " s"},
                  {"peers up", std::to_string(s->peers_up)},
                  {"routes", std::to_string(s->routes)},
                  {"version", s->version}});
  return o;
}

outcome do_peers(caf::scoped_actor& self, const node_actor& node) {
  outcome o;
  auto ps = ask<std::vector<peer_info>>(self, node, o, request_timeout,
                                        peers_atom::value);
  if (!ps)
    return o;
  o.json = peers_json(*ps);
  o.text = peers_table(*ps);
  return o;
}

outcome do_routes(caf::scoped_actor& self, const node_actor& node) {
  outcome o;
  auto rs = ask<std::vector<route_entry>>(self, node, o, request_timeout,
                                          routes_atom::value);
  if (!rs)
    return o;
  o.json = routes_json(*rs);
  o.text = routes_table(*rs);
  return o;
}

std::string dot_id(const std::string& x) {
  std::string out = "\"";
  for (char c : x) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

outcome do_topology(caf::scoped_actor& self, const node_actor& node,
                    bool dot) {
  outcome o;
  auto t = ask<mesh_topology>(self, node, o, request_timeout,
                              topology_atom::value);
  if (!t)
    return o;
  o.json = topology_json(*t);
  std::ostringstream os;
  if (dot) {
    os << "graph quilt {\n";
    for (auto& n : t->nodes)
      os << "  " << dot_id(n) << ";\n";
    for (auto& [a, b] : t->links)
      os << "  " << dot_id(a) << " -- " << dot_id(b) << ";\n";
    os << "}\n";
  } else {
    os << t->nodes.size() << " nodes, " << t->links.size() << " links\n";
    std::map<std::string, std::vector<std::string>> adj;
    for (auto& n : t->nodes)
      adj[n];
    for (auto& [a, b] : t->links) {
      adj[a].push_back(b);
      adj[b].push_back(a);
    }
    std::vector<std::vector<std::string>> rows{{"NODE", "LINKS"}};
    for (auto& [n, ns] : adj) {
      std::string joined;
      for (auto& x : ns)
        joined += (joined.empty() ? "" : " ") + x;
      rows.push_back({n, joined.empty() ? "-" : joined});
    }
    os << text_table(rows);
  }
  o.text = os.str();
  return o;
}

outcome do_ping(caf::scoped_actor& self, const node_actor& node,
                const std::string& target, uint64_t count) {
  outcome o;
  auto s = ask<node_status>(self, node, o, request_timeout, status_atom::value);
  if (!s)
    return o;
  std::vector<uint64_t> rtts;
  std::string last_error = "timeout";
  std::string last_from;
  std::ostringstream text;
  uint64_t sent = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (i > 0)
      std::this_thread::sleep_for(ping_interval);
    outcome err;
    auto r = ask<ping_result>(self, node, err, milliseconds(ping_wait_ms + 3000),
                              ping_atom::value, target,
                              static_cast<uint8_t>(s->default_ttl),
                              ping_wait_ms);
    if (!r)
      return err;
    if (r->error == "bad_destination")
      return failure(failed, "bad_destination",
                     "'" + target + "' is not a node name or all");
    ++sent;
    if (r->replied) {
      rtts.push_back(r->rtt_us);
      text << "pong from " << r->from << ": " << format_ms(r->rtt_us) << '\n';
    } else {
      last_error = r->error;
      last_from = r->from;
      text << "no pong: " << r->error
           << (r->from.empty() ? "" : " (from " + r->from + ")") << '\n';
    }
  }
  json fields = {{"target", target},
                 {"sent", sent},
                 {"received", rtts.size()},
                 {"rtt_us", rtts}};
  text << sent << " sent, " << rtts.size() << " received\n";
  if (rtts.empty()) {
    auto f = failure(failed, last_error == "timeout" ? "no_reply" : last_error,
                     last_error == "timeout"
                       ? "no pong from " + target + " within 2 s"
                       : target + " is " + last_error
                           + (last_from.empty() ? "" : " at " + last_from));
    f.json.update(fields);
    f.text = text.str() + f.text;
    return f;
  }
  o.json = fields;
  o.text = text.str();
  return o;
}

outcome do_traceroute(caf::scoped_actor& self, const node_actor& node,
                      const std::string& target) {
  outcome o;
  if (!is_valid_destination(target) || target == "all" || target == "*")
    return failure(failed, "bad_destination",
                   "'" + target + "' is not a node name");
  auto s = ask<node_status>(self, node, o, request_timeout, status_atom::value);
  if (!s)
    return o;
  auto r = traceroute(self, node, target, static_cast<uint8_t>(s->default_ttl));
  json hops = json::array();
  std::vector<std::vector<std::string>> rows{{"HOP", "NODE", "RTT"}};
  for (auto& h : r.hops) {
    hops.push_back({{"hop", h.hop},
                    {"node", or_null(h.node)},
                    {"rtt_us", or_null(h.rtt_us)}});
    rows.push_back({std::to_string(h.hop), h.node ? *h.node : "*",
                    h.rtt_us ? format_ms(*h.rtt_us) : "-"});
  }
  json fields = {{"target", target}, {"reached", r.reached}, {"hops", hops}};
  std::string text = "traceroute to " + target + "\n" + text_table(rows);
  if (!r.reached) {
    auto f = failure(failed, "not_reached",
                     target + " was not reached within "
                       + std::to_string(r.hops.size()) + " hops");
    f.json.update(fields);
    f.text = text + f.text;
    return f;
  }
  o.json = fields;
  o.text = text;
  return o;
}

outcome do_connect(caf::scoped_actor& self, const node_actor& node,
                   const std::string& address, uint16_t port) {
  outcome o;
  auto ok = ask<bool>(self, node, o, request_timeout, connect_atom::value,
                      address, port);
  if (!ok)
    return o;
  if (!*ok)
    return failure(failed, "refused", address + ":" + std::to_string(port)
                                        + " is the node itself");
  return accepted();
}

/// Why a `send --wait` learnt no confirmation, in plain words.
std::string unconfirmed_detail(const send_result& r, const std::string& dest) {
  if (r.error == "not_delivered")
    return "not delivered to " + dest
           + ": no confirmation within the node's delivery_timeout_ms";
  if (r.error == "confirmation_off")
    return "sent to " + dest
           + " once, unconfirmed: limits.delivery_timeout_ms is 0 on the node";
  if (r.error == "overloaded")
    return "sent to " + dest
           + ", but the node has too many requests waiting for confirmations";
  return "sent to " + dest + ", but the node does not wait for a "
         "confirmation of id " + to_decimal(r.id);
}

/// `send --wait`: the outcome of message `sent` once the node knows it.
outcome wait_for_confirmation(caf::scoped_actor& self, const node_actor& node,
                              const std::string& dest,
                              const send_result& sent) {
  outcome o;
  auto c = ask<send_result>(self, node, o, confirm_timeout,
                            confirm_atom::value, sent.id);
  if (!c) {
    o.json["id"] = to_decimal(sent.id);
    return o;
  }
  if (!c->delivered) {
    auto f = failure(failed, c->error, unconfirmed_detail(*c, dest));
    f.json["id"] = to_decimal(sent.id);
    return f;
  }
  o.json = {{"accepted", true},
            {"id", to_decimal(sent.id)},
            {"delivered", true},
            {"rtt_us", c->rtt_us}};
  o.text = "delivered to " + dest + " in " + format_ms(c->rtt_us) + " (id "
           + to_decimal(sent.id) + ")\n";
  return o;
}

outcome do_send(caf::scoped_actor& self, const node_actor& node,
                const std::string& dest, const std::string& text, bool wait) {
  outcome o;
  auto r = ask<send_result>(self, node, o, request_timeout, send_atom::value,
                            dest, text);
  if (!r)
    return o;
  if (!r->accepted)
    return failure(failed, r->error, "not sent to " + dest + ": " + r->error);
  if (wait)
    return wait_for_confirmation(self, node, dest, *r);
  o.json = {{"accepted", true}, {"id", to_decimal(r->id)}};
  o.text = "sent to " + dest + " (id " + to_decimal(r->id) + ")\n";
  return o;
}

outcome do_inbox(caf::scoped_actor& self, const node_actor& node,
                 uint64_t n) {
  outcome o;
  auto es = ask<std::vector<inbox_entry>>(self, node, o, request_timeout,
                                          inbox_atom::value,
                                          static_cast<uint32_t>(n));
  if (!es)
    return o;
  o.json = json::array();
  std::ostringstream os;
  for (auto& e : *es) {
    o.json.push_back({{"from", e.from},
                      {"to", e.to},
                      {"id", to_decimal(e.id)},
                      {"text", e.text},
                      {"received_ms", e.received_ms}});
    auto secs = static_cast<time_t>(e.received_ms / 1000);
    std::tm tm{};
    localtime_r(&secs, &tm);
    os << std::put_time(&tm, "%H:%M:%S") << "  " << e.from << " -> " << e.to
       << ": " << e.text << '\n';
  }
  o.text = es->empty() ? "inbox is empty\n" : os.str();
  return o;
}

outcome do_stats(caf::scoped_actor& self, const node_actor& node,
                 bool prometheus) {
  outcome o;
  std::optional<node_status> st;
  // The exposition names the node: a simulation's nodes share a console.
  if (prometheus
      && !(st = ask<node_status>(self, node, o, request_timeout,
                                 status_atom::value)))
    return o;
  auto s = ask<node_stats>(self, node, o, request_timeout, stats_atom::value);
  if (!s)
    return o;
  auto rows = stats_fields(*s);
  if (prometheus) {
    o.stream = [text = prometheus_text(st->name, rows)](bool) {
      std::cout << text << std::flush;
      return ok;
    };
    return o;
  }

  o.json = stats_json(*s);
  std::vector<std::vector<std::string>> table_rows;
  for (auto& [k, v] : rows)
    table_rows.push_back({k, std::to_string(v)});
  o.text = text_table(table_rows);
  return o;
}

outcome do_nodes(caf::scoped_actor& self, const node_actor& top) {
  outcome o;
  auto ns = ask<std::vector<node_summary>>(self, top, o, request_timeout,
                                           nodes_atom::value);
  if (!ns)
    return o;
  o.json = json::array();
  std::vector<std::vector<std::string>> rows{{"NAME", "PEERS UP", "ROUTES"}};
  for (auto& n : *ns) {
    o.json.push_back(
      {{"name", n.name}, {"peers_up", n.peers_up}, {"routes", n.routes}});
    rows.push_back(
      {n.name, std::to_string(n.peers_up), std::to_string(n.routes)});
  }
  o.text = text_table(rows);
  return o;
}

/// `reload` (SPEC §15): the node reads its config file again.
outcome do_reload(caf::scoped_actor& self, const node_actor& node) {
  outcome o;
  // The node bounds the work: 60 s to read the file, 10 s for its links.
  auto r = ask<reload_report>(self, node, o, seconds(75), reload_atom::value);
  if (!r)
    return o;
  if (!r->reloaded)
    return failure(failed,
                   r->error == no_config_file ? "not_supported" : "bad_config",
                   r->error);
  o.json = {{"reloaded", true},
            {"peers_added", r->peers_added},
            {"peers_removed", r->peers_removed},
            {"links_revoked", r->links_revoked},
            {"log_level", r->log_level},
            {"restart_needed", r->restart_needed}};
  o.text = describe(*r) + "\n";
  if (!r->restart_needed.empty()) {
    o.text += "needs a restart to take effect:";
    for (const auto& k : r->restart_needed)
      o.text += " " + k;
    o.text += "\n";
  }
  return o;
}

outcome do_shutdown(caf::scoped_actor& self, const node_actor& node) {
  outcome o;
  auto ok = ask<bool>(self, node, o, request_timeout, shutdown_atom::value);
  if (!ok)
    return o;
  return accepted();
}

std::string join(const std::vector<std::string>& words, size_t from) {
  std::string out;
  for (size_t i = from; i < words.size(); ++i)
    out += (i > from ? " " : "") + words[i];
  return out;
}

} // namespace

outcome request_failed(const caf::error& err) {
  if (err.category() == error_category) {
    auto code = static_cast<ec>(err.code());
    if (code == ec::not_a_simulation)
      return failure(failed, "not_a_simulation",
                     "this console belongs to a single node, not a "
                     "simulation");
    if (code == ec::needs_node)
      return failure(failed, "needs_node",
                     "this console belongs to a simulation: name a node "
                     "with --node NAME (quilt-console nodes lists them)");
    return failure(failed, to_string(code), quilt::describe(err));
  }
  if (err == caf::sec::request_timeout)
    return failure(failed, "timeout", "the node did not answer in time");
  return failure(unreachable, "unreachable",
                 "lost the node: " + quilt::describe(err));
}

outcome failure(int status, const std::string& token,
                const std::string& detail) {
  outcome o;
  o.status = status;
  o.json = {{"error", token}, {"detail", detail}};
  // The one stderr line of SPEC §11, named like every program's.
  o.text = "quilt-console: " + detail + "\n";
  return o;
}

const char* help_text() {
  return "commands:\n"
         "  status                   the node's name, endpoint and uptime\n"
         "  peers                    its peers\n"
         "  routes                   where it sends each reachable node\n"
         "  topology [--dot]         its view of the mesh (--dot: Graphviz)\n"
         "  ping NAME [COUNT]        ping a node COUNT times, 200 ms apart\n"
         "  traceroute NAME          the hops to a node\n"
         "  connect ADDRESS PORT     link the node to another\n"
         "  send DEST TEXT...        send a text message (DEST a name or all)\n"
         "  send --wait NAME TEXT... send it and wait until NAME confirms it\n"
         "                           (at most the node's delivery_timeout_ms)\n"
         "  inbox [N]                the last N received messages (20)\n"
         "  stats [--prometheus]     its counters (--prometheus: in the\n"
         "                           Prometheus text format)\n"
         "  watch                    stream its events until Ctrl-C\n"
         "                           (--json: one JSON object a line)\n"
         "  nodes                    a simulation's nodes\n"
         "  reload                   the node reads its config file again\n"
         "  shutdown                 stop the node\n"
         "  help, quit\n";
}

std::string check_usage(const std::vector<std::string>& w) {
  if (w.empty())
    return "no command (try help)";
  const auto& c = w[0];
  auto n = w.size() - 1;
  uint64_t v = 0;
  if (c == "status" || c == "peers" || c == "routes" || c == "nodes"
      || c == "shutdown" || c == "watch" || c == "reload")
    return n == 0 ? "" : "usage: " + c;
  if (c == "stats")
    return n == 0 || (n == 1 && w[1] == "--prometheus")
             ? ""
             : "usage: stats [--prometheus]";
  if (c == "topology")
    return n == 0 || (n == 1 && w[1] == "--dot") ? ""
                                                 : "usage: topology [--dot]";
  if (c == "ping")
    return (n == 1 || (n == 2 && parse_count(w[2], v, 1000000)))
             ? ""
             : "usage: ping NAME [COUNT], COUNT 1..1000000";
  if (c == "traceroute")
    return n == 1 ? "" : "usage: traceroute NAME";
  if (c == "connect")
    return n == 2 && parse_count(w[2], v, 65535)
             ? ""
             : "usage: connect ADDRESS PORT, PORT 1..65535";
  if (c == "send" && n >= 1 && w[1] == "--wait") {
    if (n < 2)
      return "usage: send --wait NAME TEXT...";
    return is_broadcast(w[2]) ? "usage: send --wait needs a node name: "
                                "broadcasts are not confirmed"
                              : "";
  }
  if (c == "send")
    return n >= 1 ? "" : "usage: send [--wait] DEST TEXT...";
  if (c == "inbox")
    return n == 0 || (n == 1 && parse_count(w[1], v, 1u << 30))
             ? ""
             : "usage: inbox [N], N at least 1";
  return "unknown command '" + c + "' (try help)";
}

outcome run(caf::scoped_actor& self, const node_actor& top,
            const node_actor& node, const std::vector<std::string>& w) {
  const auto& c = w[0];
  uint64_t v = 0;
  if (c == "status")
    return do_status(self, node);
  if (c == "peers")
    return do_peers(self, node);
  if (c == "routes")
    return do_routes(self, node);
  if (c == "topology")
    return do_topology(self, node, w.size() == 2);
  if (c == "ping") {
    uint64_t count = 1;
    if (w.size() == 3)
      parse_decimal(w[2], count);
    return do_ping(self, node, w[1], count);
  }
  if (c == "traceroute")
    return do_traceroute(self, node, w[1]);
  if (c == "connect") {
    parse_decimal(w[2], v);
    return do_connect(self, node, w[1], static_cast<uint16_t>(v));
  }
  if (c == "send" && w[1] == "--wait")
    return do_send(self, node, w[2], join(w, 3), true);
  if (c == "send")
    return do_send(self, node, w[1], join(w, 2), false);
  if (c == "inbox") {
    uint64_t n = 20;
    if (w.size() == 2)
      parse_decimal(w[1], n);
    return do_inbox(self, node, n);
  }
  if (c == "stats")
    return do_stats(self, node, w.size() == 2);
  if (c == "watch")
    return watch(self, node);
  if (c == "nodes")
    return do_nodes(self, top);
  if (c == "shutdown")
    return do_shutdown(self, node);
  if (c == "reload")
    return do_reload(self, node);
  return failure(usage, "usage", check_usage(w));
}

} // namespace quilt::console

#include "line_interface.hpp"

#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

#include <caf/all.hpp>

#include "quilt/traceroute.hpp"

namespace quilt {

terminal_out::~terminal_out() {
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  std::cout << buf_.str() << std::flush;
}

namespace {

constexpr auto request_timeout = std::chrono::seconds(5);

void print_help() {
  terminal_out{}
    << "commands:\n"
       "  /connect ADDRESS PORT   link to a node\n"
       "  /ping NAME              ping a node (or all)\n"
       "  /peers                  list peers\n"
       "  /routes                 list routes\n"
       "  /traceroute NAME        list the hops to a node\n"
       "  /stats                  show counters\n"
       "  /quit                   shut down\n"
       "  DEST TEXT               send TEXT to node DEST (or all)\n";
}

std::string fmt_ms(uint64_t us) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << (static_cast<double>(us) / 1000.0)
     << " ms";
  return os.str();
}

/// Waits for a line on stdin without blocking shutdown for long.
bool read_line(std::string& line, const std::atomic<bool>& stop) {
  while (!stop) {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    int n = poll(&p, 1, 200);
    if (n < 0 && errno != EINTR)
      return false;
    if (n > 0)
      return static_cast<bool>(std::getline(std::cin, line));
  }
  return false;
}

void do_ping(caf::scoped_actor& self, const node_actor& node,
             const node_config& cfg, const std::string& target) {
  self->request(node, request_timeout, ping_atom::value, target,
                static_cast<uint8_t>(cfg.default_ttl), uint32_t{2000})
    .receive(
      [&](const ping_result& r) {
        if (r.replied)
          terminal_out{} << "pong from " << r.from << " in " << fmt_ms(r.rtt_us)
                         << std::endl;
        else if (r.from.empty())
          terminal_out{} << "no pong from " << target << ": " << r.error
                         << std::endl;
        else
          terminal_out{} << "no pong from " << target << ": " << r.error
                         << " at " << r.from << std::endl;
      },
      [&](const caf::error& err) {
        terminal_out{} << "ping failed: " << self->system().render(err)
                       << std::endl;
      });
}

void do_peers(caf::scoped_actor& self, const node_actor& node) {
  self->request(node, request_timeout, peers_atom::value)
    .receive(
      [&](const std::vector<peer_info>& peers) {
        if (peers.empty()) {
          terminal_out{} << "no peers" << std::endl;
          return;
        }
        terminal_out{} << std::left << std::setw(20) << "NAME" << std::setw(22)
                       << "ADDRESS" << std::setw(12) << "STATE" << std::setw(12)
                       << "RTT" << "LAST SEEN\n";
        for (auto& p : peers) {
          auto addr = p.address.empty()
                        ? std::string{"-"}
                        : p.address + ":"
                            + (p.port ? std::to_string(p.port) : "?");
          terminal_out{} << std::left << std::setw(20)
                         << (p.name.empty() ? "?" : p.name) << std::setw(22)
                         << addr << std::setw(12) << to_string(p.state)
                         << std::setw(12)
                         << (p.rtt_us ? fmt_ms(*p.rtt_us) : "-")
                         << (p.last_seen_ms
                               ? std::to_string(*p.last_seen_ms) + " ms ago"
                               : "never")
                         << '\n';
        }
      },
      [&](const caf::error& err) {
        terminal_out{} << "peers failed: " << self->system().render(err)
                       << std::endl;
      });
}

void do_routes(caf::scoped_actor& self, const node_actor& node) {
  self->request(node, request_timeout, routes_atom::value)
    .receive(
      [&](const std::vector<route_entry>& routes) {
        if (routes.empty()) {
          terminal_out{} << "no routes" << std::endl;
          return;
        }
        terminal_out{} << std::left << std::setw(20) << "DESTINATION"
                       << std::setw(20) << "NEXT HOP" << "HOPS\n";
        for (auto& r : routes)
          terminal_out{} << std::left << std::setw(20) << r.destination
                         << std::setw(20) << r.next_hop << r.hops << '\n';
      },
      [&](const caf::error& err) {
        terminal_out{} << "routes failed: " << self->system().render(err)
                       << std::endl;
      });
}

void do_traceroute(caf::scoped_actor& self, const node_actor& node,
                   const node_config& cfg, const std::string& target) {
  auto r = traceroute(self, node, target,
                      static_cast<uint8_t>(cfg.default_ttl));
  terminal_out{} << "traceroute to " << target << '\n';
  if (r.hops.empty())
    terminal_out{} << "no route to " << target << '\n';
  for (auto& h : r.hops)
    terminal_out{} << std::right << std::setw(3) << h.hop << "  " << std::left
                   << std::setw(20) << (h.node ? *h.node : "*")
                   << (h.rtt_us ? fmt_ms(*h.rtt_us) : "") << '\n';
  terminal_out{} << (r.reached ? "reached " : "did not reach ") << target
                 << std::endl;
}

void do_stats(caf::scoped_actor& self, const node_actor& node) {
  self->request(node, request_timeout, stats_atom::value)
    .receive(
      [&](const node_stats& s) {
        auto rows = stats_fields(s);

        rows.emplace_back("broadcast_tx", s.broadcast_tx);
        for (auto& [key, value] : rows)
          terminal_out{} << std::left << std::setw(20) << key << value << '\n';
      },
      [&](const caf::error& err) {
        terminal_out{} << "stats failed: " << self->system().render(err)
                       << std::endl;
      });
}

} // namespace

void run_line_interface(caf::actor_system& sys, node_actor node,
                        const node_config& cfg, const std::atomic<bool>& stop) {
  terminal_out{} << "quiltd " << cfg.name << " on " << cfg.listen_endpoint()
                 << " -- /help for commands" << std::endl;
  std::string line;
  while (read_line(line, stop)) {
    std::istringstream in{line};
    std::string word;
    if (!(in >> word))
      continue;
    caf::scoped_actor self{sys};
    if (word == "/quit") {
      break;
    } else if (word == "/help") {
      print_help();
    } else if (word == "/connect") {
      std::string address, port_text;
      long port = 0;
      if (!(in >> address >> port_text)
          || (port = std::strtol(port_text.c_str(), nullptr, 10)) < 1
          || port > 65535) {
        terminal_out{} << "usage: /connect ADDRESS PORT" << std::endl;
        continue;
      }
      self->request(node, request_timeout, connect_atom::value, address,
                    static_cast<uint16_t>(port))
        .receive(
          [&](bool ok) {
            terminal_out{}
              << (ok ? "connecting to " : "refusing to connect to self at ")
              << address << ':' << port << std::endl;
          },
          [&](const caf::error& err) {
            terminal_out{} << "connect failed: " << sys.render(err)
                           << std::endl;
          });
    } else if (word == "/ping") {
      std::string target;
      if (!(in >> target)) {
        terminal_out{} << "usage: /ping NAME" << std::endl;
        continue;
      }
      do_ping(self, node, cfg, target);
    } else if (word == "/peers") {
      do_peers(self, node);
    } else if (word == "/routes") {
      do_routes(self, node);
    } else if (word == "/traceroute") {
      std::string target;
      if (!(in >> target)) {
        terminal_out{} << "usage: /traceroute NAME" << std::endl;
        continue;
      }
      do_traceroute(self, node, cfg, target);
    } else if (word == "/stats") {
      do_stats(self, node);
    } else if (word[0] == '/') {
      terminal_out{} << "unknown command " << word << " (try /help)"
                     << std::endl;
    } else {
      std::string text;
      std::getline(in >> std::ws, text);
      self->request(node, request_timeout, send_atom::value, word, text)
        .receive(
          [&](const send_result& r) {
            if (r.accepted)
              terminal_out{} << "sent to " << word << " (id " << r.id << ")"
                             << std::endl;
            else
              terminal_out{} << "not sent to " << word << ": " << r.error
                             << std::endl;
          },
          [&](const caf::error& err) {
            terminal_out{} << "send failed: " << sys.render(err) << std::endl;
          });
    }
  }
}

} // namespace quilt

#include "line_interface.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>

#include <caf/all.hpp>

#include "quilt/message.hpp"
#include "quilt/tables.hpp"
#include "quilt/error.hpp"
#include "quilt/traceroute.hpp"

namespace quilt {

namespace {

constexpr auto request_timeout = std::chrono::seconds(5);

void print_help(std::ostream& out) {
  out << "commands:\n"
         "  /connect ADDRESS PORT   link to a node\n"
         "  /ping NAME              ping a node; /ping all shows every node\n"
         "                          that answers within 2 s\n"
         "  /peers                  list peers (as quilt-console peers)\n"
         "  /routes                 list routes (as quilt-console routes)\n"
         "  /traceroute NAME        list the hops to a node\n"
         "  /stats                  show counters\n"
         "  /reload                 read the config file again (as SIGHUP)\n"
         "  /help                   show this list\n"
         "  /quit                   shut down\n"
         "  DEST TEXT               send TEXT to node DEST (or all); a node's\n"
         "                          confirmation shows as \"delivered to DEST\"\n";
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

/// How long a ping waits for its answer, or a ping to all for all of them.
constexpr uint32_t ping_wait_ms = 2000;

/// `/ping all`: every answer that comes within the wait, nearest first.
void do_ping_all(std::ostream& out, caf::scoped_actor& self,
                 const node_actor& node, const node_config& cfg,
                 const std::string& target) {
  self->request(node, request_timeout, ping_atom::value, target,
                static_cast<uint8_t>(cfg.default_ttl), ping_wait_ms,
                every_atom::value)
      .receive(
          [&](std::vector<ping_result>& rs) {
            std::stable_sort(rs.begin(), rs.end(),
                             [](const ping_result& a, const ping_result& b) {
                               return a.rtt_us < b.rtt_us;
                             });
            size_t replies = 0;
            for (auto& r : rs) {
              if (r.replied) {
                ++replies;
                out << "pong from " << r.from << " in " << format_ms(r.rtt_us)
                    << '\n';
              } else {
                out << "no pong: " << r.error
                    << (r.from.empty() ? "" : " at " + r.from) << '\n';
              }
            }
            out << replies << (replies == 1 ? " node" : " nodes")
                << " answered within " << ping_wait_ms / 1000 << " s"
                << std::endl;
          },
          [&](const caf::error& err) {
            out << "ping failed: " << quilt::describe(err) << std::endl;
          });
}

void do_ping(std::ostream& out, caf::scoped_actor& self, const node_actor& node,
             const node_config& cfg, const std::string& target) {
  if (is_broadcast(target)) {
    do_ping_all(out, self, node, cfg, target);
    return;
  }
  self->request(node, request_timeout, ping_atom::value, target,
                static_cast<uint8_t>(cfg.default_ttl), ping_wait_ms)
      .receive(
          [&](const ping_result& r) {
            if (r.replied)
              out << "pong from " << r.from << " in " << format_ms(r.rtt_us)
                  << std::endl;
            else if (r.from.empty())
              out << "no pong from " << target << ": " << r.error << std::endl;
            else
              out << "no pong from " << target << ": " << r.error << " at "
                  << r.from << std::endl;
          },
          [&](const caf::error& err) {
            out << "ping failed: " << quilt::describe(err) << std::endl;
          });
}

void do_peers(std::ostream& out, caf::scoped_actor& self,
              const node_actor& node) {
  self->request(node, request_timeout, peers_atom::value)
      .receive(
          [&](const std::vector<peer_info>& peers) {
            out << peers_table(peers) << std::flush;
          },
          [&](const caf::error& err) {
            out << "peers failed: " << quilt::describe(err) << std::endl;
          });
}

void do_routes(std::ostream& out, caf::scoped_actor& self,
               const node_actor& node) {
  self->request(node, request_timeout, routes_atom::value)
      .receive(
          [&](const std::vector<route_entry>& routes) {
            out << routes_table(routes) << std::flush;
          },
          [&](const caf::error& err) {
            out << "routes failed: " << quilt::describe(err) << std::endl;
          });
}

void do_traceroute(std::ostream& out, caf::scoped_actor& self,
                   const node_actor& node, const node_config& cfg,
                   const std::string& target) {
  auto r =
      traceroute(self, node, target, static_cast<uint8_t>(cfg.default_ttl));
  out << "traceroute to " << target << '\n';
  if (r.hops.empty())
    out << "no route to " << target << '\n';
  for (auto& h : r.hops)
    out << std::right << std::setw(3) << h.hop << "  " << std::left
        << std::setw(20) << (h.node ? *h.node : "*")
        << (h.rtt_us ? format_ms(*h.rtt_us) : "") << '\n';
  out << (r.reached ? "reached " : "did not reach ") << target << std::endl;
}

void do_stats(std::ostream& out, caf::scoped_actor& self,
              const node_actor& node) {
  self->request(node, request_timeout, stats_atom::value)
      .receive(
          [&](const node_stats& s) {
            auto rows = stats_fields(s);

            rows.emplace_back("broadcast_tx", s.broadcast_tx);
            for (auto& [key, value] : rows)
              out << std::left << std::setw(20) << key << value << '\n';
            out << std::flush;
          },
          [&](const caf::error& err) {
            out << "stats failed: " << quilt::describe(err) << std::endl;
          });
}

/// Prints the outcome of message `id` to `dest` once the node knows it
/// (SPEC §14): a small actor waits for it, so the prompt is free meanwhile.
void print_outcome(caf::actor_system& sys, const node_actor& node,
                   const std::string& dest, uint64_t id) {
  // The node answers within its delivery_timeout_ms (at most 600 s).
  constexpr auto wait = std::chrono::seconds(600 + 30);
  sys.spawn([node, dest, id](caf::event_based_actor* self) {
    self->request(node, wait, confirm_atom::value, id)
        .then(
            [dest](const send_result& r) {
              if (r.delivered)
                say("delivered to " + dest + " in " + format_ms(r.rtt_us)
                    + "\n");
              else if (r.error == "not_delivered")
                say("not delivered to " + dest
                    + " (no confirmation within delivery_timeout_ms)\n");
              else
                say("not delivered to " + dest + " (" + r.error + ")\n");
            },
            [dest](const caf::error& err) {
              say("not delivered to " + dest + " (" + quilt::describe(err)
                  + ")\n");
            });
  });
}

} // namespace

void run_line_interface(caf::actor_system& sys, node_actor node,
                        const node_config& cfg, const std::atomic<bool>& stop) {
  std::ostringstream out;
  // Each answer is written whole once it is complete, so a received
  // message printed meanwhile never lands inside it.
  auto done = [&out] {
    say(out.str());
    out.str({});
  };
  out << "quiltd " << cfg.name << " on " << cfg.listen_endpoint()
      << " -- /help for commands" << std::endl;
  std::string line;
  // Every answer, `continue`d or not, is written before the next read.
  for (done(); read_line(line, stop); done()) {
    std::istringstream in{line};
    std::string word;
    if (!(in >> word))
      continue;
    caf::scoped_actor self{sys};
    if (word == "/quit") {
      break;
    } else if (word == "/help") {
      print_help(out);
    } else if (word == "/connect") {
      std::string address, port_text;
      long port = 0;
      if (!(in >> address >> port_text) ||
          (port = std::strtol(port_text.c_str(), nullptr, 10)) < 1 ||
          port > 65535) {
        out << "usage: /connect ADDRESS PORT" << std::endl;
        continue;
      }
      self->request(node, request_timeout, connect_atom::value, address,
                    static_cast<uint16_t>(port))
          .receive(
              [&](bool ok) {
                out << (ok ? "connecting to "
                           : "refusing to connect to self at ")
                    << address << ':' << port << std::endl;
              },
              [&](const caf::error& err) {
                out << "connect failed: " << quilt::describe(err) << std::endl;
              });
    } else if (word == "/ping") {
      std::string target;
      if (!(in >> target)) {
        out << "usage: /ping NAME" << std::endl;
        continue;
      }
      do_ping(out, self, node, cfg, target);
    } else if (word == "/peers") {
      do_peers(out, self, node);
    } else if (word == "/routes") {
      do_routes(out, self, node);
    } else if (word == "/traceroute") {
      std::string target;
      if (!(in >> target)) {
        out << "usage: /traceroute NAME" << std::endl;
        continue;
      }
      do_traceroute(out, self, node, cfg, target);
    } else if (word == "/stats") {
      do_stats(out, self, node);
    } else if (word == "/reload") {
      // Reading the file and closing links may take a moment; the node
      // bounds it (its own 60 s for the file, 10 s for the links).
      self->request(node, std::chrono::seconds(75), reload_atom::value)
          .receive(
              [&](const reload_report& r) {
                out << describe(r) << std::endl;
                if (!r.restart_needed.empty()) {
                  out << "needs a restart to take effect:";
                  for (const auto& k : r.restart_needed)
                    out << ' ' << k;
                  out << std::endl;
                }
              },
              [&](const caf::error& err) {
                out << "reload failed: " << quilt::describe(err) << std::endl;
              });
    } else if (word[0] == '/') {
      out << "unknown command " << word << " (try /help)" << std::endl;
    } else {
      std::string text;
      std::getline(in >> std::ws, text);
      std::optional<uint64_t> sent;
      self->request(node, request_timeout, send_atom::value, word, text)
          .receive(
              [&](const send_result& r) {
                if (r.accepted) {
                  out << "sent to " << word << " (id " << r.id << ")"
                      << std::endl;
                  sent = r.id;
                } else {
                  out << "not sent to " << word << ": " << r.error << std::endl;
                }
              },
              [&](const caf::error& err) {
                out << "send failed: " << quilt::describe(err) << std::endl;
              });
      // Unicast only, and only while the node confirms; after "sent",
      // which the outcome must not overtake.
      if (sent && !is_broadcast(word) && cfg.delivery_timeout_ms > 0) {
        done();
        print_outcome(sys, node, word, *sent);
      }
    }
  }
  done();
}

caf::actor spawn_event_printer(caf::actor_system& sys) {
  return sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {
      [](const event_batch& b) {
        std::string out;
        if (b.dropped > 0)
          out += std::to_string(b.dropped) + " events dropped (the line "
                                             "interface fell behind)\n";
        for (auto& e : b.events)
          out += event_line(e) + '\n';
        say(out);
        return true; // ready for the next batch
      },
    };
  });
}

void say(std::string_view text) {
  static std::mutex mtx;
  if (text.empty())
    return;
  std::lock_guard<std::mutex> guard{mtx};
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

} // namespace quilt

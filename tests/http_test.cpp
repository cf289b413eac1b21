// The HTTP endpoint (SPEC §15) against stand-in nodes: a node that does not
// answer gets 503 within the deadline, not a hung socket; paths and methods;
// the /metrics text; and the reload plan (what a changed file changes).

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "quilt/actors.hpp"
#include "quilt/documents.hpp"
#include "quilt/http.hpp"
#include "quilt/node.hpp"
#include "quilt/reload.hpp"

using namespace quilt;
using namespace std::chrono_literals;

namespace {

/// A port nobody listens on right now (the kernel's pick).
uint16_t some_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct http_answer {
  int status = 0;
  std::string text; ///< Headers and body.
};

/// One HTTP/1.0 request over a plain socket.
http_answer fetch(uint16_t port, const std::string& method,
                  const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  http_answer out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return out;
  }
  auto req = method + " " + path + " HTTP/1.0\r\nHost: x\r\n\r\n";
  (void) !::write(fd, req.data(), req.size());
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0)
    out.text.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (out.text.rfind("HTTP/1.", 0) == 0 && out.text.size() > 12)
    out.status = std::stoi(out.text.substr(9, 3));
  return out;
}

/// A stand-in node answering status (or never, with `silent`).
caf::actor stand_in(caf::actor_system& sys, bool silent) {
  return sys.spawn([silent](caf::event_based_actor* self) -> caf::behavior {
    auto held = std::make_shared<std::vector<caf::response_promise>>();
    return {
      [=](status_atom) -> caf::result<node_status> {
        if (silent) {
          held->push_back(self->make_response_promise());
          return caf::delegated<node_status>{};
        }
        node_status s;
        s.name = "stand-in";
        s.uptime_ms = 1500;
        return s;
      },
    };
  });
}

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  fixture() {
    configure_actor_system(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "http: a node that does not answer gets 503 in time") {
  auto node = stand_in(*sys, true);
  http_options opts;
  opts.port = some_free_port();
  opts.deadline = 300ms;
  auto started = http_server::start(*sys, caf::actor_cast<node_actor>(node),
                                    opts);
  REQUIRE(std::holds_alternative<std::unique_ptr<http_server>>(started));
  auto begin = std::chrono::steady_clock::now();
  auto r = fetch(opts.port, "GET", "/healthz");
  auto took = std::chrono::steady_clock::now() - begin;
  CHECK(r.status == 503);
  CHECK(took >= 300ms);
  CHECK(took < 3s);
  CHECK(fetch(opts.port, "GET", "/status").status == 503);
  CHECK(fetch(opts.port, "GET", "/metrics").status == 503);
  // Paths and methods are answered without asking the node.
  CHECK(fetch(opts.port, "GET", "/").status == 200);
  CHECK(fetch(opts.port, "GET", "/nope").status == 404);
  auto post = fetch(opts.port, "POST", "/metrics");
  CHECK(post.status == 405);
  CHECK(post.text.find("Allow: GET") != std::string::npos);
  started = std::string{};
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "http: a node that answers is healthy") {
  auto node = stand_in(*sys, false);
  http_options opts;
  opts.port = some_free_port();
  auto started = http_server::start(*sys, caf::actor_cast<node_actor>(node),
                                    opts);
  REQUIRE(std::holds_alternative<std::unique_ptr<http_server>>(started));
  auto r = fetch(opts.port, "GET", "/healthz");
  CHECK(r.status == 200);
  CHECK(r.text.size() >= 3);
  CHECK(r.text.substr(r.text.size() - 3) == "ok\n");
  auto s = fetch(opts.port, "GET", "/status");
  CHECK(s.status == 200);
  CHECK(s.text.find("Content-Type: application/json") != std::string::npos);
  CHECK(s.text.find("\"name\":\"stand-in\"") != std::string::npos);
  // A second server on the same port says why it cannot start.
  auto again = http_server::start(*sys, caf::actor_cast<node_actor>(node),
                                  opts);
  REQUIRE(std::holds_alternative<std::string>(again));
  CHECK(std::get<std::string>(again) == "Address already in use");
  started = std::string{};
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}

TEST_CASE("http: /metrics is the counters, then three gauges") {
  node_status st;
  st.name = "a\"b";
  st.peers_up = 2;
  st.routes = 5;
  st.uptime_ms = 3605118;
  node_stats counters;
  counters.rx = 7;
  auto text = metrics_text(st, counters);
  CHECK(text.rfind(prometheus_text(st.name, stats_fields(counters)), 0) == 0);
  auto tail = text.substr(prometheus_text(st.name, stats_fields(counters)).size());
  CHECK(tail == "# TYPE quilt_peers_up gauge\n"
                "quilt_peers_up{node=\"a\\\"b\"} 2\n"
                "# TYPE quilt_routes gauge\n"
                "quilt_routes{node=\"a\\\"b\"} 5\n"
                "# TYPE quilt_uptime_seconds gauge\n"
                "quilt_uptime_seconds{node=\"a\\\"b\"} 3605.118\n");
  st.uptime_ms = 42;
  CHECK(metrics_text(st, counters).find("} 0.042\n") != std::string::npos);
}

TEST_CASE("reload: the plan compares the file with the running config") {
  node_config running;
  running.name = "a";
  running.port = 5501;
  running.peers = {{"127.0.0.1", 5502, ""}, {"127.0.0.1", 5503, ""},
                   {"10.0.0.1", 5501, "KEYONE"}};
  auto loaded = running;
  SECTION("nothing changed") {
    auto plan = plan_reload(running, loaded);
    CHECK_FALSE(plan.changes_anything());
    CHECK(plan.restart_needed.empty());
  }
  SECTION("peers added, removed, and one whose key changed") {
    loaded.peers = {{"127.0.0.1", 5503, ""}, {"127.0.0.1", 5504, ""},
                    {"10.0.0.1", 5501, "KEYTWO"}};
    auto plan = plan_reload(running, loaded);
    REQUIRE(plan.added.size() == 2);
    CHECK(plan.added[0].port == 5504);
    CHECK(plan.added[1].public_key == "KEYTWO");
    REQUIRE(plan.removed.size() == 2);
    CHECK(plan.removed[0].port == 5502);
    CHECK(plan.removed[1].public_key == "KEYONE");
    CHECK(plan.restart_needed.empty());
    auto next = apply_reload(running, loaded);
    CHECK(next.peers.size() == 3);
  }
  SECTION("keys, dial policy and log level apply; the rest waits") {
    loaded.security.authorized_keys = {"K"};
    loaded.security.dial_allow = {"10.0.0.0/8"};
    loaded.level = log_level::debug;
    loaded.heartbeat_ms = 200;
    loaded.port = 5600;
    loaded.http_port = 9464;
    auto plan = plan_reload(running, loaded);
    CHECK(plan.trust_changed);
    CHECK(plan.level_changed);
    CHECK(plan.restart_needed
          == std::vector<std::string>{"node.port", "timing.heartbeat_ms",
                                      "http.port"});
    auto next = apply_reload(running, loaded);
    CHECK(next.security.authorized_keys == loaded.security.authorized_keys);
    CHECK(next.security.dial_allow == loaded.security.dial_allow);
    CHECK(next.level == log_level::debug);
    // Not applied: named again at the next reload, until a restart.
    CHECK(next.port == 5501);
    CHECK(next.heartbeat_ms == running.heartbeat_ms);
    CHECK(next.http_port == 0);
    CHECK(plan_reload(next, loaded).restart_needed.size() == 3);
  }
}

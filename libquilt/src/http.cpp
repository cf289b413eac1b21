// The HTTP endpoint (SPEC §15) on libmicrohttpd.
//
// One thread per connection (MHD_USE_THREAD_PER_CONNECTION), at most
// max_connections of them: a request waits for the node's answer with a
// deadline, blocking only its own connection's thread, and none of CAF's.
// Each request asks the node through a scoped_actor, as quilt-console does,
// and prints the answer with the console's serializers (documents.hpp).
#include "quilt/http.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <cstring>
#include <mutex>
#include <optional>

#include <caf/all.hpp>
#include <microhttpd.h>

#include "quilt/console.hpp"
#include "quilt/documents.hpp"
#include "quilt/log.hpp"

namespace quilt {

struct http_server::impl {
  caf::actor_system& sys;
  node_actor node;
  http_options opts;
  MHD_Daemon* daemon = nullptr;

  impl(caf::actor_system& s, node_actor n, http_options o)
    : sys(s), node(std::move(n)), opts(std::move(o)) {
  }

  ~impl() {
    if (daemon)
      MHD_stop_daemon(daemon);
  }
};

namespace {

struct reply {
  unsigned status = MHD_HTTP_OK;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

reply text(unsigned status, std::string body) {
  reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

reply json_reply(const nlohmann::json& doc) {
  reply r;
  r.content_type = "application/json";
  r.body = doc.dump() + '\n';
  return r;
}

/// Asks the node and waits at most the deadline; empty on no answer.
template <class Result, class... Ts>
std::optional<Result> ask(http_server::impl& s, caf::scoped_actor& self,
                          Ts&&... xs) {
  std::optional<Result> result;
  self->request(s.node, s.opts.deadline, std::forward<Ts>(xs)...)
    .receive([&](Result& r) { result = std::move(r); },
             [&](caf::error&) {});
  return result;
}

reply unavailable(const http_server::impl& s) {
  return text(MHD_HTTP_SERVICE_UNAVAILABLE,
              "the node did not answer within "
                + std::to_string(s.opts.deadline.count()) + " ms\n");
}

/// Answers a GET of `path`.
reply answer(http_server::impl& s, const std::string& path) {
  if (path == "/") {
    reply r;
    r.content_type = "text/html; charset=utf-8";
    r.body = mesh_page();
    return r;
  }
  bool known = path == "/metrics" || path == "/healthz" || path == "/status"
               || path == "/peers" || path == "/routes"
               || path == "/topology";
  if (!known)
    return text(MHD_HTTP_NOT_FOUND, "not found\n");
  caf::scoped_actor self{s.sys};
  if (path == "/metrics") {
    auto st = ask<node_status>(s, self, status_atom::value);
    auto counters = st ? ask<node_stats>(s, self, stats_atom::value)
                       : std::nullopt;
    if (!counters)
      return unavailable(s);
    reply r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_text(*st, *counters);
    return r;
  }
  if (path == "/healthz") {
    // Healthy: the node's actors answer a request within the deadline.
    if (!ask<node_status>(s, self, status_atom::value))
      return unavailable(s);
    return text(MHD_HTTP_OK, "ok\n");
  }
  if (path == "/status") {
    auto x = ask<node_status>(s, self, status_atom::value);
    return x ? json_reply(status_json(*x)) : unavailable(s);
  }
  if (path == "/peers") {
    auto x = ask<std::vector<peer_info>>(s, self, peers_atom::value);
    return x ? json_reply(peers_json(*x)) : unavailable(s);
  }
  if (path == "/routes") {
    auto x = ask<std::vector<route_entry>>(s, self, routes_atom::value);
    return x ? json_reply(routes_json(*x)) : unavailable(s);
  }
  auto x = ask<mesh_topology>(s, self, topology_atom::value);
  return x ? json_reply(topology_json(*x)) : unavailable(s);
}

MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                      const char* method, const char* /*version*/,
                      const char* /*upload_data*/,
                      size_t* /*upload_data_size*/, void** /*con_cls*/) {
  auto& s = *static_cast<http_server::impl*>(cls);
  reply r;
  bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0;
  if (!get) {
    r = text(MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is served\n");
  } else {
    // No exception may reach libmicrohttpd's C frames.
    try {
      r = answer(s, url);
    } catch (const std::exception& e) {
      r = text(MHD_HTTP_INTERNAL_SERVER_ERROR,
               std::string{"internal error: "} + e.what() + '\n');
    }
  }
  auto* response = MHD_create_response_from_buffer(
    r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
  if (!response)
    return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                          r.content_type.c_str());
  MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
                          "no-store");
  if (r.status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET");
  // The page may load nothing from elsewhere; its own script and style are
  // inline, and it fetches only from this endpoint.
  if (r.content_type.rfind("text/html", 0) == 0)
    MHD_add_response_header(response, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; "
                            "img-src 'self' data:");
  auto result = MHD_queue_response(connection, r.status, response);
  MHD_destroy_response(response);
  return result;
}

/// libmicrohttpd's messages, at most one a second: past the connection
/// limit it reports every connection it closes, which a burst of clients
/// would turn into a line each.
void on_log(void* cls, const char* fmt, va_list ap) {
  char line[512];
  std::vsnprintf(line, sizeof(line), fmt, ap);
  auto n = std::strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  static std::mutex mtx;
  static log_limiter limiter;
  uint64_t held = 0;
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (!limiter.admit("http", std::chrono::steady_clock::now(), held))
      return;
  }
  QUILT_WARN(*static_cast<const std::string*>(cls),
             "http: " << line << held_suffix(held));
}

} // namespace

http_server::http_server(std::unique_ptr<impl> x) : impl_(std::move(x)) {
}

http_server::~http_server() = default;

std::variant<std::unique_ptr<http_server>, std::string>
http_server::start(caf::actor_system& sys, node_actor node,
                   const http_options& opts) {
  // The same check as the console's: libmicrohttpd does not say why a
  // bind failed.
  if (auto problem = console_port_problem(opts.host, opts.port);
      !problem.empty())
    return problem;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(opts.port);
  if (int rc = getaddrinfo(opts.host.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return std::string{gai_strerror(rc)};
  sockaddr_storage addr{};
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  bool v6 = res->ai_family == AF_INET6;
  freeaddrinfo(res);
  auto x = std::make_unique<impl>(sys, std::move(node), opts);
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION
                   | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG
                   | (v6 ? MHD_USE_IPv6 : 0);
  x->daemon = MHD_start_daemon(
    flags, opts.port, nullptr, nullptr, &on_request, x.get(),
    // First, so that every message of libmicrohttpd's goes to our log.
    MHD_OPTION_EXTERNAL_LOGGER, &on_log, &x->opts.name,
    MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr),
    MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(opts.max_connections),
    MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(opts.idle_timeout_s),
    MHD_OPTION_END);
  if (!x->daemon)
    return std::string{"libmicrohttpd could not start"};
  return std::unique_ptr<http_server>{new http_server(std::move(x))};
}

} // namespace quilt

// The node's HTTP endpoint (SPEC §15): /metrics for Prometheus, /healthz,
// the console's JSON documents, and a page that draws the node's view of
// the mesh. Served by libmicrohttpd on threads of its own, never on a CAF
// scheduler thread (docs/ARCHITECTURE.md "HTTP" says why this library).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include <caf/actor_system.hpp>

#include "quilt/actors.hpp"

namespace quilt {

/// How the endpoint is served.
struct http_options {
  /// Names the node in the endpoint's log lines.
  std::string name = "http";
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  /// How long a request waits for the node; past it the answer is 503.
  std::chrono::milliseconds deadline{3000};
  /// Connections served at once, each on its own thread; more are
  /// accepted and closed at once.
  unsigned max_connections = 32;
  /// An idle connection (keep-alive, or a client that stopped sending) is
  /// closed after this long.
  unsigned idle_timeout_s = 10;
};

/// A running HTTP endpoint. Destroying it stops it: it waits for requests
/// under way (each at most `deadline`). It must go before the actor system.
class http_server {
public:
  /// Starts serving `node` on opts.host:opts.port; a one-line reason when it
  /// cannot (e.g. "Address already in use").
  static std::variant<std::unique_ptr<http_server>, std::string>
  start(caf::actor_system& sys, node_actor node, const http_options& opts);

  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  struct impl;

private:
  explicit http_server(std::unique_ptr<impl> x);
  std::unique_ptr<impl> impl_;
};

/// The page served at `/`: self-contained HTML, CSS and JavaScript that
/// fetches the JSON endpoints and /metrics and draws them as SVG.
const std::string& mesh_page();

} // namespace quilt

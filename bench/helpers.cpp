#include "helpers.hpp"

#include <unistd.h>

#include <zmq.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include <caf/all.hpp>

#include "harness.hpp"
#include "quilt/actors.hpp"
#include "quilt/codec.hpp"
#include "quilt/config.hpp"
#include "quilt/link.hpp"
#include "quilt/log.hpp"
#include "quilt/node.hpp"
#include "quilt/zmq_transport.hpp"

namespace bench {

namespace {

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void* bind_router(void* ctx, const std::string& ep) {
  void* r = zmq_socket(ctx, ZMQ_ROUTER);
  set_int(r, ZMQ_RCVHWM, 0);
  set_int(r, ZMQ_SNDHWM, 0);
  set_int(r, ZMQ_LINGER, 0);
  if (zmq_bind(r, ep.c_str()) != 0)
    die("cannot bind " + ep + ": " + zmq_strerror(zmq_errno()));
  return r;
}

void* connect_dealer(void* ctx, uint16_t port, const std::string& id) {
  void* d = zmq_socket(ctx, ZMQ_DEALER);
  if (!id.empty())
    zmq_setsockopt(d, ZMQ_ROUTING_ID, id.data(), id.size());
  set_int(d, ZMQ_SNDHWM, 0);
  set_int(d, ZMQ_RCVHWM, 0);
  set_int(d, ZMQ_LINGER, 0);
  auto ep = "tcp://127.0.0.1:" + std::to_string(port);
  if (zmq_connect(d, ep.c_str()) != 0)
    die("cannot connect " + ep);
  return d;
}

// -- __relay ------------------------------------------------------------------

/// Binds a ROUTER, prints "port P", reads "left P" / "right P" lines until
/// "go", then forwards for ever: a ping goes left (towards the chain's far
/// end) or, at the far end, back right as a pong; everything else goes
/// right. Frames pass untouched (zero-copy); only the routing id is dropped.
/// The DEALERs take libzmq's generated routing ids: two relays dial the
/// same neighbour, and a ROUTER refuses a second connection with an id it
/// already has.
int relay() {
  void* ctx = zmq_ctx_new();
  void* r = bind_router(ctx, "tcp://127.0.0.1:*");
  say("port " + std::to_string(bound_port(r)));
  void* left = nullptr;
  void* right = nullptr;
  char line[128];
  while (std::fgets(line, sizeof(line), stdin)) {
    std::string l{line};
    if (l.rfind("left ", 0) == 0)
      left = connect_dealer(ctx, uint16_t(std::atoi(l.c_str() + 5)), "");
    else if (l.rfind("right ", 0) == 0)
      right = connect_dealer(ctx, uint16_t(std::atoi(l.c_str() + 6)), "");
    else if (l.rfind("go", 0) == 0)
      break;
  }
  if (!right)
    return 2;
  zmq_msg_t rid, dest, cmd, part;
  zmq_msg_init(&rid);
  zmq_msg_init(&dest);
  zmq_msg_init(&cmd);
  zmq_msg_init(&part);
  for (;;) {
    if (zmq_msg_recv(&rid, r, 0) < 0 || !zmq_msg_more(&rid))
      continue;
    zmq_msg_recv(&dest, r, 0);
    if (!zmq_msg_more(&dest))
      continue;
    zmq_msg_recv(&cmd, r, 0);
    bool more = zmq_msg_more(&cmd);
    bool ping = zmq_msg_size(&cmd) == 4 &&
                std::memcmp(zmq_msg_data(&cmd), "ping", 4) == 0;
    void* out = right;
    if (ping && left) {
      out = left;
    } else if (ping) {
      zmq_msg_close(&cmd);
      zmq_msg_init_size(&cmd, 4);
      std::memcpy(zmq_msg_data(&cmd), "pong", 4);
    }
    zmq_msg_send(&dest, out, ZMQ_SNDMORE);
    zmq_msg_send(&cmd, out, more ? ZMQ_SNDMORE : 0);
    while (more) {
      zmq_msg_recv(&part, r, 0);
      more = zmq_msg_more(&part); // read before the send empties it
      zmq_msg_send(&part, out, more ? ZMQ_SNDMORE : 0);
    }
  }
}

// -- __raw-node ---------------------------------------------------------------

/// Binds 127.0.0.1:PORT; a server_connect makes it dial the sender back
/// (and answer with its own), a ping is answered with a pong on that link.
int raw_node(uint16_t port) {
  void* ctx = zmq_ctx_new();
  void* r = bind_router(ctx, "tcp://127.0.0.1:" + std::to_string(port));
  void* back = nullptr;
  frames f;
  uint64_t id = 1;
  for (;;) {
    if (!recv_frames(r, f) || f.size() < 6)
      continue;
    // f: [routing id, dest, cmd, origin, id, ttl, args...]
    if (f[2] == "server_connect" && f.size() >= 9 && !back) {
      back = connect_dealer(ctx, uint16_t(std::atoi(f[7].c_str())), "bench-a");
      send_frames(back,
                  {f[3], "server_connect", "bench-a", std::to_string(id++), "1",
                   "127.0.0.1", std::to_string(port), "quilt/1"});
    } else if (f[2] == "ping" && back) {
      frames pong{f[3], "pong", "bench-a", std::to_string(id++), "8", f[4]};
      if (f.size() >= 7)
        pong.push_back(f[6]);
      send_frames(back, pong);
    }
  }
}

// -- __link-recv --------------------------------------------------------------

void print_rate(uint64_t got, uint64_t n, int64_t first, int64_t last) {
  if (got < n || last <= first) {
    say("timeout " + std::to_string(got));
    return;
  }
  double rate = double(n - 1) / (double(last - first) / 1e9);
  say("done " + std::to_string(rate));
}

int link_recv_raw(uint16_t port, uint64_t n, int timeout_s) {
  void* ctx = zmq_ctx_new();
  void* s = bind_router(ctx, "tcp://127.0.0.1:" + std::to_string(port));
  set_int(s, ZMQ_RCVTIMEO, timeout_s * 1000);
  say("ready");
  zmq_msg_t part;
  zmq_msg_init(&part);
  int64_t first = 0;
  uint64_t got = 0;
  for (; got < n; ++got) {
    bool ok = true;
    do {
      if (zmq_msg_recv(&part, s, 0) < 0) {
        ok = false;
        break;
      }
    } while (zmq_msg_more(&part));
    if (!ok)
      break;
    if (got == 0)
      first = int64_t(now_ns());
  }
  print_rate(got, n, first, int64_t(now_ns()));
  std::_Exit(0); // no teardown: the parent waits for this line only
}

/// Counts what a Quilt listener delivers, on the transport's thread.
struct counting_sink : quilt::inbound_sink {
  std::atomic<uint64_t> got{0};
  std::atomic<int64_t> first{0};
  std::atomic<int64_t> last{0};
  uint64_t n = 0;
  void frames(quilt::inbound_batch&& batch, quilt::flow_credit c) override {
    if (got == 0)
      first = int64_t(now_ns());
    got += batch.size();
    if (got >= n && last == 0)
      last = int64_t(now_ns());
    c.settle();
  }
  void messages(std::string, quilt::message_batch&&,
                std::shared_ptr<std::atomic<uint64_t>>) override {}
};

int link_recv_quilt(uint16_t port, uint64_t n, int timeout_s) {
  quilt::zmq_transport net{quilt::zmq_transport::scheme::tcp};
  auto sink = std::make_shared<counting_sink>();
  sink->n = n;
  quilt::listen_options opts;
  auto res = net.listen(net.endpoint("127.0.0.1", port), opts);
  if (!std::holds_alternative<quilt::listener_id>(res)) {
    say("error " + std::get<std::string>(res));
    std::_Exit(1);
  }
  net.attach(std::get<quilt::listener_id>(res), sink);
  say("ready");
  uint64_t deadline = now_ns() + uint64_t(timeout_s) * 1000000000u;
  while (sink->last == 0 && now_ns() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  print_rate(sink->got, n, sink->first, sink->last);
  std::_Exit(0);
}

// -- __memory -----------------------------------------------------------------

/// N raw "nodes" on a ring over tcp: a ROUTER each and a DEALER to each
/// neighbour (a Quilt link is a connection each way), every connection
/// carrying one message, then idle.
int memory_raw(size_t n) {
  void* ctx = zmq_ctx_new();
  zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, int(4 * n + 64));
  say("base " + std::to_string(rss_bytes()));
  std::vector<void*> routers, dealers;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < n; ++i) {
    routers.push_back(bind_router(ctx, "tcp://127.0.0.1:*"));
    ports.push_back(bound_port(routers.back()));
  }
  for (size_t i = 0; i < n; ++i)
    for (size_t peer : {(i + 1) % n, (i + n - 1) % n}) {
      dealers.push_back(
          connect_dealer(ctx, ports[peer], "m" + std::to_string(i)));
      send_frames(dealers.back(), {"hello"});
    }
  size_t got = 0;
  frames f;
  uint64_t deadline = now_ns() + 30000000000u;
  while (got < dealers.size() && now_ns() < deadline) {
    bool any = false;
    for (auto r : routers)
      while (recv_frames(r, f, ZMQ_DONTWAIT)) {
        ++got;
        any = true;
      }
    if (!any)
      usleep(1000);
  }
  if (got < dealers.size()) {
    say("error only " + std::to_string(got) + " connections up");
    std::_Exit(1);
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  say("idle " + std::to_string(rss_bytes()));
  std::_Exit(0);
}

/// N Quilt nodes (quiltd's defaults, console off) on a ring over tcp in one
/// actor system and one transport, as quilt-sim runs them; idle once every
/// node has both neighbours up and a route to every other node.
int memory_quilt(size_t n) {
  quilt::set_log_level(quilt::log_level::warning);
  caf::actor_system_config cfg;
  quilt::configure_actor_system(cfg);
  caf::actor_system sys{cfg};
  auto net =
      std::make_shared<quilt::zmq_transport>(quilt::zmq_transport::scheme::tcp);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  say("base " + std::to_string(rss_bytes()));
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < n; ++i)
    ports.push_back(free_port());
  std::vector<quilt::node_actor> nodes;
  for (size_t i = 0; i < n; ++i) {
    quilt::node_config c;
    c.name = "m" + std::to_string(i);
    c.port = ports[i];
    c.advertise = c.host;
    c.console_port = 0;
    c.level = quilt::log_level::warning;
    c.peers.push_back({"127.0.0.1", ports[(i + 1) % n], ""});
    auto res = quilt::start_node(sys, c, net);
    if (auto err = std::get_if<std::string>(&res)) {
      say("error " + *err);
      std::_Exit(1);
    }
    nodes.push_back(std::get<quilt::node_actor>(res));
  }
  caf::scoped_actor self{sys};
  uint64_t deadline = now_ns() + 60000000000u;
  size_t settled = 0;
  while (now_ns() < deadline) {
    settled = 0;
    for (auto& node : nodes)
      self->request(node, std::chrono::seconds(5), quilt::summary_atom::value,
                    uint32_t{0})
          .receive(
              [&](const quilt::node_summary& s) {
                if (s.peers_up == (n > 2 ? 2 : n - 1) && s.routes + 1 >= n)
                  ++settled;
              },
              [&](const caf::error&) {});
    if (settled == n)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (settled < n) {
    say("error only " + std::to_string(settled) + " nodes settled");
    std::_Exit(1);
  }
  // Idle: a few heartbeats with nothing but heartbeats.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  say("idle " + std::to_string(rss_bytes()));
  std::_Exit(0);
}

} // namespace

int run_helper(const std::vector<std::string>& a) {
  auto num = [&](size_t i) {
    return i < a.size() ? std::strtoull(a[i].c_str(), nullptr, 10) : 0;
  };
  if (a[0] == "__relay")
    return relay();
  if (a[0] == "__raw-node" && a.size() == 2)
    return raw_node(uint16_t(num(1)));
  if (a[0] == "__link-recv" && a.size() == 5) {
    if (a[1] == "raw")
      return link_recv_raw(uint16_t(num(2)), num(3), int(num(4)));
    return link_recv_quilt(uint16_t(num(2)), num(3), int(num(4)));
  }
  if (a[0] == "__memory" && a.size() == 3) {
    if (a[1] == "raw")
      return memory_raw(num(2));
    return memory_quilt(num(2));
  }
  std::fprintf(stderr, "quilt-bench: bad helper arguments\n");
  return 2;
}

// -- the link layer's sending side --------------------------------------------

void link_send_impl(bool quilt_link, uint16_t port, uint64_t n,
                    const std::string& payload, void (*wait_done)(void*),
                    void* arg) {
  if (!quilt_link) {
    void* ctx = zmq_ctx_new();
    void* s = connect_dealer(ctx, port, "bench-a");
    for (uint64_t i = 0; i < n; ++i)
      send_frames(s, bench_msg("bench-b", "bench-a", 1000000000 + i, payload));
    wait_done(arg);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return;
  }
  quilt::zmq_transport net{quilt::zmq_transport::scheme::tcp};
  quilt::dial_options opts;
  opts.identity = "bench-a";
  opts.queue_limit = n;
  opts.max_queue_age_ms = 60000;
  auto link = net.dial(net.endpoint("127.0.0.1", port), opts);
  quilt::message_batch batch;
  for (uint64_t i = 0; i < n; ++i) {
    batch.emplace_back();
    quilt::decode(bench_msg("bench-b", "bench-a", 1000000000 + i, payload),
                  65536, {}, batch.back());
    if (batch.size() == 256 || i + 1 == n) {
      link->send(batch);
      batch.clear();
    }
  }
  wait_done(arg);
}

} // namespace bench

#include "paths.hpp"

#include <unistd.h>

#include <zmq.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace bench {

namespace {

void* make_socket(void* ctx, int type, const std::string& id) {
  void* s = zmq_socket(ctx, type);
  if (!id.empty())
    zmq_setsockopt(s, ZMQ_ROUTING_ID, id.data(), id.size());
  set_int(s, ZMQ_SNDHWM, 0); // unbounded: the window bounds what is in flight
  set_int(s, ZMQ_RCVHWM, 0);
  set_int(s, ZMQ_LINGER, 0);
  return s;
}

void connect_to(void* s, uint16_t port) {
  auto ep = "tcp://127.0.0.1:" + std::to_string(port);
  if (zmq_connect(s, ep.c_str()) != 0)
    die("cannot connect to " + ep);
}

void* bind_sink(void* ctx) {
  void* s = make_socket(ctx, ZMQ_ROUTER, "");
  if (zmq_bind(s, "tcp://127.0.0.1:*") != 0)
    die("cannot bind the sink ROUTER");
  return s;
}

std::string node_name(size_t i) {
  return "bench-q" + std::to_string(i);
}

} // namespace

path::~path() {
  for (void* s : {src_, sink_, pinger_})
    if (s)
      zmq_close(s);
  for (auto& p : procs_)
    p.stop();
  for (auto& f : files_)
    unlink(f.c_str());
  if (!dir_.empty())
    rmdir(dir_.c_str());
}

std::unique_ptr<path> path::raw(void* ctx, size_t k) {
  auto p = std::make_unique<path>();
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < k; ++i) {
    p->procs_.push_back(child::spawn({self_path(), "__relay"}, true));
    std::string line;
    if (!p->procs_.back().read_line(line, 10000) || line.rfind("port ", 0) != 0)
      die("a raw forwarder did not start");
    ports.push_back(uint16_t(std::atoi(line.c_str() + 5)));
  }
  p->sink_ = bind_sink(ctx);
  uint16_t sink_port = bound_port(p->sink_);
  for (size_t i = 0; i < k; ++i) {
    if (i > 0)
      p->procs_[i].write_line("left " + std::to_string(ports[i - 1]));
    p->procs_[i].write_line(
        "right " + std::to_string(i + 1 < k ? ports[i + 1] : sink_port));
    p->procs_[i].write_line("go");
  }
  p->src_ = make_socket(ctx, ZMQ_DEALER, "bench-src");
  connect_to(p->src_, k > 0 ? ports[0] : sink_port);
  if (k > 0) {
    p->pinger_ = make_socket(ctx, ZMQ_DEALER, "bench-b");
    connect_to(p->pinger_, ports[k - 1]);
  }
  p->ping_target_ = node_name(1);
  return p;
}

std::unique_ptr<path> path::quilt(void* ctx, size_t k,
                                  const quiltd_options& opts) {
  auto p = std::make_unique<path>();
  p->quilt_ = true;
  char tmpl[] = "/tmp/quilt-bench.XXXXXX";
  if (!mkdtemp(tmpl))
    die("mkdtemp failed");
  p->dir_ = tmpl;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < k; ++i)
    ports.push_back(free_port());
  for (size_t i = 0; i < k; ++i) {
    auto file = p->dir_ + "/" + node_name(i + 1) + ".toml";
    {
      std::ofstream toml{file};
      toml << "[node]\nname = \"" << node_name(i + 1)
           << "\"\nhost = \"127.0.0.1\"\nport = " << ports[i] << "\n";
      if (opts.processors > 0)
        toml << "processors = " << opts.processors << "\n";
      if (i + 1 < k)
        toml << "\n[[peers]]\naddress = \"127.0.0.1\"\nport = " << ports[i + 1]
             << "\n";
      toml << "\n[console]\nport = 0\n\n[timing]\nheartbeat_ms = 1000\n"
           << "\n[limits]\nqueue_limit = 1000000\n\n[log]\nlevel = "
              "\"warning\"\n";
    } // closed (and flushed) before quiltd reads it
    p->files_.push_back(file);
    p->procs_.push_back(child::spawn({opts.quiltd, file}, false));
  }
  p->sink_ = bind_sink(ctx);
  uint16_t sink_port = bound_port(p->sink_);
  p->pinger_ = make_socket(ctx, ZMQ_DEALER, "bench-b");
  connect_to(p->pinger_, ports[k - 1]);
  p->src_ = make_socket(ctx, ZMQ_DEALER, "bench-src");
  connect_to(p->src_, ports[0]);
  p->ping_target_ = node_name(1);
  // Announce bench-b to the last node until it dials back, then probe
  // until a message from bench-src reaches the sink through every node and
  // the far end's pong comes back.
  bool announced = false, routed = false, ponged = false;
  uint64_t deadline = now_ns() + 30000000000u;
  uint64_t next_try = 0;
  std::string probe_nonce = "probe";
  frames& f = p->buf_;
  while (now_ns() < deadline && !(announced && routed && ponged)) {
    if (!p->alive()) {
      std::fprintf(stderr, "quilt-bench: a quiltd exited while starting\n");
      return nullptr;
    }
    if (now_ns() >= next_try) {
      next_try = now_ns() + 200000000u;
      if (!announced)
        send_frames(p->pinger_,
                    {node_name(k), "server_connect", "bench-b",
                     std::to_string(p->next_id_++), "1", "127.0.0.1",
                     std::to_string(sink_port), "quilt/1"},
                    ZMQ_DONTWAIT);
      else {
        send_frames(p->src_,
                    bench_msg("bench-b", "bench-src", p->next_id_++, "probe"),
                    ZMQ_DONTWAIT);
        send_frames(p->pinger_,
                    {p->ping_target_, "ping", "bench-b",
                     std::to_string(p->next_id_++), "8", probe_nonce},
                    ZMQ_DONTWAIT);
      }
    }
    wait_readable(p->sink_, 50);
    while (recv_frames(p->sink_, f, ZMQ_DONTWAIT)) {
      // f: [routing id, dest, cmd, origin, id, ttl, args...]
      if (f.size() >= 3 && f[2] == "server_connect")
        announced = true;
      else if (f.size() == 7 && f[2] == "msg" && f[3] == "bench-src")
        routed = true;
      else if (f.size() >= 8 && f[2] == "pong" && f.back() == probe_nonce)
        ponged = true;
      else
        p->control(f);
    }
  }
  // quiltd has read its config: nothing is left behind if we are killed.
  for (auto& file : p->files_)
    unlink(file.c_str());
  p->files_.clear();
  rmdir(p->dir_.c_str());
  p->dir_.clear();
  if (!(announced && routed && ponged)) {
    std::fprintf(stderr,
                 "quilt-bench: %zu quiltd nodes never routed to the sink "
                 "(announced %d, routed %d, ponged %d)\n",
                 k, announced, routed, ponged);
    return nullptr;
  }
  return p;
}

void path::control(const frames& f) {
  if (quilt_ && f.size() >= 6 && f[2] == "ping" && f[1] == "bench-b") {
    frames pong{f[3], "pong", "bench-b", std::to_string(next_id_++), "8", f[4]};
    if (f.size() >= 7)
      pong.push_back(f[6]);
    send_frames(pinger_, pong, ZMQ_DONTWAIT);
  }
}

uint64_t path::pump(uint64_t count, uint64_t first_id, uint64_t window,
                    const std::string& payload, int timeout_ms,
                    uint64_t& t_first_send, uint64_t& t_last_recv) {
  uint64_t sent = 0, received = 0;
  uint64_t deadline = now_ns() + uint64_t(timeout_ms) * 1000000u;
  frames msg = bench_msg("bench-b", "bench-src", first_id, payload);
  frames& f = buf_;
  t_first_send = now_ns();
  t_last_recv = t_first_send;
  while (received < count) {
    while (sent < count && sent - received < window) {
      msg[3] = std::to_string(first_id + sent);
      if (!send_frames(src_, msg, ZMQ_DONTWAIT))
        break;
      ++sent;
    }
    bool any = false;
    while (recv_frames(sink_, f, ZMQ_DONTWAIT)) {
      any = true;
      if (f.size() == 7 && f[2] == "msg") {
        if (std::strtoull(f[4].c_str(), nullptr, 10) >= first_id) {
          ++received;
          t_last_recv = now_ns();
        }
      } else {
        control(f);
      }
    }
    if (!any) {
      if (now_ns() > deadline)
        break;
      bool can_send = sent < count && sent - received < window;
      zmq_pollitem_t its[2] = {{sink_, 0, ZMQ_POLLIN, 0},
                               {src_, 0, ZMQ_POLLOUT, 0}};
      zmq_poll(its, can_send ? 2 : 1, 100);
    }
  }
  return received;
}

bool path::pings(int count, size_t size, std::vector<double>& out) {
  if (!pinger_)
    return false;
  frames& f = buf_;
  for (int i = 0; i < count; ++i) {
    auto id = next_id_++;
    auto n = nonce(id, size);
    uint64_t s = now_ns();
    send_frames(pinger_,
                {ping_target_, "ping", "bench-b", std::to_string(id), "8", n});
    bool got = false;
    uint64_t deadline = s + 5000000000u;
    while (!got && now_ns() < deadline) {
      if (!recv_frames(sink_, f, ZMQ_DONTWAIT)) {
        wait_readable(sink_, 100);
        continue;
      }
      if (f.size() >= 7 && f[2] == "pong" && f.back() == n) {
        out.push_back(double(now_ns() - s) / 1e3);
        got = true;
      } else {
        control(f);
      }
    }
    if (!got)
      return false;
  }
  return true;
}

bool path::alive() {
  for (auto& p : procs_)
    if (!p.running())
      return false;
  return true;
}

std::vector<pid_t> path::pids() const {
  std::vector<pid_t> out;
  for (auto& p : procs_)
    out.push_back(p.pid());
  return out;
}

} // namespace bench

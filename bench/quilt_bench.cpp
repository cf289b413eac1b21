// quilt_bench: throughput and latency of one Quilt node's forwarding path,
// compared with raw libzmq over the same tcp loopback, in the same run.
//
//   raw    a DEALER in this process sends N six-frame messages to a ROUTER
//          sink in a forked child process; then DEALER <-> ROUTER echo RTT.
//   quilt  a real quiltd (node A) is spawned. This process plays node B with
//          a ROUTER it binds (A dials it after B's server_connect) and a
//          DEALER into A's ROUTER (routing id "bench-b"), and plays a sending
//          peer "bench-src" with another DEALER into A's ROUTER. N `msg`
//          messages addressed to bench-b go bench-src -> A -> fake B:
//          ROUTER -> reactor -> incoming link -> processor -> protocol ->
//          peer actor -> reactor -> DEALER. Then ping RTT: bench-b pings A,
//          A's pong comes back through A's DEALER to the fake-B ROUTER.
//
// Usage: quilt_bench [--quiltd PATH] [-n N] [--window W] [--size BYTES]
//                    [--pings K] [--processors P] [--timeout-s S]
//                    [--min-ratio R] [--repeat R] [--skip-raw]
// quiltd defaults to $QUILTD. Prints a table and one JSON line starting with
// "QUILT_BENCH_JSON ". Each throughput is the median of --repeat runs
// (default 3; every run sends N). Exit 0 when every phase completed (and the ratio is at
// least --min-ratio, default 0 = not checked), 1 otherwise, 2 on bad usage.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

// -- helpers ------------------------------------------------------------------

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); // shared by all processes of the host
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

void die(const std::string& what) {
  std::fprintf(stderr, "quilt_bench: %s\n", what.c_str());
  std::exit(1);
}

void set_int(void* s, int opt, int value) {
  if (zmq_setsockopt(s, opt, &value, sizeof(value)) != 0)
    die(std::string{"zmq_setsockopt: "} + zmq_strerror(zmq_errno()));
}

using frames = std::vector<std::string>;

/// Sends `f` as one multipart message; false on EAGAIN (with ZMQ_DONTWAIT).
bool send_frames(void* s, const frames& f, int flags = 0) {
  for (size_t i = 0; i < f.size(); ++i) {
    int more = i + 1 < f.size() ? ZMQ_SNDMORE : 0;
    // Only the first frame can fail with EAGAIN: once the first part of a
    // multipart message is queued, the rest is accepted atomically.
    int rc = zmq_send(s, f[i].data(), f[i].size(), more | (i == 0 ? flags : 0));
    if (rc < 0) {
      if (zmq_errno() == EAGAIN && i == 0)
        return false;
      die(std::string{"zmq_send: "} + zmq_strerror(zmq_errno()));
    }
  }
  return true;
}

/// Receives one multipart message into `out`; false on EAGAIN/timeout.
bool recv_frames(void* s, frames& out, int flags = 0) {
  out.clear();
  zmq_msg_t m;
  zmq_msg_init(&m);
  for (;;) {
    int rc = zmq_msg_recv(&m, s, out.empty() ? flags : 0);
    if (rc < 0) {
      int e = zmq_errno();
      zmq_msg_close(&m);
      if ((e == EAGAIN || e == EINTR) && out.empty())
        return false;
      die(std::string{"zmq_msg_recv: "} + zmq_strerror(e));
    }
    out.emplace_back(static_cast<const char*>(zmq_msg_data(&m)),
                     zmq_msg_size(&m));
    if (!zmq_msg_more(&m))
      break;
  }
  zmq_msg_close(&m);
  return true;
}

/// A TCP port that was free a moment ago on 127.0.0.1.
uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
    die("cannot find a free port");
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

uint16_t bound_port(void* s) {
  char ep[256];
  size_t len = sizeof(ep);
  zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len);
  std::string e{ep};
  return static_cast<uint16_t>(std::stoi(e.substr(e.rfind(':') + 1)));
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(p * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct options {
  std::string quiltd;
  uint64_t n = 200000;
  uint64_t window = 20000;
  size_t size = 16;
  int pings = 2000;
  int processors = 0; // 0: quiltd's default
  int timeout_s = 60;
  double min_ratio = 0;
  bool skip_raw = false;
  int repeat = 3; // throughput runs per path; the median is reported
};

double median(std::vector<double> v) {
  return percentile(std::move(v), 0.5);
}

/// The six frames of message number `id`, as both phases send them.
frames make_msg(uint64_t id, const std::string& text) {
  return {"bench-b", "msg", "bench-src", std::to_string(id), "8", text};
}

// -- raw libzmq ---------------------------------------------------------------

struct raw_result {
  bool ok = false;
  uint64_t received = 0;
  std::vector<double> runs; // msgs/s of each run
  double msgs_per_s = 0;
  double echo_p50_us = 0;
  double echo_p99_us = 0;
};

/// The forked sink: a ROUTER that counts `msg` messages and reports the time
/// of the last one; echoes "echo" messages; ends on "quit".
[[noreturn]] void raw_sink(int port_pipe, uint64_t n) {
  void* ctx = zmq_ctx_new();
  void* r = zmq_socket(ctx, ZMQ_ROUTER);
  set_int(r, ZMQ_RCVHWM, 0);
  set_int(r, ZMQ_SNDHWM, 0);
  set_int(r, ZMQ_LINGER, 1000);
  if (zmq_bind(r, "tcp://127.0.0.1:*") != 0)
    _exit(3);
  uint16_t port = bound_port(r);
  if (write(port_pipe, &port, sizeof(port)) != sizeof(port))
    _exit(3);
  close(port_pipe);
  uint64_t count = 0, first = 0, last = 0;
  frames f;
  auto report = [&](const std::string& rid) {
    send_frames(r, {rid, "done", std::to_string(count), std::to_string(first),
                    std::to_string(last)});
  };
  for (;;) {
    if (!recv_frames(r, f))
      continue;
    if (f.size() < 2)
      continue;
    // f: [routing id, dest, cmd, origin, id, ttl, text] or a control message.
    if (f.size() == 7 && f[2] == "msg") {
      last = now_ns();
      if (count++ == 0)
        first = last;
      if (count == n)
        report(f[0]);
    } else if (f[1] == "echo") {
      send_frames(r, f);
    } else if (f[1] == "report") {
      report(f[0]);
    } else if (f[1] == "reset") {
      count = first = last = 0;
      send_frames(r, {f[0], "reset"});
    } else if (f[1] == "quit") {
      break;
    }
  }
  zmq_close(r);
  zmq_ctx_term(ctx);
  _exit(0);
}

raw_result run_raw(const options& opt, const std::string& text) {
  raw_result res;
  int fds[2];
  if (pipe(fds) != 0)
    die("pipe failed");
  // Fork before this process makes any ZeroMQ context.
  pid_t child = fork();
  if (child < 0)
    die("fork failed");
  if (child == 0) {
    close(fds[0]);
    raw_sink(fds[1], opt.n);
  }
  close(fds[1]);
  uint16_t port = 0;
  if (read(fds[0], &port, sizeof(port)) != sizeof(port))
    die("raw sink did not start");
  close(fds[0]);

  void* ctx = zmq_ctx_new();
  void* d = zmq_socket(ctx, ZMQ_DEALER);
  set_int(d, ZMQ_SNDHWM, 0); // unbounded: TCP pushes back, nothing is lost
  set_int(d, ZMQ_RCVHWM, 0);
  set_int(d, ZMQ_LINGER, 0);
  int timeout_ms = opt.timeout_s * 1000;
  set_int(d, ZMQ_RCVTIMEO, timeout_ms);
  std::string ep = "tcp://127.0.0.1:" + std::to_string(port);
  if (zmq_connect(d, ep.c_str()) != 0)
    die("raw connect failed");
  frames f;
  // Warm up the connection: one echo round trip, then reset the counter.
  send_frames(d, {"echo"});
  if (!recv_frames(d, f))
    die("raw sink does not answer");
  // Warm-up traffic first, so every run starts on a warm path.
  for (uint64_t i = 0; i < std::min<uint64_t>(1000, opt.n); ++i)
    send_frames(d, make_msg(i + 1, text));
  res.ok = true;
  for (int run = 0; run < opt.repeat && res.ok; ++run) {
    send_frames(d, {"reset"});
    do {
      if (!recv_frames(d, f))
        die("raw sink does not answer");
    } while (f.empty() || f[0] != "reset");
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < opt.n; ++i)
      send_frames(d, make_msg(i + 1, text));
    bool got = recv_frames(d, f);
    if (!got) {
      send_frames(d, {"report"});
      got = recv_frames(d, f);
    }
    res.ok = false;
    if (got && f.size() == 4 && f[0] == "done") {
      res.received = std::stoull(f[1]);
      uint64_t last = std::stoull(f[3]);
      if (res.received == opt.n && last > t0) {
        res.ok = true;
        res.runs.push_back(double(opt.n) / (double(last - t0) / 1e9));
      }
    }
  }
  res.msgs_per_s = median(res.runs);
  // Echo latency.
  std::vector<double> rtts;
  rtts.reserve(opt.pings);
  auto echo = make_msg(0, text);
  echo.insert(echo.begin(), "echo");
  for (int i = 0; i < opt.pings; ++i) {
    uint64_t s = now_ns();
    send_frames(d, echo);
    if (!recv_frames(d, f)) {
      res.ok = false;
      break;
    }
    rtts.push_back(double(now_ns() - s) / 1e3);
  }
  res.echo_p50_us = percentile(rtts, 0.5);
  res.echo_p99_us = percentile(rtts, 0.99);
  send_frames(d, {"quit"});
  zmq_close(d);
  zmq_ctx_term(ctx);
  int status = 0;
  waitpid(child, &status, 0);
  return res;
}

// -- quilt --------------------------------------------------------------------

struct quilt_result {
  bool ok = false;
  bool connected = false;
  uint64_t received = 0;
  std::vector<double> runs; // msgs/s of each run
  double msgs_per_s = 0;
  double ping_p50_us = 0;
  double ping_p99_us = 0;
  uint64_t heartbeats_answered = 0;
};

struct quiltd_proc {
  pid_t pid = -1;
  std::string dir;

  ~quiltd_proc() { stop(); }

  void stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100; ++i) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
          pid = -1;
          break;
        }
        usleep(50000);
      }
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        pid = -1;
      }
    }
    if (!dir.empty()) {
      unlink((dir + "/a.toml").c_str());
      rmdir(dir.c_str());
      dir.clear();
    }
  }
};

/// Fake node B plus the sending peer, all in this process.
class quilt_bench {
public:
  quilt_bench(const options& opt, uint16_t a_port) : opt_(opt) {
    ctx_ = zmq_ctx_new();
    std::string a_ep = "tcp://127.0.0.1:" + std::to_string(a_port);
    // B's listening side: A dials it after our server_connect.
    b_router_ = zmq_socket(ctx_, ZMQ_ROUTER);
    set_int(b_router_, ZMQ_RCVHWM, 0);
    set_int(b_router_, ZMQ_LINGER, 0);
    if (zmq_bind(b_router_, "tcp://127.0.0.1:*") != 0)
      die("cannot bind the fake-B ROUTER");
    b_port_ = bound_port(b_router_);
    // B's outgoing link to A, as a node would dial it.
    b_dealer_ = zmq_socket(ctx_, ZMQ_DEALER);
    zmq_setsockopt(b_dealer_, ZMQ_ROUTING_ID, "bench-b", 7);
    set_int(b_dealer_, ZMQ_LINGER, 0);
    zmq_connect(b_dealer_, a_ep.c_str());
    // The sending peer: its routing id is a node name, so A sees a peer.
    src_ = zmq_socket(ctx_, ZMQ_DEALER);
    zmq_setsockopt(src_, ZMQ_ROUTING_ID, "bench-src", 9);
    set_int(src_, ZMQ_SNDHWM, 0);
    set_int(src_, ZMQ_LINGER, 0);
    zmq_connect(src_, a_ep.c_str());
  }

  ~quilt_bench() {
    zmq_close(src_);
    zmq_close(b_dealer_);
    zmq_close(b_router_);
    zmq_ctx_term(ctx_);
  }

  /// Sends server_connect until A announces itself on the fake-B ROUTER.
  bool handshake(int timeout_ms) {
    uint64_t deadline = now_ns() + uint64_t(timeout_ms) * 1000000u;
    uint64_t next_announce = 0;
    frames f;
    while (now_ns() < deadline) {
      if (now_ns() >= next_announce) {
        send_frames(b_dealer_, {"bench-a", "server_connect", "bench-b",
                                std::to_string(next_id_++), "1", "127.0.0.1",
                                std::to_string(b_port_), "quilt/1"},
                    ZMQ_DONTWAIT);
        next_announce = now_ns() + 300000000u;
      }
      zmq_pollitem_t it{b_router_, 0, ZMQ_POLLIN, 0};
      zmq_poll(&it, 1, 50);
      while (recv_frames(b_router_, f, ZMQ_DONTWAIT)) {
        handle_control(f);
        if (f.size() >= 3 && f[2] == "server_connect")
          a_announced_ = true;
      }
      if (a_announced_)
        return true;
    }
    return false;
  }

  /// Sends `count` messages with at most `window` in flight; returns how
  /// many arrived at the fake B within the timeout. Sets first/last times.
  uint64_t pump(uint64_t count, uint64_t first_id, const std::string& text,
                int timeout_ms, uint64_t& t_first_send, uint64_t& t_last_recv) {
    uint64_t sent = 0, received = 0;
    uint64_t deadline = now_ns() + uint64_t(timeout_ms) * 1000000u;
    frames f;
    t_first_send = now_ns();
    t_last_recv = t_first_send;
    while (received < count) {
      // Send up to the window.
      while (sent < count && sent - received < opt_.window) {
        if (!send_frames(src_, make_msg(first_id + sent, text), ZMQ_DONTWAIT))
          break;
        ++sent;
      }
      // Drain what arrived.
      bool any = false;
      while (recv_frames(b_router_, f, ZMQ_DONTWAIT)) {
        any = true;
        if (f.size() == 7 && f[2] == "msg") {
          ++received;
          t_last_recv = now_ns();
        } else {
          handle_control(f);
        }
      }
      if (!any) {
        if (now_ns() > deadline)
          break;
        bool can_send = sent < count && sent - received < opt_.window;
        zmq_pollitem_t its[2] = {{b_router_, 0, ZMQ_POLLIN, 0},
                                 {src_, 0, ZMQ_POLLOUT, 0}};
        zmq_poll(its, can_send ? 2 : 1, 100);
      }
    }
    return received;
  }

  /// Ping A from B, wait for the pong at the fake-B ROUTER.
  bool ping_rtts(int count, std::vector<double>& out) {
    frames f;
    for (int i = 0; i < count; ++i) {
      auto id = next_id_++;
      auto nonce = "n" + std::to_string(id);
      uint64_t s = now_ns();
      send_frames(b_dealer_,
                  {"bench-a", "ping", "bench-b", std::to_string(id), "8", nonce});
      bool got = false;
      uint64_t deadline = s + 5000000000u;
      while (!got && now_ns() < deadline) {
        zmq_pollitem_t it{b_router_, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 100);
        while (recv_frames(b_router_, f, ZMQ_DONTWAIT)) {
          if (f.size() == 8 && f[2] == "pong" && f[7] == nonce) {
            out.push_back(double(now_ns() - s) / 1e3);
            got = true;
          } else {
            handle_control(f);
          }
        }
      }
      if (!got)
        return false;
    }
    return true;
  }

  uint64_t heartbeats_answered() const { return heartbeats_; }
  uint16_t b_port() const { return b_port_; }

private:
  /// Keeps B up in A's eyes: answers A's heartbeat pings with pongs.
  void handle_control(const frames& f) {
    // f: [routing id, dest, cmd, origin, id, ttl, args...]
    if (f.size() >= 6 && f[2] == "ping" && f[1] == "bench-b") {
      frames pong{f[3], "pong", "bench-b", std::to_string(next_id_++), "8",
                  f[4]};
      if (f.size() >= 7)
        pong.push_back(f[6]);
      send_frames(b_dealer_, pong, ZMQ_DONTWAIT);
      ++heartbeats_;
    }
  }

  const options& opt_;
  void* ctx_ = nullptr;
  void* b_router_ = nullptr;
  void* b_dealer_ = nullptr;
  void* src_ = nullptr;
  uint16_t b_port_ = 0;
  uint64_t next_id_ = 1;
  uint64_t heartbeats_ = 0;
  bool a_announced_ = false;
};

// -- raw forwarder: the same two hops as the quilt case, no node logic ----------

struct forwarder_proc {
  pid_t pid = -1;
  int to_child = -1;   ///< Carries the fake-B port to the child.
  uint16_t port = 0;   ///< The forwarder's ROUTER.

  ~forwarder_proc() { stop(); }

  void stop() {
    if (to_child >= 0)
      close(to_child);
    to_child = -1;
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
      pid = -1;
    }
  }
};

/// A forked ROUTER -> DEALER forwarder (routing id "bench-a") that passes
/// frames through untouched: what a node would cost if it did nothing.
/// Forked before this process makes any ZeroMQ context.
void start_forwarder(forwarder_proc& fp) {
  int up[2], down[2];
  if (pipe(up) != 0 || pipe(down) != 0)
    die("pipe failed");
  pid_t child = fork();
  if (child < 0)
    die("fork failed");
  if (child == 0) {
    close(up[0]);
    close(down[1]);
    signal(SIGTERM, SIG_DFL);
    void* ctx = zmq_ctx_new();
    void* r = zmq_socket(ctx, ZMQ_ROUTER);
    set_int(r, ZMQ_RCVHWM, 0);
    set_int(r, ZMQ_LINGER, 0);
    if (zmq_bind(r, "tcp://127.0.0.1:*") != 0)
      _exit(3);
    uint16_t port = bound_port(r);
    if (write(up[1], &port, sizeof(port)) != sizeof(port))
      _exit(3);
    uint16_t b_port = 0;
    if (read(down[0], &b_port, sizeof(b_port)) != sizeof(b_port))
      _exit(0); // not used this run
    void* d = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(d, ZMQ_ROUTING_ID, "bench-a", 7);
    set_int(d, ZMQ_SNDHWM, 0);
    set_int(d, ZMQ_LINGER, 0);
    std::string ep = "tcp://127.0.0.1:" + std::to_string(b_port);
    zmq_connect(d, ep.c_str());
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
      // Drop the routing id, pass the rest on zero-copy.
      if (zmq_msg_recv(&m, r, 0) < 0)
        continue;
      bool more = zmq_msg_more(&m);
      while (more) {
        zmq_msg_recv(&m, r, 0);
        more = zmq_msg_more(&m); // read before the send empties m
        zmq_msg_send(&m, d, more ? ZMQ_SNDMORE : 0);
      }
    }
  }
  close(up[1]);
  close(down[0]);
  fp.pid = child;
  fp.to_child = down[1];
  if (read(up[0], &fp.port, sizeof(fp.port)) != sizeof(fp.port))
    die("forwarder did not start");
  close(up[0]);
}

/// Warm-up, then --repeat throughput runs of `b`, into `res`.
void run_pumps(const options& opt, const std::string& text, quilt_bench& b,
               quilt_result& res) {
  int timeout_ms = opt.timeout_s * 1000;
  uint64_t t0 = 0, t1 = 0;
  // Warm-up: connects bench-src, spawns its link actor, warms the caches.
  uint64_t warm = std::min<uint64_t>(5000, opt.n);
  if (b.pump(warm, 1, text, 10000, t0, t1) != warm) {
    std::fprintf(stderr, "quilt_bench: warm-up messages did not arrive\n");
    return;
  }
  uint64_t next_id = warm + 1;
  res.ok = true;
  for (int run = 0; run < opt.repeat && res.ok; ++run) {
    res.received = b.pump(opt.n, next_id, text, timeout_ms, t0, t1);
    next_id += opt.n;
    res.ok = res.received == opt.n && t1 > t0;
    if (res.ok)
      res.runs.push_back(double(opt.n) / (double(t1 - t0) / 1e9));
  }
  res.msgs_per_s = median(res.runs);
}

quilt_result run_forward(const options& opt, const std::string& text,
                         forwarder_proc& fp) {
  quilt_result res;
  quilt_bench b{opt, fp.port};
  uint16_t b_port = b.b_port();
  if (write(fp.to_child, &b_port, sizeof(b_port)) != sizeof(b_port))
    die("forwarder pipe failed");
  run_pumps(opt, text, b, res);
  return res;
}

quilt_result run_quilt(const options& opt, const std::string& text) {
  quilt_result res;
  quiltd_proc proc;
  char tmpl[] = "/tmp/quilt_bench.XXXXXX";
  if (!mkdtemp(tmpl))
    die("mkdtemp failed");
  proc.dir = tmpl;
  uint16_t a_port = free_port();
  {
    std::ofstream toml{proc.dir + "/a.toml"};
    toml << "[node]\nname = \"bench-a\"\nhost = \"127.0.0.1\"\nport = "
         << a_port << "\n";
    if (opt.processors > 0)
      toml << "processors = " << opt.processors << "\n";
    toml << "\n[console]\nport = 0\n\n[timing]\nheartbeat_ms = 1000\n"
         << "\n[limits]\nqueue_limit = 1000000\n\n[log]\nlevel = \"warning\"\n";
  }
  std::string cfg_path = proc.dir + "/a.toml";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv{const_cast<char*>(opt.quiltd.c_str()),
                          const_cast<char*>(cfg_path.c_str()), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, opt.quiltd.c_str(), &fa, nullptr, argv.data(),
                       environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    die("cannot start " + opt.quiltd + ": " + std::strerror(rc));
  proc.pid = pid;

  quilt_bench b{opt, a_port};
  if (!b.handshake(10000)) {
    std::fprintf(stderr, "quilt_bench: node A never connected to fake B\n");
    return res;
  }
  res.connected = true;
  run_pumps(opt, text, b, res);
  if (!res.ok)
    return res;
  std::vector<double> rtts;
  if (!b.ping_rtts(opt.pings, rtts)) {
    std::fprintf(stderr, "quilt_bench: a ping got no pong\n");
    res.ok = false;
  }
  res.ping_p50_us = percentile(rtts, 0.5);
  res.ping_p99_us = percentile(rtts, 0.99);
  res.heartbeats_answered = b.heartbeats_answered();
  int status = 0;
  if (waitpid(proc.pid, &status, WNOHANG) == proc.pid) {
    proc.pid = -1;
    std::fprintf(stderr, "quilt_bench: quiltd exited during the run\n");
    res.ok = false;
  }
  return res;
}

[[noreturn]] void usage(int status) {
  std::fprintf(status ? stderr : stdout,
               "usage: quilt_bench [--quiltd PATH] [-n N] [--window W] "
               "[--size BYTES]\n"
               "                   [--pings K] [--processors P] "
               "[--timeout-s S] [--min-ratio R] [--repeat R] [--skip-raw]\n"
               "quiltd defaults to $QUILTD.\n");
  std::exit(status);
}

} // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  options opt;
  if (auto env = std::getenv("QUILTD"))
    opt.quiltd = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        usage(2);
      return argv[++i];
    };
    try {
      if (a == "--quiltd")
        opt.quiltd = next();
      else if (a == "-n" || a == "--count")
        opt.n = std::stoull(next());
      else if (a == "--window")
        opt.window = std::stoull(next());
      else if (a == "--size")
        opt.size = std::stoul(next());
      else if (a == "--pings")
        opt.pings = std::stoi(next());
      else if (a == "--processors")
        opt.processors = std::stoi(next());
      else if (a == "--timeout-s")
        opt.timeout_s = std::stoi(next());
      else if (a == "--min-ratio")
        opt.min_ratio = std::stod(next());
      else if (a == "--repeat")
        opt.repeat = std::stoi(next());
      else if (a == "--skip-raw")
        opt.skip_raw = true;
      else if (a == "-h" || a == "--help")
        usage(0);
      else
        usage(2);
    } catch (const std::exception&) {
      usage(2);
    }
  }
  if (opt.quiltd.empty()) {
    std::fprintf(stderr, "quilt_bench: give --quiltd PATH or set QUILTD\n");
    return 2;
  }
  if (opt.n == 0 || opt.window == 0 || opt.pings <= 0 || opt.repeat <= 0)
    usage(2);
  std::string text(opt.size, 'x');

  forwarder_proc fp;
  if (!opt.skip_raw)
    start_forwarder(fp); // forks: before any ZeroMQ context here
  raw_result raw;
  quilt_result fwd;
  if (!opt.skip_raw) {
    raw = run_raw(opt, text);
    fwd = run_forward(opt, text, fp);
    fp.stop();
  }
  auto q = run_quilt(opt, text);
  double ratio = raw.msgs_per_s > 0 ? q.msgs_per_s / raw.msgs_per_s : 0;

  auto list = [](const std::vector<double>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i)
      out += (i ? "," : "") + std::to_string(static_cast<uint64_t>(v[i]));
    return out + "]";
  };
  std::printf("quilt_bench: N=%" PRIu64 " six-frame messages, text %zu bytes,"
              " window %" PRIu64 " (quilt), median of %d runs\n",
              opt.n, opt.size, opt.window, opt.repeat);
  std::printf("  %-34s %14s %12s %12s\n", "path", "msgs/s", "p50 us",
              "p99 us");
  if (!opt.skip_raw)
    std::printf("  %-34s %14.0f %12.1f %12.1f%s\n",
                "raw libzmq DEALER->ROUTER (echo)", raw.msgs_per_s,
                raw.echo_p50_us, raw.echo_p99_us,
                raw.ok ? "" : "  INCOMPLETE");
  if (!opt.skip_raw)
    std::printf("  %-34s %14.0f %12s %12s%s\n",
                "raw forwarder, quilt's 2 hops", fwd.msgs_per_s, "-", "-",
                fwd.ok ? "" : "  INCOMPLETE");
  std::printf("  %-34s %14.0f %12.1f %12.1f%s\n", "quilt node A forward (ping)",
              q.msgs_per_s, q.ping_p50_us, q.ping_p99_us,
              q.ok ? ""
                   : (" INCOMPLETE (" + std::to_string(q.received) + "/"
                      + std::to_string(opt.n) + " received)")
                       .c_str());
  double fwd_ratio = fwd.msgs_per_s > 0 ? q.msgs_per_s / fwd.msgs_per_s : 0;
  if (!opt.skip_raw)
    std::printf("  ratio quilt/raw: %.3f (target 0.7); quilt/raw forwarder:"
                " %.3f\n", ratio, fwd_ratio);
  std::printf("QUILT_BENCH_JSON {\"n\":%" PRIu64 ",\"size\":%zu,\"window\":%" PRIu64
              ",\"raw_ok\":%s,\"raw_msgs_per_s\":%.0f,\"raw_echo_p50_us\":%.1f,"
              "\"raw_echo_p99_us\":%.1f,\"quilt_ok\":%s,\"quilt_received\":%" PRIu64
              ",\"quilt_msgs_per_s\":%.0f,\"quilt_ping_p50_us\":%.1f,"
              "\"quilt_ping_p99_us\":%.1f,\"ratio\":%.3f,\"raw_runs\":%s,"
              "\"quilt_runs\":%s,\"fwd_ok\":%s,\"fwd_msgs_per_s\":%.0f,"
              "\"fwd_runs\":%s,\"ratio_vs_fwd\":%.3f}\n",
              opt.n, opt.size, opt.window, raw.ok ? "true" : "false",
              raw.msgs_per_s, raw.echo_p50_us, raw.echo_p99_us,
              q.ok ? "true" : "false", q.received, q.msgs_per_s, q.ping_p50_us,
              q.ping_p99_us, ratio, list(raw.runs).c_str(),
              list(q.runs).c_str(), fwd.ok ? "true" : "false",
              fwd.msgs_per_s, list(fwd.runs).c_str(), fwd_ratio);
  std::fflush(stdout);
  bool ok = q.ok && (opt.skip_raw || (raw.ok && fwd.ok));
  if (ok && !opt.skip_raw && opt.min_ratio > 0 && ratio < opt.min_ratio) {
    std::fprintf(stderr, "quilt_bench: ratio %.3f below --min-ratio %.3f\n",
                 ratio, opt.min_ratio);
    ok = false;
  }
  return ok ? 0 : 1;
}

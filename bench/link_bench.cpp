// link_bench: one Quilt link (zmq_transport dial -> listen, across two
// processes over tcp loopback) against raw libzmq DEALER -> ROUTER, in the
// same run. Both send N six-frame messages; the receiving process measures
// from its first message to its last and reports through a pipe.
//
//   link_bench [-n N]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.h>

#include "quilt/codec.hpp"
#include "quilt/link.hpp"
#include "quilt/packed.hpp"
#include "quilt/zmq_transport.hpp"

namespace {

using steady = std::chrono::steady_clock;

std::vector<std::string> six_frames(uint64_t i) {
  return {"bench-b", "msg", "bench-a", std::to_string(1000000000 + i), "32",
          "sixteen byte txt"};
}

/// Receives n messages on a raw ROUTER bound to `port`; returns msgs/s.
double raw_receive(uint16_t port, uint64_t n) {
  void* ctx = zmq_ctx_new();
  void* s = zmq_socket(ctx, ZMQ_ROUTER);
  int hwm = 0;
  zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
  auto ep = "tcp://127.0.0.1:" + std::to_string(port);
  zmq_bind(s, ep.c_str());
  zmq_msg_t part;
  zmq_msg_init(&part);
  steady::time_point first;
  for (uint64_t got = 0; got < n; ++got) {
    do {
      zmq_msg_recv(&part, s, 0);
    } while (zmq_msg_more(&part));
    if (got == 0)
      first = steady::now();
  }
  auto secs = std::chrono::duration<double>(steady::now() - first).count();
  zmq_msg_close(&part);
  zmq_close(s);
  zmq_ctx_term(ctx);
  return static_cast<double>(n - 1) / secs;
}

void raw_send(uint16_t port, uint64_t n) {
  void* ctx = zmq_ctx_new();
  void* s = zmq_socket(ctx, ZMQ_DEALER);
  int hwm = 0;
  zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
  zmq_setsockopt(s, ZMQ_ROUTING_ID, "bench-a", 7);
  auto ep = "tcp://127.0.0.1:" + std::to_string(port);
  zmq_connect(s, ep.c_str());
  for (uint64_t i = 0; i < n; ++i) {
    auto f = six_frames(i);
    for (size_t k = 0; k < f.size(); ++k)
      zmq_send(s, f[k].data(), f[k].size(), k + 1 < f.size() ? ZMQ_SNDMORE : 0);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1)); // let it drain
  zmq_close(s);
  zmq_ctx_term(ctx);
}

/// Receives n messages through a Quilt listener; returns msgs/s.
double quilt_receive(uint16_t port, uint64_t n) {
  quilt::zmq_transport net{quilt::zmq_transport::scheme::tcp};
  std::atomic<uint64_t> got{0};
  std::atomic<int64_t> first_ns{0};
  std::atomic<int64_t> last_ns{0};
  auto ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             steady::now().time_since_epoch())
      .count();
  };
  /// Counts what the listener delivers, on the reactor thread.
  struct counting_sink : quilt::inbound_sink {
    std::function<void(size_t)> count;
    void frames(quilt::inbound_batch&& batch, quilt::flow_credit) override {
      count(batch.size());
    }
    void messages(std::string, quilt::message_batch&&,
                  std::shared_ptr<std::atomic<uint64_t>>) override {
    }
  };
  auto sink = std::make_shared<counting_sink>();
  sink->count = [&](size_t k) {
    if (got == 0)
      first_ns = ns();
    got += k;
    if (got >= n)
      last_ns = ns();
  };
  quilt::listen_options opts;
  auto res = net.listen(net.endpoint("127.0.0.1", port), opts);
  if (!std::holds_alternative<quilt::listener_id>(res))
    return 0;
  net.attach(std::get<quilt::listener_id>(res), sink);
  while (last_ns == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return static_cast<double>(n - 1) / (static_cast<double>(last_ns - first_ns) / 1e9);
}

void quilt_send(uint16_t port, uint64_t n) {
  quilt::zmq_transport net{quilt::zmq_transport::scheme::tcp};
  quilt::dial_options opts;
  opts.identity = "bench-a";
  opts.queue_limit = n;
  opts.max_queue_age_ms = 60000;
  auto link = net.dial(net.endpoint("127.0.0.1", port), opts);
  quilt::message_batch batch;
  for (uint64_t i = 0; i < n; ++i) {
    batch.emplace_back();
    quilt::decode(six_frames(i), 65536, {}, batch.back());
    if (batch.size() == 256 || i + 1 == n) {
      link->send(batch);
      batch.clear();
    }
  }
  while (link->counters().queued > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::seconds(1));
}

/// Runs receiver in a child process and sender here; returns msgs/s.
template <class Recv, class Send>
double measure(uint16_t port, uint64_t n, Recv recv, Send send) {
  int fds[2];
  if (pipe(fds) != 0)
    std::exit(1);
  auto pid = fork();
  if (pid == 0) {
    double rate = recv(port, n);
    [[maybe_unused]] auto w = write(fds[1], &rate, sizeof(rate));
    std::_Exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::thread sender{[&] { send(port, n); }};
  double rate = 0;
  [[maybe_unused]] auto r = read(fds[0], &rate, sizeof(rate));
  sender.join();
  waitpid(pid, nullptr, 0);
  close(fds[0]);
  close(fds[1]);
  return rate;
}

} // namespace

int main(int argc, char** argv) {
  uint64_t n = 200000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "-n") == 0)
      n = std::strtoull(argv[i + 1], nullptr, 10);
  auto port = static_cast<uint16_t>(20000 + getpid() % 10000);
  std::vector<double> raw, link;
  for (int round = 0; round < 3; ++round) {
    raw.push_back(measure(port, n, raw_receive, raw_send));
    link.push_back(measure(static_cast<uint16_t>(port + 1), n, quilt_receive,
                           quilt_send));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto r = median(raw);
  auto l = median(link);
  if (std::getenv("LINK_BENCH_SPLIT")) {
    // Which side limits: our sender into a raw receiver, and the reverse.
    std::printf("  quilt send -> raw receive   %10.0f msgs/s\n",
                measure(static_cast<uint16_t>(port + 2), n, raw_receive,
                        quilt_send));
    std::printf("  raw send -> quilt receive   %10.0f msgs/s\n",
                measure(static_cast<uint16_t>(port + 3), n, quilt_receive,
                        raw_send));
  }
  std::printf("link_bench: N=%llu six-frame messages, median of 3, tcp "
              "loopback, process to process\n",
              static_cast<unsigned long long>(n));
  std::printf("  raw libzmq DEALER->ROUTER   %10.0f msgs/s\n", r);
  std::printf("  quilt link (dial->listen)   %10.0f msgs/s\n", l);
  std::printf("  ratio quilt/raw: %.3f (target 0.7)\n", l / r);
  std::printf("LINK_BENCH_JSON {\"n\":%llu,\"raw_msgs_per_s\":%.0f,"
              "\"link_msgs_per_s\":%.0f,\"ratio\":%.3f}\n",
              static_cast<unsigned long long>(n), r, l, l / r);
  return 0;
}

// The message paths quilt-bench drives from its own sockets: a chain of K
// raw forwarders or of K quiltd nodes between a source DEALER and a sink
// ROUTER in this process, plus a pinger whose pings travel the chain to its
// far end and come back as pongs to the sink.
//
//   raw, K = 0   src DEALER -> sink ROUTER (one raw hop)
//   raw, K > 0   src -> R1 -> ... -> RK -> sink; pings: pinger -> RK -> ...
//                -> R1, which turns them around -> R2 ... -> RK -> sink
//   quilt, K     src ("bench-src") -> q1 -> ... -> qK -> sink, the fake node
//                "bench-b" that announced itself to qK with server_connect
//                and answers its heartbeats; pings: bench-b -> qK -> ... ->
//                q1, whose pong is routed back to bench-b
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace bench {

/// What the quiltd nodes of a path are given.
struct quiltd_options {
  std::string quiltd; ///< Path of the quiltd binary.
  int processors = 0; ///< 0: quiltd's default.
};

class path {
public:
  path() = default;
  path(const path&) = delete;
  path& operator=(const path&) = delete;
  ~path();

  /// K raw forwarders (K = 0: the source talks to the sink directly).
  static std::unique_ptr<path> raw(void* ctx, size_t k);

  /// K quiltd nodes in a line; returns null (with a message on stderr)
  /// when they do not start or do not route to the sink within 30 s.
  static std::unique_ptr<path> quilt(void* ctx, size_t k,
                                     const quiltd_options& opts);

  /// Sends `count` bench messages with at most `window` in flight and
  /// counts those with an id from `first_id` on at the sink, within
  /// `timeout_ms`. Returns how many arrived; t_first_send / t_last_recv
  /// bound the run.
  uint64_t pump(uint64_t count, uint64_t first_id, uint64_t window,
                const std::string& payload, int timeout_ms,
                uint64_t& t_first_send, uint64_t& t_last_recv);

  /// `count` pings in a row (each waits for its pong, at most 5 s), nonce
  /// of `size` bytes; appends the round trips in microseconds.
  bool pings(int count, size_t size, std::vector<double>& rtts_us);

  /// Whether every process of the path still runs.
  bool alive();

  /// PIDs of the path's processes (quiltd nodes or forwarders).
  std::vector<pid_t> pids() const;

  bool is_quilt() const { return quilt_; }
  size_t hops() const { return procs_.size(); }

private:
  /// quilt: answers heartbeat pings addressed to bench-b.
  void control(const frames& f);

  bool quilt_ = false;
  std::vector<child> procs_;
  std::string dir_;
  std::vector<std::string> files_;
  void* src_ = nullptr;
  void* sink_ = nullptr;
  void* pinger_ = nullptr;
  std::string ping_target_;
  uint64_t next_id_ = 1;
  frames buf_;
};

} // namespace bench

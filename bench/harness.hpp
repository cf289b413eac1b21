// quilt-bench's plumbing: clocks and statistics, raw libzmq helpers, child
// processes that cannot outlive the benchmark, and the message shape every
// scenario sends.
#pragma once

#include <sys/types.h>

#include <csignal>

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

// -- time and statistics ------------------------------------------------------

/// CLOCK_MONOTONIC in nanoseconds (shared by every process of the host).
uint64_t now_ns();

/// The p-quantile (0..1) of `v`, nearest rank; 0 for an empty list.
double percentile(std::vector<double> v, double p);

/// The median of `v`.
double median(std::vector<double> v);

/// Prints "quilt-bench: WHAT", stops every child and exits with status 1.
[[noreturn]] void die(const std::string& what);

// -- raw libzmq ---------------------------------------------------------------

using frames = std::vector<std::string>;

/// Sets an int socket option or dies.
void set_int(void* socket, int option, int value);

/// Sends `f` as one multipart message; false on EAGAIN (with ZMQ_DONTWAIT).
bool send_frames(void* socket, const frames& f, int flags = 0);

/// Receives one multipart message into `out`, re-using its strings' storage
/// so that a steady stream allocates nothing; false on EAGAIN or timeout.
bool recv_frames(void* socket, frames& out, int flags = 0);

/// Waits up to `timeout_ms` for input on `socket`.
bool wait_readable(void* socket, int timeout_ms);

/// The port a socket bound to "tcp://127.0.0.1:*" got.
uint16_t bound_port(void* socket);

/// A TCP port on 127.0.0.1 that was free a moment ago, below the
/// ephemeral range; ports handed out are not handed out again.
uint16_t free_port();

/// The message of every throughput scenario:
/// [dest, msg, origin, id, 8, payload].
frames bench_msg(const std::string& dest, const std::string& origin,
                 uint64_t id, const std::string& payload);

/// A ping nonce of `size` bytes (at least the id's digits) unique to `id`.
std::string nonce(uint64_t id, size_t size);

// -- child processes ----------------------------------------------------------

/// A child process, killed (SIGKILL) with the benchmark if it dies
/// (PR_SET_PDEATHSIG), and by die(). With pipes, its stdin and stdout are
/// ours to write and read by line; without, stdin is /dev/null and stdout
/// is inherited. stderr is always inherited (or /dev/null when `quiet`).
class child {
public:
  child() = default;
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  child(child&& x) noexcept;
  child& operator=(child&& x) noexcept;
  ~child();

  /// Starts argv[0] (a path) with `argv`. `as_limit` caps the address space
  /// (RLIMIT_AS) when nonzero. Dies when the program cannot be started.
  static child spawn(const std::vector<std::string>& argv, bool pipes,
                     bool quiet = false, uint64_t as_limit = 0);

  /// Reads one line of the child's stdout (without the newline) within
  /// `timeout_ms`; false on timeout or end of file.
  bool read_line(std::string& line, int timeout_ms);

  /// Writes `line` and a newline to the child's stdin.
  void write_line(const std::string& line);

  /// Whether it still runs (reaps it when it ended; sets status()).
  bool running();

  /// Waits up to `timeout_ms` for it to end by itself; false if it runs on.
  bool wait(int timeout_ms);

  /// Sends `sig`, waits up to `grace_ms`, then SIGKILL; reaps it.
  void stop(int sig = SIGTERM, int grace_ms = 5000);

  /// The wait status once it ended, -1 before.
  int status() const { return status_; }

  pid_t pid() const { return pid_; }

private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int status_ = -1;
  std::string buffer_;
};

/// Stops every child still running (die() and signal handlers call it).
void stop_all_children();

/// This program's own path (/proc/self/exe), for its helper modes.
std::string self_path();

/// The resident set size of process `pid` (0: this one) in bytes.
uint64_t rss_bytes(pid_t pid = 0);

/// The peak resident set size (VmHWM) of process `pid`'s current program
/// in bytes; 0 once it has ended. Unlike getrusage's ru_maxrss it does not
/// carry the parent's size at fork across exec.
uint64_t hwm_bytes(pid_t pid);

} // namespace bench

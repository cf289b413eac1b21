#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>

namespace bench {

// -- time and statistics ------------------------------------------------------

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(p * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double median(std::vector<double> v) {
  return percentile(std::move(v), 0.5);
}

void die(const std::string& what) {
  std::fflush(stdout);
  std::fprintf(stderr, "quilt-bench: %s\n", what.c_str());
  stop_all_children();
  std::exit(1);
}

// -- raw libzmq ---------------------------------------------------------------

void set_int(void* s, int opt, int value) {
  if (zmq_setsockopt(s, opt, &value, sizeof(value)) != 0)
    die(std::string{"zmq_setsockopt: "} + zmq_strerror(zmq_errno()));
}

bool send_frames(void* s, const frames& f, int flags) {
  for (size_t i = 0; i < f.size(); ++i) {
    int more = i + 1 < f.size() ? ZMQ_SNDMORE : 0;
    // Only the first part can fail with EAGAIN: once it is queued, the
    // rest of a multipart message is accepted atomically.
    int rc = zmq_send(s, f[i].data(), f[i].size(), more | (i == 0 ? flags : 0));
    if (rc < 0) {
      if (zmq_errno() == EAGAIN && i == 0)
        return false;
      die(std::string{"zmq_send: "} + zmq_strerror(zmq_errno()));
    }
  }
  return true;
}

bool recv_frames(void* s, frames& out, int flags) {
  size_t n = 0;
  zmq_msg_t m;
  zmq_msg_init(&m);
  for (;;) {
    int rc = zmq_msg_recv(&m, s, n == 0 ? flags : 0);
    if (rc < 0) {
      int e = zmq_errno();
      if ((e == EAGAIN || e == EINTR) && n == 0) {
        zmq_msg_close(&m);
        out.clear();
        return false;
      }
      if (e == EINTR)
        continue;
      zmq_msg_close(&m);
      die(std::string{"zmq_msg_recv: "} + zmq_strerror(e));
    }
    if (out.size() <= n)
      out.emplace_back();
    out[n++].assign(static_cast<const char*>(zmq_msg_data(&m)),
                    zmq_msg_size(&m));
    if (!zmq_msg_more(&m))
      break;
  }
  zmq_msg_close(&m);
  out.resize(n);
  return true;
}

bool wait_readable(void* s, int timeout_ms) {
  zmq_pollitem_t it{s, 0, ZMQ_POLLIN, 0};
  return zmq_poll(&it, 1, timeout_ms) > 0;
}

uint16_t bound_port(void* s) {
  char ep[256];
  size_t len = sizeof(ep);
  if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) != 0)
    die("ZMQ_LAST_ENDPOINT failed");
  std::string e{ep};
  return static_cast<uint16_t>(std::stoi(e.substr(e.rfind(':') + 1)));
}

uint16_t free_port() {
  // Below Linux's ephemeral range (32768 up): a port from that range can be
  // taken as the source port of another connection between the check and
  // the bind, which made many nodes starting at once collide.
  static uint32_t seed = uint32_t(now_ns() ^ uint64_t(getpid()) << 16);
  static std::set<uint16_t> handed_out; // a child may not have bound it yet
  for (int attempt = 0; attempt < 1000; ++attempt) {
    seed = seed * 1103515245u + 12345u;
    auto port = uint16_t(20000 + (seed >> 8) % 12000);
    if (!handed_out.insert(port).second)
      continue;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      break;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    if (ok)
      return port;
  }
  die("cannot find a free port");
}

frames bench_msg(const std::string& dest, const std::string& origin,
                 uint64_t id, const std::string& payload) {
  return {dest, "msg", origin, std::to_string(id), "8", payload};
}

std::string nonce(uint64_t id, size_t size) {
  std::string s = "n" + std::to_string(id);
  if (s.size() < size)
    s.append(size - s.size(), 'x');
  return s;
}

// -- child processes ----------------------------------------------------------

namespace {

constexpr size_t max_children = 256;
volatile pid_t live_children[max_children];

void track(pid_t pid) {
  for (auto& slot : live_children)
    if (slot == 0) {
      slot = pid;
      return;
    }
}

void untrack(pid_t pid) {
  for (auto& slot : live_children)
    if (slot == pid)
      slot = 0;
}

} // namespace

void stop_all_children() {
  for (auto& slot : live_children) {
    pid_t pid = slot;
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      slot = 0;
    }
  }
}

child::child(child&& x) noexcept
    : pid_(std::exchange(x.pid_, -1)), in_(std::exchange(x.in_, -1)),
      out_(std::exchange(x.out_, -1)), status_(x.status_),
      buffer_(std::move(x.buffer_)) {}

child& child::operator=(child&& x) noexcept {
  if (this != &x) {
    stop();
    pid_ = std::exchange(x.pid_, -1);
    in_ = std::exchange(x.in_, -1);
    out_ = std::exchange(x.out_, -1);
    status_ = x.status_;
    buffer_ = std::move(x.buffer_);
  }
  return *this;
}

child::~child() {
  stop();
}

child child::spawn(const std::vector<std::string>& argv, bool pipes, bool quiet,
                   uint64_t as_limit) {
  int to_child[2] = {-1, -1};
  int from_child[2] = {-1, -1};
  if (pipes &&
      (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0))
    die("pipe failed");
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    die("fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    if (pipes) {
      dup2(to_child[0], STDIN_FILENO);
      dup2(from_child[1], STDOUT_FILENO);
    } else {
      dup2(devnull, STDIN_FILENO);
    }
    if (quiet) {
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    if (as_limit > 0) {
      rlimit r{as_limit, as_limit};
      setrlimit(RLIMIT_AS, &r);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  close(devnull);
  child c;
  c.pid_ = pid;
  track(pid);
  if (pipes) {
    close(to_child[0]);
    close(from_child[1]);
    c.in_ = to_child[1];
    c.out_ = from_child[0];
  }
  return c;
}

bool child::read_line(std::string& line, int timeout_ms) {
  uint64_t deadline = now_ns() + uint64_t(timeout_ms) * 1000000u;
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    if (out_ < 0)
      return false;
    uint64_t now = now_ns();
    if (now >= deadline)
      return false;
    pollfd p{out_, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>((deadline - now) / 1000000u) + 1);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      continue;
    char buf[4096];
    ssize_t n = read(out_, buf, sizeof(buf));
    if (n <= 0) {
      close(out_);
      out_ = -1;
      continue;
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

void child::write_line(const std::string& line) {
  std::string s = line + "\n";
  if (in_ < 0 || write(in_, s.data(), s.size()) != ssize_t(s.size()))
    die("cannot write to a helper process");
}

bool child::running() {
  if (pid_ <= 0)
    return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = st;
    untrack(pid_);
    pid_ = -1;
    return false;
  }
  return true;
}

bool child::wait(int timeout_ms) {
  uint64_t deadline = now_ns() + uint64_t(timeout_ms) * 1000000u;
  while (running()) {
    if (now_ns() >= deadline)
      return false;
    usleep(2000);
  }
  return true;
}

void child::stop(int sig, int grace_ms) {
  if (in_ >= 0) {
    close(in_);
    in_ = -1;
  }
  if (running()) {
    kill(pid_, sig);
    if (!wait(grace_ms)) {
      kill(pid_, SIGKILL);
      int st = 0;
      waitpid(pid_, &st, 0);
      status_ = st;
      untrack(pid_);
      pid_ = -1;
    }
  }
  if (out_ >= 0) {
    close(out_);
    out_ = -1;
  }
}

std::string self_path() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    die("cannot read /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

namespace {

uint64_t status_field(pid_t pid, const char* key) {
  std::string path = pid > 0 ? "/proc/" + std::to_string(pid) + "/status"
                             : std::string{"/proc/self/status"};
  std::ifstream in{path};
  std::string line;
  size_t len = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, len, key) == 0)
      return std::strtoull(line.c_str() + len, nullptr, 10) * 1024;
  return 0;
}

} // namespace

uint64_t rss_bytes(pid_t pid) {
  return status_field(pid, "VmRSS:");
}

uint64_t hwm_bytes(pid_t pid) {
  return status_field(pid, "VmHWM:");
}

} // namespace bench

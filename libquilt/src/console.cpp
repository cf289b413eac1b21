#include "quilt/console.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace quilt {

std::string console_port_problem(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return gai_strerror(rc);
  std::string problem;
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  int one = 1;
  if (fd >= 0)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0)
    problem = std::strerror(errno);
  if (fd >= 0)
    close(fd);
  freeaddrinfo(res);
  return problem;
}

namespace {

/// strerror's text starting lower-case, to follow a colon.
std::string errno_words(int err) {
  std::string text = std::strerror(err);
  if (!text.empty())
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

/// Connects `fd` to `addr`, waiting at most `timeout_ms`; 0 or an errno.
int connect_within(int fd, const addrinfo& addr, int timeout_ms) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (connect(fd, addr.ai_addr, addr.ai_addrlen) == 0)
    return 0;
  if (errno != EINPROGRESS)
    return errno;
  pollfd p{fd, POLLOUT, 0};
  int ready = poll(&p, 1, timeout_ms);
  if (ready == 0)
    return ETIMEDOUT;
  if (ready < 0)
    return errno;
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

} // namespace

std::string tcp_connect_problem(const std::string& host, uint16_t port,
                                int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return "cannot resolve " + host + ": " + gai_strerror(rc);
  int err = 0;
  int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
                  res->ai_protocol);
  err = fd < 0 ? errno : connect_within(fd, *res, timeout_ms);
  if (fd >= 0)
    close(fd);
  freeaddrinfo(res);
  return err == 0 ? std::string{} : errno_words(err);
}

} // namespace quilt

#include "quilt/tcp_connect.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace quilt {

namespace {

/// strerror's text starting lower-case, to follow a colon.
std::string errno_words(int err) {
  std::string text = std::strerror(err);
  if (!text.empty())
    text[0] =
      static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

/// The outcome of a non-blocking connect of `fd`: 0 or an errno.
int finish_connect(int fd, const addrinfo& addr, int timeout_ms) {
  if (::connect(fd, addr.ai_addr, addr.ai_addrlen) == 0)
    return 0;
  if (errno != EINPROGRESS)
    return errno;
  pollfd p{fd, POLLOUT, 0};
  int n = ::poll(&p, 1, timeout_ms);
  if (n <= 0)
    return n == 0 ? ETIMEDOUT : errno;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return errno;
  return err;
}

} // namespace

int tcp_connect(const std::string& host, uint16_t port, int timeout_ms,
                std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
      rc != 0) {
    why = "cannot resolve " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd =
    ::socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
             res->ai_protocol);
  int err = fd < 0 ? errno : finish_connect(fd, *res, timeout_ms);
  freeaddrinfo(res);
  if (err == 0)
    return fd;
  if (fd >= 0)
    ::close(fd);
  why = errno_words(err);
  return -1;
}

} // namespace quilt

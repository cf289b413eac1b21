#include "quilt/console.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "quilt/tcp_connect.hpp"

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
  // As the console's listener will: SO_REUSEADDR, or a port in TIME_WAIT
  // would read as taken.
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
      || bind(fd, res->ai_addr, res->ai_addrlen) != 0)
    problem = std::strerror(errno);
  if (fd >= 0)
    close(fd);
  freeaddrinfo(res);
  return problem;
}

std::string tcp_connect_problem(const std::string& host, uint16_t port,
                                int timeout_ms) {
  std::string why;
  if (int fd = tcp_connect(host, port, timeout_ms, why); fd >= 0)
    close(fd);
  return why;
}

} // namespace quilt

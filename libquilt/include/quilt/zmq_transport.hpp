// The ZeroMQ bridge: one reactor thread owns every socket of the transport
// (ROUTERs of listening nodes, DEALERs of their links), however many nodes
// share it. Other threads never touch a socket: they post commands to the
// reactor and wake it through an eventfd; it waits on the sockets' ZMQ_FDs
// with epoll, so a thousand sockets cost nothing while idle.
#pragma once

#include <memory>

#include "quilt/link.hpp"

namespace quilt {

/// ZeroMQ tcp or inproc links.
class zmq_transport : public transport {
public:
  enum class scheme { tcp, inproc };

  explicit zmq_transport(scheme s);
  ~zmq_transport() override;

  zmq_transport(const zmq_transport&) = delete;
  zmq_transport& operator=(const zmq_transport&) = delete;

  std::string endpoint(const std::string& address,
                       uint16_t port) const override;

  std::variant<listener_id, std::string>
  listen(const std::string& endpoint, const listen_options& opts) override;

  void attach(listener_id id, inbound_sink_ptr sink) override;

  void close_listener(listener_id id) override;

  void reply(listener_id id, std::string peer, std::string text) override;

  void authorize(listener_id id, std::vector<std::string> keys) override;

  outgoing_link_ptr dial(const std::string& endpoint,
                         const dial_options& opts) override;

  struct impl;

private:
  scheme scheme_;
  std::shared_ptr<impl> impl_;
};

} // namespace quilt

// Direct links for nodes that share a process (quilt-sim's `direct`
// transport): an outgoing link hands its batch of typed messages straight
// to the receiving node's sink as one call, on the sender's thread. No
// ZeroMQ, no reactor thread, no frames packed or decoded.
//
// An endpoint is looked up at every send, so a restarted node that listens
// on the same endpoint is reached again, as a redialling DEALER would reach
// it. Messages to an endpoint nobody listens on, and messages past a link's
// queue limit still waiting at the receiver, are dropped and counted in the
// link's `dropped` (as a DEALER's queue would drop them).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "quilt/link.hpp"

namespace quilt {

class direct_transport : public transport {
public:
  direct_transport();
  ~direct_transport() override;

  direct_transport(const direct_transport&) = delete;
  direct_transport& operator=(const direct_transport&) = delete;

  /// "direct://ADDRESS:PORT".
  std::string endpoint(const std::string& address,
                       uint16_t port) const override;

  std::variant<listener_id, std::string>
  listen(const std::string& endpoint, const listen_options& opts) override;

  void attach(listener_id id, inbound_sink_ptr sink) override;

  void close_listener(listener_id id) override;

  /// Direct links carry no lock-step clients: nothing to reply to.
  void reply(listener_id id, std::string peer, std::string text) override;

  outgoing_link_ptr dial(const std::string& endpoint,
                         const dial_options& opts) override;

  struct registry;

private:
  std::shared_ptr<registry> registry_;
};

} // namespace quilt

// The simulator's network (SPEC §13): a decorator of any transport whose
// outgoing links cross a link model (link_model.hpp) before the wrapped
// transport carries them. quilt-sim wraps every transport in one; nodes,
// their actors and the transports below never know.
//
// What it does to each direction of a link (sender's name -> the name
// that listens on the dialled endpoint):
// - delay, jitter, loss and bandwidth, timed on the actor system's clock
//   (real time, or the test coordinator's virtual time): a message is
//   handed to the wrapped link when it arrives;
// - cuts: a cut link loses everything both ways until healed;
// - stalls: what arrives for a stalled node waits until it resumes, then
//   arrives in the order it was sent.
// A direction with nothing to model (perfect, not cut, not stalled, nothing
// waiting) passes batches straight through: a simulation without a
// [network] runs as it did before the model existed.
//
// What waits in a direction (for its bandwidth, its latency or a stall) is
// bounded by the dialled link's queue_limit; past it messages are dropped
// and counted in the link's `dropped`, as a full DEALER queue would.
//
// A conditioned link shares its counters with the link it wraps
// (dial_options::counters): `queued` is what waits in the model plus what
// waits in the wrapped link, `dropped` what either dropped, `tx` what the
// wrapped link sent plus what the model lost (taken, then lost on the way:
// the sender cannot tell). Messages are sent in order and never reordered,
// whatever changes meanwhile (parameters, stalls, redials).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "quilt/link.hpp"
#include "quilt/link_model.hpp"

namespace quilt {

class conditioned_transport : public transport {
public:

  /// Links of `inner` under the model: `defaults` for every direction not
  /// changed since ([network]); `seed` seeds each direction's draws (with
  /// both names, so a direction draws the same whatever else happens).
  /// Timers run on `sys`'s clock.
  conditioned_transport(caf::actor_system& sys,
                        std::shared_ptr<transport> inner, uint64_t seed,
                        link_params defaults = {});
  ~conditioned_transport() override;

  conditioned_transport(const conditioned_transport&) = delete;
  conditioned_transport& operator=(const conditioned_transport&) = delete;

  // -- transport ---------------------------------------------------------

  std::string endpoint(const std::string& address,
                       uint16_t port) const override;

  /// Also learns which node listens on `endpoint` (opts.name).
  std::variant<listener_id, std::string>
  listen(const std::string& endpoint, const listen_options& opts) override;

  void attach(listener_id id, inbound_sink_ptr sink) override;

  void close_listener(listener_id id) override;

  void reply(listener_id id, std::string peer, std::string text) override;

  void authorize(listener_id id, std::vector<std::string> keys) override;

  /// `inner`'s link to `endpoint`, conditioned in the direction
  /// opts.identity -> the node listening on `endpoint`.
  outgoing_link_ptr dial(const std::string& endpoint,
                         const dial_options& opts) override;

  // -- the simulation's controls (any thread) -----------------------------

  /// Changes link a-b, both directions, from now on.
  void change(const std::string& a, const std::string& b,
              const link_change& c);

  /// Changes every link, and the defaults of links not used yet.
  void change_all(const link_change& c);

  /// The parameters of direction from -> to now (a cut is not one of
  /// them: it stops the link whatever its parameters).
  link_params params(const std::string& from, const std::string& to) const;

  /// Cuts (or heals) link a-b both ways: loss 1.0 while cut, whatever its
  /// parameters; healing restores them.
  void set_cut(const std::string& a, const std::string& b, bool cut);

  /// Heals every cut link.
  void heal_all();

  /// What arrives for `node` until `until` waits, then arrives in the
  /// order sent. Sending from a stalled node is the caller's to stop. A
  /// later call replaces the time (an earlier `until` resumes it sooner).
  void stall(const std::string& node, time_point until);

  /// Messages that entered a link (lost ones included) since the start:
  /// those the links took, not those dropped at a full queue.
  uint64_t transmissions() const;

  /// Messages the model lost (loss draws and cut links).
  uint64_t lost() const;

  struct state;

private:
  std::shared_ptr<transport> inner_;
  std::shared_ptr<state> state_;
};

} // namespace quilt

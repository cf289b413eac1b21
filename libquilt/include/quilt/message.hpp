// The typed form of a Quilt wire message (SPEC §4): what the codec produces
// and what the protocol logic consumes.
#pragma once

#include <cstdint>
#include <utility>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quilt {

/// Every command a node understands. Anything else on the wire is
/// `bad_command`.
enum class command : uint8_t {
  /// "I am ORIGIN, reach me at address:port" (link-local).
  server_connect,
  /// Asks the destination for a `pong`.
  ping,
  /// Answer to a ping: args are the ping id and its optional nonce.
  pong,
  /// A user's text message: exactly one text arg.
  msg,
  /// Sent back to an origin: code, id of the message, optional detail.
  error,
  /// Routing: the origin's up neighbours, one frame of space-separated
  /// names; versioned by the message id (see routing.hpp).
  link_state,
  /// Routing, link-local: acknowledges advertisements ("origin seq"
  /// pairs) and summary parts (their message ids) to the neighbour that
  /// sent them (docs/PROTOCOL.md "Flooding").
  link_ack,
  /// Routing, link-local: part of a summary of the sender's database
  /// (origin names in a range, each with its sequence number), sent when a
  /// link comes up so that each side sends only what the other lacks.
  link_summary,
  /// Confirms a unicast `msg`: sent by the node that stored it to the
  /// msg's origin; one arg, the msg's id (docs/PROTOCOL.md "Delivery
  /// confirmation").
  msg_ack,
};

/// Number of commands, for per-command counter arrays.
inline constexpr size_t command_count = 9;

/// Whether `x` is a routing command: from neighbours only (SPEC §12).
inline bool is_routing(command x) {
  return x == command::link_state || x == command::link_ack
         || x == command::link_summary;
}

/// The wire token of a command, e.g. "server_connect".
const char* to_string(command x);

/// Parses a wire token; nullopt for an unknown token.
std::optional<command> parse_command(std::string_view token);

/// The reserved broadcast destinations.
inline bool is_broadcast(std::string_view destination) {
  return destination == "all" || destination == "*";
}

struct advert_body;

/// Reference counting of advert_body (routing.hpp), defined beside it.
void retain(const advert_body* x) noexcept;
void release(const advert_body* x) noexcept;

/// A counted reference to an immutable link-state advertisement. Eight
/// bytes, half a shared_ptr: a simulation holds one per node and origin.
class advert_ptr {
public:
  advert_ptr() noexcept = default;
  /// Takes a new reference to `p` (which may be null).
  explicit advert_ptr(const advert_body* p) noexcept : p_(p) {
    if (p_)
      retain(p_);
  }
  advert_ptr(const advert_ptr& x) noexcept : advert_ptr(x.p_) {
  }
  advert_ptr(advert_ptr&& x) noexcept : p_(x.p_) {
    x.p_ = nullptr;
  }
  advert_ptr& operator=(advert_ptr x) noexcept {
    std::swap(p_, x.p_);
    return *this;
  }
  ~advert_ptr() {
    if (p_)
      release(p_);
  }
  void reset() noexcept { advert_ptr{}.swap_with(*this); }
  const advert_body* get() const noexcept { return p_; }
  const advert_body* operator->() const noexcept { return p_; }
  const advert_body& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

private:
  void swap_with(advert_ptr& x) noexcept { std::swap(p_, x.p_); }
  const advert_body* p_ = nullptr;
};

/// One decoded message. Args are the frames after ttl, in order.
struct message {
  std::string destination;
  command cmd = command::ping;
  std::string origin;
  uint64_t id = 0;
  uint8_t ttl = 0;
  /// Not on the wire: set on the copies a node forwards, so that a link
  /// that later drops one can take it back out of `forwarded`.
  bool forwarded = false;
  /// Not on the wire: sent over a link that loses nothing it took
  /// (link_counters::lossless), so the receiver does not acknowledge it and
  /// the sender keeps nothing owed for it. From the wire it is false: every
  /// copy that crossed ZeroMQ is acknowledged.
  bool no_ack = false;
  std::vector<std::string> args;
  /// A link_state message between nodes of one process may carry its
  /// advertisement instead of args: shared, not copied per hop. Encoding
  /// writes the advertisement's text as the one arg.
  advert_ptr advert;
  /// The frames the message arrived as (packed.hpp), when its transport
  /// kept them (decode_packed). While `args` is empty the args are read
  /// from here instead of copied out, and a forward sends these frames on
  /// with only the ttl rewritten instead of packing them again. A message
  /// whose destination, command, origin, id or args changed is packed
  /// anew: pack_message checks the header against this before it trusts it.
  std::string wire;

  /// The number of args on the wire.
  size_t arg_count() const;

  /// Arg `i` as on the wire.
  std::string_view arg(size_t i) const;
};

/// Messages for one outgoing link, or from one incoming link.
using message_batch = std::vector<message>;

/// Error codes carried by an `error` command.
inline constexpr std::string_view error_unreachable = "unreachable";
inline constexpr std::string_view error_ttl_expired = "ttl_expired";
inline constexpr std::string_view error_rejected = "rejected";

/// The protocol tag carried by `server_connect`.
inline constexpr std::string_view protocol_tag = "quilt/1";

} // namespace quilt

// Frames <-> message (SPEC §3-4). Pure: no sockets, no actors.
//
// A message on the wire is a list of frames:
//   0 destination   node name, "all" or "*"
//   1 command       [a-z_]{1,32}, one of quilt::command
//   2 origin        node name
//   3 id            decimal u64, no sign, no leading zero
//   4 ttl           decimal 0..255
//   5.. args        command-specific UTF-8 text
// Validation reports the first broken rule in the order of `reject`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "quilt/message.hpp"

namespace quilt {

/// Why a message was rejected. The order is the reporting order of SPEC §3:
/// when several rules are broken, the smallest value is reported.
enum class reject : uint8_t {
  /// Fewer than 5 frames.
  too_few_frames,
  /// More than 64 frames.
  too_many_frames,
  /// The frames add up to more than `max_message_bytes`.
  too_large,
  /// A frame is not valid UTF-8.
  bad_utf8,
  /// Frame 0 is not a node name, `all` or `*`, or not allowed here.
  bad_destination,
  /// Frame 1 is not a known command.
  bad_command,
  /// Frame 2 is not a node name.
  bad_origin,
  /// Frame 3 is not a canonical decimal u64.
  bad_id,
  /// Frame 4 is not a canonical decimal 0..255.
  bad_ttl,
  /// Wrong argument count or an invalid argument.
  bad_args,
  /// Not a codec rule: the node had no room for the message.
  overloaded,
};

inline constexpr size_t reject_count = 11;

/// The wire token, e.g. "bad_ttl".
const char* to_string(reject x);

/// The outcome of `decode`: either `ok` and `msg` filled in, or `reason`
/// and a short human-readable `detail`.
struct decode_result {
  bool ok = false;
  reject reason = reject::too_few_frames;
  std::string detail;
};

/// Validates `frames` (destination first; no routing id, no delimiter) and
/// fills `out`. `max_bytes` bounds the sum of all frame sizes. `self` is the
/// receiving node's name: a `server_connect` addressed to another name is
/// `bad_destination` (empty `self` skips that check). Re-uses the storage of
/// `out` to avoid an allocation per message.
decode_result decode(const std::string_view* frames, size_t count,
                     size_t max_bytes, std::string_view self, message& out);

/// Decodes a packed message (packed.hpp) that it takes over: on success it
/// becomes `out.wire`, and the args are views into it (message::arg)
/// instead of copies.
decode_result decode_packed(std::string&& packed, size_t max_bytes,
                            std::string_view self, message& out);

/// Convenience overload for tests.
decode_result decode(const std::vector<std::string>& frames, size_t max_bytes,
                     std::string_view self, message& out);

/// Appends the frames of `x` to `out` (cleared first).
void encode(const message& x, std::vector<std::string>& out);

/// Returns the frames of `x`.
std::vector<std::string> encode(const message& x);

/// The one-frame reply for a REQ client: "ack", or "err <reason>[ <detail>]".
std::string req_reply(const decode_result& x);

/// Formats `x` as a canonical decimal string.
std::string to_decimal(uint64_t x);

/// Appends `x` in decimal to `out`, without a string of its own.
void append_decimal(std::string& out, uint64_t x);

/// Writes `x` in decimal so that it ends at `end` (room for 20 digits
/// before it); returns its first char. No allocation, no locale.
char* format_decimal(uint64_t x, char* end);

/// Parses a canonical decimal u64 (no sign, no leading zero except "0").
bool parse_decimal(std::string_view in, uint64_t& out);

/// True if `in` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view in);

} // namespace quilt

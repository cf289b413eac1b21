// libFuzzer target: the wire decoder (codec.hpp).
//
// The input is a packed message (packed.hpp: frames, each a 4-byte
// little-endian length and its bytes), which is how a processor receives
// what the reactor read off a socket; it is unpacked exactly as the
// processor does. Checked, beyond "never crashes":
// - the receiving node's name only matters for server_connect: decoding as
//   "alpha" and without a name agree except for its bad_destination;
// - a lower max_message_bytes changes nothing but the too_large verdict;
// - a valid message re-encodes to the very frames it came from (ids and ttl
//   are canonical decimals), packed or not, and decodes again to itself;
// - the REQ reply is "ack" or "err <reason>", valid UTF-8 whatever the
//   input echoed in its detail.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "quilt/codec.hpp"
#include "quilt/packed.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_codec: invariant broken: %s\n", what);
    std::abort();
  }
}

bool same(const quilt::message& a, const quilt::message& b) {
  return a.destination == b.destination && a.cmd == b.cmd
         && a.origin == b.origin && a.id == b.id && a.ttl == b.ttl
         && a.args == b.args;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quilt;
  std::string_view in{reinterpret_cast<const char*>(data), size};
  // As processor.cpp: one slot more than allowed shows an overlong message.
  std::string_view frames[65];
  auto n = std::min(unpack_frames(in, frames, 65), size_t{65});
  constexpr size_t unlimited = SIZE_MAX;
  constexpr size_t limit = 65536; // the default limits.max_message_bytes

  message anon;
  auto r = decode(frames, n, unlimited, "", anon);
  message named;
  auto rn = decode(frames, n, unlimited, "alpha", named);
  // The name adds one bad_destination rule, which comes before the rules
  // that check origin, id, ttl and args.
  if (!rn.ok && (r.ok || r.reason != rn.reason))
    check(rn.reason == reject::bad_destination && frames[1] == "server_connect"
            && frames[0] != "alpha" && (r.ok || r.reason > rn.reason),
          "only a server_connect for another node depends on the name");
  else
    check(r.ok == rn.ok && (r.ok || r.reason == rn.reason),
          "the receiver's name changes nothing else");

  message limited;
  auto rl = decode(frames, n, limit, "", limited);
  size_t total = 0;
  for (size_t i = 0; i < n && i < 64; ++i)
    total += frames[i].size();
  if (rl.ok)
    check(r.ok && total <= limit, "the byte limit only rejects");
  else if (r.ok || rl.reason != r.reason)
    check(rl.reason == reject::too_large && total > limit
            && (r.ok || r.reason > reject::too_large),
          "a byte limit reports too_large in its place of the order");

  auto reply = req_reply(r);
  check(is_valid_utf8(reply), "the REQ reply is UTF-8");
  if (r.ok) {
    check(reply == "ack", "a valid message is acked");
  } else {
    std::string head = std::string{"err "} + to_string(r.reason);
    check(reply.compare(0, head.size(), head) == 0
            && (reply.size() == head.size() || reply[head.size()] == ' '),
          "a rejection is 'err <reason>[ <detail>]'");
    return 0;
  }

  check(n >= 5 && n <= 64, "a valid message has 5..64 frames");
  auto again = encode(anon);
  check(again.size() == n, "re-encoding keeps the frame count");
  for (size_t i = 0; i < n; ++i)
    check(again[i] == frames[i], "re-encoding gives the same frames");
  std::string packed;
  pack_message(anon, packed);
  std::string expected;
  for (size_t i = 0; i < n; ++i)
    pack_frame(expected, frames[i]);
  check(packed == expected, "pack_message packs the same frames");
  message twice;
  auto r2 = decode(again, unlimited, "", twice);
  check(r2.ok && same(anon, twice), "a re-encoded message decodes to itself");
  check(to_decimal(anon.id) == frames[3], "ids are canonical decimals");
  return 0;
}

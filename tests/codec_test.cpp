// Codec tests (SPEC §2-4, §6). The vectors read like the frame table of the
// spec: one frame per line, with the field it carries.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "quilt/codec.hpp"
#include "quilt/message.hpp"
#include "quilt/name.hpp"
#include "quilt/packed.hpp"

using namespace quilt;
using namespace std::string_literals;

namespace {

using frames = std::vector<std::string>;

constexpr size_t default_max = 65536;

decode_result decode_frames(const frames& xs, message& out,
                            std::string_view self = "",
                            size_t max_bytes = default_max) {
  return decode(xs, max_bytes, self, out);
}

/// Decodes `xs`, requires success, and requires that it encodes back to the
/// very same frames.
message round_trip(const frames& xs, std::string_view self = "") {
  message m;
  auto r = decode_frames(xs, m, self);
  INFO(req_reply(r));
  REQUIRE(r.ok);
  CHECK(req_reply(r) == "ack");
  CHECK(encode(m) == xs);
  return m;
}

/// A valid ping from alpha to beta, the base of many reject vectors.
frames ping_frames() {
  return {
      "beta",  // 0 destination
      "ping",  // 1 command
      "alpha", // 2 origin
      "1",     // 3 id
      "8",     // 4 ttl
  };
}

frames with(frames xs, size_t index, std::string value) {
  xs.at(index) = std::move(value);
  return xs;
}

// -- an independent reference validator, written with regexes --------------

/// Strict UTF-8 by decoding code points and checking their ranges, unlike the
/// codec, which checks byte ranges.
bool ref_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size())
      return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

bool ref_name(const std::string& s) {
  static const std::regex re("[A-Za-z0-9][A-Za-z0-9._:-]{0,63}");
  return s != "all" && std::regex_match(s, re);
}

bool ref_u64(const std::string& s) {
  static const std::regex re("0|[1-9][0-9]{0,19}");
  if (!std::regex_match(s, re))
    return false;
  return s.size() < 20 || s <= "18446744073709551615";
}

bool ref_uint_upto(const std::string& s, uint64_t max) {
  return ref_u64(s) && std::stoull(s) <= max;
}

bool ref_address(const std::string& s) {
  if (s.empty())
    return false;
  // Decode code points; `s` is valid UTF-8 by the time args are checked.
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1   ? c
                  : len == 2 ? c & 0x1F
                  : len == 3 ? c & 0x0F
                             : c & 0x07;
    for (size_t k = 1; k < len; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    // Controls (Cc) and Unicode White_Space.
    const uint32_t bad[] = {0x85,   0xA0,   0x1680, 0x2028,
                            0x2029, 0x202F, 0x205F, 0x3000};
    if (cp <= 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
        (cp >= 0x2000 && cp <= 0x200A) ||
        std::find(std::begin(bad), std::end(bad), cp) != std::end(bad))
      return false;
    i += len;
  }
  return true;
}

bool ref_args(const std::string& cmd, const frames& xs) {
  auto n = xs.size() - 5;
  auto arg = [&](size_t i) -> const std::string& { return xs[5 + i]; };
  if (cmd == "server_connect")
    return n == 3 && ref_address(arg(0)) && ref_uint_upto(arg(1), 65535) &&
           arg(1) != "0" && arg(2).rfind("quilt/", 0) == 0;
  if (cmd == "ping")
    return n <= 1;
  if (cmd == "pong")
    return (n == 1 || n == 2) && ref_u64(arg(0));
  if (cmd == "msg")
    return n == 1;
  // error
  return (n == 2 || n == 3) &&
         (arg(0) == "unreachable" || arg(0) == "ttl_expired" ||
          arg(0) == "rejected") &&
         ref_u64(arg(1));
}

/// The reason the spec demands for `xs`, or nullopt when it is valid.
std::optional<reject> ref_decode(const frames& xs, size_t max_bytes,
                                 const std::string& self) {
  if (xs.size() < 5)
    return reject::too_few_frames;
  if (xs.size() > 64)
    return reject::too_many_frames;
  size_t total = 0;
  for (auto& x : xs)
    total += x.size();
  if (total > max_bytes)
    return reject::too_large;
  for (auto& x : xs)
    if (!ref_utf8(x))
      return reject::bad_utf8;
  auto& dst = xs[0];
  auto& cmd = xs[1];
  bool bcast = dst == "all" || dst == "*";
  if (!bcast && !ref_name(dst))
    return reject::bad_destination;
  if (bcast && (cmd == "pong" || cmd == "error"))
    return reject::bad_destination;
  if (cmd == "server_connect" && !bcast && !self.empty() && dst != self)
    return reject::bad_destination;
  static const std::regex cmd_re("ping|pong|msg|error|server_connect");
  if (!std::regex_match(cmd, cmd_re))
    return reject::bad_command;
  if (!ref_name(xs[2]))
    return reject::bad_origin;
  if (!ref_u64(xs[3]))
    return reject::bad_id;
  if (!ref_uint_upto(xs[4], 255))
    return reject::bad_ttl;
  if (!ref_args(cmd, xs))
    return reject::bad_args;
  return std::nullopt;
}

} // namespace

// -- round trips, one per command ---------------------------------------------

TEST_CASE("server_connect round-trips", "[codec][vectors]") {
  frames wire{
      "beta",           // 0 destination: the peer's name (or "*")
      "server_connect", // 1 command
      "alpha",          // 2 origin: "I am alpha"
      "1700000000000",  // 3 id
      "1",              // 4 ttl: link-local
      "127.0.0.1",      // 5 address: "reach me at"
      "5501",           // 6 port
      "quilt/1",        // 7 protocol
  };
  auto m = round_trip(wire, "beta");
  CHECK(m.destination == "beta");
  CHECK(m.cmd == command::server_connect);
  CHECK(m.origin == "alpha");
  CHECK(m.id == 1700000000000u);
  CHECK(m.ttl == 1);
  CHECK(m.args == frames{"127.0.0.1", "5501", "quilt/1"});
  SECTION("addressed to * when the peer's name is unknown") {
    round_trip(with(wire, 0, "*"), "beta");
    round_trip(with(wire, 0, "all"), "beta");
  }
  SECTION("any name when the receiver's name is not given") {
    round_trip(with(wire, 0, "gamma"));
  }
}

TEST_CASE("ping round-trips", "[codec][vectors]") {
  frames wire{
      "beta",  // 0 destination
      "ping",  // 1 command
      "alpha", // 2 origin
      "42",    // 3 id
      "1",     // 4 ttl
      "n-7",   // 5 nonce (optional)
  };
  auto m = round_trip(wire);
  CHECK(m.cmd == command::ping);
  CHECK(m.id == 42);
  CHECK(m.args == frames{"n-7"});
  SECTION("without a nonce") {
    frames bare{
        "all",   // 0 destination: every node
        "ping",  // 1 command
        "alpha", // 2 origin
        "0",     // 3 id: zero is canonical
        "0",     // 4 ttl: zero is valid, it limits forwarding only
    };
    auto b = round_trip(bare);
    CHECK(b.args.empty());
    CHECK(b.ttl == 0);
  }
  SECTION("to *") {
    round_trip(with(wire, 0, "*"));
  }
}

TEST_CASE("pong round-trips", "[codec][vectors]") {
  frames wire{
      "alpha",                // 0 destination: the ping's origin
      "pong",                 // 1 command
      "beta",                 // 2 origin: the answering node
      "18446744073709551615", // 3 id: 2^64-1
      "255",                  // 4 ttl: the largest
      "42",                   // 5 ping id
      "n-7",                  // 6 the ping's nonce
  };
  auto m = round_trip(wire);
  CHECK(m.cmd == command::pong);
  CHECK(m.id == UINT64_MAX);
  CHECK(m.ttl == 255);
  CHECK(m.args == frames{"42", "n-7"});
  SECTION("without a nonce") {
    wire.pop_back();
    round_trip(wire);
  }
}

TEST_CASE("msg round-trips", "[codec][vectors]") {
  frames wire{
      "n-17.example:5501",      // 0 destination: every name character class
      "msg",                    // 1 command
      "alpha",                  // 2 origin
      "7",                      // 3 id
      "32",                     // 4 ttl
      "héllo wörld ✓ 🧵", // 5 text: any UTF-8
  };
  auto m = round_trip(wire);
  CHECK(m.cmd == command::msg);
  CHECK(m.args == frames{"héllo wörld ✓ 🧵"});
  SECTION("empty text") {
    auto e = round_trip(with(wire, 5, ""));
    CHECK(e.args == frames{""});
  }
  SECTION("text with newlines, tabs and NUL") {
    round_trip(with(wire, 5, "a\nb\tc\0d"s));
  }
  SECTION("broadcast") {
    round_trip(with(wire, 0, "all"));
  }
}

TEST_CASE("error round-trips", "[codec][vectors]") {
  frames wire{
      "alpha",       // 0 destination: the failed message's origin
      "error",       // 1 command
      "gamma",       // 2 origin: the node that gave up
      "99",          // 3 id
      "32",          // 4 ttl
      "ttl_expired", // 5 code
      "42",          // 6 id of the message it is about
      "hop 3",       // 7 detail (optional)
  };
  auto m = round_trip(wire);
  CHECK(m.cmd == command::error);
  CHECK(m.args == frames{"ttl_expired", "42", "hop 3"});
  SECTION("every code, with and without detail") {
    for (auto code : {"unreachable", "ttl_expired", "rejected"}) {
      auto xs = with(wire, 5, code);
      round_trip(xs);
      xs.pop_back();
      round_trip(xs);
    }
  }
}

TEST_CASE("encode writes the frames in table order", "[codec]") {
  message m;
  m.destination = "beta";
  m.cmd = command::error;
  m.origin = "alpha";
  m.id = 10;
  m.ttl = 200;
  m.args = {"unreachable", "5"};
  CHECK(encode(m) ==
        frames{"beta", "error", "alpha", "10", "200", "unreachable", "5"});
  SECTION("re-uses and trims an output vector") {
    frames out(12, std::string(100, 'x'));
    encode(m, out);
    CHECK(out ==
          frames{"beta", "error", "alpha", "10", "200", "unreachable", "5"});
  }
}

TEST_CASE("decode re-uses the storage of its output", "[codec]") {
  message m;
  m.args.resize(3);
  m.args[0].reserve(1000);
  auto* storage = m.args[0].data();
  frames wire{"beta", "msg", "alpha", "1", "1", "hi"};
  REQUIRE(decode_frames(wire, m).ok);
  CHECK(m.args == frames{"hi"});
  CHECK(m.args[0].data() == storage);
  SECTION("and leaves it alone on a reject") {
    auto r = decode_frames(with(wire, 4, "x"), m);
    CHECK(!r.ok);
    CHECK(m.args == frames{"hi"});
  }
}

TEST_CASE("a decoded message keeps its frames for forwarding", "[codec][wire]") {
  frames wire{"beta", "msg", "alpha", "7", "8", "hello there"};
  message m;
  REQUIRE(decode_packed(pack_frames(wire), default_max, "", m).ok);
  CHECK(m.args.empty());
  CHECK(m.arg_count() == 1);
  CHECK(m.arg(0) == "hello there");
  auto from_scratch = [](message x) {
    if (x.args.empty())
      for (size_t i = 0; i < x.arg_count(); ++i)
        x.args.emplace_back(x.arg(i));
    x.wire.clear();
    std::string out;
    pack_message(x, out);
    return out;
  };
  SECTION("a forward rewrites only the ttl, in the same buffer") {
    m.ttl = 7;
    auto expected = from_scratch(m);
    auto* storage = m.wire.data();
    std::string out;
    pack_message(std::move(m), out);
    CHECK(out == expected);
    CHECK(out.data() == storage);
  }
  SECTION("a ttl of another length is packed anew") {
    REQUIRE(decode_packed(pack_frames(with(wire, 4, "10")), default_max, "", m)
              .ok);
    m.ttl = 9;
    auto expected = from_scratch(m);
    std::string out;
    pack_message(std::move(m), out);
    CHECK(out == expected);
    CHECK(out == pack_frames(with(wire, 4, "9")));
  }
  SECTION("a changed header or new args are not sent as the old frames") {
    auto change = GENERATE(0, 1, 2, 3, 4);
    switch (change) {
    case 0:
      m.destination = "gamma";
      break;
    case 1:
      m.cmd = command::ping;
      break;
    case 2:
      m.origin = "delta";
      break;
    case 3:
      m.id = 8;
      break;
    default:
      m.args = {"other text"};
    }
    auto expected = from_scratch(m);
    std::string out;
    pack_message(std::move(m), out);
    CHECK(out == expected);
    CHECK(out != pack_frames(wire));
  }
  SECTION("a copy carries its own frames") {
    message copy = m;
    copy.ttl = 3;
    std::string out;
    pack_message(std::move(copy), out);
    CHECK(out == pack_frames(with(wire, 4, "3")));
    CHECK(m.arg(0) == "hello there");
  }
}

// -- rejects ------------------------------------------------------------------

namespace {

struct reject_vector {
  const char* what;
  frames wire;
  reject reason;
  std::string self = "";
  size_t max_bytes = default_max;
};

void check_vectors(const std::vector<reject_vector>& xs) {
  for (auto& x : xs) {
    INFO(x.what);
    message m;
    auto r = decode_frames(x.wire, m, x.self, x.max_bytes);
    INFO(req_reply(r));
    CHECK(!r.ok);
    CHECK(to_string(r.reason) == std::string{to_string(x.reason)});
    CHECK(!r.detail.empty());
    CHECK(is_valid_utf8(r.detail));
    CHECK(r.detail.size() < 200);
    // The reference validator agrees, so its fuzzing below means something.
    CHECK(ref_decode(x.wire, x.max_bytes, x.self) == x.reason);
  }
}

frames n_frames(size_t n) {
  frames xs{"beta", "msg", "alpha", "1", "1"};
  xs.resize(std::max<size_t>(n, 5));
  xs.resize(n);
  return xs;
}

} // namespace

TEST_CASE("too_few_frames: fewer than 5 frames", "[codec][reject]") {
  check_vectors({
      {"no frame", {}, reject::too_few_frames},
      {"1 frame", {"beta"}, reject::too_few_frames},
      {"4 frames", {"beta", "ping", "alpha", "1"}, reject::too_few_frames},
  });
  message m;
  CHECK(decode_frames({"a", "b", "c"}, m).detail ==
        "3 frames, need at least 5");
}

TEST_CASE("too_many_frames: more than 64 frames", "[codec][reject]") {
  check_vectors({
      {"65 frames", n_frames(65), reject::too_many_frames},
      {"1000 frames", n_frames(1000), reject::too_many_frames},
  });
  message m;
  CHECK(decode_frames(n_frames(65), m).detail == "65 frames, at most 64");
  SECTION("64 frames pass the frame count") {
    // No command takes 59 args, so 64 frames go on to fail the arg count.
    auto xs = n_frames(64);
    xs[1] = "ping";
    auto r = decode_frames(xs, m);
    CHECK(r.reason == reject::bad_args);
    CHECK(r.detail == "ping takes 0 or 1 arg (nonce), got 59");
  }
}

TEST_CASE("too_large: frames add up to more than max_bytes",
          "[codec][reject]") {
  frames wire{
      "beta",       // 0 destination  4 bytes
      "msg",        // 1 command      3 bytes
      "alpha",      // 2 origin       5 bytes
      "1",          // 3 id           1 byte
      "1",          // 4 ttl          1 byte
      "0123456789", // 5 text   10 bytes -> 24 in all
  };
  message m;
  SECTION("exactly max_bytes is fine") {
    CHECK(decode_frames(wire, m, "", 24).ok);
  }
  SECTION("one byte more is not") {
    auto r = decode_frames(wire, m, "", 23);
    CHECK(r.reason == reject::too_large);
    CHECK(r.detail == "24 bytes, at most 23");
  }
  check_vectors({
      {"one byte over", wire, reject::too_large, "", 23},
      {"far over", with(wire, 5, std::string(70000, 'x')), reject::too_large},
  });
}

TEST_CASE("bad_utf8: a frame is not UTF-8", "[codec][reject]") {
  auto msg = [](std::string text) {
    return frames{"beta", "msg", "alpha", "1", "1", std::move(text)};
  };
  check_vectors({
      {"stray continuation byte", msg("a\x80"), reject::bad_utf8},
      {"byte 0xFF", msg("\xff"), reject::bad_utf8},
      {"truncated 2-byte sequence", msg("caf\xc3"), reject::bad_utf8},
      {"truncated 3-byte sequence", msg("\xe2\x9c"), reject::bad_utf8},
      {"truncated 4-byte sequence", msg("\xf0\x9f\xa7"), reject::bad_utf8},
      {"overlong '/' in 2 bytes", msg("\xc0\xaf"), reject::bad_utf8},
      {"overlong NUL in 2 bytes", msg("\xc0\x80"), reject::bad_utf8},
      {"overlong U+007F in 2 bytes", msg("\xc1\xbf"), reject::bad_utf8},
      {"overlong U+07FF in 3 bytes", msg("\xe0\x9f\xbf"), reject::bad_utf8},
      {"overlong U+FFFF in 4 bytes", msg("\xf0\x8f\xbf\xbf"), reject::bad_utf8},
      {"surrogate U+D800", msg("\xed\xa0\x80"), reject::bad_utf8},
      {"surrogate U+DFFF", msg("\xed\xbf\xbf"), reject::bad_utf8},
      {"U+110000", msg("\xf4\x90\x80\x80"), reject::bad_utf8},
      {"lead byte 0xF5", msg("\xf5\x80\x80\x80"), reject::bad_utf8},
      {"bad byte after 40 ASCII bytes",
       msg(std::string(40, 'a') + "\xff" + std::string(40, 'a')),
       reject::bad_utf8},
      {"in the destination", with(ping_frames(), 0, "b\xe9ta"),
       reject::bad_utf8},
      {"in the nonce",
       {"beta", "ping", "alpha", "1", "1", "\xfe"},
       reject::bad_utf8},
  });
  message m;
  auto r = decode_frames(msg("caf\xc3"), m);
  CHECK(r.detail == "frame 5 is not UTF-8 (byte 3)");
  SECTION("the largest code points and the ones around surrogates pass") {
    round_trip(msg("\xf4\x8f\xbf\xbf"));                     // U+10FFFF
    round_trip(msg("\xed\x9f\xbf\xee\x80\x80"));             // U+D7FF U+E000
    round_trip(msg("\xc2\x80\xe0\xa0\x80\xf0\x90\x80\x80")); // first of each
  }
}

TEST_CASE("bad_destination: not a node name or a broadcast the command allows",
          "[codec][reject]") {
  auto sc = [](std::string destination) {
    return frames{std::move(destination),
                  "server_connect",
                  "alpha",
                  "1",
                  "1",
                  "127.0.0.1",
                  "5501",
                  "quilt/1"};
  };
  check_vectors({
      {"empty", with(ping_frames(), 0, ""), reject::bad_destination},
      {"starts with '.'", with(ping_frames(), 0, ".beta"),
       reject::bad_destination},
      {"starts with '-'", with(ping_frames(), 0, "-beta"),
       reject::bad_destination},
      {"starts with '_'", with(ping_frames(), 0, "_beta"),
       reject::bad_destination},
      {"contains a space", with(ping_frames(), 0, "be ta"),
       reject::bad_destination},
      {"contains '/'", with(ping_frames(), 0, "be/ta"),
       reject::bad_destination},
      {"non-ASCII", with(ping_frames(), 0, "bêta"), reject::bad_destination},
      {"65 characters", with(ping_frames(), 0, std::string(65, 'b')),
       reject::bad_destination},
      {"'**' (only a lone * is a broadcast)", with(ping_frames(), 0, "**"),
       reject::bad_destination},
      {"pong to all",
       {"all", "pong", "beta", "1", "1", "42"},
       reject::bad_destination},
      {"pong to *",
       {"*", "pong", "beta", "1", "1", "42"},
       reject::bad_destination},
      {"error to all",
       {"all", "error", "beta", "1", "1", "unreachable", "42"},
       reject::bad_destination},
      {"error to *",
       {"*", "error", "beta", "1", "1", "unreachable", "42"},
       reject::bad_destination},
      {"server_connect for another node", sc("gamma"), reject::bad_destination,
       "beta"},
  });
  SECTION("64 characters is fine") {
    round_trip(with(ping_frames(), 0, std::string(64, 'b')));
  }
  SECTION("server_connect for this node, * or all is fine") {
    round_trip(sc("beta"), "beta");
    round_trip(sc("*"), "beta");
    round_trip(sc("all"), "beta");
  }
  message m;
  CHECK(decode_frames(sc("gamma"), m, "beta").detail ==
        "server_connect for 'gamma', this node is 'beta'");
  CHECK(decode_frames({"all", "pong", "beta", "1", "1", "42"}, m).detail ==
        "pong cannot be sent to 'all'");
}

TEST_CASE("bad_command: not a known lower-case command token",
          "[codec][reject]") {
  check_vectors({
      {"empty", with(ping_frames(), 1, ""), reject::bad_command},
      {"upper case", with(ping_frames(), 1, "PING"), reject::bad_command},
      {"mixed case", with(ping_frames(), 1, "Ping"), reject::bad_command},
      {"trailing space", with(ping_frames(), 1, "ping "), reject::bad_command},
      {"digit", with(ping_frames(), 1, "ping2"), reject::bad_command},
      {"unknown token", with(ping_frames(), 1, "pingg"), reject::bad_command},
      {"33 characters", with(ping_frames(), 1, std::string(33, 'a')),
       reject::bad_command},
      {"unknown even when 32 characters",
       with(ping_frames(), 1, std::string(32, 'a')), reject::bad_command},
  });
  message m;
  CHECK(decode_frames(with(ping_frames(), 1, "pingg"), m).detail ==
        "unknown command 'pingg'");
  CHECK(decode_frames(with(ping_frames(), 1, "Ping"), m).detail ==
        "frame 1 'Ping' is not a token [a-z_]{1,32}");
}

TEST_CASE("bad_origin: not a node name", "[codec][reject]") {
  check_vectors({
      {"all", with(ping_frames(), 2, "all"), reject::bad_origin},
      {"*", with(ping_frames(), 2, "*"), reject::bad_origin},
      {"empty", with(ping_frames(), 2, ""), reject::bad_origin},
      {"starts with '.'", with(ping_frames(), 2, ".alpha"), reject::bad_origin},
      {"starts with '-'", with(ping_frames(), 2, "-alpha"), reject::bad_origin},
      {"65 characters", with(ping_frames(), 2, std::string(65, 'a')),
       reject::bad_origin},
  });
  round_trip(with(ping_frames(), 2, std::string(64, 'a')));
}

TEST_CASE("bad_id: not a canonical decimal u64", "[codec][reject]") {
  check_vectors({
      {"empty", with(ping_frames(), 3, ""), reject::bad_id},
      {"leading zero", with(ping_frames(), 3, "00"), reject::bad_id},
      {"leading zero before a digit", with(ping_frames(), 3, "01"),
       reject::bad_id},
      {"sign -", with(ping_frames(), 3, "-1"), reject::bad_id},
      {"sign +", with(ping_frames(), 3, "+1"), reject::bad_id},
      {"leading space", with(ping_frames(), 3, " 1"), reject::bad_id},
      {"trailing space", with(ping_frames(), 3, "1 "), reject::bad_id},
      {"hex", with(ping_frames(), 3, "0x10"), reject::bad_id},
      {"2^64", with(ping_frames(), 3, "18446744073709551616"), reject::bad_id},
      {"2^64 + 10^19", with(ping_frames(), 3, "28446744073709551615"),
       reject::bad_id},
      {"21 digits", with(ping_frames(), 3, "100000000000000000000"),
       reject::bad_id},
  });
  auto m = round_trip(with(ping_frames(), 3, "18446744073709551615"));
  CHECK(m.id == UINT64_MAX);
  m = round_trip(with(ping_frames(), 3, "10000000000000000000"));
  CHECK(m.id == 10000000000000000000u);
}

TEST_CASE("bad_ttl: not a canonical decimal 0..255", "[codec][reject]") {
  check_vectors({
      {"256", with(ping_frames(), 4, "256"), reject::bad_ttl},
      {"2^64", with(ping_frames(), 4, "18446744073709551616"), reject::bad_ttl},
      {"leading zero", with(ping_frames(), 4, "08"), reject::bad_ttl},
      {"sign", with(ping_frames(), 4, "-1"), reject::bad_ttl},
      {"letters", with(ping_frames(), 4, "abc"), reject::bad_ttl},
      {"empty", with(ping_frames(), 4, ""), reject::bad_ttl},
  });
  message m;
  CHECK(decode_frames(with(ping_frames(), 4, "abc"), m).detail ==
        "frame 4 'abc' is not a decimal 0..255");
  CHECK(round_trip(with(ping_frames(), 4, "255")).ttl == 255);
  CHECK(round_trip(with(ping_frames(), 4, "0")).ttl == 0);
}

TEST_CASE("bad_args: wrong count or an invalid argument", "[codec][reject]") {
  frames sc{
      "beta",           // 0 destination
      "server_connect", // 1 command
      "alpha",          // 2 origin
      "1",              // 3 id
      "1",              // 4 ttl
      "127.0.0.1",      // 5 address
      "5501",           // 6 port
      "quilt/1",        // 7 protocol
  };
  frames pong{"alpha", "pong", "beta", "1", "1", "42"};
  frames msg{"beta", "msg", "alpha", "1", "1", "hi"};
  frames err{"alpha", "error", "beta", "1", "1", "rejected", "42"};
  auto plus = [](frames xs, std::string x) {
    xs.push_back(std::move(x));
    return xs;
  };
  auto minus = [](frames xs) {
    xs.pop_back();
    return xs;
  };
  check_vectors({
      // server_connect: address, port, protocol
      {"server_connect with 2 args", minus(sc), reject::bad_args},
      {"server_connect with 4 args", plus(sc, "x"), reject::bad_args},
      {"server_connect empty address", with(sc, 5, ""), reject::bad_args},
      {"server_connect address with a space", with(sc, 5, "127.0.0.1 x"),
       reject::bad_args},
      {"server_connect address with a newline", with(sc, 5, "host\n"),
       reject::bad_args},
      {"server_connect address with NUL", with(sc, 5, "host\0x"s),
       reject::bad_args},
      {"server_connect address with DEL", with(sc, 5, "host\x7f"),
       reject::bad_args},
      {"server_connect address with U+00A0", with(sc, 5, "host\xc2\xa0"),
       reject::bad_args},
      {"server_connect address with U+0085", with(sc, 5, "host\xc2\x85"),
       reject::bad_args},
      {"server_connect address with U+2028", with(sc, 5, "a\xe2\x80\xa8"),
       reject::bad_args},
      {"server_connect port 0", with(sc, 6, "0"), reject::bad_args},
      {"server_connect port 65536", with(sc, 6, "65536"), reject::bad_args},
      {"server_connect port 05501", with(sc, 6, "05501"), reject::bad_args},
      {"server_connect port empty", with(sc, 6, ""), reject::bad_args},
      {"server_connect port named", with(sc, 6, "http"), reject::bad_args},
      {"server_connect protocol http/1", with(sc, 7, "http/1"),
       reject::bad_args},
      {"server_connect protocol Quilt/1", with(sc, 7, "Quilt/1"),
       reject::bad_args},
      {"server_connect protocol quilt", with(sc, 7, "quilt"), reject::bad_args},
      // ping: optional nonce
      {"ping with 2 args", plus(plus(ping_frames(), "a"), "b"),
       reject::bad_args},
      // pong: ping id, optional nonce
      {"pong with no arg", minus(pong), reject::bad_args},
      {"pong with 3 args", plus(plus(pong, "n"), "x"), reject::bad_args},
      {"pong ping id not decimal", with(pong, 5, "x"), reject::bad_args},
      {"pong ping id 2^64", with(pong, 5, "18446744073709551616"),
       reject::bad_args},
      {"pong ping id leading zero", with(pong, 5, "042"), reject::bad_args},
      // msg: exactly one text
      {"msg with no text", minus(msg), reject::bad_args},
      {"msg with 2 texts", plus(msg, "there"), reject::bad_args},
      // error: code, id, optional detail
      {"error with 1 arg", minus(err), reject::bad_args},
      {"error with 4 args", plus(plus(err, "d"), "x"), reject::bad_args},
      {"error unknown code", with(err, 5, "timeout"), reject::bad_args},
      {"error code in upper case", with(err, 5, "REJECTED"), reject::bad_args},
      {"error id not decimal", with(err, 6, "-42"), reject::bad_args},
  });
  SECTION("ports 1 and 65535, any quilt/ version") {
    round_trip(with(sc, 6, "1"));
    round_trip(with(sc, 6, "65535"));
    round_trip(with(sc, 7, "quilt/2"));
    round_trip(with(sc, 5, "node-7.example.org"));
    round_trip(with(sc, 5, "::1"));
  }
  message m;
  CHECK(decode_frames(with(sc, 6, "0"), m).detail ==
        "frame 6 (port) '0' is not a decimal 1..65535");
  CHECK(decode_frames(with(sc, 7, "http/1"), m).detail ==
        "frame 7 (protocol) 'http/1' does not start with quilt/");
  CHECK(decode_frames(minus(msg), m).detail ==
        "msg takes exactly 1 arg (text), got 0");
  CHECK(decode_frames(with(err, 5, "timeout"), m).detail ==
        "frame 5 (code) 'timeout' is not unreachable, ttl_expired or "
        "rejected");
}

TEST_CASE("the first broken rule is reported", "[codec][reject][order]") {
  check_vectors({
      {"too_few_frames before everything",
       {"\xff", "Bad", "all"}, // bad UTF-8, bad command, bad origin
       reject::too_few_frames,
       "",
       1},
      {"too_many_frames before too_large", n_frames(65),
       reject::too_many_frames, "", 10},
      {"too_large before bad_utf8",
       {"\xff", "ping", "alpha", "1", "1"},
       reject::too_large,
       "",
       8},
      {"bad_utf8 before bad_destination",
       {"-\xff", "ping", "alpha", "1", "1"},
       reject::bad_utf8},
      {"bad_utf8 in the last frame before bad_destination",
       {"-bad", "msg", "alpha", "1", "1", "\xc0\x80"},
       reject::bad_utf8},
      {"bad_destination before bad_command",
       {"-bad", "nope", "alpha", "1", "1"},
       reject::bad_destination},
      {"a broadcast pong is bad_destination before bad_origin",
       {"all", "pong", "*", "x", "x"},
       reject::bad_destination},
      {"broadcast of an unknown command is bad_command",
       {"all", "Pong", "alpha", "1", "1", "42"},
       reject::bad_command},
      {"bad_command before bad_origin",
       {"beta", "nope", "all", "1", "1"},
       reject::bad_command},
      {"bad_origin before bad_id",
       {"beta", "ping", "*", "01", "1"},
       reject::bad_origin},
      {"bad_id before bad_ttl",
       {"beta", "ping", "alpha", "x", "256"},
       reject::bad_id},
      {"bad_ttl before bad_args",
       {"beta", "msg", "alpha", "1", "-1"},
       reject::bad_ttl},
      {"server_connect for another node before bad_origin",
       {"gamma", "server_connect", "all", "1", "1"},
       reject::bad_destination,
       "beta"},
  });
}

TEST_CASE("details are short and printable UTF-8", "[codec][reject]") {
  message m;
  SECTION("long input is cut after 40 bytes") {
    auto r = decode_frames(with(ping_frames(), 3, std::string(1000, '7')), m);
    CHECK(r.detail ==
          "frame 3 '" + std::string(40, '7') + "'... is not a decimal u64");
  }
  SECTION("control characters are escaped") {
    auto r = decode_frames(with(ping_frames(), 0, "a\nb\x1b"), m);
    CHECK(r.detail == "frame 0 'a\\x0ab\\x1b' is not a node name, all or *");
  }
  SECTION("multi-byte characters are not cut in half") {
    // 39 ASCII bytes, then a 2-byte character straddling the cut.
    auto text = std::string(39, 'a') + "\xc3\xa9" + "zzz";
    auto r = decode_frames(with(ping_frames(), 0, text), m);
    CHECK(is_valid_utf8(r.detail));
    CHECK(r.detail == "frame 0 '" + std::string(39, 'a') +
                          "'... is not a node name, all or *");
  }
  SECTION("valid non-ASCII text is echoed") {
    auto r = decode_frames(with(ping_frames(), 0, "bêta"), m);
    CHECK(r.detail == "frame 0 'bêta' is not a node name, all or *");
  }
}

// -- req_reply ----------------------------------------------------------------

TEST_CASE("req_reply formats the one-frame REQ answer", "[codec][reply]") {
  decode_result x;
  x.ok = true;
  CHECK(req_reply(x) == "ack");
  x.ok = false;
  x.reason = reject::bad_ttl;
  x.detail = "frame 4 'abc' is not a decimal 0..255";
  CHECK(req_reply(x) == "err bad_ttl frame 4 'abc' is not a decimal 0..255");
  x.detail.clear();
  CHECK(req_reply(x) == "err bad_ttl");
  x.reason = reject::overloaded;
  CHECK(req_reply(x) == "err overloaded");
  SECTION("from decode") {
    message m;
    CHECK(req_reply(decode_frames({"a", "b", "c"}, m)) ==
          "err too_few_frames 3 frames, need at least 5");
  }
}

TEST_CASE("every reject has its wire token", "[codec][reply]") {
  const char* tokens[] = {"too_few_frames", "too_many_frames", "too_large",
                          "bad_utf8",       "bad_destination", "bad_command",
                          "bad_origin",     "bad_id",          "bad_ttl",
                          "bad_args",       "overloaded"};
  static_assert(std::size(tokens) == reject_count);
  for (size_t i = 0; i < reject_count; ++i)
    CHECK(to_string(static_cast<reject>(i)) == std::string{tokens[i]});
}

// -- building blocks ----------------------------------------------------------

TEST_CASE("command tokens", "[message]") {
  for (size_t i = 0; i < command_count; ++i) {
    auto cmd = static_cast<command>(i);
    CHECK(parse_command(to_string(cmd)) == cmd);
  }
  CHECK(to_string(command::server_connect) == "server_connect"s);
  CHECK(!parse_command("PING"));
  CHECK(!parse_command(""));
  CHECK(!parse_command("pin"));
  CHECK(!parse_command("server_connec"));
}

TEST_CASE("node names", "[name]") {
  CHECK(is_valid_name("a"));
  CHECK(is_valid_name("0"));
  CHECK(is_valid_name("127.0.0.1:5501"));
  CHECK(is_valid_name("n_1-b.c:d"));
  CHECK(is_valid_name("ALL")); // only the lower-case word is reserved
  CHECK(is_valid_name("alls"));
  CHECK(is_valid_name(std::string(64, 'z')));
  CHECK(!is_valid_name(std::string(65, 'z')));
  CHECK(!is_valid_name(""));
  CHECK(!is_valid_name("all"));
  CHECK(!is_valid_name("*"));
  CHECK(!is_valid_name(".a"));
  CHECK(!is_valid_name("-a"));
  CHECK(!is_valid_name(":a"));
  CHECK(!is_valid_name("_a"));
  CHECK(!is_valid_name("a b"));
  CHECK(!is_valid_name("a/b"));
  CHECK(!is_valid_name("a\0b"s));
  CHECK(!is_valid_name("é"));
  CHECK(is_valid_destination("all"));
  CHECK(is_valid_destination("*"));
  CHECK(is_valid_destination("beta"));
  CHECK(!is_valid_destination("**"));
  CHECK(!is_valid_destination(""));
  SECTION("agrees with the pattern on every 1- and 2-byte string") {
    for (int a = 0; a < 256; ++a) {
      std::string one(1, static_cast<char>(a));
      REQUIRE(is_valid_name(one) == ref_name(one));
      for (int b = 0; b < 256; ++b) {
        auto two = one + static_cast<char>(b);
        REQUIRE(is_valid_name(two) == ref_name(two));
      }
    }
  }
}

TEST_CASE("decimals", "[codec]") {
  uint64_t x = 7;
  CHECK(to_decimal(0) == "0");
  CHECK(to_decimal(255) == "255");
  CHECK(to_decimal(UINT64_MAX) == "18446744073709551615");
  CHECK(parse_decimal("0", x));
  CHECK(x == 0);
  CHECK(parse_decimal("18446744073709551615", x));
  CHECK(x == UINT64_MAX);
  CHECK(parse_decimal("9999999999999999999", x));
  CHECK(x == 9999999999999999999u);
  x = 7;
  for (auto bad : {"", "00", "01", "-1", "+1", " 1", "1 ", "1a", "a",
                   "18446744073709551616", "18446744073709551620",
                   "99999999999999999999", "100000000000000000000"}) {
    INFO(bad);
    CHECK(!parse_decimal(bad, x));
    CHECK(x == 7); // untouched on failure
  }
  SECTION("round trip") {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 10000; ++i) {
      auto v = rng() >> (rng() % 64);
      uint64_t back = 0;
      REQUIRE(parse_decimal(to_decimal(v), back));
      REQUIRE(back == v);
      REQUIRE(to_decimal(v) == std::to_string(v));
    }
  }
}

TEST_CASE("UTF-8 validation", "[codec][utf8]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ASCII, longer than sixteen bytes"));
  CHECK(is_valid_utf8("\0"s));
  CHECK(is_valid_utf8("\xef\xbf\xbf")); // U+FFFF is a noncharacter, not bad
  CHECK(!is_valid_utf8("\xff"));
  SECTION("every 1- and 2-byte string agrees with the reference") {
    for (int a = 0; a < 256; ++a) {
      std::string one(1, static_cast<char>(a));
      REQUIRE(is_valid_utf8(one) == ref_utf8(one));
      for (int b = 0; b < 256; ++b) {
        auto two = one + static_cast<char>(b);
        REQUIRE(is_valid_utf8(two) == ref_utf8(two));
      }
    }
  }
  SECTION("every 3-byte string with a 3-byte lead agrees") {
    for (int a = 0xE0; a < 0xF0; ++a)
      for (int b = 0; b < 256; ++b)
        for (int c = 0; c < 256; ++c) {
          std::string s{static_cast<char>(a), static_cast<char>(b),
                        static_cast<char>(c)};
          REQUIRE(is_valid_utf8(s) == ref_utf8(s));
        }
  }
  SECTION("every 4-byte lead with boundary continuations agrees") {
    const int conts[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0};
    for (int a = 0xF0; a < 0x100; ++a)
      for (int b : conts)
        for (int c : conts)
          for (int d : conts) {
            std::string s{static_cast<char>(a), static_cast<char>(b),
                          static_cast<char>(c), static_cast<char>(d)};
            REQUIRE(is_valid_utf8(s) == ref_utf8(s));
          }
  }
  SECTION("a bad byte is found at every position of a long ASCII run") {
    for (size_t pos = 0; pos < 40; ++pos) {
      std::string s(40, 'a');
      s[pos] = '\x80';
      REQUIRE(!is_valid_utf8(s));
      s[pos] = '\xc3'; // truncated at the very end, or followed by 'a'
      REQUIRE(!is_valid_utf8(s));
      s = std::string(pos, 'a') + "\xe2\x9c\x93" + std::string(40 - pos, 'b');
      REQUIRE(is_valid_utf8(s));
    }
  }
  SECTION("random strings agree with the reference") {
    std::mt19937_64 rng(11);
    const char* pieces[] = {"a",
                            "\x80",
                            "\xbf",
                            "\xc2",
                            "\xdf",
                            "\xe0",
                            "\xed",
                            "\xef",
                            "\xf0",
                            "\xf4",
                            "\xf5",
                            "\xff",
                            "\xc3\xa9",
                            "\xe2\x9c\x93",
                            "\xf0\x9f\xa7\xb5",
                            "0123456789abcdef"};
    for (int i = 0; i < 20000; ++i) {
      std::string s;
      auto n = rng() % 12;
      for (size_t k = 0; k < n; ++k)
        s += pieces[rng() % std::size(pieces)];
      INFO(s);
      REQUIRE(is_valid_utf8(s) == ref_utf8(s));
    }
  }
}

// -- property test ------------------------------------------------------------

TEST_CASE("random frame lists decode like the reference and valid ones "
          "re-encode to the same frames",
          "[codec][property]") {
  // Pools with valid and barely-invalid values for every field, so that
  // every rule, and combinations of them, come up often.
  const std::vector<std::string> names{"alpha",
                                       "beta",
                                       "n0",
                                       "127.0.0.1:5501",
                                       std::string(64, 'x'),
                                       std::string(65, 'x'),
                                       "all",
                                       "*",
                                       "",
                                       ".a",
                                       "-a",
                                       "a b",
                                       "b\xe9ta",
                                       "ALL",
                                       "bêta",
                                       "\xc0\x80"};
  const std::vector<std::string> commands{
      "ping", "pong",  "msg", "error", "server_connect",
      "PING", "pingg", "",    "route", "p\xff"};
  const std::vector<std::string> numbers{"0",
                                         "1",
                                         "42",
                                         "255",
                                         "256",
                                         "65535",
                                         "65536",
                                         "18446744073709551615",
                                         "18446744073709551616",
                                         "00",
                                         "01",
                                         "-1",
                                         "+1",
                                         " 1",
                                         "",
                                         "x",
                                         "\xff"};
  const std::vector<std::string> texts{"",
                                       "hello",
                                       "n-7",
                                       "unreachable",
                                       "ttl_expired",
                                       "rejected",
                                       "127.0.0.1",
                                       "host name",
                                       "quilt/1",
                                       "http/1",
                                       "42",
                                       "0",
                                       "65535",
                                       "\xed\xa0\x80",
                                       "\xf4\x90\x80\x80",
                                       "h\xc3\xa9llo",
                                       "a\nb",
                                       std::string(100, 'y')};
  const std::vector<frames> valid{
      {"beta", "server_connect", "alpha", "1", "1", "127.0.0.1", "5501",
       "quilt/1"},
      {"*", "server_connect", "alpha", "2", "1", "::1", "1", "quilt/1"},
      {"beta", "ping", "alpha", "3", "8"},
      {"all", "ping", "alpha", "4", "8", "n-7"},
      {"alpha", "pong", "beta", "5", "8", "3"},
      {"alpha", "pong", "beta", "6", "8", "3", "n-7"},
      {"beta", "msg", "alpha", "7", "32", "hello"},
      {"*", "msg", "alpha", "8", "0", ""},
      {"alpha", "error", "gamma", "9", "32", "unreachable", "7"},
      {"alpha", "error", "gamma", "10", "32", "rejected", "7", "detail"},
  };
  std::mt19937_64 rng(20240611);
  auto pick = [&](const std::vector<std::string>& pool) -> const std::string& {
    return pool[rng() % pool.size()];
  };
  auto random_bytes = [&] {
    std::string s(rng() % 8, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng());
    return s;
  };
  size_t accepted = 0;
  size_t by_reason[reject_count] = {};
  message m;
  message packed_msg;
  std::vector<std::string> encoded;
  for (int i = 0; i < 20000; ++i) {
    frames xs;
    if (rng() % 2 == 0) {
      // A valid message with up to two frames replaced, added or removed.
      xs = valid[rng() % valid.size()];
      auto edits = rng() % 3;
      for (size_t e = 0; e < edits; ++e) {
        auto k = rng() % xs.size();
        switch (rng() % 6) {
        case 0:
          xs[k] = random_bytes();
          break;
        case 1:
          xs[k] = pick(names);
          break;
        case 2:
          xs[k] = pick(numbers);
          break;
        case 3:
          xs[k] = pick(texts);
          break;
        case 4:
          xs.push_back(pick(texts));
          break;
        default:
          xs.pop_back();
        }
      }
    } else {
      auto shape = rng() % 20;
      size_t count;
      if (shape == 0)
        count = rng() % 5; // too few
      else if (shape == 1)
        count = 60 + rng() % 10; // around the frame limit
      else
        count = 5 + rng() % 4;
      for (size_t k = 0; k < count; ++k) {
        if (rng() % 25 == 0) {
          xs.push_back(random_bytes());
          continue;
        }
        switch (k) {
        case 0:
        case 2:
          xs.push_back(pick(names));
          break;
        case 1:
          xs.push_back(pick(commands));
          break;
        case 3:
        case 4:
          xs.push_back(pick(numbers));
          break;
        default:
          xs.push_back(rng() % 2 == 0 ? pick(numbers) : pick(texts));
        }
      }
    }
    auto max_bytes = rng() % 10 == 0 ? size_t{40} : default_max;
    std::string self = rng() % 2 == 0 ? "" : pick(names);
    auto r = decode(xs, max_bytes, self, m);
    auto expected = ref_decode(xs, max_bytes, self);
    INFO("case " << i << ": " << req_reply(r));
    REQUIRE(r.ok == !expected.has_value());
    REQUIRE(is_valid_utf8(req_reply(r)));
    // The frames as a transport keeps them decode alike, args as views.
    auto p = decode_packed(pack_frames(xs), max_bytes, self, packed_msg);
    REQUIRE(req_reply(p) == req_reply(r));
    if (r.ok) {
      ++accepted;
      encode(m, encoded);
      REQUIRE(encoded == xs);
      REQUIRE(packed_msg.args.empty());
      encode(packed_msg, encoded);
      REQUIRE(encoded == xs);
      REQUIRE(r.detail.empty());
    } else {
      REQUIRE(r.reason == *expected);
      REQUIRE(!r.detail.empty());
      REQUIRE(r.detail.size() < 200);
      REQUIRE(r.detail.find('\n') == std::string::npos);
      ++by_reason[static_cast<size_t>(r.reason)];
    }
  }
  // The generator must reach every outcome for the test to mean anything.
  CHECK(accepted > 1000);
  for (size_t i = 0; i < static_cast<size_t>(reject::overloaded); ++i) {
    INFO(to_string(static_cast<reject>(i)));
    CHECK(by_reason[i] > 100);
  }
}

TEST_CASE("link_ack and link_summary: link-local lists of names and numbers",
          "[codec][routing]") {
  frames ack{"beta", "link_ack", "alpha", "7", "1", "gamma 17 beta 199",
             "12 13", "delta 4"};
  frames summary{"beta", "link_summary", "alpha", "8", "1", "",
                 "delta", "alpha 5 beta 199 delta 8"};
  auto ok = [](const frames& xs) {
    message m;
    auto r = decode_frames(xs, m, "beta");
    INFO(req_reply(r));
    return r.ok;
  };
  auto reason = [](const frames& xs) {
    message m;
    auto r = decode_frames(xs, m, "beta");
    CHECK(!r.detail.empty());
    return std::string{to_string(r.reason)};
  };
  CHECK(ok(ack));
  CHECK(ok(with(ack, 5, "")));
  CHECK(ok(with(with(with(ack, 5, ""), 6, ""), 7, "")));
  CHECK(ok(summary));
  CHECK(ok(with(summary, 6, "")));
  CHECK(ok(with(with(summary, 5, "beta"), 7, "")));
  // Lists: pairs of a name and a decimal u64, single spaces, nothing else.
  CHECK(reason(with(ack, 5, "gamma")) == "bad_args");
  CHECK(reason(with(ack, 5, "gamma 17 beta")) == "bad_args");
  CHECK(reason(with(ack, 5, "gamma x")) == "bad_args");
  CHECK(reason(with(ack, 5, "gamma 17 ")) == "bad_args");
  CHECK(reason(with(ack, 5, "gamma  17")) == "bad_args");
  CHECK(reason(with(ack, 5, "all 17")) == "bad_args");
  CHECK(reason(with(ack, 5, "gamma 18446744073709551616")) == "bad_args");
  CHECK(reason(with(ack, 6, "12 x")) == "bad_args");
  CHECK(reason(with(ack, 6, "12 ")) == "bad_args");
  CHECK(reason(with(ack, 7, "delta")) == "bad_args");
  CHECK(reason(frames{"beta", "link_ack", "alpha", "7", "1", "", ""})
        == "bad_args");
  CHECK(reason(with(summary, 5, "-x")) == "bad_args");
  CHECK(reason(with(summary, 6, "all")) == "bad_args");
  CHECK(reason(with(summary, 7, "alpha")) == "bad_args");
  CHECK(reason(frames{"beta", "link_summary", "alpha", "8", "1", "", ""})
        == "bad_args");
  // For one neighbour: never broadcast.
  CHECK(reason(with(ack, 0, "all")) == "bad_destination");
  CHECK(reason(with(summary, 0, "*")) == "bad_destination");
}

#include "quilt/codec.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "quilt/name.hpp"
#include "quilt/packed.hpp"

namespace quilt {

namespace {

// -- constants ----------------------------------------------------------------

constexpr size_t min_frames = 5;
constexpr size_t max_frames = 64;
constexpr size_t first_arg = 5;
constexpr size_t max_command_size = 32;
constexpr size_t max_u64_digits = 20;
/// Input echoed into a detail is cut after this many bytes.
constexpr size_t echo_limit = 40;
constexpr std::string_view protocol_prefix = "quilt/";
constexpr size_t npos = std::string_view::npos;

// -- UTF-8 --------------------------------------------------------------------

/// Length of the well-formed UTF-8 sequence starting at `p` (`n` bytes left),
/// or 0 when it is ill-formed (Unicode Table 3-7: no overlongs, no
/// surrogates, nothing above U+10FFFF, no truncated sequence).
inline size_t utf8_sequence(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80)
    return 1;
  if (c < 0xC2) // A stray continuation byte or an overlong 2-byte lead.
    return 0;
  if (c < 0xE0)
    return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3)
      return 0;
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80; // E0 80..9F is overlong.
    unsigned char hi = c == 0xED ? 0x9F : 0xBF; // ED A0..BF is a surrogate.
    if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80)
      return 0;
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4)
      return 0;
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80; // F0 80..8F is overlong.
    unsigned char hi = c == 0xF4 ? 0x8F : 0xBF; // F4 90.. is > U+10FFFF.
    if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 ||
        (p[3] & 0xC0) != 0x80)
      return 0;
    return 4;
  }
  return 0;
}

/// Offset of the first byte that is not part of well-formed UTF-8, or npos.
size_t utf8_error_offset(std::string_view in) {
  auto* begin = reinterpret_cast<const unsigned char*>(in.data());
  auto* p = begin;
  auto* end = begin + in.size();
  constexpr uint64_t high_bits = 0x8080808080808080ull;
  while (p != end) {
    // ASCII fast path: eight bytes per step while no byte has its high bit.
    while (end - p >= 16) {
      uint64_t a;
      uint64_t b;
      std::memcpy(&a, p, 8);
      std::memcpy(&b, p + 8, 8);
      if (((a | b) & high_bits) != 0)
        break;
      p += 16;
    }
    while (end - p >= 8) {
      uint64_t a;
      std::memcpy(&a, p, 8);
      if ((a & high_bits) != 0)
        break;
      p += 8;
    }
    // Byte by byte up to and including the next multi-byte sequence.
    while (p != end && *p < 0x80)
      ++p;
    if (p == end)
      break;
    auto len = utf8_sequence(p, static_cast<size_t>(end - p));
    if (len == 0)
      return static_cast<size_t>(p - begin);
    p += len;
  }
  return npos;
}

/// Decodes the well-formed sequence of `len` bytes at `p`.
uint32_t code_point(const unsigned char* p, size_t len) {
  switch (len) {
  case 1:
    return p[0];
  case 2:
    return (uint32_t{p[0] & 0x1Fu} << 6) | (p[1] & 0x3Fu);
  case 3:
    return (uint32_t{p[0] & 0x0Fu} << 12) | (uint32_t{p[1] & 0x3Fu} << 6) |
           (p[2] & 0x3Fu);
  default:
    return (uint32_t{p[0] & 0x07u} << 18) | (uint32_t{p[1] & 0x3Fu} << 12) |
           (uint32_t{p[2] & 0x3Fu} << 6) | (p[3] & 0x3Fu);
  }
}

/// White space (Unicode White_Space) or a control character (Cc).
bool is_space_or_control(uint32_t cp) {
  if (cp <= 0x20 || (cp >= 0x7F && cp <= 0xA0))
    return true;
  return cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/// True when the (valid UTF-8) `in` contains white space or a control
/// character anywhere.
bool has_space_or_control(std::string_view in) {
  auto* p = reinterpret_cast<const unsigned char*>(in.data());
  auto* end = p + in.size();
  while (p != end) {
    auto len = utf8_sequence(p, static_cast<size_t>(end - p));
    if (len == 0)
      return true; // Not reached after the UTF-8 check; be safe anyway.
    if (is_space_or_control(code_point(p, len)))
      return true;
    p += len;
  }
  return false;
}

// -- decimals -----------------------------------------------------------------

// -- details ------------------------------------------------------------------

// Details are only built on the reject path, so plain string appends do.

void append(std::string& out, std::string_view x) {
  out.append(x);
}

void append(std::string& out, size_t x) {
  append_decimal(out, x);
}

const char hex_digits[] = "0123456789abcdef";

void append_escaped_byte(std::string& out, unsigned char c) {
  out += "\\x";
  out += hex_digits[c >> 4];
  out += hex_digits[c & 0x0F];
}

/// Quoted input for a detail: at most `echo_limit` bytes (cut at a character
/// boundary, "..." marks the cut), control characters and ill-formed bytes as
/// \xNN, so the detail is always printable UTF-8 on one line.
struct echo {
  std::string_view text;
};

void append(std::string& out, echo x) {
  auto* p = reinterpret_cast<const unsigned char*>(x.text.data());
  auto* end = p + x.text.size();
  auto* limit = p + std::min(x.text.size(), echo_limit);
  out += '\'';
  while (p < limit) {
    auto c = *p;
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++p;
      continue;
    }
    auto len = utf8_sequence(p, static_cast<size_t>(end - p));
    if (len <= 1 || is_space_or_control(code_point(p, len))) {
      append_escaped_byte(out, c);
      ++p;
      continue;
    }
    if (p + len > limit)
      break;
    out.append(reinterpret_cast<const char*>(p), len);
    p += len;
  }
  out += '\'';
  if (p != end)
    out += "...";
}

template <class... Ts> std::string cat(const Ts&... xs) {
  std::string out;
  (append(out, xs), ...);
  return out;
}

decode_result fail(reject reason, std::string detail) {
  decode_result result;
  result.ok = false;
  result.reason = reason;
  result.detail = std::move(detail);
  return result;
}

// -- field rules --------------------------------------------------------------

/// `[a-z_]{1,32}`.
bool is_command_token(std::string_view x) {
  if (x.empty() || x.size() > max_command_size)
    return false;
  for (auto c : x)
    if (!((c >= 'a' && c <= 'z') || c == '_'))
      return false;
  return true;
}

bool is_error_code(std::string_view x) {
  return x == error_unreachable || x == error_ttl_expired ||
         x == error_rejected;
}

/// Whether `x` is empty, or tokens separated by single spaces (none empty,
/// no trailing space) each of which `ok(token, index)` accepts.
template <class F>
bool is_token_list(std::string_view x, F ok) {
  for (size_t i = 0; !x.empty(); ++i) {
    auto end = x.find(' ');
    if (!ok(x.substr(0, end), i))
      return false;
    if (end == std::string_view::npos)
      break;
    x.remove_prefix(end + 1);
    if (x.empty())
      return false; // trailing space
  }
  return true;
}

/// An empty string, or node names separated by single spaces.
bool is_name_list(std::string_view x) {
  return is_token_list(x, [](std::string_view t, size_t) {
    return is_valid_name(t);
  });
}

/// An empty string, or decimal u64s separated by single spaces.
bool is_decimal_list(std::string_view x) {
  uint64_t value = 0;
  return is_token_list(x, [&](std::string_view t, size_t) {
    return parse_decimal(t, value);
  });
}

/// An empty string, or "name seq" pairs, all separated by single spaces.
bool is_seq_list(std::string_view x) {
  uint64_t value = 0;
  size_t tokens = 0;
  auto ok = is_token_list(x, [&](std::string_view t, size_t i) {
    tokens = i + 1;
    return i % 2 == 0 ? is_valid_name(t) : parse_decimal(t, value);
  });
  return ok && tokens % 2 == 0; // no name without its sequence number
}

/// The frame number of argument `i`, for details.
size_t arg_frame(size_t i) {
  return first_arg + i;
}

/// Checks the arguments of `cmd`; on failure, writes a detail and returns
/// false.
bool check_args(command cmd, const std::string_view* args, size_t n,
                std::string& detail) {
  uint64_t value = 0;
  switch (cmd) {
  case command::server_connect:
    if (n != 3) {
      detail = cat("server_connect takes 3 args (address, port, protocol)"
                   ", got ",
                   n);
      return false;
    }
    if (args[0].empty()) {
      detail = cat("frame ", arg_frame(0), " (address) is empty");
      return false;
    }
    if (has_space_or_control(args[0])) {
      detail = cat("frame ", arg_frame(0), " (address) ", echo{args[0]},
                   " contains white space or a control character");
      return false;
    }
    if (!parse_decimal(args[1], value) || value < 1 || value > 65535) {
      detail = cat("frame ", arg_frame(1), " (port) ", echo{args[1]},
                   " is not a decimal 1..65535");
      return false;
    }
    if (args[2].substr(0, protocol_prefix.size()) != protocol_prefix) {
      detail = cat("frame ", arg_frame(2), " (protocol) ", echo{args[2]},
                   " does not start with quilt/");
      return false;
    }
    return true;
  case command::ping:
    if (n > 1) {
      detail = cat("ping takes 0 or 1 arg (nonce), got ", n);
      return false;
    }
    return true;
  case command::pong:
    if (n < 1 || n > 2) {
      detail = cat("pong takes 1 or 2 args (ping id, nonce), got ", n);
      return false;
    }
    if (!parse_decimal(args[0], value)) {
      detail = cat("frame ", arg_frame(0), " (ping id) ", echo{args[0]},
                   " is not a decimal u64");
      return false;
    }
    return true;
  case command::msg:
    if (n != 1) {
      detail = cat("msg takes exactly 1 arg (text), got ", n);
      return false;
    }
    return true;
  case command::error:
    if (n < 2 || n > 3) {
      detail = cat("error takes 2 or 3 args (code, id, detail), got ", n);
      return false;
    }
    if (!is_error_code(args[0])) {
      detail = cat("frame ", arg_frame(0), " (code) ", echo{args[0]},
                   " is not unreachable, ttl_expired or rejected");
      return false;
    }
    if (!parse_decimal(args[1], value)) {
      detail = cat("frame ", arg_frame(1), " (id) ", echo{args[1]},
                   " is not a decimal u64");
      return false;
    }
    return true;
  case command::link_state:
    if (n != 1) {
      detail = cat("link_state takes exactly 1 arg (neighbours), got ", n);
      return false;
    }
    if (!is_name_list(args[0])) {
      detail = cat("frame ", arg_frame(0), " (neighbours) ", echo{args[0]},
                   " is not a list of node names separated by single spaces");
      return false;
    }
    return true;
  case command::link_ack:
    if (n != 3) {
      detail = cat("link_ack takes exactly 3 args (adverts, summaries, "
                   "broadcasts), got ",
                   n);
      return false;
    }
    if (!is_seq_list(args[0])) {
      detail = cat("frame ", arg_frame(0), " (adverts) ", echo{args[0]},
                   " is not a list of node name and sequence number pairs");
      return false;
    }
    if (!is_decimal_list(args[1])) {
      detail = cat("frame ", arg_frame(1), " (summaries) ", echo{args[1]},
                   " is not a list of decimal ids");
      return false;
    }
    if (!is_seq_list(args[2])) {
      detail = cat("frame ", arg_frame(2), " (broadcasts) ", echo{args[2]},
                   " is not a list of node name and id pairs");
      return false;
    }
    return true;
  case command::link_summary:
    if (n != 3) {
      detail = cat("link_summary takes exactly 3 args (first, last, "
                   "adverts), got ",
                   n);
      return false;
    }
    for (size_t i = 0; i < 2; ++i)
      if (!args[i].empty() && !is_valid_name(args[i])) {
        detail = cat("frame ", arg_frame(i), i == 0 ? " (first) " : " (last) ",
                     echo{args[i]}, " is not a node name or empty");
        return false;
      }
    if (!is_seq_list(args[2])) {
      detail = cat("frame ", arg_frame(2), " (adverts) ", echo{args[2]},
                   " is not a list of node name and sequence number pairs");
      return false;
    }
    return true;
  case command::msg_ack:
    if (n != 1) {
      detail = cat("msg_ack takes exactly 1 arg (msg id), got ", n);
      return false;
    }
    if (!parse_decimal(args[0], value)) {
      detail = cat("frame ", arg_frame(0), " (msg id) ", echo{args[0]},
                   " is not a decimal u64");
      return false;
    }
    return true;
  }
  detail = "unknown command";
  return false;
}

} // namespace

// -- public API ---------------------------------------------------------------

const char* to_string(reject x) {
  switch (x) {
  case reject::too_few_frames:
    return "too_few_frames";
  case reject::too_many_frames:
    return "too_many_frames";
  case reject::too_large:
    return "too_large";
  case reject::bad_utf8:
    return "bad_utf8";
  case reject::bad_destination:
    return "bad_destination";
  case reject::bad_command:
    return "bad_command";
  case reject::bad_origin:
    return "bad_origin";
  case reject::bad_id:
    return "bad_id";
  case reject::bad_ttl:
    return "bad_ttl";
  case reject::bad_args:
    return "bad_args";
  case reject::overloaded:
    return "overloaded";
  }
  return "?";
}

char* format_decimal(uint64_t x, char* end) {
  auto* p = end;
  do {
    *--p = static_cast<char>('0' + x % 10);
    x /= 10;
  } while (x != 0);
  return p;
}

namespace {

decode_result decode_frames(const std::string_view* frames, size_t count,
                            size_t max_bytes, std::string_view self,
                            message& out, bool copy_args) {
  // The checks run in the reporting order of SPEC §3.
  if (count < min_frames)
    return fail(
        reject::too_few_frames,
        cat(count, count == 1 ? " frame" : " frames", ", need at least 5"));
  if (count > max_frames)
    return fail(reject::too_many_frames, cat(count, " frames, at most 64"));
  size_t total = 0;
  for (size_t i = 0; i < count; ++i)
    total += frames[i].size();
  if (total > max_bytes)
    return fail(reject::too_large, cat(total, " bytes, at most ", max_bytes));
  for (size_t i = 0; i < count; ++i) {
    auto offset = utf8_error_offset(frames[i]);
    if (offset != npos)
      return fail(reject::bad_utf8,
                  cat("frame ", i, " is not UTF-8 (byte ", offset, ")"));
  }
  auto destination = frames[0];
  auto cmd = parse_command(frames[1]);
  auto broadcast = is_broadcast(destination);
  if (!broadcast && !is_valid_name(destination))
    return fail(reject::bad_destination, cat("frame 0 ", echo{destination},
                                             " is not a node name, all or *"));
  if (cmd) {
    if (broadcast && (*cmd == command::pong || *cmd == command::error
                      || *cmd == command::msg_ack))
      return fail(
          reject::bad_destination,
          cat(to_string(*cmd), " cannot be sent to ", echo{destination}));
    if ((*cmd == command::link_ack || *cmd == command::link_summary)
        && broadcast)
      return fail(
          reject::bad_destination,
          cat(to_string(*cmd), " is for one neighbour, not ", echo{destination}));
    if (*cmd == command::server_connect && !broadcast && !self.empty() &&
        destination != self)
      return fail(reject::bad_destination,
                  cat("server_connect for ", echo{destination},
                      ", this node is ", echo{self}));
  } else {
    if (!is_command_token(frames[1]))
      return fail(reject::bad_command, cat("frame 1 ", echo{frames[1]},
                                           " is not a token [a-z_]{1,32}"));
    return fail(reject::bad_command, cat("unknown command ", echo{frames[1]}));
  }
  if (!is_valid_name(frames[2]))
    return fail(reject::bad_origin,
                cat("frame 2 ", echo{frames[2]}, " is not a node name"));
  uint64_t id = 0;
  if (!parse_decimal(frames[3], id))
    return fail(reject::bad_id,
                cat("frame 3 ", echo{frames[3]}, " is not a decimal u64"));
  uint64_t ttl = 0;
  if (!parse_decimal(frames[4], ttl) || ttl > 255)
    return fail(reject::bad_ttl,
                cat("frame 4 ", echo{frames[4]}, " is not a decimal 0..255"));
  auto* args = frames + first_arg;
  auto nargs = count - first_arg;
  decode_result result;
  if (!check_args(*cmd, args, nargs, result.detail)) {
    result.reason = reject::bad_args;
    return result;
  }
  // Valid: only now touch `out`, re-using its strings' capacity.
  out.destination.assign(destination.data(), destination.size());
  out.cmd = *cmd;
  out.origin.assign(frames[2].data(), frames[2].size());
  out.id = id;
  out.ttl = static_cast<uint8_t>(ttl);
  out.advert.reset();
  out.forwarded = false;
  out.no_ack = false;
  if (copy_args) {
    out.wire.clear();
    out.args.resize(nargs);
    for (size_t i = 0; i < nargs; ++i)
      out.args[i].assign(args[i].data(), args[i].size());
  } else {
    out.args.clear();
  }
  result.ok = true;
  return result;
}

} // namespace

decode_result decode(const std::string_view* frames, size_t count,
                     size_t max_bytes, std::string_view self, message& out) {
  return decode_frames(frames, count, max_bytes, self, out, true);
}

decode_result decode_packed(std::string&& packed, size_t max_bytes,
                            std::string_view self, message& out) {
  // The count is exact; views past the limit are not needed, as a message
  // with too many frames is refused before any frame is read.
  std::string_view frames[max_frames];
  auto n = unpack_frames(packed, frames, max_frames);
  auto r = decode_frames(frames, n, max_bytes, self, out, false);
  if (r.ok)
    out.wire = std::move(packed); // the args are read from here on
  return r;
}

decode_result decode(const std::vector<std::string>& frames, size_t max_bytes,
                     std::string_view self, message& out) {
  if (frames.size() > max_frames) {
    std::vector<std::string_view> views(frames.begin(), frames.end());
    return decode(views.data(), views.size(), max_bytes, self, out);
  }
  std::string_view views[max_frames];
  for (size_t i = 0; i < frames.size(); ++i)
    views[i] = frames[i];
  return decode(views, frames.size(), max_bytes, self, out);
}

void encode(const message& x, std::vector<std::string>& out) {
  // resize + assign keeps the capacity of strings already in `out`.
  auto args = x.arg_count();
  out.resize(first_arg + args);
  out[0].assign(x.destination);
  out[1].assign(to_string(x.cmd));
  out[2].assign(x.origin);
  char buf[max_u64_digits];
  auto* end = buf + sizeof(buf);
  auto* first = format_decimal(x.id, end);
  out[3].assign(first, end);
  first = format_decimal(x.ttl, end);
  out[4].assign(first, end);
  for (size_t i = 0; i < args; ++i)
    out[first_arg + i].assign(x.arg(i));
}

std::vector<std::string> encode(const message& x) {
  std::vector<std::string> out;
  encode(x, out);
  return out;
}

std::string req_reply(const decode_result& x) {
  if (x.ok)
    return "ack";
  std::string out = "err ";
  out += to_string(x.reason);
  if (!x.detail.empty()) {
    out += ' ';
    out += x.detail;
  }
  return out;
}

void append_decimal(std::string& out, uint64_t x) {
  char buf[max_u64_digits];
  auto* end = buf + sizeof(buf);
  out.append(format_decimal(x, end), end);
}

std::string to_decimal(uint64_t x) {
  char buf[max_u64_digits];
  auto* end = buf + sizeof(buf);
  return std::string(format_decimal(x, end), end);
}

bool parse_decimal(std::string_view in, uint64_t& out) {
  auto n = in.size();
  if (n == 0 || n > max_u64_digits)
    return false;
  if (in[0] == '0') {
    if (n != 1)
      return false;
    out = 0;
    return true;
  }
  uint64_t value = 0;
  for (size_t i = 0; i < n; ++i) {
    auto digit = static_cast<unsigned>(static_cast<unsigned char>(in[i]) - '0');
    if (digit > 9)
      return false;
    // Only a 20th digit can overflow: 19 digits stay below 10^19 < 2^64.
    if (i == max_u64_digits - 1 &&
        value > (std::numeric_limits<uint64_t>::max() - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

bool is_valid_utf8(std::string_view in) {
  return utf8_error_offset(in) == npos;
}

} // namespace quilt

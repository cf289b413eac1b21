#include "quilt/packed.hpp"

#include <cstring>

#include "quilt/codec.hpp"

namespace quilt {

void pack_message(const message& x, std::string& out) {
  out.clear();
  // Args read from a wire form are found by a scan: count them once.
  auto args = x.arg_count();
  size_t size = 5 * 4 + x.destination.size() + x.origin.size() + 14 + 20 + 3;
  for (size_t i = 0; i < args; ++i)
    size += 4 + x.arg(i).size();
  out.reserve(size);
  pack_frame(out, x.destination);
  pack_frame(out, to_string(x.cmd));
  pack_frame(out, x.origin);
  // Per message sent: no snprintf (it showed in profiles of forwarding).
  char digits[24];
  auto* end = digits + sizeof(digits);
  auto* first = format_decimal(x.id, end);
  pack_frame(out, std::string_view{first, static_cast<size_t>(end - first)});
  first = format_decimal(x.ttl, end);
  pack_frame(out, std::string_view{first, static_cast<size_t>(end - first)});
  for (size_t i = 0; i < args; ++i)
    pack_frame(out, x.arg(i));
}

namespace {

/// Where the ttl frame of `x.wire` starts, if the wire still says what the
/// message says (header and args), else npos.
size_t wire_ttl_offset(const message& x) {
  if (x.wire.empty() || !x.args.empty() || x.advert)
    return std::string::npos;
  std::string_view header[5];
  if (unpack_frames(x.wire, header, 5) < 5)
    return std::string::npos;
  uint64_t id = 0;
  if (header[0] != x.destination || header[1] != to_string(x.cmd)
      || header[2] != x.origin || !parse_decimal(header[3], id) || id != x.id)
    return std::string::npos;
  return static_cast<size_t>(header[4].data() - x.wire.data());
}

} // namespace

void pack_message(message&& x, std::string& out) {
  auto at = wire_ttl_offset(x);
  char digits[4];
  auto* end = digits + sizeof(digits);
  auto* first = format_decimal(x.ttl, end);
  auto len = static_cast<size_t>(end - first);
  // A ttl of another length (10 -> 9) moves every later frame: pack anew.
  if (at == std::string::npos || frame_length(x.wire, at - 4) != len) {
    pack_message(static_cast<const message&>(x), out);
    return;
  }
  out = std::move(x.wire);
  std::memcpy(out.data() + at, first, len);
}

std::string pack_frames(const std::vector<std::string>& frames) {
  std::string out;
  for (auto& f : frames)
    pack_frame(out, f);
  return out;
}

} // namespace quilt

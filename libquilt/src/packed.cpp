#include "quilt/packed.hpp"

#include <cstdio>

#include "quilt/codec.hpp"

namespace quilt {

void pack_message(const message& x, std::string& out) {
  out.clear();
  size_t size = 5 * 4 + x.destination.size() + x.origin.size() + 14 + 20 + 3;
  for (size_t i = 0; i < x.arg_count(); ++i)
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
  for (size_t i = 0; i < x.arg_count(); ++i)
    pack_frame(out, x.arg(i));
}

std::string pack_frames(const std::vector<std::string>& frames) {
  std::string out;
  for (auto& f : frames)
    pack_frame(out, f);
  return out;
}

} // namespace quilt

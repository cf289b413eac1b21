#include "quilt/name.hpp"

#include <array>
#include <cstdint>

namespace quilt {

namespace {

// Bit 0: allowed as the first character; bit 1: allowed after it.
constexpr std::array<uint8_t, 256> make_name_table() {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c)
    t[c] = 3;
  for (int c = 'A'; c <= 'Z'; ++c)
    t[c] = 3;
  for (int c = 'a'; c <= 'z'; ++c)
    t[c] = 3;
  t['.'] = 2;
  t['_'] = 2;
  t[':'] = 2;
  t['-'] = 2;
  return t;
}

constexpr auto name_table = make_name_table();

constexpr size_t max_name_size = 64;

} // namespace

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_name_size)
    return false;
  auto* p = reinterpret_cast<const unsigned char*>(name.data());
  if ((name_table[p[0]] & 1) == 0)
    return false;
  // Accumulating the table bits avoids a branch per character.
  uint8_t acc = 2;
  for (size_t i = 1; i < name.size(); ++i)
    acc &= name_table[p[i]];
  if (acc == 0)
    return false;
  // "*" already fails the pattern; "all" is the only reserved word that
  // matches it.
  return name != "all";
}

bool is_valid_destination(std::string_view name) {
  return name == "all" || name == "*" || is_valid_name(name);
}

} // namespace quilt

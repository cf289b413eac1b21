#include "quilt/security.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include <zmq.h>

namespace quilt {

namespace {

std::string lower(std::string_view text) {
  std::string result{text};
  for (auto& c : result)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

/// Host names as DNS writes them: labels of letters, digits and '-',
/// separated by dots.
bool is_host_name(std::string_view text) {
  if (text.empty() || text.size() > 253)
    return false;
  size_t label = 0;
  for (char c : text) {
    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
      return false;
    if (++label > 63)
      return false;
  }
  return label > 0;
}

bool in_block(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b,
              unsigned prefix) {
  unsigned full = prefix / 8;
  if (std::memcmp(a.data(), b.data(), full) != 0)
    return false;
  unsigned rest = prefix % 8;
  if (rest == 0)
    return true;
  auto mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

} // namespace

bool is_curve_key(std::string_view text) {
  // zmq_z85_decode stops at a NUL: check every character ourselves.
  constexpr std::string_view alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ".-:+=^!/*?&<>()[]{}@%$#";
  if (text.size() != z85_key_size)
    return false;
  for (char c : text)
    if (alphabet.find(c) == std::string_view::npos)
      return false;
  char buf[z85_key_size + 1];
  std::memcpy(buf, text.data(), z85_key_size);
  buf[z85_key_size] = '\0';
  uint8_t out[32] = {};
  return zmq_z85_decode(out, buf) != nullptr;
}

std::optional<std::string> curve_public_key(std::string_view secret) {
  if (!is_curve_key(secret))
    return std::nullopt;
  char in[z85_key_size + 1];
  std::memcpy(in, secret.data(), z85_key_size);
  in[z85_key_size] = '\0';
  char out[z85_key_size + 1];
  if (zmq_curve_public(out, in) != 0)
    return std::nullopt;
  return std::string{out, z85_key_size};
}

std::optional<curve_keypair> make_curve_keypair() {
  char pub[z85_key_size + 1];
  char sec[z85_key_size + 1];
  if (zmq_curve_keypair(pub, sec) != 0)
    return std::nullopt;
  return curve_keypair{std::string{pub, z85_key_size},
                       std::string{sec, z85_key_size}};
}

std::optional<std::array<uint8_t, 16>> parse_ip(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 45)
    return std::nullopt;
  std::string s{text};
  std::array<uint8_t, 16> result{};
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    result[10] = 0xFF;
    result[11] = 0xFF;
    std::memcpy(result.data() + 12, &v4, 4);
    return result;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(result.data(), &v6, 16);
    return result;
  }
  return std::nullopt;
}

dial_policy dial_policy::allow_all() {
  dial_policy result;
  result.all_ = true;
  return result;
}

dial_policy dial_policy::loopback() {
  dial_policy result;
  result.add("127.0.0.0/8");
  result.add("::1");
  return result;
}

std::optional<std::string> dial_policy::add(std::string_view entry) {
  auto slash = entry.find('/');
  auto address = entry.substr(0, slash);
  if (auto ip = parse_ip(address)) {
    bool v4 = address.find(':') == std::string_view::npos;
    unsigned max = v4 ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
      auto digits = entry.substr(slash + 1);
      if (digits.empty() || digits.size() > 3
          || !std::all_of(digits.begin(), digits.end(),
                          [](char c) { return c >= '0' && c <= '9'; }))
        return "the prefix length after '/' must be a number";
      prefix = static_cast<unsigned>(std::stoul(std::string{digits}));
      if (prefix > max)
        return "the prefix length must be at most " + std::to_string(max);
    }
    blocks_.push_back(block{*ip, v4 ? prefix + 96 : prefix});
    return std::nullopt;
  }
  if (slash != std::string_view::npos)
    return "a CIDR block needs an IPv4 or IPv6 address before '/'";
  if (!is_host_name(entry))
    return "not a CIDR block, an IP address or a host name";
  hosts_.push_back(lower(entry));
  return std::nullopt;
}

bool dial_policy::allows(std::string_view address,
                         std::string_view connection_address) const {
  if (all_)
    return true;
  auto ip = parse_ip(address);
  if (ip) {
    if (auto from = parse_ip(connection_address); from && *from == *ip)
      return true;
    for (const auto& b : blocks_)
      if (in_block(*ip, b.bytes, b.prefix))
        return true;
    return false;
  }
  auto name = lower(address);
  return std::find(hosts_.begin(), hosts_.end(), name) != hosts_.end();
}

} // namespace quilt

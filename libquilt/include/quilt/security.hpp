// Link security (SPEC §10): CURVE keys as Z85 text, a node's CURVE identity,
// and the dial policy that decides which addresses named by a
// server_connect a node dials back.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quilt {

/// Characters of a CURVE key in Z85 text.
inline constexpr size_t z85_key_size = 40;

/// Whether `text` is a CURVE key: 40 characters of Z85.
bool is_curve_key(std::string_view text);

/// The public key of a Z85 secret key; nullopt if `secret` is not a key.
std::optional<std::string> curve_public_key(std::string_view secret);

struct curve_keypair {
  std::string public_key; ///< Z85.
  std::string secret_key; ///< Z85.
};

/// A new random key pair; nullopt if libzmq was built without CURVE.
std::optional<curve_keypair> make_curve_keypair();

/// A node's CURVE identity and the client keys its listener admits.
struct curve_identity {
  std::string public_key;              ///< Z85.
  std::string secret_key;              ///< Z85.
  std::vector<std::string> authorized; ///< Z85 client keys.
};

/// Which addresses a node dials back after a server_connect. An address is
/// allowed when it is the address the server_connect's connection came from,
/// inside one of the allowed blocks, or one of the allowed host names.
/// (Configured peers are allowed too; the protocol, which knows them,
/// checks that.)
class dial_policy {
public:
  /// Allows every address: for protocol tests and in-process meshes.
  static dial_policy allow_all();

  /// SPEC §10's default: 127.0.0.0/8 and ::1.
  static dial_policy loopback();

  /// Adds one dial_allow entry: a CIDR block ("10.1.0.0/16", "fd00::/8"), an
  /// address (a block of one) or an exact host name. Returns what is wrong
  /// with it, if anything.
  std::optional<std::string> add(std::string_view entry);

  /// Whether `address` may be dialled; `connection_address` is where the
  /// request's connection came from (empty when unknown).
  bool allows(std::string_view address,
              std::string_view connection_address) const;

private:
  struct block {
    std::array<uint8_t, 16> bytes{}; ///< IPv4 as IPv4-mapped IPv6.
    unsigned prefix = 0;             ///< Bits, counted in the mapped form.
  };
  bool all_ = false;
  std::vector<block> blocks_;
  std::vector<std::string> hosts_; ///< Lower case.
};

/// `text` as a 16-byte address (IPv4 mapped into IPv6), if it is an IP
/// literal (IPv6 possibly in brackets).
std::optional<std::array<uint8_t, 16>> parse_ip(std::string_view text);

} // namespace quilt

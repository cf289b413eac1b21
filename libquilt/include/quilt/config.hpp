// Node configuration (SPEC §7): TOML -> node_config, with every rejection
// reported as "FILE:LINE: what is wrong".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "quilt/log.hpp"

namespace quilt {

/// A `[[peers]]` entry: a node to connect to at start and for ever after.
struct peer_config {
  std::string address;
  uint16_t port = 0;
  std::string public_key; ///< Z85 CURVE server key; required with curve.
};

/// `[security]` (SPEC §10): CURVE links and the dial policy.
struct security_config {
  bool curve = false;
  std::string secret_key_file;      ///< As written in the file.
  std::string authorized_keys_file; ///< As written; empty: none.
  std::string public_key; ///< Z85, derived from the secret key.
  std::string secret_key; ///< Z85, read from secret_key_file.
  /// Z85 client keys admitted by the listener: the authorized_keys file's
  /// and every peer's public_key.
  std::vector<std::string> authorized_keys;
  /// Names bound to keys by authorized_keys lines `KEY NAME` (the first
  /// word of the comment): name -> Z85 key (SPEC §12).
  std::vector<std::pair<std::string, std::string>> key_names;
  /// CIDR blocks, addresses and host names dialled back after a
  /// server_connect (besides the connection's own address and peers').
  std::vector<std::string> dial_allow = {"127.0.0.0/8", "::1"};
};

/// Everything a node needs to run, with SPEC §7 defaults.
struct node_config {
  std::string name;                  ///< Default "<advertise>:<port>".
  std::string host = "127.0.0.1";    ///< Bind address.
  uint16_t port = 0;                 ///< Required.
  std::string advertise;             ///< Default host (127.0.0.1 for 0.0.0.0).
  uint32_t processors = 10;          ///< 1..256.
  std::vector<peer_config> peers;
  std::string console_host = "127.0.0.1";
  uint16_t console_port = 0;         ///< Default port + 1000 or 0; 0 = off.
  /// Console TLS (SPEC §10): PEM paths, resolved against the config file's
  /// folder; the three are all set or all empty.
  std::string console_tls_certificate;
  std::string console_tls_key;
  std::string console_tls_cafile;
  /// `[http]` (SPEC §15): metrics, health, JSON documents and the mesh
  /// page; off unless the port is set (0 = off).
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 0;
  uint32_t heartbeat_ms = 1000;      ///< 10..60000.
  uint32_t dead_after_ms = 5000;     ///< > heartbeat_ms, <= 600000.
  uint32_t default_ttl = 32;         ///< 1..255.
  uint64_t max_message_bytes = 65536; ///< 256..67108864.
  uint64_t queue_limit = 10000;      ///< 1..10000000.
  /// Links open at most for peers the config does not list: 1..65535.
  uint32_t max_peers = 1024;
  /// How long a node retransmits a unicast msg it originated until its
  /// destination confirms it (SPEC §14): 0..600000, 0 turns it off.
  uint32_t delivery_timeout_ms = 10000;
  log_level level = log_level::info;
  security_config security;
  /// Listen endpoint override (e.g. "inproc://alpha"); empty means
  /// tcp://host:port. Not a TOML key: set by embedders such as tests.
  std::string endpoint;

  /// The endpoint the ROUTER binds, "tcp://HOST:PORT" unless overridden.
  std::string listen_endpoint() const;

  /// Whether the console is published over TLS only.
  bool console_tls() const { return !console_tls_certificate.empty(); }
};

/// Command-line values that take precedence over the file. They apply before
/// derived defaults (name, console port) are computed.
struct config_overrides {
  std::optional<std::string> name;
  std::optional<std::string> port;      ///< Unparsed, validated like the key.
  std::optional<std::string> log_level; ///< Unparsed, validated like the key.
};

/// A configuration problem, already formatted for the user:
/// "FILE:LINE: what is wrong", or "FILE: what is wrong" without a line.
struct config_error {
  std::string text;
};

/// Reads and validates the TOML file at `path` (as given on the command
/// line, which is also the FILE of error messages).
std::variant<node_config, config_error>
load_node_config(const std::string& path, const config_overrides& overrides);

/// Same as load_node_config, from TOML text; `path` names it in errors.
std::variant<node_config, config_error>
parse_node_config(std::string_view toml_text, const std::string& path,
                  const config_overrides& overrides);

} // namespace quilt

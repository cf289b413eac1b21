// The key-by-key checks behind load_node_config (SPEC §7), shared with loaders
// of other TOML files that embed the same keys, such as a simulation
// scenario's [defaults] (SPEC §9: processors, heartbeat_ms, dead_after_ms,
// default_ttl, max_message_bytes, queue_limit, same ranges). Only code that
// parses TOML itself needs this header; everyone else uses config.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <variant>

#include <toml++/toml.h>

#include "quilt/config.hpp"

namespace quilt::config_keys {

/// The problem reported for a file: the one on the earliest line (document
/// order), problems without a line coming after every problem with one.
class problems {
public:
  /// Records a problem; `line` 0 means "no line".
  void add(uint32_t line, std::string text);

  /// Records the problem `other` would report, if any, as add() would.
  void add(const problems& other);

  bool empty() const { return !first_; }

  /// "FILE:LINE: text" or "FILE: text". Requires !empty().
  config_error error(const std::string& path) const;

private:
  struct entry {
    uint32_t line;
    std::string text;
  };
  std::optional<entry> first_;
};

/// Line of each key found, by its SPEC §7 name ("timing.heartbeat_ms"),
/// whatever section it was read from.
using key_lines = std::map<std::string, uint32_t, std::less<>>;

/// Which keys a table accepts.
enum class key_set {
  node,     ///< [node]: name, host, port, advertise, processors.
  console,  ///< [console]: host, port, tls_certificate, tls_key, tls_cafile.
  timing,   ///< [timing]: heartbeat_ms, dead_after_ms.
  limits,   ///< [limits]: default_ttl, max_message_bytes, queue_limit,
            ///< max_peers, delivery_timeout_ms.
  log,      ///< [log]: level.
  http,     ///< [http]: host, port (SPEC §15).
  tunables, ///< processors, heartbeat_ms, dead_after_ms, default_ttl,
            ///< max_message_bytes, queue_limit, max_peers,
            ///< delivery_timeout_ms, flattened in one table.
};

/// Checks every key of `table` (read as section `label`, e.g. "node" or
/// "defaults": messages say "label.key", "unknown key 'k' in [label]") and
/// stores the valid values in `cfg`. Records the line of each key present in
/// `lines` and every problem in `out`.
void read_section(const toml::table& table, std::string_view label,
                  key_set keys, node_config& cfg, key_lines& lines,
                  problems& out);

/// Reads `[security]` (SPEC §10) into `cfg.security`; key files are read
/// later, by load_key_files(). Records each key's line as "security.KEY".
void read_security(const toml::table& table, node_config& cfg,
                   key_lines& lines, problems& out);

/// Once the whole file is read without problems: checks what `curve = true`
/// requires (secret_key_file; a public_key for every peer, whose [[peers]]
/// lines are "peers.N" in `lines`), then reads the key files, named
/// relative to the folder of `config_path`. A problem in a key file is
/// reported with that file's path and line.
std::optional<config_error> load_key_files(node_config& cfg,
                                           const key_lines& lines,
                                           const std::string& config_path);

/// The check across keys: dead_after_ms must exceed heartbeat_ms. Messages
/// name the keys "label.heartbeat_ms" and "label.dead_after_ms". Run it only
/// when read_section() found no problem (an invalid value is not stored).
void check_timing(const node_config& cfg, const key_lines& lines,
                  std::string_view label, problems& out);

/// Type name for messages: "integer", "string", "float", "table"...
std::string_view type_name(const toml::node& x);

/// `text` with control characters written \xNN, so a message stays one line.
std::string escaped(std::string_view text);

/// " (it belongs in A, B or C)" for the sections a misplaced key belongs
/// in (already written as the message shows them), or "" for none.
std::string belongs_in(const std::vector<std::string>& sections);

/// `text` between single quotes, control characters escaped, shortened
/// past 80 bytes, for quoting user input in messages.
std::string quoted(std::string_view text);

/// The rule for node names (SPEC §2) as messages state it.
inline constexpr std::string_view name_rule =
    "up to 64 letters, digits and . _ : -, starting with a letter or digit, "
    "not 'all'";

/// A TOML syntax error as "FILE:LINE: TOML syntax error in WHAT: DETAIL".
config_error syntax_error(const std::string& path, const toml::parse_error& e);

/// The bytes of the file at `path`, or "FILE: cannot open: REASON" (e.g. no
/// such file) / "FILE: cannot read: REASON" (e.g. a directory).
std::variant<std::string, config_error> read_file(const std::string& path);

} // namespace quilt::config_keys

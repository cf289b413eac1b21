// Node configuration (SPEC §7): a TOML file -> node_config.
//
// Every key is described once, in `specs` below: its section, its type, its
// range and the node_config field it sets. read_section() checks a TOML table
// against that description, so another file that embeds the same keys (a
// simulation scenario's [defaults], SPEC §9, via key_set::tunables) gets the
// same checks and the same messages.
//
// Order of work: parse the TOML; check every key of every table (the problem
// on the earliest line is the one reported); require node.port; apply the
// command-line overrides; derive the defaults that depend on other keys
// (advertise, name, console.port); check across keys (dead_after_ms against
// heartbeat_ms, the derived name).

#include "quilt/config.hpp"

#include <cerrno>
#include <cstdio>
#include <iterator>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "quilt/config_keys.hpp"
#include "quilt/name.hpp"
#include "quilt/security.hpp"
#include "quilt/tls.hpp"

namespace quilt {

std::string node_config::listen_endpoint() const {
  if (!endpoint.empty())
    return endpoint;
  return "tcp://" + host + ":" + std::to_string(port);
}

namespace config_keys {

namespace {

/// Concatenates strings, string views and C strings.
template <class... Ts> std::string cat(const Ts&... xs) {
  std::string result;
  (result.append(std::string_view{xs}), ...);
  return result;
}

enum class value_kind {
  integer,   ///< A TOML integer within [lo, hi].
  text,      ///< A non-empty TOML string.
  node_name, ///< A TOML string that is a valid node name (SPEC §2).
  level,     ///< A TOML string naming a log level, any case.
};

using checked_value = std::variant<int64_t, std::string, log_level>;

using store_fn = void (*)(node_config&, const checked_value&);

struct key_spec {
  std::string_view section; ///< Its section in SPEC §7.
  std::string_view key;
  value_kind kind;
  int64_t lo; ///< Integer range, inclusive.
  int64_t hi;
  bool tunable; ///< Also accepted by key_set::tunables.
  store_fn store;
  std::string_view range_text; ///< Replaces "LO..HI" in messages if set.
};

template <auto Member>
void store_int(node_config& cfg, const checked_value& x) {
  using field = std::remove_reference_t<decltype(cfg.*Member)>;
  cfg.*Member = static_cast<field>(std::get<int64_t>(x));
}

template <auto Member>
void store_text(node_config& cfg, const checked_value& x) {
  cfg.*Member = std::get<std::string>(x);
}

void store_level(node_config& cfg, const checked_value& x) {
  cfg.level = std::get<log_level>(x);
}

constexpr std::string_view level_rule =
    "trace, debug, info, warning (or warn), error";

using vk = value_kind;

// SPEC §7, key by key. The integer ranges are those of the spec; the one
// range that depends on another key (dead_after_ms > heartbeat_ms) is
// completed by check_timing().
// clang-format off
const key_spec specs[] = {
  {"node", "name", vk::node_name, 0, 0, false,
   &store_text<&node_config::name>, {}},
  {"node", "host", vk::text, 0, 0, false, &store_text<&node_config::host>, {}},
  {"node", "port", vk::integer, 1, 65535, false,
   &store_int<&node_config::port>, {}},
  {"node", "advertise", vk::text, 0, 0, false,
   &store_text<&node_config::advertise>, {}},
  {"node", "processors", vk::integer, 1, 256, true,
   &store_int<&node_config::processors>, {}},
  {"console", "host", vk::text, 0, 0, false,
   &store_text<&node_config::console_host>, {}},
  {"console", "port", vk::integer, 0, 65535, false,
   &store_int<&node_config::console_port>, {}},
  {"console", "tls_certificate", vk::text, 0, 0, false,
   &store_text<&node_config::console_tls_certificate>, {}},
  {"console", "tls_key", vk::text, 0, 0, false,
   &store_text<&node_config::console_tls_key>, {}},
  {"console", "tls_cafile", vk::text, 0, 0, false,
   &store_text<&node_config::console_tls_cafile>, {}},
  {"timing", "heartbeat_ms", vk::integer, 10, 60000, true,
   &store_int<&node_config::heartbeat_ms>, {}},
  {"timing", "dead_after_ms", vk::integer, 1, 600000, true,
   &store_int<&node_config::dead_after_ms>,
   "greater than heartbeat_ms and at most 600000"},
  {"limits", "default_ttl", vk::integer, 1, 255, true,
   &store_int<&node_config::default_ttl>, {}},
  {"limits", "max_message_bytes", vk::integer, 256, 67108864, true,
   &store_int<&node_config::max_message_bytes>, {}},
  {"limits", "queue_limit", vk::integer, 1, 10000000, true,
   &store_int<&node_config::queue_limit>, {}},
  {"limits", "max_peers", vk::integer, 1, 65535, true,
   &store_int<&node_config::max_peers>, {}},
  {"limits", "delivery_timeout_ms", vk::integer, 0, 600000, true,
   &store_int<&node_config::delivery_timeout_ms>, {}},
  {"log", "level", vk::level, 0, 0, false, &store_level, {}},
  {"http", "host", vk::text, 0, 0, false,
   &store_text<&node_config::http_host>, {}},
  {"http", "port", vk::integer, 0, 65535, false,
   &store_int<&node_config::http_port>, {}},
};

// The keys of a [[peers]] entry; they go to a peer_config, stored by hand.
const key_spec peer_address =
  {"peers", "address", vk::text, 0, 0, false, nullptr, {}};
const key_spec peer_port =
  {"peers", "port", vk::integer, 1, 65535, false, nullptr, {}};
const key_spec peer_public_key =
  {"peers", "public_key", vk::text, 0, 0, false, nullptr, {}};
// clang-format on

bool accepts(key_set keys, const key_spec& spec) {
  switch (keys) {
  case key_set::node:
    return spec.section == "node";
  case key_set::console:
    return spec.section == "console";
  case key_set::timing:
    return spec.section == "timing";
  case key_set::limits:
    return spec.section == "limits";
  case key_set::log:
    return spec.section == "log";
  case key_set::http:
    return spec.section == "http";
  case key_set::tunables:
    return spec.tunable;
  }
  return false;
}

const key_spec* find_spec(key_set keys, std::string_view key) {
  for (const auto& spec : specs)
    if (spec.key == key && accepts(keys, spec))
      return &spec;
  return nullptr;
}

/// " (it belongs in [timing])" for a key of another section, else "".
std::string belongs_hint(std::string_view key) {
  std::vector<std::string> sections;
  for (const auto& spec : specs)
    if (spec.key == key)
      sections.push_back(cat("[", spec.section, "]"));
  return belongs_in(sections);
}

} // namespace

std::string belongs_in(const std::vector<std::string>& sections) {
  if (sections.empty())
    return {};
  std::string result = " (it belongs in ";
  for (size_t i = 0; i < sections.size(); ++i) {
    if (i > 0)
      result += i + 1 == sections.size() ? " or " : ", ";
    result += sections[i];
  }
  return result + ")";
}

namespace {

uint32_t line_of(const toml::node& x) {
  return x.source().begin.line;
}

uint32_t line_of(const toml::key& k, const toml::node& x) {
  auto line = k.source().begin.line;
  return line != 0 ? line : line_of(x);
}

/// Checks one value against `spec`; `label` names it in messages.
std::optional<checked_value> check_value(const key_spec& spec,
                                         const toml::node& x,
                                         const std::string& label,
                                         problems& out) {
  auto line = line_of(x);
  if (spec.kind == vk::integer) {
    const auto* value = x.as_integer();
    if (value == nullptr) {
      out.add(line, cat(label, " must be an integer, got ", type_name(x)));
      return std::nullopt;
    }
    int64_t n = value->get();
    if (n < spec.lo || n > spec.hi) {
      auto range = spec.range_text.empty() ? cat(std::to_string(spec.lo), "..",
                                                 std::to_string(spec.hi))
                                           : std::string{spec.range_text};
      out.add(line,
              cat(label, " must be ", range, ", got ", std::to_string(n)));
      return std::nullopt;
    }
    return n;
  }
  const auto* value = x.as_string();
  if (value == nullptr) {
    out.add(line, cat(label, " must be a string, got ", type_name(x)));
    return std::nullopt;
  }
  const std::string& text = value->get();
  switch (spec.kind) {
  case vk::text:
    if (text.empty()) {
      out.add(line, cat(label, " must not be empty"));
      return std::nullopt;
    }
    return text;
  case vk::node_name:
    if (!is_valid_name(text)) {
      out.add(line, cat(label, " must be a valid node name (", name_rule,
                        "), got ", quoted(text)));
      return std::nullopt;
    }
    return text;
  case vk::level:
    if (auto level = parse_log_level(text))
      return *level;
    out.add(line,
            cat(label, " must be one of ", level_rule, ", got ", quoted(text)));
    return std::nullopt;
  case vk::integer:
    break;
  }
  return std::nullopt;
}

/// Reads the [[peers]] array (or an inline array of inline tables).
void read_peers(const toml::key& key, const toml::node& x, node_config& cfg,
                key_lines& lines, problems& out) {
  const auto* entries = x.as_array();
  if (entries == nullptr) {
    out.add(line_of(key, x),
            cat("peers must be an array of tables ([[peers]]), got ",
                type_name(x)));
    return;
  }
  for (const auto& entry : *entries) {
    const auto* table = entry.as_table();
    if (table == nullptr) {
      out.add(line_of(entry),
              cat("each peers entry must be a table, got ", type_name(entry)));
      continue;
    }
    peer_config peer;
    bool has_address = false;
    bool has_port = false;
    bool has_unknown = false;
    for (auto&& [k, v] : *table) {
      if (k.str() == peer_address.key) {
        has_address = true;
        if (auto a = check_value(peer_address, v, "peers.address", out))
          peer.address = std::get<std::string>(*a);
      } else if (k.str() == peer_port.key) {
        has_port = true;
        if (auto p = check_value(peer_port, v, "peers.port", out))
          peer.port = static_cast<uint16_t>(std::get<int64_t>(*p));
      } else if (k.str() == peer_public_key.key) {
        auto key = check_value(peer_public_key, v, "peers.public_key", out);
        if (key && is_curve_key(std::get<std::string>(*key)))
          peer.public_key = std::get<std::string>(*key);
        else if (key)
          out.add(line_of(k, v),
                  cat("peers.public_key must be a CURVE public key (40 "
                      "characters of Z85), got ",
                      quoted(std::get<std::string>(*key))));
      } else {
        has_unknown = true;
        out.add(line_of(k, v),
                cat("unknown key ", quoted(k.str()), " in [[peers]]"));
      }
    }
    // The entry's own line is its [[peers]] header (or its inline '{'), which
    // comes before its keys: a misspelt key must not be hidden behind the
    // missing key it causes, so only an entry without one is told what it
    // lacks.
    if (!has_unknown && !has_address)
      out.add(line_of(entry), "missing required key peers.address");
    if (!has_unknown && !has_port)
      out.add(line_of(entry), "missing required key peers.port");
    lines[cat("peers.", std::to_string(cfg.peers.size()))] = line_of(entry);
    cfg.peers.push_back(std::move(peer));
  }
}

std::optional<key_set> section_keys(std::string_view name) {
  if (name == "node")
    return key_set::node;
  if (name == "console")
    return key_set::console;
  if (name == "timing")
    return key_set::timing;
  if (name == "limits")
    return key_set::limits;
  if (name == "log")
    return key_set::log;
  if (name == "http")
    return key_set::http;
  return std::nullopt;
}

/// --port, --name and --log-level, checked.
struct checked_overrides {
  std::optional<std::string> name;
  std::optional<uint16_t> port;
  std::optional<log_level> level;
};

/// Decimal digits only, 1..65535.
std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5)
    return std::nullopt;
  uint32_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n < 1 || n > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(n);
}

std::variant<checked_overrides, config_error>
check_overrides(const config_overrides& in) {
  checked_overrides result;
  if (in.name) {
    if (!is_valid_name(*in.name))
      return config_error{cat("--name: ", quoted(*in.name),
                              " is not a valid node name (", name_rule, ")")};
    result.name = *in.name;
  }
  if (in.port) {
    result.port = parse_port(*in.port);
    if (!result.port)
      return config_error{
          cat("--port: ", quoted(*in.port), " is not a port 1..65535")};
  }
  if (in.log_level) {
    result.level = parse_log_level(*in.log_level);
    if (!result.level)
      return config_error{cat("--log-level: ", quoted(*in.log_level),
                              " is not a log level (", level_rule, ")")};
  }
  return result;
}

/// `file` as named in the config file at `config_path`: relative to that
/// file's folder unless absolute.
std::string resolve_beside(const std::string& config_path,
                           const std::string& file) {
  auto slash = config_path.rfind('/');
  if (file.front() == '/' || slash == std::string::npos)
    return file;
  return cat(std::string_view{config_path}.substr(0, slash + 1), file);
}

/// [console]'s TLS files (SPEC §10): all three or none; each is resolved
/// beside the config file and must load as CAF's OpenSSL module loads it.
void check_console_tls(node_config& cfg, const key_lines& lines,
                       const std::string& path, problems& out) {
  struct tls_key {
    std::string_view key;
    std::string* value;
  };
  // In the order of quilt::tls_file, which indexes it below.
  const tls_key keys[] = {
    {"console.tls_certificate", &cfg.console_tls_certificate},
    {"console.tls_key", &cfg.console_tls_key},
    {"console.tls_cafile", &cfg.console_tls_cafile},
  };
  std::vector<std::string_view> missing;
  uint32_t first_line = 0;
  bool all_valid = true;
  for (const auto& k : keys) {
    auto at = lines.find(k.key);
    if (at == lines.end()) {
      missing.push_back(k.key);
      continue;
    }
    if (first_line == 0 || at->second < first_line)
      first_line = at->second;
    all_valid = all_valid && !k.value->empty();
  }
  if (missing.size() == std::size(keys))
    return;
  if (!missing.empty()) {
    auto names = missing.size() == 1
                   ? cat(missing[0], " is")
                   : cat(missing[0], " and ", missing[1], " are");
    out.add(first_line, cat("console.tls_certificate, console.tls_key and "
                            "console.tls_cafile go together: ",
                            names, " missing"));
    return;
  }
  if (!all_valid) // the bad value is reported already
    return;
  for (const auto& k : keys)
    *k.value = resolve_beside(path, *k.value);
  auto problem = check_tls_files({cfg.console_tls_certificate,
                                  cfg.console_tls_key,
                                  cfg.console_tls_cafile});
  if (!problem)
    return;
  const auto& key = keys[static_cast<size_t>(problem->file)].key;
  out.add(lines.find(key)->second, cat(key, ": ", problem->text));
}

/// ZeroMQ's and the OS's "every interface" bind addresses.
bool is_wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "*";
}

std::variant<node_config, config_error>
load(std::string_view toml_text, const std::string& path,
     const checked_overrides& overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view{path});
  } catch (const toml::parse_error& e) {
    return syntax_error(path, e);
  }

  node_config cfg;
  key_lines lines;
  problems out;
  for (auto&& [k, v] : root) {
    auto name = k.str();
    auto line = line_of(k, v);
    if (name == "peers") {
      read_peers(k, v, cfg, lines, out);
    } else if (name == "security") {
      if (const auto* table = v.as_table())
        read_security(*table, cfg, lines, out);
      else
        out.add(line, cat(name, " must be a table, got ", type_name(v)));
    } else if (auto keys = section_keys(name)) {
      if (const auto* table = v.as_table())
        read_section(*table, name, *keys, cfg, lines, out);
      else
        out.add(line, cat(name, " must be a table, got ", type_name(v)));
    } else if (v.is_table()) {
      out.add(line, cat("unknown section [", escaped(name), "]"));
    } else if (v.is_array_of_tables()) {
      out.add(line, cat("unknown section [[", escaped(name), "]]"));
    } else {
      out.add(line, cat("unknown key ", quoted(name), " outside any section",
                        belongs_hint(name)));
    }
  }
  check_console_tls(cfg, lines, path, out);
  if (!out.empty())
    return out.error(path);
  // --port stands in for the file's port, so one file can serve several
  // nodes on one host.
  if (lines.count("node.port") == 0 && !overrides.port)
    return config_error{path + ": missing required key node.port"};

  // Overrides first: the derived defaults below depend on them.
  if (overrides.port)
    cfg.port = *overrides.port;
  if (overrides.name)
    cfg.name = *overrides.name;
  if (overrides.level)
    cfg.level = *overrides.level;

  if (lines.count("node.advertise") == 0)
    cfg.advertise = is_wildcard(cfg.host) ? "127.0.0.1" : cfg.host;
  if (lines.count("console.port") == 0)
    cfg.console_port = cfg.port <= 65535 - 1000
                           ? static_cast<uint16_t>(cfg.port + 1000)
                           : uint16_t{0};
  if (!overrides.name && lines.count("node.name") == 0) {
    cfg.name = cat(cfg.advertise, ":", std::to_string(cfg.port));
    if (!is_valid_name(cfg.name)) {
      // Point at what the name was made from.
      auto from = lines.find("node.advertise");
      if (from == lines.end())
        from = lines.find("node.host");
      out.add(from != lines.end() ? from->second : 0,
              cat("node.name is not set and its default ", quoted(cfg.name),
                  " (<advertise>:<port>) is not a valid node name (", name_rule,
                  "); set node.name"));
    }
  }
  check_timing(cfg, lines, "timing", out);
  if (!out.empty())
    return out.error(path);
  if (auto e = load_key_files(cfg, lines, path))
    return std::move(*e);
  return cfg;
}

} // namespace

void problems::add(uint32_t line, std::string text) {
  bool earlier =
      !first_ || (line != 0 && (first_->line == 0 || line < first_->line));
  if (earlier)
    first_ = entry{line, std::move(text)};
}

void problems::add(const problems& other) {
  if (other.first_)
    add(other.first_->line, other.first_->text);
}

config_error problems::error(const std::string& path) const {
  if (first_->line == 0)
    return config_error{cat(path, ": ", first_->text)};
  return config_error{
      cat(path, ":", std::to_string(first_->line), ": ", first_->text)};
}

config_error syntax_error(const std::string& path, const toml::parse_error& e) {
  // toml++ says "Error while parsing key-value pair: expected value..."; turn
  // that into "TOML syntax error in key-value pair: expected value...".
  constexpr std::string_view prefix = "Error while parsing ";
  std::string_view description = e.description();
  std::string text;
  // toml++ quotes what it saw, which can be a line break: escaped, so that
  // the error stays one line.
  if (description.substr(0, prefix.size()) == prefix)
    text = cat("TOML syntax error in ",
               escaped(description.substr(prefix.size())));
  else
    text = cat("TOML syntax error: ", escaped(description));
  problems out;
  out.add(e.source().begin.line, std::move(text));
  return out.error(path);
}

void read_section(const toml::table& table, std::string_view label,
                  key_set keys, node_config& cfg, key_lines& lines,
                  problems& out) {
  for (auto&& [k, v] : table) {
    const auto* spec = find_spec(keys, k.str());
    if (spec == nullptr) {
      // In a §7 section, a key of another section is a likely slip: say
      // where it goes. Flattened tables have no other sections to point to.
      out.add(line_of(k, v),
              cat("unknown key ", quoted(k.str()), " in [", label, "]",
                  keys == key_set::tunables ? std::string{}
                                            : belongs_hint(k.str())));
      continue;
    }
    lines[cat(spec->section, ".", spec->key)] = line_of(k, v);
    if (auto value = check_value(*spec, v, cat(label, ".", k.str()), out))
      spec->store(cfg, *value);
  }
}

void check_timing(const node_config& cfg, const key_lines& lines,
                  std::string_view label, problems& out) {
  if (cfg.dead_after_ms > cfg.heartbeat_ms)
    return;
  auto heartbeat = cat(label, ".heartbeat_ms");
  auto dead_after = cat(label, ".dead_after_ms");
  auto dead_line = lines.find("timing.dead_after_ms");
  auto heartbeat_line = lines.find("timing.heartbeat_ms");
  if (dead_line != lines.end() || heartbeat_line == lines.end()) {
    // SPEC §7: the error names the dead_after_ms line.
    out.add(dead_line != lines.end() ? dead_line->second : 0,
            cat(dead_after, " must be greater than ", heartbeat, " (",
                std::to_string(cfg.heartbeat_ms), "), got ",
                std::to_string(cfg.dead_after_ms)));
  } else {
    // dead_after_ms is not in the file: its default is at most the
    // heartbeat_ms the file sets. There is no dead_after_ms line to name,
    // so name the heartbeat_ms line, the value that made the default wrong.
    out.add(heartbeat_line->second,
            cat(heartbeat, " ", std::to_string(cfg.heartbeat_ms),
                " is not less than ", dead_after, " (default ",
                std::to_string(cfg.dead_after_ms), "); set ", dead_after,
                " greater than ", std::to_string(cfg.heartbeat_ms)));
  }
}

std::string_view type_name(const toml::node& x) {
  switch (x.type()) {
  case toml::node_type::table:
    return "table";
  case toml::node_type::array:
    return "array";
  case toml::node_type::string:
    return "string";
  case toml::node_type::integer:
    return "integer";
  case toml::node_type::floating_point:
    return "float";
  case toml::node_type::boolean:
    return "boolean";
  case toml::node_type::date:
    return "date";
  case toml::node_type::time:
    return "time";
  case toml::node_type::date_time:
    return "date-time";
  case toml::node_type::none:
    break;
  }
  return "nothing";
}

/// `text` with control characters written \xNN, so a message stays one line.
std::string escaped(std::string_view text) {
  std::string result;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      result += buf;
    } else {
      result += c;
    }
  }
  return result;
}

std::string quoted(std::string_view text) {
  constexpr size_t max_bytes = 80;
  bool shortened = text.size() > max_bytes;
  if (shortened) {
    size_t n = max_bytes - 3;
    // Do not cut a UTF-8 sequence in two.
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80)
      --n;
    text = text.substr(0, n);
  }
  return cat("'", escaped(text), shortened ? "...'" : "'");
}

std::variant<std::string, config_error> read_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    return config_error{
        path + ": cannot open: " + std::generic_category().message(errno)};
  std::string text;
  char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), file)) > 0)
    text.append(buf, n);
  bool failed = std::ferror(file) != 0;
  int read_errno = errno != 0 ? errno : EIO;
  std::fclose(file);
  if (failed) // E.g. EISDIR: fopen() opens a directory, fread() fails.
    return config_error{
        path + ": cannot read: " + std::generic_category().message(read_errno)};
  return text;
}

} // namespace config_keys

std::variant<node_config, config_error>
parse_node_config(std::string_view toml_text, const std::string& path,
                  const config_overrides& overrides) {
  auto checked = config_keys::check_overrides(overrides);
  if (auto* e = std::get_if<config_error>(&checked))
    return std::move(*e);
  return config_keys::load(toml_text, path,
                           std::get<config_keys::checked_overrides>(checked));
}

std::variant<node_config, config_error>
load_node_config(const std::string& path, const config_overrides& overrides) {
  // Command-line mistakes first: they need no file.
  auto checked = config_keys::check_overrides(overrides);
  if (auto* e = std::get_if<config_error>(&checked))
    return std::move(*e);
  auto text = config_keys::read_file(path);
  if (auto* e = std::get_if<config_error>(&text))
    return std::move(*e);
  return config_keys::load(std::get<std::string>(text), path,
                           std::get<config_keys::checked_overrides>(checked));
}

} // namespace quilt

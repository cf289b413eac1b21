// `[security]` of a node's configuration (SPEC §10) and the key files it
// names. The keys are checked with the rest of the file; the key files are
// read only once the file itself is valid, so that a problem in the file is
// reported before one in a file it names.

#include <sys/stat.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "quilt/config_keys.hpp"
#include "quilt/name.hpp"
#include "quilt/security.hpp"

namespace quilt::config_keys {

namespace {

template <class... Ts> std::string cat(const Ts&... xs) {
  std::string result;
  (result.append(std::string_view{xs}), ...);
  return result;
}

uint32_t line_of(const toml::key& k, const toml::node& x) {
  auto line = k.source().begin.line;
  return line != 0 ? line : x.source().begin.line;
}

/// The folder part of `path` with its trailing '/', or "" for none.
std::string folder_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string{} : path.substr(0, slash + 1);
}

std::string resolve(const std::string& config_path, const std::string& file) {
  if (!file.empty() && file.front() == '/')
    return file;
  return folder_of(config_path) + file;
}

std::string_view trim(std::string_view s) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

/// The next line of `rest`, trimmed; `rest` moves past it.
std::string_view next_row(std::string_view& rest) {
  auto end = rest.find('\n');
  auto row = trim(rest.substr(0, end));
  rest = end == std::string_view::npos ? std::string_view{}
                                       : rest.substr(end + 1);
  return row;
}

constexpr std::string_view key_rule =
    "a CURVE key is 40 characters of Z85, as quiltd --keygen writes";

/// "FILE:LINE: text" for a line of a key file.
config_error at(const std::string& file, size_t line, std::string_view text) {
  return config_error{cat(file, ":", std::to_string(line), ": ", text)};
}

/// The file a key of the config names, or the config's problem at `line`.
std::variant<std::string, config_error>
open_named(const std::string& config_path, const std::string& file,
           uint32_t line, std::string_view key) {
  auto path = resolve(config_path, file);
  // A key file is a small regular file: not a device, a FIFO (which would
  // block the start) or something that would not fit in memory.
  constexpr off_t max_size = 1 << 20;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0
      && (!S_ISREG(st.st_mode) || st.st_size > max_size)) {
    problems out;
    out.add(line, cat(key, ": ", path,
                      S_ISREG(st.st_mode) ? " is larger than 1 MiB"
                                          : " is not a regular file"));
    return out.error(config_path);
  }
  auto text = read_file(path);
  if (auto* e = std::get_if<config_error>(&text)) {
    // read_file says "PATH: cannot open: REASON": the config's line is the
    // one to fix, with the path as resolved.
    problems out;
    out.add(line, cat(key, ": ", e->text));
    return out.error(config_path);
  }
  return text;
}

/// The secret key: the first non-empty line of its file.
std::variant<std::string, config_error>
read_secret_key(const std::string& config_path, const std::string& file,
                uint32_t line) {
  auto text = open_named(config_path, file, line, "security.secret_key_file");
  if (auto* e = std::get_if<config_error>(&text))
    return std::move(*e);
  auto path = resolve(config_path, file);
  std::string_view rest = std::get<std::string>(text);
  size_t n = 0;
  while (!rest.empty()) {
    ++n;
    auto row = next_row(rest);
    if (row.empty())
      continue;
    if (!is_curve_key(row))
      return at(path, n, cat("not a CURVE secret key (", key_rule, ")"));
    return std::string{row};
  }
  return config_error{cat(path, ": no key in the file (", key_rule, ")")};
}

/// What an authorized_keys file says.
struct authorized_file {
  std::vector<std::string> keys;
  /// name -> key, from lines `KEY NAME ...` (SPEC §12).
  std::vector<std::pair<std::string, std::string>> names;
};

/// Public keys, one a line, each optionally followed by a comment whose
/// first word, when it is a node name, binds that name to the key.
std::variant<authorized_file, config_error>
read_authorized(const std::string& config_path, const std::string& file,
                uint32_t line) {
  auto text = open_named(config_path, file, line, "security.authorized_keys");
  if (auto* e = std::get_if<config_error>(&text))
    return std::move(*e);
  auto path = resolve(config_path, file);
  authorized_file result;
  struct binding {
    size_t line;
    size_t index; // in result.names
  };
  std::unordered_map<std::string, binding> bound_at;
  std::string_view rest = std::get<std::string>(text);
  size_t n = 0;
  while (!rest.empty()) {
    ++n;
    auto row = next_row(rest);
    if (row.empty() || row.front() == '#')
      continue;
    auto key_end = row.find_first_of(" \t");
    auto key = row.substr(0, key_end);
    if (!is_curve_key(key))
      return at(path, n,
                cat("not a CURVE public key: ", quoted(key), " (", key_rule,
                    ")"));
    result.keys.emplace_back(key);
    auto comment = trim(key_end == std::string_view::npos
                          ? std::string_view{}
                          : row.substr(key_end));
    auto name = comment.substr(0, comment.find_first_of(" \t"));
    if (!is_valid_name(name))
      continue; // a comment in words, not a name
    auto [known, fresh] = bound_at.try_emplace(
      std::string{name}, binding{n, result.names.size()});
    if (fresh)
      result.names.emplace_back(name, key);
    else if (result.names[known->second.index].second != key)
      // Two keys for one name: which one may speak for it is anyone's guess.
      return at(path, n,
                cat("name ", quoted(name), " is already bound to another key"
                    " on line ", std::to_string(known->second.line),
                    " (a name belongs to one key)"));
  }
  return result;
}

} // namespace

void read_security(const toml::table& table, node_config& cfg,
                   key_lines& lines, problems& out) {
  auto& sec = cfg.security;
  for (auto&& [k, value] : table) {
    // Named, not a structured binding: C++17 lambdas cannot capture those.
    const toml::node& v = value;
    auto key = k.str();
    auto line = line_of(k, v);
    auto label = cat("security.", key);
    auto text = [&](std::string& field) {
      const auto* s = v.as_string();
      if (s == nullptr)
        out.add(line, cat(label, " must be a string, got ", type_name(v)));
      else if (s->get().empty())
        out.add(line, cat(label, " must not be empty"));
      else
        field = s->get();
    };
    if (key == "curve") {
      if (const auto* b = v.as_boolean())
        sec.curve = b->get();
      else
        out.add(line, cat(label, " must be true or false, got ",
                          type_name(v)));
    } else if (key == "secret_key_file") {
      text(sec.secret_key_file);
    } else if (key == "authorized_keys") {
      text(sec.authorized_keys_file);
    } else if (key == "dial_allow") {
      const auto* entries = v.as_array();
      if (entries == nullptr) {
        out.add(line, cat(label, " must be an array of strings, got ",
                          type_name(v)));
        continue;
      }
      sec.dial_allow.clear();
      dial_policy check;
      for (const auto& entry : *entries) {
        auto entry_line = entry.source().begin.line;
        const auto* s = entry.as_string();
        if (s == nullptr) {
          out.add(entry_line, cat(label, " entries must be strings, got ",
                                  type_name(entry)));
          continue;
        }
        if (auto why = check.add(s->get())) {
          out.add(entry_line, cat(label, ": ", quoted(s->get()), ": ", *why));
          continue;
        }
        sec.dial_allow.push_back(s->get());
      }
    } else {
      out.add(line, cat("unknown key ", quoted(key), " in [security]"));
      continue;
    }
    lines[label] = line;
  }
}

std::optional<config_error> load_key_files(node_config& cfg,
                                           const key_lines& lines,
                                           const std::string& config_path) {
  auto& sec = cfg.security;
  auto line = [&](const std::string& key) -> uint32_t {
    auto i = lines.find(key);
    return i == lines.end() ? 0 : i->second;
  };
  if (!sec.curve)
    return std::nullopt;
  problems out;
  if (sec.secret_key_file.empty())
    out.add(line("security.curve"),
            "security.curve = true needs security.secret_key_file (make a "
            "key pair with quiltd --keygen PATH)");
  for (size_t i = 0; i < cfg.peers.size(); ++i)
    if (cfg.peers[i].public_key.empty())
      out.add(line(cat("peers.", std::to_string(i))),
              "peers.public_key is required when security.curve = true "
              "(the peer's PATH.pub from quiltd --keygen)");
  if (!out.empty())
    return out.error(config_path);
  auto secret = read_secret_key(config_path, sec.secret_key_file,
                                line("security.secret_key_file"));
  if (auto* e = std::get_if<config_error>(&secret))
    return std::move(*e);
  sec.secret_key = std::get<std::string>(secret);
  sec.public_key = curve_public_key(sec.secret_key).value_or(std::string{});
  sec.authorized_keys.clear();
  sec.key_names.clear();
  if (!sec.authorized_keys_file.empty()) {
    auto keys = read_authorized(config_path, sec.authorized_keys_file,
                                line("security.authorized_keys"));
    if (auto* e = std::get_if<config_error>(&keys))
      return std::move(*e);
    auto& found = std::get<authorized_file>(keys);
    sec.authorized_keys = std::move(found.keys);
    sec.key_names = std::move(found.names);
  }
  // Peers connect back to us with their own keys: they are always admitted.
  for (const auto& p : cfg.peers)
    if (std::find(sec.authorized_keys.begin(), sec.authorized_keys.end(),
                  p.public_key)
        == sec.authorized_keys.end())
      sec.authorized_keys.push_back(p.public_key);
  return std::nullopt;
}

} // namespace quilt::config_keys

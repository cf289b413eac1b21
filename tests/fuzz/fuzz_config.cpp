// libFuzzer target: the node configuration loader (config.hpp) from TOML
// text, as quiltd reads its file. Checked, beyond "never crashes, never
// throws":
// - a rejection is one line "FILE:LINE: what is wrong" or "FILE: what is
//   wrong" (SPEC §7), LINE a positive number;
// - an accepted configuration is inside every range SPEC §7 gives, with its
//   derived defaults (name, advertise) filled in.
// Command-line overrides are fuzzed too: a first line "#! NAME PORT LEVEL"
// (a TOML comment, so the rest of the input is unchanged) sets --name,
// --port and --log-level; "-" leaves one unset.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "quilt/config.hpp"
#include "quilt/name.hpp"

namespace {

void check(bool ok, const char* what, const std::string& about) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_config: invariant broken: %s\n  %s\n", what,
                 about.c_str());
    std::abort();
  }
}

/// Reads "#! NAME PORT LEVEL" from the first line, if it is one.
quilt::config_overrides overrides_of(std::string_view text) {
  quilt::config_overrides result;
  if (text.substr(0, 3) != "#! ")
    return result;
  auto line = text.substr(3, text.find('\n') - 3);
  std::optional<std::string>* slots[] = {&result.name, &result.port,
                                         &result.log_level};
  for (auto slot : slots) {
    auto end = line.find(' ');
    auto word = line.substr(0, end);
    if (word != "-")
      *slot = std::string{word};
    if (end == std::string_view::npos)
      break;
    line.remove_prefix(end + 1);
  }
  return result;
}

bool is_digits(std::string_view x) {
  if (x.empty())
    return false;
  for (auto c : x)
    if (c < '0' || c > '9')
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace quilt;
  std::string_view text{reinterpret_cast<const char*>(data), size};
  const std::string path = "fuzz.toml";
  auto ov = overrides_of(text);
  auto result = parse_node_config(text, path, ov);

  if (auto* e = std::get_if<config_error>(&result)) {
    const auto& t = e->text;
    check(t.find_first_of("\r\n") == std::string::npos, "an error is one line",
          t);
    // "--name: ..." and the like: a bad override names the option, no file.
    if (t.compare(0, 2, "--") == 0)
      return 0;
    check(t.compare(0, path.size() + 1, path + ":") == 0,
          "an error starts with FILE:", t);
    auto rest = std::string_view{t}.substr(path.size() + 1);
    if (rest.substr(0, 1) == " ") {
      check(rest.size() > 1, "an error says what is wrong", t);
      return 0;
    }
    auto colon = rest.find(": ");
    check(colon != std::string_view::npos && is_digits(rest.substr(0, colon))
            && rest.substr(0, colon) != "0" && rest[0] != '0'
            && rest.size() > colon + 2,
          "FILE:LINE: what is wrong, LINE from 1", t);
    return 0;
  }

  const auto& cfg = std::get<node_config>(result);
  auto about = cfg.name + " port " + std::to_string(cfg.port);
  check(is_valid_name(cfg.name), "the name is a node name", about);
  check(cfg.port >= 1, "port 1..65535", about);
  check(!cfg.host.empty() && !cfg.advertise.empty(),
        "host and advertise are set", about);
  check(cfg.processors >= 1 && cfg.processors <= 256, "processors 1..256",
        about);
  check(cfg.heartbeat_ms >= 10 && cfg.heartbeat_ms <= 60000,
        "heartbeat_ms 10..60000", about);
  check(cfg.dead_after_ms > cfg.heartbeat_ms && cfg.dead_after_ms <= 600000,
        "dead_after_ms above heartbeat_ms, at most 600000", about);
  check(cfg.default_ttl >= 1 && cfg.default_ttl <= 255, "default_ttl 1..255",
        about);
  check(cfg.max_message_bytes >= 256 && cfg.max_message_bytes <= 67108864,
        "max_message_bytes 256..67108864", about);
  check(cfg.queue_limit >= 1 && cfg.queue_limit <= 10000000,
        "queue_limit 1..10000000", about);
  for (auto& p : cfg.peers)
    check(!p.address.empty() && p.port >= 1, "peers have address and port",
          about);
  if (ov.name)
    check(cfg.name == *ov.name, "--name wins", about);
  if (ov.port)
    check(cfg.port == std::strtoul(ov.port->c_str(), nullptr, 10),
          "--port wins", about);
  return 0;
}

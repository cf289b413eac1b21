// Node configuration (SPEC §7): defaults, derived defaults, overrides, and
// every rejection with its exact "FILE:LINE: message".
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "quilt/config.hpp"
#include "quilt/config_keys.hpp"
#include "quilt/security.hpp"

using namespace quilt;

namespace {

const std::string data_dir = QUILT_TEST_DATA "/config/";
const std::string example_dir = QUILT_TEST_DATA "/../../config/";

const std::string name_rule = "(up to 64 letters, digits and . _ : -, "
                              "starting with a letter or digit, not 'all')";

node_config expect_config(std::variant<node_config, config_error> result) {
  if (auto* e = std::get_if<config_error>(&result))
    FAIL("unexpected error: " << e->text);
  return std::get<node_config>(std::move(result));
}

std::string expect_error(std::variant<node_config, config_error> result) {
  if (auto* c = std::get_if<node_config>(&result))
    FAIL("unexpected success, node " << c->name);
  return std::get<config_error>(std::move(result)).text;
}

node_config parse_ok(std::string_view text, const config_overrides& ov = {}) {
  return expect_config(parse_node_config(text, "cfg.toml", ov));
}

std::string parse_error(std::string_view text,
                        const config_overrides& ov = {}) {
  return expect_error(parse_node_config(text, "cfg.toml", ov));
}

config_overrides port_override(std::string port) {
  config_overrides ov;
  ov.port = std::move(port);
  return ov;
}

} // namespace

// -- defaults -----------------------------------------------------------------

TEST_CASE("a file with only node.port gets every default") {
  auto cfg = expect_config(load_node_config(data_dir + "minimal.toml", {}));
  CHECK(cfg.name == "127.0.0.1:5501");
  CHECK(cfg.host == "127.0.0.1");
  CHECK(cfg.port == 5501);
  CHECK(cfg.advertise == "127.0.0.1");
  CHECK(cfg.processors == 10);
  CHECK(cfg.peers.empty());
  CHECK(cfg.console_host == "127.0.0.1");
  CHECK(cfg.console_port == 6501);
  CHECK(cfg.heartbeat_ms == 1000);
  CHECK(cfg.dead_after_ms == 5000);
  CHECK(cfg.default_ttl == 32);
  CHECK(cfg.max_message_bytes == 65536);
  CHECK(cfg.queue_limit == 10000);
  CHECK(cfg.level == log_level::info);
  CHECK(cfg.endpoint.empty());
  CHECK(cfg.listen_endpoint() == "tcp://127.0.0.1:5501");
}

TEST_CASE("a file setting every key gets every value") {
  auto cfg = expect_config(load_node_config(data_dir + "good.toml", {}));
  CHECK(cfg.name == "node-7");
  CHECK(cfg.host == "0.0.0.0");
  CHECK(cfg.port == 7001);
  CHECK(cfg.advertise == "10.1.2.3");
  CHECK(cfg.processors == 4);
  REQUIRE(cfg.peers.size() == 2);
  CHECK(cfg.peers[0].address == "10.1.2.4");
  CHECK(cfg.peers[0].port == 7002);
  CHECK(cfg.peers[1].address == "peer.example.org");
  CHECK(cfg.peers[1].port == 7003);
  CHECK(cfg.console_host == "0.0.0.0");
  CHECK(cfg.console_port == 0);
  CHECK(cfg.heartbeat_ms == 250);
  CHECK(cfg.dead_after_ms == 1250);
  CHECK(cfg.default_ttl == 16);
  CHECK(cfg.max_message_bytes == 1048576);
  CHECK(cfg.queue_limit == 500);
  CHECK(cfg.level == log_level::debug);
  CHECK(cfg.listen_endpoint() == "tcp://0.0.0.0:7001");
}

TEST_CASE("TOML spellings: dotted keys, inline tables, hex integers") {
  auto cfg = parse_ok("node.port = 0x157D\n"
                      "peers = [{address = \"10.0.0.1\", port = 1},\n"
                      "         {address = \"10.0.0.2\", port = 65535}]\n"
                      "log = {level = \"Warn\"}\n");
  CHECK(cfg.port == 5501);
  REQUIRE(cfg.peers.size() == 2);
  CHECK(cfg.peers[1].address == "10.0.0.2");
  CHECK(cfg.peers[1].port == 65535);
  CHECK(cfg.level == log_level::warning);
}

TEST_CASE("log levels in any case, warn for warning") {
  std::vector<std::pair<std::string, log_level>> cases = {
      {"trace", log_level::trace},  {"DEBUG", log_level::debug},
      {"Info", log_level::info},    {"warning", log_level::warning},
      {"WARN", log_level::warning}, {"error", log_level::error},
  };
  for (auto& [text, level] : cases) {
    CAPTURE(text);
    auto cfg =
        parse_ok("[node]\nport = 5501\n[log]\nlevel = \"" + text + "\"\n");
    CHECK(cfg.level == level);
  }
}

TEST_CASE("listen_endpoint prefers an explicit endpoint") {
  auto cfg = parse_ok("[node]\nport = 5501\n");
  cfg.endpoint = "inproc://alpha";
  CHECK(cfg.listen_endpoint() == "inproc://alpha");
}

// -- derived defaults ---------------------------------------------------------

TEST_CASE("advertise defaults to host, 127.0.0.1 for a wildcard host") {
  SECTION("0.0.0.0") {
    auto cfg = parse_ok("[node]\nhost = \"0.0.0.0\"\nport = 5501\n");
    CHECK(cfg.advertise == "127.0.0.1");
    CHECK(cfg.name == "127.0.0.1:5501");
    CHECK(cfg.listen_endpoint() == "tcp://0.0.0.0:5501");
  }
  SECTION("* (ZeroMQ's wildcard)") {
    auto cfg = parse_ok("[node]\nhost = \"*\"\nport = 5501\n");
    CHECK(cfg.advertise == "127.0.0.1");
    CHECK(cfg.listen_endpoint() == "tcp://*:5501");
  }
  SECTION("a specific address") {
    auto cfg = parse_ok("[node]\nhost = \"192.168.1.10\"\nport = 5501\n");
    CHECK(cfg.advertise == "192.168.1.10");
    CHECK(cfg.name == "192.168.1.10:5501");
  }
  SECTION("an explicit advertise wins, and names the node") {
    auto cfg = parse_ok("[node]\nhost = \"0.0.0.0\"\nport = 5501\n"
                        "advertise = \"node1.example.org\"\n");
    CHECK(cfg.advertise == "node1.example.org");
    CHECK(cfg.name == "node1.example.org:5501");
  }
  SECTION("an explicit name is kept") {
    auto cfg = parse_ok("[node]\nname = \"alpha\"\nport = 5501\n");
    CHECK(cfg.name == "alpha");
  }
}

TEST_CASE("console.port defaults to port + 1000 when that is a port") {
  CHECK(parse_ok("[node]\nport = 1\n").console_port == 1001);
  CHECK(parse_ok("[node]\nport = 64535\n").console_port == 65535);
  CHECK(parse_ok("[node]\nport = 64536\n").console_port == 0);
  CHECK(parse_ok("[node]\nport = 65535\n").console_port == 0);
  CHECK(parse_ok("[node]\nport = 5501\n[console]\nport = 0\n").console_port ==
        0);
  CHECK(
      parse_ok("[node]\nport = 5501\n[console]\nport = 7000\n").console_port ==
      7000);
  CHECK(parse_ok("[node]\nport = 5501\n[console]\nhost = \"0.0.0.0\"\n")
            .console_port == 6501);
}

// -- console TLS (SPEC §10) ----------------------------------------------------

namespace {

const std::string tls_dir = QUILT_TEST_DATA "/tls/";

/// A config at `config_path` (never read: parse_node_config takes the text)
/// whose [console] names the TLS files as given, on lines 4, 5 and 6.
std::variant<node_config, config_error>
tls_config(const std::string& config_path, const std::string& certificate,
           const std::string& key, const std::string& cafile) {
  auto text = "[node]\nport = 5501\n[console]\ntls_certificate = \""
              + certificate + "\"\ntls_key = \"" + key + "\"\ntls_cafile = \""
              + cafile + "\"\n";
  return parse_node_config(text, config_path, {});
}

} // namespace

TEST_CASE("console TLS files are resolved beside the config file") {
  SECTION("relative paths") {
    auto cfg = expect_config(
      tls_config(tls_dir + "node.toml", "node.pem", "node.key", "ca.pem"));
    CHECK(cfg.console_tls());
    CHECK(cfg.console_tls_certificate == tls_dir + "node.pem");
    CHECK(cfg.console_tls_key == tls_dir + "node.key");
    CHECK(cfg.console_tls_cafile == tls_dir + "ca.pem");
  }
  SECTION("relative to a config file named without a folder") {
    // The path as given is relative to the working directory, and so are
    // files beside it.
    auto e = expect_error(tls_config("cfg.toml", "node.pem", "node.key",
                                     "ca.pem"));
    CHECK(e == "cfg.toml:4: console.tls_certificate: cannot open node.pem: "
               "No such file or directory");
  }
  SECTION("absolute paths are kept") {
    auto cfg = expect_config(tls_config("/nowhere/cfg.toml",
                                        tls_dir + "node.pem",
                                        tls_dir + "node.key",
                                        tls_dir + "ca.pem"));
    CHECK(cfg.console_tls_key == tls_dir + "node.key");
  }
  SECTION("without the keys there is no TLS") {
    auto cfg = parse_ok("[node]\nport = 5501\n[console]\nport = 7000\n");
    CHECK_FALSE(cfg.console_tls());
    CHECK(cfg.console_tls_cafile.empty());
  }
}

TEST_CASE("console TLS needs all three files") {
  CHECK(parse_error("[node]\nport = 5501\n[console]\ntls_key = \"k.pem\"\n")
        == "cfg.toml:4: console.tls_certificate, console.tls_key and "
           "console.tls_cafile go together: console.tls_certificate and "
           "console.tls_cafile are missing");
  // The first of the keys present is the line named.
  CHECK(parse_error("[node]\nport = 5501\n[console]\ntls_cafile = \"c.pem\"\n"
                    "tls_certificate = \"n.pem\"\n")
        == "cfg.toml:4: console.tls_certificate, console.tls_key and "
           "console.tls_cafile go together: console.tls_key is missing");
  // An earlier mistake is still the one reported.
  CHECK(parse_error("[node]\nport = 0\n[console]\ntls_key = \"k.pem\"\n")
        == "cfg.toml:2: node.port must be 1..65535, got 0");
}

TEST_CASE("console TLS values are checked like every other key") {
  CHECK(parse_error("[node]\nport = 5501\n[console]\ntls_key = 1\n"
                    "tls_certificate = \"n\"\ntls_cafile = \"c\"\n")
        == "cfg.toml:4: console.tls_key must be a string, got integer");
  CHECK(parse_error("[node]\nport = 5501\n[console]\ntls_key = \"\"\n"
                    "tls_certificate = \"n\"\ntls_cafile = \"c\"\n")
        == "cfg.toml:4: console.tls_key must not be empty");
  CHECK(parse_error("[node]\nport = 5501\ntls_cafile = \"c\"\n")
        == "cfg.toml:3: unknown key 'tls_cafile' in [node] (it belongs in "
           "[console])");
}

TEST_CASE("console TLS files that are missing, unreadable or wrong") {
  using Catch::Matchers::StartsWith;
  auto config = tls_dir + "node.toml";
  SECTION("a missing file names its key's line") {
    CHECK(expect_error(tls_config(config, "node.pem", "nope.key", "ca.pem"))
          == config + ":5: console.tls_key: cannot open " + tls_dir
               + "nope.key: No such file or directory");
  }
  SECTION("a directory") {
    CHECK(expect_error(tls_config(config, "node.pem", "node.key", "."))
          == config + ":6: console.tls_cafile: cannot read " + tls_dir
               + ".: Is a directory");
  }
  SECTION("a certificate that is not PEM") {
    CHECK_THAT(expect_error(
                 tls_config(config, "node.key", "node.key", "ca.pem")),
               StartsWith(config + ":4: console.tls_certificate: " + tls_dir
                          + "node.key holds no usable PEM certificate: "));
  }
  SECTION("a key that is not PEM") {
    CHECK_THAT(expect_error(
                 tls_config(config, "node.pem", "node.pem", "ca.pem")),
               StartsWith(config + ":5: console.tls_key: " + tls_dir
                          + "node.pem holds no usable PEM private key: "));
  }
  SECTION("a key of another certificate") {
    CHECK_THAT(expect_error(
                 tls_config(config, "node.pem", "other.key", "ca.pem")),
               StartsWith(config + ":5: console.tls_key: " + tls_dir
                          + "other.key is not the key of " + tls_dir
                          + "node.pem"));
  }
  SECTION("an encrypted key") {
    CHECK(expect_error(
            tls_config(config, "node.pem", "encrypted.key", "ca.pem"))
          == config + ":5: console.tls_key: " + tls_dir
               + "encrypted.key is an encrypted key; the console needs it "
                 "without a passphrase");
  }
  SECTION("a CA file without a certificate") {
    CHECK_THAT(expect_error(
                 tls_config(config, "node.pem", "node.key", "node.key")),
               StartsWith(config + ":6: console.tls_cafile: " + tls_dir
                          + "node.key holds no usable PEM CA certificate: "));
  }
}

// -- overrides ----------------------------------------------------------------

TEST_CASE("override --port applies before the derived name and console port") {
  auto cfg = parse_ok("[node]\nport = 5501\n", port_override("6000"));
  CHECK(cfg.port == 6000);
  CHECK(cfg.name == "127.0.0.1:6000");
  CHECK(cfg.console_port == 7000);
  CHECK(cfg.listen_endpoint() == "tcp://127.0.0.1:6000");
  CHECK(
      parse_ok("[node]\nport = 5501\n", port_override("65000")).console_port ==
      0);
  CHECK(parse_ok("[node]\nport = 5501\n", port_override("00080")).port == 80);
}

TEST_CASE("override --port does not replace explicit name or console port") {
  auto cfg = parse_ok("[node]\nname = \"alpha\"\nport = 5501\n"
                      "[console]\nport = 6501\n",
                      port_override("6000"));
  CHECK(cfg.port == 6000);
  CHECK(cfg.name == "alpha");
  CHECK(cfg.console_port == 6501);
}

TEST_CASE("override --port stands in for a missing node.port") {
  auto cfg = parse_ok("[node]\nname = \"alpha\"\n", port_override("5600"));
  CHECK(cfg.port == 5600);
  CHECK(cfg.console_port == 6600);
  auto none = parse_ok("", port_override("5600"));
  CHECK(none.name == "127.0.0.1:5600");
}

TEST_CASE("override --name replaces the configured and the derived name") {
  config_overrides ov;
  ov.name = "beta";
  CHECK(parse_ok("[node]\nname = \"alpha\"\nport = 5501\n", ov).name == "beta");
  CHECK(parse_ok("[node]\nport = 5501\n", ov).name == "beta");
  ov.port = "6000";
  auto cfg = parse_ok("[node]\nport = 5501\n", ov);
  CHECK(cfg.name == "beta");
  CHECK(cfg.console_port == 7000);
}

TEST_CASE("override --log-level replaces log.level, any case") {
  config_overrides ov;
  ov.log_level = "WARN";
  CHECK(parse_ok("[node]\nport = 5501\n[log]\nlevel = \"trace\"\n", ov).level ==
        log_level::warning);
  ov.log_level = "Error";
  CHECK(parse_ok("[node]\nport = 5501\n", ov).level == log_level::error);
}

TEST_CASE("bad overrides are errors without a file name") {
  for (auto bad : {"abc", "0", "65536", "", "-1", "+80", " 80", "80 ", "12a",
                   "0x10", "100000"}) {
    CAPTURE(bad);
    CHECK(parse_error("[node]\nport = 5501\n", port_override(bad)) ==
          "--port: '" + std::string(bad) + "' is not a port 1..65535");
  }
  config_overrides ov;
  ov.name = "all";
  CHECK(parse_error("[node]\nport = 5501\n", ov) ==
        "--name: 'all' is not a valid node name " + name_rule);
  ov.name = "two words";
  CHECK(parse_error("[node]\nport = 5501\n", ov) ==
        "--name: 'two words' is not a valid node name " + name_rule);
  ov.name.reset();
  ov.log_level = "loud";
  CHECK(parse_error("[node]\nport = 5501\n", ov) ==
        "--log-level: 'loud' is not a log level (trace, debug, info, "
        "warning (or warn), error)");
}

TEST_CASE("a bad override is reported before the file is read") {
  CHECK(expect_error(load_node_config(data_dir + "no-such-file.toml",
                                      port_override("x"))) ==
        "--port: 'x' is not a port 1..65535");
}

TEST_CASE("overrides do not hide mistakes in the file") {
  config_overrides ov;
  ov.name = "beta";
  ov.port = "6000";
  CHECK(parse_error("[node]\nname = \"all\"\nport = 0\n", ov) ==
        "cfg.toml:2: node.name must be a valid node name " + name_rule +
            ", got 'all'");
}

// -- errors: files ------------------------------------------------------------

TEST_CASE("missing or unreadable file") {
  auto path = data_dir + "no-such-file.toml";
  CHECK(expect_error(load_node_config(path, {})) ==
        path + ": cannot open: No such file or directory");
  CHECK(expect_error(load_node_config(data_dir, {})) ==
        data_dir + ": cannot read: Is a directory");
}

TEST_CASE("the fixture files' errors name the path as given") {
  struct fixture {
    const char* file;
    std::string message;
  };
  std::vector<fixture> fixtures = {
      {"bad_syntax.toml",
       ":3: TOML syntax error in string: unescaped control characters other "
       "than TAB (U+0009) are explicitly prohibited"},
      {"bad_section.toml", ":2: unknown section [nodes]"},
      {"bad_key.toml", ":7: unknown key 'prt' in [node]"},
      {"bad_type.toml", ":3: node.port must be an integer, got string"},
      {"bad_range.toml", ":4: node.processors must be 1..256, got 0"},
      {"bad_timing.toml", ":6: timing.dead_after_ms must be greater than "
                          "timing.heartbeat_ms (1000), got 1000"},
      {"bad_peer.toml", ":8: missing required key peers.port"},
      {"missing_port.toml", ": missing required key node.port"},
      {"bad_level.toml", ":5: log.level must be one of trace, debug, info, "
                         "warning (or warn), error, got 'verbose'"},
      {"bad_name.toml",
       ":2: node.name must be a valid node name " + name_rule + ", got 'all'"},
  };
  for (auto& f : fixtures) {
    auto path = data_dir + f.file;
    CAPTURE(path);
    CHECK(expect_error(load_node_config(path, {})) == path + f.message);
  }
  // The path is not made canonical.
  auto path = data_dir + "../config/./bad_type.toml";
  CHECK(expect_error(load_node_config(path, {})) ==
        path + ":3: node.port must be an integer, got string");
}

// -- errors: TOML syntax ------------------------------------------------------

TEST_CASE("TOML syntax errors carry the parser's line") {
  CHECK(parse_error("[node]\nport = \n") ==
        "cfg.toml:2: TOML syntax error in key-value pair: expected value, "
        "saw '\\n'");
  CHECK(parse_error("[node]\nport = 5501\nport = 5502\n") ==
        "cfg.toml:3: TOML syntax error in key-value pair: cannot redefine "
        "existing integer 'port'");
  CHECK(parse_error("[node]\nport = 5501\n[node]\n") ==
        "cfg.toml:3: TOML syntax error in table header: cannot redefine "
        "existing table 'node'");
  CHECK(parse_error("[limits]\nqueue_limit = 99999999999999999999\n") ==
        "cfg.toml:2: TOML syntax error in decimal integer: "
        "'99999999999999999999' is not representable in 64 bits");
  // Found by fuzz_config: toml++ quotes what it saw, here a line break; the
  // error stays one line.
  CHECK(parse_error("[limits]\ndefault_ttl = +n\nport = 1\n") ==
        "cfg.toml:2: TOML syntax error in floating-point: expected 'nan', "
        "saw '+n\\x0a'");
}

// -- errors: unknown sections and keys ----------------------------------------

TEST_CASE("unknown sections") {
  CHECK(parse_error("# a node\n[nodes]\nport = 5501\n") ==
        "cfg.toml:2: unknown section [nodes]");
  CHECK(parse_error("[node]\nport = 5501\n\n[[peer]]\naddress = \"x\"\n") ==
        "cfg.toml:4: unknown section [[peer]]");
  CHECK(parse_error("[node]\nport = 5501\n[a.b]\nc = 1\n") ==
        "cfg.toml:3: unknown section [a]");
}

TEST_CASE("unknown keys") {
  CHECK(parse_error(
            "[node]\nname = \"alpha\"\nhost = \"127.0.0.1\"\n"
            "processors = 4\nadvertise = \"127.0.0.1\"\n\nprt = 5501\n") ==
        "cfg.toml:7: unknown key 'prt' in [node]");
  CHECK(parse_error(
            "[node]\nport = 5501\n[console]\nhost = \"h\"\ntimeout = 3\n") ==
        "cfg.toml:5: unknown key 'timeout' in [console]");
  CHECK(parse_error("[node]\nport = 5501\n[node.extra]\n") ==
        "cfg.toml:3: unknown key 'extra' in [node]");
  CHECK(parse_error(
            "[node]\nport = 5501\n[[peers]]\nadress = \"x\"\nport = 1\n") ==
        "cfg.toml:4: unknown key 'adress' in [[peers]]");
  CHECK(parse_error("verbose = true\n[node]\nport = 5501\n") ==
        "cfg.toml:1: unknown key 'verbose' outside any section");
}

TEST_CASE("a key in the wrong section says where it belongs") {
  CHECK(parse_error("[node]\nport = 5501\nheartbeat_ms = 100\n") ==
        "cfg.toml:3: unknown key 'heartbeat_ms' in [node] (it belongs in "
        "[timing])");
  CHECK(parse_error("[timing]\nport = 5501\n") ==
        "cfg.toml:2: unknown key 'port' in [timing] (it belongs in [node], "
        "[console] or [http])");
  CHECK(parse_error("port = 5501\n") ==
        "cfg.toml:1: unknown key 'port' outside any section (it belongs in "
        "[node], [console] or [http])");
}

TEST_CASE("control characters in quoted keys and values are escaped") {
  CHECK(parse_error("[node]\nport = 5501\n\"a\\nb\" = 1\n") ==
        "cfg.toml:3: unknown key 'a\\x0ab' in [node]");
  CHECK(parse_error("[\"a\\tb\"]\nx = 1\n") ==
        "cfg.toml:1: unknown section [a\\x09b]");
}

// -- errors: types ------------------------------------------------------------

TEST_CASE("values of the wrong type") {
  CHECK(parse_error("[node]\nname = \"alpha\"\nport = \"5501\"\n") ==
        "cfg.toml:3: node.port must be an integer, got string");
  CHECK(parse_error("[node]\nport = 5501.0\n") ==
        "cfg.toml:2: node.port must be an integer, got float");
  CHECK(parse_error("[node]\nport = 5501\nprocessors = true\n") ==
        "cfg.toml:3: node.processors must be an integer, got boolean");
  CHECK(parse_error("[node]\nport = 5501\n[limits]\nqueue_limit = [1]\n") ==
        "cfg.toml:4: limits.queue_limit must be an integer, got array");
  CHECK(parse_error(
            "[node]\nport = 5501\n[timing]\nheartbeat_ms = 1979-05-27\n") ==
        "cfg.toml:4: timing.heartbeat_ms must be an integer, got date");
  CHECK(parse_error("[node]\nport = 5501\nhost = 127\n") ==
        "cfg.toml:3: node.host must be a string, got integer");
  CHECK(parse_error("[node]\nport = 5501\nname = 7\n") ==
        "cfg.toml:3: node.name must be a string, got integer");
  CHECK(parse_error("[node]\nport = 5501\n[console]\nhost = {a = 1}\n") ==
        "cfg.toml:4: console.host must be a string, got table");
  CHECK(parse_error("[node]\nport = 5501\n[log]\nlevel = 3\n") ==
        "cfg.toml:4: log.level must be a string, got integer");
}

TEST_CASE("sections of the wrong type") {
  CHECK(parse_error("node = 5501\n") ==
        "cfg.toml:1: node must be a table, got integer");
  CHECK(parse_error("[[node]]\nport = 5501\n") ==
        "cfg.toml:1: node must be a table, got array");
  CHECK(parse_error("timing = \"fast\"\n[node]\nport = 5501\n") ==
        "cfg.toml:1: timing must be a table, got string");
  CHECK(parse_error(
            "[node]\nport = 5501\n[peers]\naddress = \"x\"\nport = 1\n") ==
        "cfg.toml:3: peers must be an array of tables ([[peers]]), got "
        "table");
  CHECK(parse_error("peers = 1\n[node]\nport = 5501\n") ==
        "cfg.toml:1: peers must be an array of tables ([[peers]]), got "
        "integer");
  CHECK(parse_error("peers = [\"10.0.0.1:5502\"]\n[node]\nport = 5501\n") ==
        "cfg.toml:1: each peers entry must be a table, got string");
}

TEST_CASE("strings must not be empty") {
  CHECK(parse_error("[node]\nport = 5501\nhost = \"\"\n") ==
        "cfg.toml:3: node.host must not be empty");
  CHECK(parse_error("[node]\nport = 5501\nadvertise = \"\"\n") ==
        "cfg.toml:3: node.advertise must not be empty");
  CHECK(parse_error("[node]\nport = 5501\n[console]\nhost = \"\"\n") ==
        "cfg.toml:4: console.host must not be empty");
  CHECK(parse_error(
            "[node]\nport = 5501\n[[peers]]\naddress = \"\"\nport = 1\n") ==
        "cfg.toml:4: peers.address must not be empty");
}

// -- errors: ranges -----------------------------------------------------------

TEST_CASE("every integer key is checked at both ends of its range") {
  struct range_case {
    std::string section;
    std::string key;
    int64_t lo;
    int64_t hi;
    std::function<uint64_t(const node_config&)> get;
  };
  std::vector<range_case> cases = {
      {"node", "port", 1, 65535, [](auto& c) { return c.port; }},
      {"node", "processors", 1, 256, [](auto& c) { return c.processors; }},
      {"console", "port", 0, 65535, [](auto& c) { return c.console_port; }},
      {"timing", "heartbeat_ms", 10, 60000,
       [](auto& c) { return c.heartbeat_ms; }},
      {"limits", "default_ttl", 1, 255, [](auto& c) { return c.default_ttl; }},
      {"limits", "max_message_bytes", 256, 67108864,
       [](auto& c) { return c.max_message_bytes; }},
      {"limits", "queue_limit", 1, 10000000,
       [](auto& c) { return c.queue_limit; }},
  };
  for (auto& rc : cases) {
    // The key is always on line 3: "[section]\n# the key\nkey = V".
    auto text = [&](int64_t value) {
      std::string result = "[" + rc.section + "]\n# the key\n" + rc.key +
                           " = " + std::to_string(value) + "\n";
      if (rc.section == "timing") // Room for heartbeat_ms up to 60000.
        result += "dead_after_ms = 600000\n";
      if (rc.section != "node")
        result += "[node]\n";
      if (rc.section != "node" || rc.key != "port")
        result += "port = 5501\n";
      return result;
    };
    auto label = rc.section + "." + rc.key;
    auto range = std::to_string(rc.lo) + ".." + std::to_string(rc.hi);
    CAPTURE(label);
    CHECK(rc.get(parse_ok(text(rc.lo))) == static_cast<uint64_t>(rc.lo));
    CHECK(rc.get(parse_ok(text(rc.hi))) == static_cast<uint64_t>(rc.hi));
    CHECK(parse_error(text(rc.lo - 1)) == "cfg.toml:3: " + label + " must be " +
                                              range + ", got " +
                                              std::to_string(rc.lo - 1));
    CHECK(parse_error(text(rc.hi + 1)) == "cfg.toml:3: " + label + " must be " +
                                              range + ", got " +
                                              std::to_string(rc.hi + 1));
  }
}

TEST_CASE("negative and huge integers are out of range, not wrapped") {
  CHECK(parse_error("[node]\nport = -5501\n") ==
        "cfg.toml:2: node.port must be 1..65535, got -5501");
  CHECK(parse_error("[node]\nport = 4294972797\n") ==
        "cfg.toml:2: node.port must be 1..65535, got 4294972797");
  CHECK(parse_error("[node]\nport = 5501\n[limits]\n"
                    "max_message_bytes = 9223372036854775807\n") ==
        "cfg.toml:4: limits.max_message_bytes must be 256..67108864, got "
        "9223372036854775807");
}

TEST_CASE("dead_after_ms: above heartbeat_ms, at most 600000") {
  auto text = [](std::string timing) {
    return "[node]\nport = 5501\n[timing]\n" + timing;
  };
  CHECK(parse_ok(text("dead_after_ms = 1001\n")).dead_after_ms == 1001);
  CHECK(parse_ok(text("dead_after_ms = 600000\n")).dead_after_ms == 600000);
  CHECK(
      parse_ok(text("heartbeat_ms = 10\ndead_after_ms = 11\n")).dead_after_ms ==
      11);
  CHECK(parse_error(text("dead_after_ms = 600001\n")) ==
        "cfg.toml:4: timing.dead_after_ms must be greater than heartbeat_ms "
        "and at most 600000, got 600001");
  CHECK(parse_error(text("dead_after_ms = 0\n")) ==
        "cfg.toml:4: timing.dead_after_ms must be greater than heartbeat_ms "
        "and at most 600000, got 0");
}

TEST_CASE("dead_after_ms <= heartbeat_ms names the dead_after_ms line") {
  auto text = [](std::string timing) {
    return "[node]\nport = 5501\n[timing]\n" + timing;
  };
  CHECK(parse_error(text("dead_after_ms = 1000\nheartbeat_ms = 1000\n")) ==
        "cfg.toml:4: timing.dead_after_ms must be greater than "
        "timing.heartbeat_ms (1000), got 1000");
  CHECK(parse_error(text("heartbeat_ms = 3000\n\ndead_after_ms = 2000\n")) ==
        "cfg.toml:6: timing.dead_after_ms must be greater than "
        "timing.heartbeat_ms (3000), got 2000");
  // heartbeat_ms at its default.
  CHECK(parse_error(text("dead_after_ms = 999\n")) ==
        "cfg.toml:4: timing.dead_after_ms must be greater than "
        "timing.heartbeat_ms (1000), got 999");
}

TEST_CASE("a heartbeat_ms above the default dead_after_ms names its own line") {
  auto text = [](std::string timing) {
    return "[node]\nport = 5501\n[timing]\n" + timing;
  };
  CHECK(parse_error(text("heartbeat_ms = 6000\n")) ==
        "cfg.toml:4: timing.heartbeat_ms 6000 is not less than "
        "timing.dead_after_ms (default 5000); set timing.dead_after_ms "
        "greater than 6000");
  CHECK(parse_error(text("heartbeat_ms = 5000\n")) ==
        "cfg.toml:4: timing.heartbeat_ms 5000 is not less than "
        "timing.dead_after_ms (default 5000); set timing.dead_after_ms "
        "greater than 5000");
  CHECK(parse_ok(text("heartbeat_ms = 4999\n")).heartbeat_ms == 4999);
}

// -- errors: required keys and peers -----------------------------------------

TEST_CASE("node.port is required") {
  CHECK(parse_error("[node]\nname = \"alpha\"\n") ==
        "cfg.toml: missing required key node.port");
  CHECK(parse_error("") == "cfg.toml: missing required key node.port");
  CHECK(parse_error("# nothing\n[log]\nlevel = \"info\"\n") ==
        "cfg.toml: missing required key node.port");
}

TEST_CASE("every [[peers]] entry needs address and port") {
  auto text = [](std::string peers) {
    return "[node]\nport = 5501\n\n" + peers;
  };
  CHECK(parse_error(text("[[peers]]\naddress = \"127.0.0.1\"\n")) ==
        "cfg.toml:4: missing required key peers.port");
  CHECK(parse_error(text("[[peers]]\naddress = \"a\"\nport = 1\n\n[[peers]]\n"
                         "port = 5502\n")) ==
        "cfg.toml:8: missing required key peers.address");
  CHECK(parse_error(text("[[peers]]\n")) ==
        "cfg.toml:4: missing required key peers.address");
  CHECK(parse_error(text("[[peers]]\naddress = \"a\"\nport = 0\n")) ==
        "cfg.toml:6: peers.port must be 1..65535, got 0");
  CHECK(parse_error(text("[[peers]]\naddress = \"a\"\nport = 65536\n")) ==
        "cfg.toml:6: peers.port must be 1..65535, got 65536");
  CHECK(parse_error(text("[[peers]]\naddress = \"a\"\nport = \"5502\"\n")) ==
        "cfg.toml:6: peers.port must be an integer, got string");
  CHECK(parse_error(text("[[peers]]\naddress = 10\nport = 5502\n")) ==
        "cfg.toml:5: peers.address must be a string, got integer");
  CHECK(parse_error("peers = [{address = \"a\"}]\n[node]\nport = 5501\n") ==
        "cfg.toml:1: missing required key peers.port");
}

// -- errors: log level and node name -----------------------------------------

TEST_CASE("bad log level") {
  CHECK(parse_error("[node]\nport = 5501\n\n[log]\nlevel = \"verbose\"\n") ==
        "cfg.toml:5: log.level must be one of trace, debug, info, warning "
        "(or warn), error, got 'verbose'");
  CHECK(parse_error("[node]\nport = 5501\n[log]\nlevel = \"\"\n") ==
        "cfg.toml:4: log.level must be one of trace, debug, info, warning "
        "(or warn), error, got ''");
}

TEST_CASE("bad node names") {
  auto too_long = std::string(65, 'a');
  std::vector<std::string> bad_names = {
      "all",    "*",      "",           "two words",
      "-alpha", ".alpha", "alpha/beta", "\xc3\xa9t\xc3\xa9",
      too_long};
  for (auto& bad : bad_names) {
    CAPTURE(bad);
    CHECK(parse_error("[node]\nport = 5501\nname = \"" + bad + "\"\n") ==
          "cfg.toml:3: node.name must be a valid node name " + name_rule +
              ", got '" + bad + "'");
  }
  auto longest = std::string(64, 'a');
  CHECK(parse_ok("[node]\nport = 5501\nname = \"" + longest + "\"\n").name ==
        longest);
  CHECK(parse_ok("[node]\nport = 5501\nname = \"A-1.b_c:9\"\n").name ==
        "A-1.b_c:9");
}

TEST_CASE("a derived name that is not a valid name is an error") {
  CHECK(parse_error("[node]\nport = 5501\nadvertise = \"::1\"\n") ==
        "cfg.toml:3: node.name is not set and its default '::1:5501' "
        "(<advertise>:<port>) is not a valid node name " +
            name_rule + "; set node.name");
  CHECK(parse_error("[node]\nhost = \"::1\"\nport = 5501\n") ==
        "cfg.toml:2: node.name is not set and its default '::1:5501' "
        "(<advertise>:<port>) is not a valid node name " +
            name_rule + "; set node.name");
  // An explicit name or --name makes the address irrelevant.
  CHECK(parse_ok("[node]\nname = \"v6\"\nport = 5501\nadvertise = \"::1\"\n")
            .name == "v6");
  config_overrides ov;
  ov.name = "v6";
  CHECK(parse_ok("[node]\nport = 5501\nadvertise = \"::1\"\n", ov).name ==
        "v6");
}

// -- which problem is reported ------------------------------------------------

TEST_CASE("of several problems, the earliest line is reported") {
  // [console] sorts before [node] in the table, but node.port comes first.
  CHECK(parse_error("[node]\nport = \"x\"\n[console]\nport = -1\n") ==
        "cfg.toml:2: node.port must be an integer, got string");
  CHECK(parse_error("[timing]\nheartbeat_ms = 0\n[node]\nport = 0\n") ==
        "cfg.toml:2: timing.heartbeat_ms must be 10..60000, got 0");
  // A problem with a line beats the missing node.port.
  CHECK(parse_error("[node]\nprocessors = 0\n") ==
        "cfg.toml:2: node.processors must be 1..256, got 0");
}

// -- the demo mesh ------------------------------------------------------------

TEST_CASE("the demo configs load and form a ring") {
  struct expected {
    const char* file;
    const char* name;
    uint16_t port;
    uint16_t console_port;
    uint16_t peer_port;
  };
  for (auto& e : {expected{"alpha.toml", "alpha", 5501, 6501, 5502},
                  expected{"beta.toml", "beta", 5502, 6502, 5503},
                  expected{"gamma.toml", "gamma", 5503, 6503, 5501}}) {
    CAPTURE(e.file);
    auto cfg = expect_config(load_node_config(example_dir + e.file, {}));
    CHECK(cfg.name == e.name);
    CHECK(cfg.host == "127.0.0.1");
    CHECK(cfg.port == e.port);
    CHECK(cfg.advertise == "127.0.0.1");
    CHECK(cfg.console_host == "127.0.0.1");
    CHECK(cfg.console_port == e.console_port);
    REQUIRE(cfg.peers.size() == 1);
    CHECK(cfg.peers[0].address == "127.0.0.1");
    CHECK(cfg.peers[0].port == e.peer_port);
    CHECK(cfg.heartbeat_ms == 500);
    CHECK(cfg.dead_after_ms == 2000);
    CHECK(cfg.processors == 10);
    CHECK(cfg.default_ttl == 32);
    CHECK(cfg.max_message_bytes == 65536);
    CHECK(cfg.queue_limit == 10000);
    CHECK(cfg.level == log_level::info);
  }
}

// -- the checks shared with simulation scenarios ------------------------------

TEST_CASE("tunables flattened in one table get the same checks") {
  // As a scenario's [defaults] (SPEC §9) is read.
  auto read = [](std::string_view text) -> std::string {
    auto root = toml::parse(text, std::string_view{"sim.toml"});
    node_config cfg;
    config_keys::key_lines lines;
    config_keys::problems out;
    config_keys::read_section(*root["defaults"].as_table(), "defaults",
                              config_keys::key_set::tunables, cfg, lines, out);
    if (out.empty())
      config_keys::check_timing(cfg, lines, "defaults", out);
    if (!out.empty())
      return out.error("sim.toml").text;
    return std::to_string(cfg.processors) + " " +
           std::to_string(cfg.heartbeat_ms) + " " +
           std::to_string(cfg.dead_after_ms) + " " +
           std::to_string(cfg.default_ttl) + " " +
           std::to_string(cfg.max_message_bytes) + " " +
           std::to_string(cfg.queue_limit);
  };
  CHECK(read("[defaults]\nprocessors = 1\nheartbeat_ms = 200\n"
             "dead_after_ms = 1000\ndefault_ttl = 8\nmax_message_bytes = 512\n"
             "queue_limit = 5\n") == "1 200 1000 8 512 5");
  CHECK(read("[defaults]\nprocessors = 257\n") ==
        "sim.toml:2: defaults.processors must be 1..256, got 257");
  CHECK(read("[defaults]\nheartbeat_ms = 200\ndead_after_ms = 200\n") ==
        "sim.toml:3: defaults.dead_after_ms must be greater than "
        "defaults.heartbeat_ms (200), got 200");
  CHECK(read("[defaults]\nheartbeat_ms = 9000\n") ==
        "sim.toml:2: defaults.heartbeat_ms 9000 is not less than "
        "defaults.dead_after_ms (default 5000); set "
        "defaults.dead_after_ms greater than 9000");
  CHECK(read("[defaults]\nport = 5501\n") ==
        "sim.toml:2: unknown key 'port' in [defaults]");
  CHECK(read("[defaults]\nqueue_limit = \"many\"\n") ==
        "sim.toml:2: defaults.queue_limit must be an integer, got string");
}

// -- [security] (SPEC §10) ----------------------------------------------------

#include "quilt/security.hpp"

TEST_CASE("without [security] links are plain and only loopback is dialled") {
  auto cfg = expect_config(parse_node_config("[node]\nport = 5501\n",
                                             "n.toml", {}));
  CHECK_FALSE(cfg.security.curve);
  CHECK(cfg.security.dial_allow
        == std::vector<std::string>{"127.0.0.0/8", "::1"});
}

TEST_CASE("dial_allow replaces the default; an empty list allows nothing") {
  auto cfg = expect_config(parse_node_config(
    "[node]\nport = 5501\n[security]\ndial_allow = []\n", "n.toml", {}));
  CHECK(cfg.security.dial_allow.empty());
}

TEST_CASE("the dial policy: blocks, addresses, host names, the connection") {
  auto lo = dial_policy::loopback();
  CHECK(lo.allows("127.0.0.1", ""));
  CHECK(lo.allows("127.200.3.4", ""));
  CHECK(lo.allows("::1", ""));
  CHECK(lo.allows("[::1]", ""));
  CHECK_FALSE(lo.allows("10.0.0.1", ""));
  CHECK_FALSE(lo.allows("localhost", "")); // names only when listed
  // The address the request's connection came from is always allowed,
  // IPv4-mapped or not.
  CHECK(lo.allows("10.0.0.1", "10.0.0.1"));
  CHECK(lo.allows("10.0.0.1", "::ffff:10.0.0.1"));
  CHECK_FALSE(lo.allows("10.0.0.2", "10.0.0.1"));

  dial_policy p;
  REQUIRE_FALSE(p.add("10.1.0.0/16"));
  REQUIRE_FALSE(p.add("fd00::/8"));
  REQUIRE_FALSE(p.add("Beta.Example"));
  REQUIRE_FALSE(p.add("192.0.2.7"));
  CHECK(p.allows("10.1.255.255", ""));
  CHECK_FALSE(p.allows("10.2.0.0", ""));
  CHECK(p.allows("fd12:3456::1", ""));
  CHECK_FALSE(p.allows("fe80::1", ""));
  CHECK(p.allows("beta.example", ""));
  CHECK_FALSE(p.allows("gamma.example", ""));
  CHECK(p.allows("192.0.2.7", ""));
  CHECK_FALSE(p.allows("192.0.2.8", ""));
  CHECK_FALSE(p.allows("127.0.0.1", ""));

  CHECK(p.add("10.0.0.0/33"));
  CHECK(p.add("fd00::/129"));
  CHECK(p.add("10.0.0.0/"));
  CHECK(p.add("host/8"));
  CHECK(p.add("bad host"));
  CHECK(p.add(""));
  CHECK(dial_policy::allow_all().allows("203.0.113.1", ""));
}

TEST_CASE("CURVE keys: Z85 of 40 characters; a public key from a secret one") {
  auto pair = make_curve_keypair();
  REQUIRE(pair);
  CHECK(is_curve_key(pair->public_key));
  CHECK(is_curve_key(pair->secret_key));
  CHECK(curve_public_key(pair->secret_key) == pair->public_key);
  CHECK_FALSE(is_curve_key(pair->public_key.substr(1)));
  CHECK_FALSE(is_curve_key(std::string(40, ' ')));
  CHECK_FALSE(curve_public_key("not a key"));
}

// -- names bound to CURVE keys (SPEC §12) ---------------------------------------

namespace {

/// A folder of its own under /tmp for key files, removed with the object.
struct key_dir {
  std::string path;

  key_dir() {
    char tmpl[] = "/tmp/quilt-config-test.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      FAIL("mkdtemp failed");
    path = tmpl;
  }
  ~key_dir() {
    for (const char* f : {"/node.key", "/authorized"})
      ::unlink((path + f).c_str());
    ::rmdir(path.c_str());
  }

  void write(const std::string& file, const std::string& text) const {
    std::ofstream out{path + "/" + file};
    out << text;
  }

  /// A CURVE node whose authorized_keys file holds `authorized`.
  std::variant<node_config, config_error>
  load(const std::string& authorized) const {
    auto pair = make_curve_keypair();
    REQUIRE(pair);
    write("node.key", pair->secret_key + "\n");
    write("authorized", authorized);
    return parse_node_config("[node]\nport = 5501\n[security]\ncurve = true\n"
                             "secret_key_file = \"node.key\"\n"
                             "authorized_keys = \"authorized\"\n",
                             path + "/cfg.toml", {});
  }
};

std::string new_key() {
  auto pair = make_curve_keypair();
  REQUIRE(pair);
  return pair->public_key;
}

} // namespace

TEST_CASE("authorized_keys: the first word of a comment binds a name") {
  key_dir dir;
  auto a = new_key(), b = new_key(), c = new_key(), d = new_key();
  auto cfg = expect_config(dir.load("# keys of the mesh\n"
                                    + a + " alpha\n"
                                    + b + "\tbeta.example:5502 the second\n"
                                    + c + " Carol's laptop\n"
                                    + d + "\n"
                                    + a + " alpha-again\n"
                                    + a + " alpha\n"));
  CHECK(cfg.security.authorized_keys
        == std::vector<std::string>{a, b, c, d, a, a});
  using binding = std::pair<std::string, std::string>;
  // "Carol's" is no node name: a comment in words binds nothing. One key
  // may carry several names, and a line may repeat a binding.
  CHECK(cfg.security.key_names
        == std::vector<binding>{{"alpha", a},
                                {"beta.example:5502", b},
                                {"alpha-again", a}});
}

TEST_CASE("authorized_keys: a name bound to two keys is an error") {
  key_dir dir;
  auto a = new_key(), b = new_key();
  CHECK(expect_error(dir.load(a + " alpha\n\n" + b + " alpha\n"))
        == dir.path + "/authorized:3: name 'alpha' is already bound to "
                      "another key on line 1 (a name belongs to one key)");
}

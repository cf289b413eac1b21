// quilt-sim: many Quilt nodes in one process (SPEC §8-§9). Parses the
// command line and the scenario; the simulation itself is quilt::run_simulation.
#include <sys/resource.h>

#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "quilt/codec.hpp"
#include "quilt/node.hpp"
#include "quilt/scenario.hpp"
#include "quilt/sim.hpp"

namespace {

constexpr int exit_usage = 2;

const char* usage =
  "usage: quilt-sim SCENARIO.toml [--seed N] [--report FILE.json] "
  "[--dot FILE.dot [--dot-at MS]] [--console-port P]\n";

const char* help =
  "Runs a scenario's nodes in one process and reports what happened.\n"
  "\n"
  "  SCENARIO.toml      the nodes, links, transport and events (see README)\n"
  "  --seed N           replaces [simulation] seed (0..2^64-1)\n"
  "  --report FILE      writes the JSON report there instead of stdout\n"
  "  --dot FILE         writes the final topology as Graphviz (dead nodes\n"
  "                     and cut links dashed)\n"
  "  --dot-at MS        draws it as it stood at MS (after the events up to\n"
  "                     then) instead; scripts/sim-picture.sh renders it\n"
  "  --console-port P   publishes a console on 127.0.0.1:P (quilt-console\n"
  "                     nodes, --node NAME ...) and keeps running after the\n"
  "                     report until its shutdown, SIGINT or SIGTERM\n"
  "  --help, --version\n"
  "\n"
  "Exit status: 0 every expectation held, 1 one did not (or routes never\n"
  "converged within 60 s), 2 bad scenario or command line.\n";

int usage_error(const std::string& text) {
  std::cerr << "quilt-sim: " << text << "\n" << usage;
  return exit_usage;
}

/// The most files the process may open: a simulation on ZeroMQ needs a few
/// descriptors per node (sockets' mailboxes, tcp connections).
void raise_file_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

} // namespace

int main(int argc, char** argv) {
  std::string path;
  std::optional<uint64_t> seed;
  quilt::sim_options opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    auto take = [&](const char* flag) {
      auto n = std::strlen(flag);
      if (arg.compare(0, n, flag) != 0)
        return false;
      if (arg.size() > n && arg[n] == '=') {
        value = arg.substr(n + 1);
        return true;
      }
      if (arg.size() != n)
        return false;
      if (i + 1 >= argc)
        throw std::string{flag} + " needs a value";
      value = argv[++i];
      return true;
    };
    try {
      if (arg == "--help" || arg == "-h") {
        std::cout << usage << '\n' << help;
        return 0;
      }
      if (arg == "--version") {
        std::cout << "quilt-sim " << quilt::version() << '\n';
        return 0;
      }
      if (take("--seed")) {
        uint64_t x = 0;
        if (!quilt::parse_decimal(value, x))
          return usage_error("--seed must be a decimal number 0..2^64-1, got '"
                             + value + "'");
        seed = x;
      } else if (take("--report")) {
        if (value.empty())
          return usage_error("--report needs a file name");
        opts.report_path = value;
      } else if (take("--dot")) {
        if (value.empty())
          return usage_error("--dot needs a file name");
        opts.dot_path = value;
      } else if (take("--dot-at")) {
        uint64_t x = 0;
        if (!quilt::parse_decimal(value, x))
          return usage_error("--dot-at must be a time in ms, got '" + value
                             + "'");
        opts.dot_at_ms = x;
      } else if (take("--console-port")) {
        uint64_t x = 0;
        if (!quilt::parse_decimal(value, x) || x < 1 || x > 65535)
          return usage_error("--console-port must be a port 1..65535, got '"
                             + value + "'");
        opts.console_port = static_cast<uint16_t>(x);
      } else if (arg.size() > 1 && arg[0] == '-') {
        return usage_error("unknown option " + arg);
      } else if (path.empty()) {
        path = arg;
      } else {
        return usage_error("one scenario file only (got " + path + " and "
                           + arg + ")");
      }
    } catch (const std::string& problem) {
      return usage_error(problem);
    }
  }
  if (path.empty())
    return usage_error("no scenario file given");
  auto loaded = quilt::load_scenario(path, seed);
  if (auto err = std::get_if<quilt::config_error>(&loaded)) {
    std::cerr << err->text << '\n';
    return exit_usage;
  }
  auto& sc = std::get<quilt::scenario>(loaded);
  if (opts.console_port && sc.deterministic) {
    std::cerr << path
              << ": --console-port needs a real-time simulation: a "
                 "deterministic one (simulation.deterministic = true) runs "
                 "on virtual time and cannot answer a live console\n";
    return exit_usage;
  }
  raise_file_limit();
  quilt::sim_report report;
  return quilt::run_simulation(sc, opts, std::cerr, report);
}

// quilt-sim: many Quilt nodes in one process (SPEC §8-§9). Parses the
// command line and the scenario; the simulation itself is quilt::run_simulation.
#include <sys/resource.h>

#include <iostream>
#include <optional>
#include <string>

#include "cli.hpp"
#include "quilt/codec.hpp"
#include "quilt/node.hpp"
#include "quilt/scenario.hpp"
#include "quilt/sim.hpp"

namespace {

constexpr int exit_usage = 2;

/// A usage error: one line on stderr (SPEC §11), exit 2.
int usage_error(const std::string& text) {
  std::cerr << "quilt-sim: " << text << '\n';
  return exit_usage;
}

/// The command line's parser; values are taken as text and checked by
/// `check`, with the wording the scenario's own keys use.
struct parser {
  CLI::App app{"Runs a scenario's nodes in one process and reports what "
               "happened.",
               "quilt-sim"};
  std::string path, seed, report, dot, dot_at, console_port, budget;
  bool version = false;

  parser() {
    app.add_option("SCENARIO.toml", path,
                   "the nodes, links, transport and events (see README)")
      ->type_name("");
    app.add_option("--seed", seed, "replaces [simulation] seed (0..2^64-1)")
      ->type_name("N");
    app.add_option("--report", report,
                   "writes the JSON report there instead of stdout")
      ->type_name("FILE");
    app.add_option("--dot", dot,
                   "writes the final topology as Graphviz (dead nodes and "
                   "cut links dashed)")
      ->type_name("FILE");
    app.add_option("--dot-at", dot_at,
                   "draws it as it stood at MS (after the events up to then) "
                   "instead; scripts/sim-picture.sh renders it")
      ->type_name("MS");
    app.add_option("--console-port", console_port,
                   "publishes a console on 127.0.0.1:P (quilt-console nodes, "
                   "--node NAME ...) and keeps running after the report "
                   "until its shutdown, SIGINT or SIGTERM")
      ->type_name("P");
    app.add_option("--budget-mib", budget,
                   "bounds the messages in flight, all nodes together "
                   "(1..1048576 MiB; default an eighth of physical memory, "
                   "64 MiB..1 GiB, as quiltd's; see README)")
      ->type_name("MIB");
    quilt::cli::add_version_flag(app, version);
    app.footer("\nExit status: 0 every expectation held, 1 one did not (or "
               "routes never converged within 60 s), 2 bad scenario or "
               "command line.\n");
  }

  /// Checks the values into `seed_out` and `opts`; the usage error text,
  /// or empty.
  std::string check(std::optional<uint64_t>& seed_out,
                    quilt::sim_options& opts) const {
    if (app.count("--seed")) {
      uint64_t x = 0;
      if (!quilt::parse_decimal(seed, x))
        return "--seed must be a decimal number 0..2^64-1, got '" + seed
               + "'";
      seed_out = x;
    }
    if (app.count("--report")) {
      if (report.empty())
        return "--report needs a file name";
      opts.report_path = report;
    }
    if (app.count("--dot")) {
      if (dot.empty())
        return "--dot needs a file name";
      opts.dot_path = dot;
    }
    if (app.count("--dot-at")) {
      uint64_t x = 0;
      if (!quilt::parse_decimal(dot_at, x))
        return "--dot-at must be a time in ms, got '" + dot_at + "'";
      opts.dot_at_ms = x;
    }
    if (app.count("--console-port")) {
      uint64_t x = 0;
      if (!quilt::parse_decimal(console_port, x) || x < 1 || x > 65535)
        return "--console-port must be a port 1..65535, got '" + console_port
               + "'";
      opts.console_port = static_cast<uint16_t>(x);
    }
    if (app.count("--budget-mib")) {
      uint64_t x = 0;
      if (!quilt::parse_decimal(budget, x) || x < 1 || x > (1u << 20))
        return "--budget-mib must be a size in MiB 1..1048576, got '"
               + budget + "'";
      opts.budget_bytes = static_cast<int64_t>(x) << 20;
    }
    if (path.empty())
      return "no scenario file given";
    return {};
  }
};

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
  parser p;
  try {
    p.app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (quilt::cli::is_help_request(e)) {
      std::cout << p.app.help();
      return 0;
    }
    if (dynamic_cast<const CLI::ExtrasError*>(&e)
        && !quilt::cli::looks_like_option(quilt::cli::first_extra(p.app)))
      return usage_error("one scenario file only (got " + p.path + " and "
                         + quilt::cli::first_extra(p.app) + ")");
    return usage_error(quilt::cli::parse_error_text(p.app, e));
  }
  if (p.version) {
    std::cout << quilt::cli::version_line("quilt-sim", quilt::version())
              << '\n';
    return 0;
  }
  std::optional<uint64_t> seed;
  quilt::sim_options opts;
  if (auto problem = p.check(seed, opts); !problem.empty())
    return usage_error(problem);
  const std::string& path = p.path;
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

// quilt-console: looks inside and drives a running node (or simulation)
// through its published CAF actor (SPEC §8).
#include <readline/history.h>
#include <readline/readline.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <sstream>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "quilt/codec.hpp"
#include "quilt/console.hpp"
#include "quilt/error.hpp"
#include "quilt/node.hpp"
#include "quilt/tls.hpp"

namespace {

using namespace quilt::console;

struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 6501;
  std::string node;
  bool json = false;
  quilt::tls_files tls; ///< All three set, or none: plain CAF.
  std::vector<std::string> command;

  bool use_tls() const { return !tls.certificate.empty(); }
};

/// Prints an outcome: exactly one JSON document on stdout with --json.
int emit(const options& opts, const outcome& o) {
  if (o.stream)
    return o.stream(opts.json);
  if (opts.json) {
    std::cout << o.json.dump() << std::endl;
    // The failure's one plain line goes to stderr with --json too (§11).
    if (o.status != ok && o.json.contains("detail"))
      std::cerr << "quilt-console: " << o.json["detail"].get<std::string>()
                << std::endl;
  } else if (o.status == ok) {
    std::cout << o.text << std::flush;
  } else {
    // A failed command may still have its own lines (e.g. ping's replies).
    std::cerr << o.text << std::flush;
  }
  return o.status;
}

/// The command line's parser: the options, then COMMAND ARGS... taken
/// verbatim (prefix_command: parsing stops at the first positional word,
/// so `topology --dot` keeps its flag).
struct parser {
  CLI::App app{"Looks inside and drives a running Quilt node or simulation "
               "through its console.\nquilt-console [OPTIONS] [COMMAND "
               "ARGS...]: COMMAND and its ARGS (below) are taken as given; "
               "without COMMAND, an interactive prompt.",
               "quilt-console"};
  std::string port;
  bool version = false;

  explicit parser(options& opts) {
    app.prefix_command();
    app.add_option("--host", opts.host, "the console's host (127.0.0.1)")
      ->type_name("H");
    app.add_option("--port", port, "the console's port (6501)")
      ->type_name("P");
    app.add_option("--node", opts.node,
                   "a simulation's node to talk to (quilt-console nodes)")
      ->type_name("NAME");
    app.add_flag("--json", opts.json, "answers as one JSON document");
    app.add_option("--tls-certificate", opts.tls.certificate,
                   "this console's certificate (PEM), for a TLS console")
      ->type_name("F");
    app.add_option("--tls-key", opts.tls.key, "its private key (PEM)")->type_name("F");
    app.add_option("--tls-cafile", opts.tls.cafile,
                   "the CA that signed the node's certificate (PEM)")
      ->type_name("F");
    quilt::cli::add_version_flag(app, version);
    app.footer(std::string{"\n"} + help_text()
               + "\nExit status: 0 success, 1 the command failed, 2 usage "
                 "error, 3 the console could not be reached or is not a "
                 "Quilt console.\n");
  }
};

/// Checks the values CLI11 took as text; false with `err` set.
bool check_options(const parser& p, options& opts, outcome& err) {
  auto bad = [&](const std::string& text) {
    err = failure(usage, "usage", text);
    return false;
  };
  if (p.app.count("--host") && opts.host.empty())
    return bad("--host needs a value");
  if (p.app.count("--node") && opts.node.empty())
    return bad("--node needs a node name");
  if (p.app.count("--port")) {
    uint64_t n = 0;
    if (!quilt::parse_decimal(p.port, n) || n < 1 || n > 65535)
      return bad("--port needs a port 1..65535, got '" + p.port + "'");
    opts.port = static_cast<uint16_t>(n);
  }
  for (const char* flag : {"--tls-certificate", "--tls-key", "--tls-cafile"})
    if (p.app.count(flag) && p.app[flag]->as<std::string>().empty())
      return bad(std::string{flag} + " needs a file");
  int tls_given = !opts.tls.certificate.empty() + !opts.tls.key.empty()
                  + !opts.tls.cafile.empty();
  if (tls_given != 0 && tls_given != 3)
    return bad("--tls-certificate, --tls-key and --tls-cafile go together");
  if (tls_given == 3) {
    // CAF's OpenSSL module loads these at each connection and raises on its
    // multiplexer thread (ending the process) when one fails to load.
    if (auto problem = quilt::check_tls_files(opts.tls)) {
      const char* flag = problem->file == quilt::tls_file::certificate
                           ? "--tls-certificate"
                         : problem->file == quilt::tls_file::key
                           ? "--tls-key"
                           : "--tls-cafile";
      return bad(std::string{flag} + ": " + problem->text);
    }
  }
  return true;
}

/// Parses the command line; false with `err` set on a usage error. --help
/// and --version print and leave with status 0 here.
bool parse_args(int argc, char** argv, options& opts, outcome& err) {
  parser p{opts};
  try {
    p.app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (quilt::cli::is_help_request(e)) {
      std::cout << p.app.help();
      std::exit(ok);
    }
    // CLI11 sets flags only after a whole parse; --json counts already.
    opts.json = p.app.count("--json") > 0;
    err = failure(usage, "usage", quilt::cli::parse_error_text(p.app, e));
    return false;
  }
  if (p.version) {
    std::cout << quilt::cli::version_line("quilt-console", quilt::version())
              << std::endl;
    std::exit(ok);
  }
  // Unknown options before COMMAND are left over with it.
  opts.command = p.app.remaining();
  if (!opts.command.empty() && quilt::cli::looks_like_option(opts.command[0])) {
    err = failure(usage, "usage", quilt::cli::extra_text(opts.command[0]));
    return false;
  }
  return check_options(p, opts, err);
}

/// Why connecting to the console failed, in plain words (SPEC §11). CAF
/// keeps neither the socket's errno nor whose certificate a TLS handshake
/// refused, so both are found out again here.
std::string connect_failure_text(const options& opts, const caf::error& e) {
  if (e == caf::sec::cannot_connect_to_node) {
    auto why = quilt::tcp_connect_problem(opts.host, opts.port, 1000);
    if (!why.empty())
      return why;
  }
  if (opts.use_tls()) {
    auto why = quilt::diagnose_tls_handshake(opts.host, opts.port, opts.tls,
                                             1000);
    if (!why.empty())
      return why;
  } else if (e == caf::sec::disconnect_during_handshake) {
    return "the connection closed during the handshake (a TLS console "
           "needs --tls-certificate, --tls-key and --tls-cafile)";
  }
  return quilt::describe(e);
}

/// Connects to the published actor, giving up after `limit`: a peer that
/// accepts but never answers (a stopped process, a foreign service) must not
/// hang the console.
std::optional<quilt::node_actor> connect(caf::actor_system& sys,
                                         const options& opts,
                                         std::chrono::seconds limit,
                                         outcome& err) {
  auto where = opts.host + ":" + std::to_string(opts.port);
  using result_t = caf::expected<quilt::node_actor>;
  auto task = std::make_shared<std::packaged_task<result_t()>>(
    [&sys, host = opts.host, port = opts.port, tls = opts.use_tls()] {
      if (tls)
        return caf::openssl::remote_actor<quilt::node_actor>(sys, host, port);
      return sys.middleman().remote_actor<quilt::node_actor>(host, port);
    });
  auto result = task->get_future();
  std::thread{[task] { (*task)(); }}.detach();
  if (result.wait_for(limit) != std::future_status::ready) {
    err = failure(unreachable, "unreachable",
                  "no Quilt console answered at " + where + " within "
                    + std::to_string(limit.count()) + " s");
    return std::nullopt;
  }
  auto handle = result.get();
  if (!handle) {
    auto reason = connect_failure_text(opts, handle.error());
    if (opts.use_tls())
      where += " over TLS";
    err = failure(unreachable, "unreachable",
                  "cannot reach a Quilt console at " + where + ": " + reason);
    return std::nullopt;
  }
  return *handle;
}

std::vector<std::string> split(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> words;
  for (std::string w; in >> w;)
    words.push_back(w);
  return words;
}

/// The interactive prompt: line editing and history by readline.
int interactive(caf::actor_system& sys, const options& opts,
                const quilt::node_actor& top, const quilt::node_actor& node) {
  std::cout << "quilt-console connected to " << opts.host << ':' << opts.port
            << (opts.use_tls() ? " over TLS" : "")
            << (opts.node.empty() ? "" : " node " + opts.node)
            << " -- help for commands, quit to leave" << std::endl;
  caf::scoped_actor self{sys};
  while (char* raw = readline("quilt> ")) {
    std::string line{raw};
    std::free(raw);
    auto words = split(line);
    if (words.empty())
      continue;
    add_history(line.c_str());
    if (words[0] == "quit" || words[0] == "exit")
      break;
    if (words[0] == "help") {
      std::cout << help_text();
      continue;
    }
    if (auto problem = check_usage(words); !problem.empty()) {
      std::cout << problem << std::endl;
      continue;
    }
    auto o = run(self, top, node, words);
    emit(opts, o);
    if (o.status == unreachable || words[0] == "shutdown")
      return o.status;
  }
  return ok;
}

/// Leaves at once: the answers are printed, and tearing down the
/// middleman's connections (or a connect attempt still under way) could
/// only make the console wait.
[[noreturn]] void leave(int status) {
  std::fflush(nullptr);
  std::_Exit(status);
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  outcome err;
  if (!parse_args(argc, argv, opts, err))
    return emit(opts, err);
  if (!opts.command.empty()) {
    if (auto problem = check_usage(opts.command); !problem.empty())
      return emit(opts, failure(usage, "usage", problem));
  }

  caf::actor_system_config cfg;
  quilt::configure_actor_system(cfg);
  cfg.load<caf::io::middleman>();
  if (opts.use_tls()) {
    // A certificate makes CAF's OpenSSL module verify the node's certificate
    // against the CA file too (it does not check the host name).
    cfg.openssl_certificate = opts.tls.certificate;
    cfg.openssl_key = opts.tls.key;
    cfg.openssl_cafile = opts.tls.cafile;
    cfg.load<caf::openssl::manager>();
  }
  caf::actor_system sys{cfg};

  auto top = connect(sys, opts, std::chrono::seconds(4), err);
  if (!top)
    leave(emit(opts, err));
  auto node = *top;
  if (!opts.node.empty()) {
    caf::scoped_actor self{sys};
    bool found = false;
    self->request(*top, std::chrono::seconds(5), quilt::select_atom::value,
                  opts.node)
      .receive(
        [&](caf::actor& a) {
          node = caf::actor_cast<quilt::node_actor>(a);
          found = static_cast<bool>(node);
        },
        [&](caf::error& e) {
          if (e.category() != quilt::error_category)
            err = failure(unreachable, "unreachable",
                          "lost the console at " + opts.host + ":"
                            + std::to_string(opts.port) + ": "
                            + quilt::describe(e));
          else if (e.code()
                   == static_cast<uint8_t>(quilt::ec::not_a_simulation))
            err = failure(failed, "not_a_simulation",
                          "--node needs a simulation's console; this is a "
                          "single node");
          else
            err = failure(failed, "no_such_node",
                          "the simulation has no node " + opts.node);
        });
    if (!found)
      leave(emit(opts, err));
  }
  if (opts.command.empty())
    leave(interactive(sys, opts, *top, node));
  caf::scoped_actor self{sys};
  leave(emit(opts, run(self, *top, node, opts.command)));
}

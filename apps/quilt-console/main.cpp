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

#include "commands.hpp"
#include "quilt/codec.hpp"
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

const char* usage_line = "usage: quilt-console [--host H] [--port P] "
                         "[--node NAME] [--json] [--tls-certificate F "
                         "--tls-key F --tls-cafile F] [COMMAND ARGS...]";

/// Prints an outcome: exactly one JSON document on stdout with --json.
int emit(const options& opts, const outcome& o) {
  if (o.stream)
    return o.stream(opts.json);
  if (opts.json) {
    std::cout << o.json.dump() << std::endl;
  } else if (o.status == ok) {
    std::cout << o.text << std::flush;
  } else {
    // A failed command may still have its own lines (e.g. ping's replies).
    std::cerr << o.text << std::flush;
  }
  return o.status;
}

/// Parses the command line; false with `err` set on a usage error.
bool parse_args(int argc, char** argv, options& opts, outcome& err) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!opts.command.empty()) {
      opts.command.push_back(arg); // everything after COMMAND is its args
      continue;
    }
    auto value = [&](std::string& out) {
      if (i + 1 >= argc)
        return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "-h" || arg == "--help") {
      std::cout << usage_line << "\n\n" << help_text();
      std::exit(ok);
    } else if (arg == "--json") {
      opts.json = true;
    } else if (arg == "--host") {
      if (!value(opts.host) || opts.host.empty()) {
        err = failure(usage, "usage", "--host needs a value");
        return false;
      }
    } else if (arg == "--port") {
      uint64_t p = 0;
      if (!value(v) || !quilt::parse_decimal(v, p) || p < 1 || p > 65535) {
        err = failure(usage, "usage", "--port needs a port 1..65535");
        return false;
      }
      opts.port = static_cast<uint16_t>(p);
    } else if (arg == "--node") {
      if (!value(opts.node) || opts.node.empty()) {
        err = failure(usage, "usage", "--node needs a node name");
        return false;
      }
    } else if (arg == "--tls-certificate" || arg == "--tls-key"
               || arg == "--tls-cafile") {
      auto& file = arg == "--tls-certificate" ? opts.tls.certificate
                   : arg == "--tls-key"       ? opts.tls.key
                                              : opts.tls.cafile;
      if (!value(file) || file.empty()) {
        err = failure(usage, "usage", arg + " needs a file");
        return false;
      }
    } else if (arg.size() > 1 && arg[0] == '-') {
      err = failure(usage, "usage", "unknown option " + arg);
      return false;
    } else {
      opts.command.push_back(arg);
    }
  }
  int tls_given = !opts.tls.certificate.empty() + !opts.tls.key.empty()
                  + !opts.tls.cafile.empty();
  if (tls_given != 0 && tls_given != 3) {
    err = failure(usage, "usage",
                  "--tls-certificate, --tls-key and --tls-cafile go "
                  "together");
    return false;
  }
  if (tls_given == 3) {
    // CAF's OpenSSL module loads these at each connection and raises on its
    // multiplexer thread (ending the process) when one fails to load.
    if (auto problem = quilt::check_tls_files(opts.tls)) {
      const char* flag = problem->file == quilt::tls_file::certificate
                           ? "--tls-certificate"
                         : problem->file == quilt::tls_file::key
                           ? "--tls-key"
                           : "--tls-cafile";
      err = failure(usage, "usage", std::string{flag} + ": " + problem->text);
      return false;
    }
  }
  return true;
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
    auto reason = sys.render(handle.error());
    if (opts.use_tls()) {
      // CAF only says that the connection closed; a handshake of our own
      // says whose certificate was refused.
      auto why = quilt::diagnose_tls_handshake(opts.host, opts.port, opts.tls,
                                               1000);
      if (!why.empty())
        reason = why;
      where += " over TLS";
    } else if (handle.error() == caf::sec::disconnect_during_handshake) {
      reason = "the connection closed during the handshake (a TLS console "
               "needs --tls-certificate, --tls-key and --tls-cafile)";
    }
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
            err = failure(unreachable, "unreachable", sys.render(e));
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

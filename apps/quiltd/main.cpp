// quiltd: runs one Quilt node in the foreground (SPEC §8).
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "cli.hpp"
#include "line_interface.hpp"
#include "quilt/config.hpp"
#include "quilt/console.hpp"
#include "quilt/error.hpp"
#include "quilt/http.hpp"
#include "quilt/log.hpp"
#include "quilt/node.hpp"
#include "quilt/security.hpp"
#include "quilt/tls.hpp"
#include "quilt/zmq_transport.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_runtime = 1;
constexpr int exit_usage = 2;

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1"
         || host.rfind("127.", 0) == 0;
}

struct options {
  std::string config_path;
  quilt::config_overrides overrides;
  std::optional<std::string> keygen;
};

/// Creates `path` with `text`, mode `mode`; fails if it exists.
bool write_new_file(const std::string& path, const std::string& text,
                    mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    std::cerr << "quiltd: cannot create " << path << ": "
              << std::strerror(errno) << '\n';
    return false;
  }
  bool ok = ::write(fd, text.data(), text.size())
            == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok)
    std::cerr << "quiltd: cannot write " << path << ": "
              << std::strerror(errno) << '\n';
  return ok;
}

/// quiltd --keygen PATH (SPEC §10): the secret key in PATH (0600), the
/// public key in PATH.pub; neither may exist already.
int keygen(const std::string& path) {
  auto pub_path = path + ".pub";
  for (const auto& p : {path, pub_path})
    if (::access(p.c_str(), F_OK) == 0) {
      std::cerr << "quiltd: " << p << " exists; not overwriting it\n";
      return exit_runtime;
    }
  auto keys = quilt::make_curve_keypair();
  if (!keys) {
    std::cerr << "quiltd: this libzmq cannot make CURVE keys\n";
    return exit_runtime;
  }
  if (!write_new_file(path, keys->secret_key + "\n", 0600))
    return exit_runtime;
  if (!write_new_file(pub_path, keys->public_key + "\n", 0644)) {
    ::unlink(path.c_str());
    return exit_runtime;
  }
  std::cout << "wrote " << path << " (secret key) and " << pub_path
            << " (public key: " << keys->public_key << ")\n";
  return exit_ok;
}

/// The command line's parser; the overrides are kept as text for
/// load_node_config, which checks them with the file's rules.
struct parser {
  CLI::App app{"Runs one Quilt node in the foreground.", "quiltd"};
  std::string name, port, log_level, keygen;
  bool version = false;

  explicit parser(options& opts) {
    app.add_option("CONFIG.toml", opts.config_path,
                   "the node's configuration (see README)")
      ->type_name("");
    app.add_option("--name", name, "replaces node.name")->type_name("N");
    app.add_option("--port", port, "replaces node.port")->type_name("P");
    app.add_option("--log-level", log_level,
                   "replaces log.level: trace, debug, info, warning, error")
      ->type_name("L");
    app.add_option("--keygen", keygen,
                   "writes a CURVE key pair to PATH and PATH.pub, then exits")
      ->type_name("PATH");
    quilt::cli::add_version_flag(app, version);
    app.footer("\nExit status: 0 clean shutdown, 1 runtime failure (a port "
               "in use, ...), 2 bad configuration or command line.\n");
  }

  /// Moves the given options into `opts`: only those on the command line
  /// override the file.
  void collect(options& opts) const {
    if (app.count("--name"))
      opts.overrides.name = name;
    if (app.count("--port"))
      opts.overrides.port = port;
    if (app.count("--log-level"))
      opts.overrides.log_level = log_level;
    if (app.count("--keygen"))
      opts.keygen = keygen;
  }
};

/// Parses the command line; on error prints one line and returns false
/// with `status` to exit with (0 after --help or --version).
bool parse_args(int argc, char** argv, options& opts, int& status) {
  parser p{opts};
  try {
    p.app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (quilt::cli::is_help_request(e)) {
      std::cout << p.app.help();
      status = exit_ok;
    } else {
      std::cerr << "quiltd: " << quilt::cli::parse_error_text(p.app, e)
                << '\n';
    }
    return false;
  }
  if (p.version) {
    std::cout << quilt::cli::version_line("quiltd", quilt::version()) << '\n';
    status = exit_ok;
    return false;
  }
  p.collect(opts);
  if (opts.keygen) {
    if (!opts.config_path.empty()) {
      std::cerr << "quiltd: --keygen takes no CONFIG.toml (see --help)\n";
      return false;
    }
    return true;
  }
  if (opts.config_path.empty()) {
    std::cerr << "quiltd: missing CONFIG.toml (usage: quiltd CONFIG.toml "
                 "[--name N] [--port P] [--log-level L])\n";
    return false;
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  int status = exit_usage;
  if (!parse_args(argc, argv, opts, status))
    return status;
  if (opts.keygen)
    return keygen(*opts.keygen);
  auto loaded = quilt::load_node_config(opts.config_path, opts.overrides);
  if (auto err = std::get_if<quilt::config_error>(&loaded)) {
    std::cerr << err->text << '\n';
    return exit_usage;
  }
  auto cfg = std::get<quilt::node_config>(std::move(loaded));
  quilt::set_log_level(cfg.level);

  // Signals are taken by one thread with sigwait; every other thread,
  // CAF's and ZeroMQ's included, inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reload (SPEC §15)
  sigaddset(&signals, SIGUSR1); // main wakes the signal thread with it
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Messages are allocated and freed at a high rate on several threads;
  // without these glibc keeps returning memory to the kernel and taking it
  // back (visible as page faults and brk calls in profiles).
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_TOP_PAD, 16 << 20);

  if (cfg.console_port != 0) {
    if (auto problem = quilt::console_port_problem(cfg.console_host, cfg.console_port); !problem.empty()) {
      std::cerr << "quiltd: cannot open console on " << cfg.console_host << ':'
                << cfg.console_port << ": " << problem << '\n';
      return exit_runtime;
    }
  }

  if (cfg.http_port != 0) {
    if (auto problem = quilt::console_port_problem(cfg.http_host, cfg.http_port); !problem.empty()) {
      std::cerr << "quiltd: cannot open HTTP on " << cfg.http_host << ':'
                << cfg.http_port << ": " << problem << '\n';
      return exit_runtime;
    }
  }

  caf::actor_system_config sys_cfg;
  quilt::configure_actor_system(sys_cfg);
  sys_cfg.load<caf::io::middleman>();
  bool tls = cfg.console_port != 0 && cfg.console_tls();
  if (tls) {
    // With a certificate configured, CAF's OpenSSL module requires one from
    // every client too (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
    // verified against the CA file, and offers no anonymous ciphers. It
    // loads the files again for each connection, so it gets copies that
    // cannot change, checked once more in case the originals did since the
    // config check. The module goes after the middleman, which it needs.
    auto pinned = quilt::pin_tls_files({cfg.console_tls_certificate,
                                        cfg.console_tls_key,
                                        cfg.console_tls_cafile});
    if (auto* files = std::get_if<quilt::tls_files>(&pinned)) {
      if (auto problem = quilt::check_tls_files(*files))
        pinned = problem->text;
    }
    if (auto* why = std::get_if<std::string>(&pinned)) {
      std::cerr << "quiltd: cannot load the console's TLS files: " << *why
                << '\n';
      return exit_runtime;
    }
    const auto& files = std::get<quilt::tls_files>(pinned);
    sys_cfg.openssl_certificate = files.certificate;
    sys_cfg.openssl_key = files.key;
    sys_cfg.openssl_cafile = files.cafile;
    sys_cfg.load<caf::openssl::manager>();
  }
  caf::actor_system sys{sys_cfg};
  auto net = std::make_shared<quilt::zmq_transport>(
    quilt::zmq_transport::scheme::tcp);
  quilt::node_options node_opts;
  // A reload reads the same file with the same command-line overrides.
  node_opts.load_config = [path = opts.config_path,
                           overrides = opts.overrides] {
    return quilt::load_node_config(path, overrides);
  };
  auto started = quilt::start_node(sys, cfg, net, node_opts);
  if (auto err = std::get_if<std::string>(&started)) {
    std::cerr << "quiltd: " << *err << '\n';
    return exit_runtime;
  }
  auto node = std::get<quilt::node_actor>(started);

  // A node that tells remote peers to reach it on loopback can never be
  // reached by them: say so rather than let the mesh never converge.
  if (is_loopback(cfg.advertise))
    for (const auto& p : cfg.peers)
      if (!is_loopback(p.address)) {
        QUILT_WARN(cfg.name, "advertising " << cfg.advertise << " to peer "
                                            << p.address << ':' << p.port
                                            << ", which cannot reach it "
                                               "there; set node.advertise");
        break;
      }
  if (!cfg.security.curve && !is_loopback(cfg.host))
    QUILT_WARN(cfg.name, "listening on " << cfg.host << " without CURVE: "
                                         << "whoever reaches the port can "
                                            "send messages ([security] "
                                            "curve = true)");
  if (cfg.console_port != 0) {
    if (!tls && !is_loopback(cfg.console_host))
      QUILT_WARN(cfg.name, "console on " << cfg.console_host << ':'
                                         << cfg.console_port
                                         << " is not loopback and has no TLS: "
                                            "whoever reaches it can drive "
                                            "this node");
    // Called from main, not a scheduler thread: publishing may block.
    auto published =
      tls ? caf::openssl::publish(node, cfg.console_port,
                                  cfg.console_host.c_str(), true)
          : sys.middleman().publish(node, cfg.console_port,
                                    cfg.console_host.c_str(), true);
    if (!published) {
      std::cerr << "quiltd: cannot open console on " << cfg.console_host << ':'
                << cfg.console_port << ": "
                << quilt::describe(published.error()) << '\n';
      caf::scoped_actor self{sys};
      self->monitor(node);
      caf::anon_send(node, quilt::shutdown_atom::value);
      self->receive([](const caf::down_msg&) {});
      return exit_runtime;
    }
    QUILT_INFO(cfg.name, "console on " << cfg.console_host << ':'
                                       << *published
                                       << (tls ? " (TLS, client certificates "
                                                 "required)"
                                               : ""));
  }

  // The HTTP endpoint's threads ask the node like a console does; it goes
  // before the actor system (declared after it, destroyed first).
  std::unique_ptr<quilt::http_server> http;
  if (cfg.http_port != 0) {
    quilt::http_options hopts;
    hopts.name = cfg.name;
    hopts.host = cfg.http_host;
    hopts.port = cfg.http_port;
    auto served = quilt::http_server::start(sys, node, hopts);
    if (auto* why = std::get_if<std::string>(&served)) {
      std::cerr << "quiltd: cannot open HTTP on " << cfg.http_host << ':'
                << cfg.http_port << ": " << *why << '\n';
      caf::scoped_actor self{sys};
      self->monitor(node);
      caf::anon_send(node, quilt::shutdown_atom::value);
      self->receive([](const caf::down_msg&) {});
      return exit_runtime;
    }
    http = std::move(std::get<std::unique_ptr<quilt::http_server>>(served));
    if (!is_loopback(cfg.http_host))
      QUILT_WARN(cfg.name, "HTTP on " << cfg.http_host << ':' << cfg.http_port
                                      << " is not loopback: whoever reaches "
                                         "it reads this node's metrics and "
                                         "view of the mesh");
    QUILT_INFO(cfg.name, "HTTP on " << cfg.http_host << ':' << cfg.http_port);
  }

  std::atomic<bool> stop{false};
  std::thread signal_thread{[&] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGUSR1)
        return; // woken by main to end
      QUILT_INFO(cfg.name, "received " << strsignal(sig));
      if (sig == SIGHUP) {
        // The node reads its file on a thread of its own and logs what
        // the reload did; nobody here waits for the answer.
        caf::anon_send(node, quilt::reload_atom::value);
        continue;
      }
      caf::anon_send(node, quilt::shutdown_atom::value);
      return;
    }
  }};

  std::thread interface_thread;
  caf::actor printer;
  if (isatty(STDIN_FILENO)) {
    // Show what happens to this node while the user types.
    printer = quilt::spawn_event_printer(sys);
    caf::anon_send(node, quilt::subscribe_atom::value,
                   caf::actor_cast<quilt::event_sink_actor>(printer));
    interface_thread = std::thread{[&] {
      quilt::run_line_interface(sys, node, cfg, stop);
      caf::anon_send(node, quilt::shutdown_atom::value);
    }};
  }

  {
    caf::scoped_actor self{sys};
    self->monitor(node);
    self->receive([](const caf::down_msg&) {});
  }
  stop = true;
  if (interface_thread.joinable())
    interface_thread.join();
  if (printer)
    caf::anon_send_exit(printer, caf::exit_reason::user_shutdown);
  http.reset(); // its requests end before the node's actor system
  pthread_kill(signal_thread.native_handle(), SIGUSR1);
  signal_thread.join();
  QUILT_INFO(cfg.name, "stopped");
  return exit_ok;
}

#include "quilt/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>

#include "quilt/tcp_connect.hpp"

namespace quilt {

namespace {

/// "cannot open PATH: REASON" when the file cannot be read at all, so the
/// message says "No such file or directory" rather than OpenSSL's
/// "system lib".
std::optional<std::string> unreadable(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    return "cannot open " + path + ": " +
           std::generic_category().message(errno);
  char byte;
  errno = 0;
  std::fread(&byte, 1, 1, file);
  bool failed = std::ferror(file) != 0;
  int read_errno = errno != 0 ? errno : EIO;
  std::fclose(file);
  if (failed) // E.g. EISDIR: fopen() opens a directory, fread() fails.
    return "cannot read " + path + ": " +
           std::generic_category().message(read_errno);
  return std::nullopt;
}

/// The reason of OpenSSL's most recent error ("no start line"), clearing
/// this thread's error queue so nothing stale is left for CAF to report.
std::string ssl_reason() {
  auto code = ERR_peek_last_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  std::string text = reason != nullptr ? reason : "unknown OpenSSL error";
  ERR_clear_error();
  return text;
}

/// Fails every passphrase prompt: CAF sets no passphrase, so OpenSSL would
/// otherwise ask on the terminal, or fail, at each connection.
int refuse_passphrase(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

struct ctx_deleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

struct ssl_deleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

/// Closes a socket when it goes out of scope.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// Blocks SIGPIPE on this thread while it lives, as CAF's OpenSSL module
/// does: OpenSSL writes with send() without MSG_NOSIGNAL, and a node that
/// refuses the handshake closes the connection under it.
class sigpipe_block {
public:
  sigpipe_block() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &saved_);
  }
  ~sigpipe_block() {
    timespec zero{};
    while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
      // Discard the SIGPIPEs raised meanwhile.
    }
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }

private:
  sigset_t pipe_;
  sigset_t saved_;
};

} // namespace

std::optional<tls_problem> check_tls_files(const tls_files& files) {
  for (auto [which, path] :
       {std::pair{tls_file::certificate, &files.certificate},
        std::pair{tls_file::key, &files.key},
        std::pair{tls_file::cafile, &files.cafile}})
    if (auto problem = unreadable(*path))
      return tls_problem{which, std::move(*problem)};
  std::unique_ptr<SSL_CTX, ctx_deleter> ctx{SSL_CTX_new(TLS_method())};
  if (!ctx)
    return tls_problem{tls_file::certificate,
                       "cannot create a TLS context: " + ssl_reason()};
  // The same calls, in the same order, as caf::openssl::session.
  if (SSL_CTX_use_certificate_chain_file(ctx.get(),
                                         files.certificate.c_str()) != 1)
    return tls_problem{tls_file::certificate,
                       files.certificate +
                           " holds no usable PEM certificate: " + ssl_reason()};
  bool asked = false;
  SSL_CTX_set_default_passwd_cb(ctx.get(), refuse_passphrase);
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), &asked);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(),
                                  SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks the key against the certificate loaded before it.
    bool mismatch =
        ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    auto reason = ssl_reason();
    if (asked)
      return tls_problem{tls_file::key, files.key +
                                            " is an encrypted key; the console "
                                            "needs it without a passphrase"};
    if (mismatch)
      return tls_problem{tls_file::key,
                         files.key + " is not the key of " + files.certificate};
    return tls_problem{tls_file::key,
                       files.key +
                           " holds no usable PEM private key: " + reason};
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return tls_problem{tls_file::key, files.key + " is not the key of " +
                                          files.certificate + ": " +
                                          ssl_reason()};
  if (SSL_CTX_load_verify_locations(ctx.get(), files.cafile.c_str(), nullptr) !=
      1)
    return tls_problem{
        tls_file::cafile,
        files.cafile + " holds no usable PEM CA certificate: " + ssl_reason()};
  ERR_clear_error();
  return std::nullopt;
}

std::variant<tls_files, std::string> pin_tls_files(const tls_files& files) {
  tls_files pinned;
  for (auto [from, to] : {std::pair{&files.certificate, &pinned.certificate},
                          std::pair{&files.key, &pinned.key},
                          std::pair{&files.cafile, &pinned.cafile}}) {
    std::FILE* in = std::fopen(from->c_str(), "rb");
    if (in == nullptr)
      return "cannot open " + *from + ": " +
             std::generic_category().message(errno);
    std::string text;
    char buf[16384];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), in)) > 0)
      text.append(buf, n);
    bool failed = std::ferror(in) != 0;
    int read_errno = errno != 0 ? errno : EIO;
    std::fclose(in);
    if (failed)
      return "cannot read " + *from + ": " +
             std::generic_category().message(read_errno);
    // Left open on purpose: CAF opens /proc/self/fd/N for each connection.
    int fd = memfd_create("quilt-tls", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
      return "cannot copy " + *from + ": " +
             std::generic_category().message(errno);
    for (size_t done = 0; done < text.size();) {
      auto k = ::write(fd, text.data() + done, text.size() - done);
      if (k < 0) {
        auto e = errno;
        ::close(fd);
        return "cannot copy " + *from + ": " +
               std::generic_category().message(e);
      }
      done += static_cast<size_t>(k);
    }
    fcntl(fd, F_ADD_SEALS,
          F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    *to = "/proc/self/fd/" + std::to_string(fd);
  }
  return pinned;
}

std::string diagnose_tls_handshake(const std::string& host, uint16_t port,
                                   const tls_files& files, int timeout_ms) {
  using namespace std::chrono;
  auto deadline = steady_clock::now() + milliseconds(timeout_ms);
  auto left_ms = [&] {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    return static_cast<int>(std::max<milliseconds::rep>(left.count(), 0));
  };
  sigpipe_block no_sigpipe;
  std::string why;
  fd_guard fd{tcp_connect(host, port, left_ms(), why)};
  if (fd.fd < 0)
    return why;
  // The client side of caf::openssl::session, with authentication.
  std::unique_ptr<SSL_CTX, ctx_deleter> ctx{SSL_CTX_new(TLS_method())};
  if (!ctx ||
      SSL_CTX_use_certificate_chain_file(ctx.get(),
                                         files.certificate.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(),
                                  SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx.get(), files.cafile.c_str(), nullptr) !=
          1 ||
      SSL_CTX_set_cipher_list(ctx.get(), "HIGH:!aNULL:!MD5") != 1)
    return "cannot set up TLS: " + ssl_reason();
  SSL_CTX_set_verify(
      ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  std::unique_ptr<SSL, ssl_deleter> ssl{SSL_new(ctx.get())};
  if (!ssl || SSL_set_fd(ssl.get(), fd.fd) != 1)
    return "cannot set up TLS: " + ssl_reason();
  SSL_set_connect_state(ssl.get());
  // Waits for what OpenSSL wants after a call that returned `ret`; false
  // when that is not more I/O, or the time is up.
  bool timed_out = false;
  auto wait = [&](int ret) {
    auto e = SSL_get_error(ssl.get(), ret);
    short events = e == SSL_ERROR_WANT_READ    ? POLLIN
                   : e == SSL_ERROR_WANT_WRITE ? POLLOUT
                                               : 0;
    if (events == 0)
      return false;
    pollfd p{fd.fd, events, 0};
    timed_out = ::poll(&p, 1, left_ms()) <= 0;
    return !timed_out;
  };
  // Why the last call failed.
  auto failed = [&](bool handshake_done) -> std::string {
    if (timed_out) {
      ERR_clear_error();
      return handshake_done ? std::string{}
                            : "no TLS handshake within " +
                                  std::to_string(timeout_ms) + " ms";
    }
    auto verdict = SSL_get_verify_result(ssl.get());
    if (!handshake_done && verdict != X509_V_OK) {
      ERR_clear_error();
      return "the node's certificate does not verify against " + files.cafile +
             ": " + X509_verify_cert_error_string(verdict);
    }
    auto code = ERR_peek_last_error();
    if (code == 0)
      return handshake_done ? "the node closed the connection after the "
                              "TLS handshake"
                            : "the node closed the connection during the "
                              "TLS handshake (is it a TLS console?)";
    auto reason = ssl_reason();
    // An alert the node sent: reason codes from SSL_AD_REASON_OFFSET on
    // are alerts received, e.g. "tlsv1 alert unknown ca".
    if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) >= SSL_AD_REASON_OFFSET)
      return "the node refused this certificate (" + files.certificate +
             "): " + reason;
    return "the TLS handshake failed (is it a TLS console?): " + reason;
  };
  for (;;) {
    int ret = SSL_connect(ssl.get());
    if (ret == 1)
      break;
    if (!wait(ret))
      return failed(false);
  }
  // With TLS 1.3 the client is done before the node has checked the
  // client's certificate: its verdict is the first thing read, an alert or
  // the CAF handshake the node sends to every client it accepts.
  char byte;
  for (;;) {
    int ret = SSL_read(ssl.get(), &byte, 1);
    if (ret > 0) {
      ERR_clear_error();
      return {};
    }
    if (!wait(ret))
      return failed(true);
  }
}

} // namespace quilt

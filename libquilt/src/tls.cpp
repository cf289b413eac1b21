#include "quilt/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

namespace quilt {

namespace {

/// "cannot open PATH: REASON" when the file cannot be read at all, so the
/// message says "No such file or directory" rather than OpenSSL's
/// "system lib".
std::optional<std::string> unreadable(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    return "cannot open " + path + ": "
           + std::generic_category().message(errno);
  char byte;
  errno = 0;
  std::fread(&byte, 1, 1, file);
  bool failed = std::ferror(file) != 0;
  int read_errno = errno != 0 ? errno : EIO;
  std::fclose(file);
  if (failed) // E.g. EISDIR: fopen() opens a directory, fread() fails.
    return "cannot read " + path + ": "
           + std::generic_category().message(read_errno);
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

} // namespace

std::optional<tls_problem> check_tls_files(const tls_files& files) {
  for (auto [which, path] : {std::pair{tls_file::certificate, &files.certificate},
                             std::pair{tls_file::key, &files.key},
                             std::pair{tls_file::cafile, &files.cafile}})
    if (auto problem = unreadable(*path))
      return tls_problem{which, std::move(*problem)};
  std::unique_ptr<SSL_CTX, ctx_deleter> ctx{SSL_CTX_new(TLS_method())};
  if (!ctx)
    return tls_problem{tls_file::certificate,
                       "cannot create a TLS context: " + ssl_reason()};
  // The same calls, in the same order, as caf::openssl::session.
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.certificate.c_str())
      != 1)
    return tls_problem{tls_file::certificate,
                       files.certificate + " holds no usable PEM certificate: "
                         + ssl_reason()};
  bool asked = false;
  SSL_CTX_set_default_passwd_cb(ctx.get(), refuse_passphrase);
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), &asked);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(),
                                  SSL_FILETYPE_PEM)
      != 1) {
    // OpenSSL checks the key against the certificate loaded before it.
    bool mismatch = ERR_GET_REASON(ERR_peek_last_error())
                    == X509_R_KEY_VALUES_MISMATCH;
    auto reason = ssl_reason();
    if (asked)
      return tls_problem{tls_file::key,
                         files.key + " is an encrypted key; the console "
                                     "needs it without a passphrase"};
    if (mismatch)
      return tls_problem{tls_file::key, files.key + " is not the key of "
                                          + files.certificate};
    return tls_problem{tls_file::key, files.key
                                        + " holds no usable PEM private key: "
                                        + reason};
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return tls_problem{tls_file::key, files.key + " is not the key of "
                                        + files.certificate + ": "
                                        + ssl_reason()};
  if (SSL_CTX_load_verify_locations(ctx.get(), files.cafile.c_str(), nullptr)
      != 1)
    return tls_problem{tls_file::cafile,
                       files.cafile + " holds no usable PEM CA certificate: "
                         + ssl_reason()};
  ERR_clear_error();
  return std::nullopt;
}

} // namespace quilt

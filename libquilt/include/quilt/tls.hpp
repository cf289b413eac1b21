// The TLS identity of a console endpoint (SPEC §10): the PEM files that
// CAF's OpenSSL module loads, checked up front.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace quilt {

/// The three PEM files of one side of a TLS console connection.
struct tls_files {
  std::string certificate; ///< This side's certificate (chain), PEM.
  std::string key;         ///< Its private key, PEM, not encrypted.
  std::string cafile; ///< The CA certificates the other side must chain to.
};

/// Which of the tls_files a problem is about.
enum class tls_file { certificate, key, cafile };

/// What is wrong with one of the files, in plain words, naming the file.
struct tls_problem {
  tls_file file;
  std::string text;
};

/// Loads the files the way CAF's OpenSSL module does for every connection
/// (certificate chain, private key, CA file) and checks that the key belongs
/// to the certificate. CAF raises an exception on its multiplexer thread when
/// a load fails, which ends the process; checking first turns that into a
/// message at start. Empty when all is well.
std::optional<tls_problem> check_tls_files(const tls_files& files);

/// Copies the files into sealed in-memory files of this process and names
/// those (/proc/self/fd/N), so what CAF reads at each connection is what was
/// checked at start: CAF ends the process when a file it reloads has gone
/// or broken since. The copies live as long as the process. An error text
/// naming the file when one cannot be read or copied.
std::variant<tls_files, std::string> pin_tls_files(const tls_files& files);

/// Why a console client with `files` cannot complete a TLS handshake with
/// host:port, in plain words ("the node refused this certificate: tlsv1
/// alert unknown ca"), found by trying one with OpenSSL directly: CAF says
/// only that the connection closed. Empty when the handshake succeeds,
/// including the node's verdict on this side's certificate. Gives up after
/// `timeout_ms`.
std::string diagnose_tls_handshake(const std::string& host, uint16_t port,
                                   const tls_files& files, int timeout_ms);

} // namespace quilt

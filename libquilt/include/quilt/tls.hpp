// The TLS identity of a console endpoint (SPEC §10): the PEM files that
// CAF's OpenSSL module loads, checked up front.
#pragma once

#include <optional>
#include <string>

namespace quilt {

/// The three PEM files of one side of a TLS console connection.
struct tls_files {
  std::string certificate; ///< This side's certificate (chain), PEM.
  std::string key;         ///< Its private key, PEM, not encrypted.
  std::string cafile;      ///< The CA certificates the other side must chain to.
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

} // namespace quilt

// The programs' command lines (SPEC §8, §11) are parsed by CLI11; this is
// what they share: the --version flag and plain wording for CLI11's errors,
// whose own messages are written for programmers ("--port: 1 required TEXT
// missing", "The following argument was not expected: ...").
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace quilt::cli {

/// Adds `--version` (printed by the program itself, see `version_line`).
inline CLI::Option* add_version_flag(CLI::App& app, bool& wanted) {
  return app.add_flag("--version", wanted, "prints the version and exits");
}

/// The one line `--version` prints (SPEC §11): "PROGRAM VERSION".
inline std::string version_line(const std::string& program,
                                const std::string& version) {
  return program + " " + version;
}

/// The first argument CLI11 left over: an unknown option or a positional
/// argument the program has no place for.
inline std::string first_extra(const CLI::App& app) {
  auto left = app.remaining();
  return left.empty() ? std::string{} : left.front();
}

inline bool looks_like_option(const std::string& arg) {
  return arg.size() > 1 && arg[0] == '-';
}

/// One plain sentence for an argument nobody asked for.
inline std::string extra_text(const std::string& arg) {
  if (looks_like_option(arg))
    return "unknown option " + arg + " (see --help)";
  return "unexpected argument " + arg + " (see --help)";
}

/// One plain sentence for a failed parse (not --help, which is no error).
inline std::string parse_error_text(const CLI::App& app,
                                    const CLI::ParseError& e) {
  if (dynamic_cast<const CLI::ExtrasError*>(&e))
    return extra_text(first_extra(app));
  std::string what = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
    // CLI11 starts these with the option's name: "--port: 1 required ...".
    auto colon = what.find(':');
    auto name = colon == std::string::npos ? what : what.substr(0, colon);
    return name + " needs a value (see --help)";
  }
  return what + " (see --help)";
}

/// True for the exceptions that only ask for the help text.
inline bool is_help_request(const CLI::ParseError& e) {
  return dynamic_cast<const CLI::CallForHelp*>(&e)
         || dynamic_cast<const CLI::CallForAllHelp*>(&e);
}

} // namespace quilt::cli

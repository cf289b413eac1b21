// quilt-console's commands: each turns a request to a node into JSON (SPEC
// §8) and a human-readable rendering.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "quilt/actors.hpp"

namespace quilt::console {

/// Exit statuses of SPEC §8.
enum exit_code : int { ok = 0, failed = 1, usage = 2, unreachable = 3 };

/// What a command produced.
struct outcome {
  int status = ok;
  nlohmann::json json;     ///< Printed with --json.
  std::string text;        ///< Printed otherwise.
  /// Set by commands that print as they go (`watch`) or in a format of
  /// their own (`stats --prometheus`): called instead of printing `json` or
  /// `text`, with whether --json was given; returns the exit status.
  std::function<int(bool json)> stream;
};

/// Checks a command line's shape before anything is sent. Returns an empty
/// string when fine, else the usage message.
std::string check_usage(const std::vector<std::string>& words);

/// Runs a command (whose shape check_usage accepted) against `node`; `top`
/// is the published actor, which answers `nodes` (a simulation) and is
/// `node` itself unless --node selected one.
outcome run(caf::scoped_actor& self, const node_actor& top,
            const node_actor& node, const std::vector<std::string>& words);

/// The help text of the interactive prompt.
const char* help_text();

/// Turns a failed request into an outcome.
outcome request_failed(const caf::error& err);

/// An `{"error", "detail"}` outcome.
outcome failure(int status, const std::string& token,
                const std::string& detail);

} // namespace quilt::console

// Leveled logging to stderr, safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <optional>
#include <sstream>
#include <string_view>

#include "quilt/time.hpp"

namespace quilt {

/// Severity, most verbose first.
enum class log_level : uint8_t { trace, debug, info, warning, error };

/// "trace", "debug", "info", "warning" or "error".
const char* to_string(log_level x);

/// Parses a level in any case; "warn" is a synonym of "warning".
std::optional<log_level> parse_log_level(std::string_view text);

/// Sets the process-wide threshold (default info).
void set_log_level(log_level x);

/// The process-wide threshold.
log_level current_log_level();

/// True when messages at `x` are printed.
inline bool log_enabled(log_level x) { return x >= current_log_level(); }

/// Writes one line "LEVEL [who] text" to stderr atomically.
void log_line(log_level x, std::string_view who, std::string_view text);

/// At most one line per cause per second: a flood of hostile input that
/// makes a node warn costs a line a second, which says how many it stands
/// for, instead of a line per message. Causes are a fixed set of names, so
/// the table stays small. Not thread-safe: one per actor.
class log_limiter {
public:

  /// Whether a line of `cause` may go out at `now`; if so, `held` is the
  /// number of lines of that cause held back since the last one.
  bool admit(std::string_view cause, time_point now, uint64_t& held);

private:
  struct slot {
    time_point last{};
    bool used = false;
    uint64_t held = 0;
  };
  std::unordered_map<std::string, slot> slots_;
};

/// " (N more since the last)" when `held` > 0, else "".
std::string held_suffix(uint64_t held);

} // namespace quilt

/// Formats and logs only when the level is enabled, so disabled debug logs
/// cost one comparison.
#define QUILT_LOG(level, who, expr)                                            \
  do {                                                                         \
    if (::quilt::log_enabled(level)) {                                         \
      std::ostringstream quilt_log_os_;                                        \
      quilt_log_os_ << expr;                                                   \
      ::quilt::log_line(level, who, quilt_log_os_.str());                      \
    }                                                                          \
  } while (false)
#define QUILT_TRACE(who, expr) QUILT_LOG(::quilt::log_level::trace, who, expr)
#define QUILT_DEBUG(who, expr) QUILT_LOG(::quilt::log_level::debug, who, expr)
#define QUILT_INFO(who, expr) QUILT_LOG(::quilt::log_level::info, who, expr)
#define QUILT_WARN(who, expr) QUILT_LOG(::quilt::log_level::warning, who, expr)
#define QUILT_ERROR(who, expr) QUILT_LOG(::quilt::log_level::error, who, expr)

/// Logs like QUILT_LOG, at most once per second per `cause` (see
/// log_limiter), telling how many lines it held back.
#define QUILT_LOG_LIMITED(level, limiter, now, cause, who, expr)               \
  do {                                                                         \
    uint64_t quilt_held_ = 0;                                                  \
    if (::quilt::log_enabled(level) && (limiter).admit(cause, now, quilt_held_)) \
      QUILT_LOG(level, who, expr << ::quilt::held_suffix(quilt_held_));        \
  } while (false)

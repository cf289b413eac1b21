// Leveled logging to stderr, safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string_view>

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

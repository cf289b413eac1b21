#include "quilt/log.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <string>

namespace quilt {

namespace {

std::atomic<log_level> threshold{log_level::info};

} // namespace

const char* to_string(log_level x) {
  switch (x) {
    case log_level::trace:
      return "trace";
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warning:
      return "warning";
    case log_level::error:
      return "error";
  }
  return "?";
}

std::optional<log_level> parse_log_level(std::string_view text) {
  std::string lower(text);
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "trace")
    return log_level::trace;
  if (lower == "debug")
    return log_level::debug;
  if (lower == "info")
    return log_level::info;
  if (lower == "warning" || lower == "warn")
    return log_level::warning;
  if (lower == "error")
    return log_level::error;
  return std::nullopt;
}

void set_log_level(log_level x) { threshold = x; }

log_level current_log_level() { return threshold.load(std::memory_order_relaxed); }

void log_line(log_level x, std::string_view who, std::string_view text) {
  using namespace std::chrono;
  auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch());
  auto secs = static_cast<long long>(now.count() / 1000);
  auto ms = static_cast<int>(now.count() % 1000);
  // One fwrite of a pre-built line keeps lines from different threads whole.
  std::string line;
  line.reserve(text.size() + who.size() + 40);
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "%lld.%03d ", secs, ms);
  line += stamp;
  line += to_string(x);
  line += " [";
  line += who;
  line += "] ";
  line += text;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

bool log_limiter::admit(std::string_view cause, time_point now,
                        uint64_t& held) {
  auto& s = slots_[std::string{cause}];
  if (s.used && now - s.last < std::chrono::seconds(1)) {
    ++s.held;
    return false;
  }
  held = s.held;
  s.held = 0;
  s.last = now;
  s.used = true;
  return true;
}

std::string held_suffix(uint64_t held) {
  if (held == 0)
    return {};
  return " (" + std::to_string(held) + " more since the last)";
}

} // namespace quilt

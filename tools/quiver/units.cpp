#include "units.hpp"

#include <array>
#include <cmath>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

// Three significant digits at most, never fewer decimals than needed to tell 1.5 from 1.
std::string three_digits(double value) {
  if (value < 10) return fmt::format("{:.2f}", value);
  if (value < 100) return fmt::format("{:.1f}", value);
  return fmt::format("{:.0f}", value);
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  static constexpr std::array<const char*, 5> units = {"KB", "MB", "GB", "TB", "PB"};
  if (bytes < 1000) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes) / 1000;
  std::size_t unit = 0;
  while (value >= 999.5 && unit + 1 < units.size()) {
    value /= 1000;
    ++unit;
  }
  return fmt::format("{} {}", three_digits(value), units[unit]);
}

std::string format_rate(double bytes_per_second) {
  if (!std::isfinite(bytes_per_second) || bytes_per_second < 0) bytes_per_second = 0;
  return format_bytes(static_cast<std::uint64_t>(std::llround(bytes_per_second))) + "/s";
}

std::string format_clock(std::chrono::duration<double> duration) {
  const double seconds_total = std::isfinite(duration.count()) ? std::max(0.0, duration.count()) : 0.0;
  auto seconds = static_cast<std::uint64_t>(std::llround(seconds_total));
  const auto hours = seconds / 3600;
  const auto minutes = seconds / 60 % 60;
  seconds %= 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, seconds);
  return fmt::format("{}:{:02}", minutes, seconds);
}

std::string format_ms(std::chrono::duration<double> duration) {
  const double ms = duration.count() * 1000;
  if (ms < 1) return fmt::format("{:.3f}", ms);
  return three_digits(ms);
}

}  // namespace quiver::cli

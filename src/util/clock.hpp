#pragma once

#include <chrono>
#include <cstdint>

namespace quiver::util {

// Monotonic nanoseconds, the timestamp unit of ngtcp2 (ngtcp2_tstamp).
inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

inline std::uint64_t to_ns(std::chrono::nanoseconds d) noexcept {
  return static_cast<std::uint64_t>(d.count());
}

}  // namespace quiver::util

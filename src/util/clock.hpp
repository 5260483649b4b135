#pragma once

#include <chrono>
#include <cstdint>

#include <time.h>

namespace quiver::util {

// Monotonic nanoseconds, the timestamp unit of ngtcp2 (ngtcp2_tstamp).
inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// A monotonic clock that is cheap to read per packet, at the kernel tick's resolution (a few ms): for
// timeouts measured in seconds. Its epoch is steady_clock's on Linux (both are CLOCK_MONOTONIC based).
struct CoarseClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CoarseClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }
};

inline std::uint64_t to_ns(std::chrono::nanoseconds d) noexcept {
  return static_cast<std::uint64_t>(d.count());
}

}  // namespace quiver::util

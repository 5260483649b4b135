#pragma once
// LatencyHistogram: a log-linear histogram of durations with a fixed footprint (about 14 KB), the same
// bucket layout as `quiver bench` uses, so both sides of the comparison round percentiles alike.
//
// Values are kept in microseconds. Below 128 µs every microsecond has its own bucket; above, every
// power of two [2^k, 2^(k+1)) is split into 64 equal buckets (a bucket is at most 1/64 of its values
// wide). The range ends at 2^32 µs (~71 minutes); longer values land in the last bucket. Count, sum
// and max are exact; a percentile is the upper bound of its bucket, never above the max.

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace quiver::bench {

class LatencyHistogram {
 public:
  static constexpr unsigned linear_bits = 7;
  static constexpr std::uint64_t linear_count = std::uint64_t{1} << linear_bits;  // exact buckets
  static constexpr unsigned octave_bits = 6;
  static constexpr std::uint64_t per_octave = std::uint64_t{1} << octave_bits;    // buckets per 2^k
  static constexpr unsigned max_value_bits = 32;
  static constexpr std::size_t bucket_count = linear_count + (max_value_bits - linear_bits) * per_octave;

  void record(std::chrono::nanoseconds value) noexcept {
    const auto micros = static_cast<std::uint64_t>(std::max<std::int64_t>(0, value.count() / 1000));
    ++buckets_[bucket_of(micros)];
    ++count_;
    sum_ += micros;
    max_ = std::max(max_, micros);
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max_us() const noexcept { return max_; }
  double mean_us() const noexcept { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0; }

  // The upper bound of the bucket holding the value at `percent` % (0 when empty).
  std::uint64_t percentile_us(double percent) const noexcept {
    if (count_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(percent / 100.0 * count_)));
    std::uint64_t seen = 0;
    for (std::size_t bucket = 0; bucket < bucket_count; ++bucket) {
      seen += buckets_[bucket];
      if (seen >= rank) return std::min(upper_bound_of(bucket), max_);
    }
    return max_;
  }

  static constexpr std::size_t bucket_of(std::uint64_t micros) noexcept {
    if (micros < linear_count) return static_cast<std::size_t>(micros);
    const unsigned octave = static_cast<unsigned>(std::bit_width(micros)) - 1;  // >= linear_bits
    if (octave >= max_value_bits) return bucket_count - 1;
    const std::uint64_t offset = (micros - (std::uint64_t{1} << octave)) >> (octave - octave_bits);
    return static_cast<std::size_t>(linear_count + (octave - linear_bits) * per_octave + offset);
  }

  static constexpr std::uint64_t upper_bound_of(std::size_t bucket) noexcept {
    if (bucket < linear_count) return bucket;
    const std::uint64_t index = bucket - linear_count;
    const unsigned octave = linear_bits + static_cast<unsigned>(index / per_octave);
    const unsigned width_bits = octave - octave_bits;
    const std::uint64_t lower = (std::uint64_t{1} << octave) + ((index % per_octave) << width_bits);
    return lower + (std::uint64_t{1} << width_bits) - 1;
  }

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;  // µs
  std::uint64_t max_ = 0;  // µs
};

static_assert(LatencyHistogram::bucket_of(127) == 127);
static_assert(LatencyHistogram::bucket_of(128) == 128);
static_assert(LatencyHistogram::upper_bound_of(128) == 129);
static_assert(LatencyHistogram::bucket_of(255) == 191 && LatencyHistogram::upper_bound_of(191) == 255);
static_assert(LatencyHistogram::bucket_of(256) == 192);
static_assert(LatencyHistogram::bucket_of(UINT64_MAX) == LatencyHistogram::bucket_count - 1);
static_assert(LatencyHistogram::upper_bound_of(LatencyHistogram::bucket_count - 1) == (std::uint64_t{1} << 32) - 1);

}  // namespace quiver::bench

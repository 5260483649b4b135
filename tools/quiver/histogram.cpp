#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace quiver::cli {

// Bucket layout: [0, 128) one per µs; then for each k >= 7, the values [2^k, 2^(k+1)) in 64 buckets of
// width 2^(k-6), starting at index 128 + (k - 7) * 64.
std::size_t LatencyHistogram::bucket_of(std::uint64_t micros) noexcept {
  if (micros < sub_bucket_count) return static_cast<std::size_t>(micros);
  const unsigned k = static_cast<unsigned>(std::bit_width(micros)) - 1;  // 2^k <= micros
  const unsigned shift = k - (sub_bucket_bits - 1);                      // bucket width 2^shift
  const std::uint64_t sub = (micros >> shift) - half_count;              // 0..63 within the power
  const std::size_t index = sub_bucket_count + (k - sub_bucket_bits) * half_count + sub;
  return std::min(index, bucket_count - 1);
}

std::uint64_t LatencyHistogram::upper_bound_of(std::size_t bucket) noexcept {
  if (bucket < sub_bucket_count) return bucket;
  const std::size_t above = bucket - sub_bucket_count;
  const unsigned k = static_cast<unsigned>(above / half_count) + sub_bucket_bits;
  const unsigned shift = k - (sub_bucket_bits - 1);
  const std::uint64_t sub = above % half_count + half_count;
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::record(std::chrono::nanoseconds value) {
  const auto micros = static_cast<std::uint64_t>(std::max<std::int64_t>(0, value.count() / 1000));
  ++buckets_[bucket_of(micros)];
  ++count_;
  sum_ += micros;
  min_ = std::min(min_, micros);
  max_ = std::max(max_, micros);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::chrono::duration<double, std::micro> LatencyHistogram::mean() const noexcept {
  if (count_ == 0) return std::chrono::duration<double, std::micro>(0);
  return std::chrono::duration<double, std::micro>(static_cast<double>(sum_) / static_cast<double>(count_));
}

std::chrono::microseconds LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return std::chrono::microseconds(0);
  const double clamped = std::clamp(percent, 0.0, 100.0);
  const auto wanted = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(clamped / 100.0 * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= wanted) {
      const bool overflow = i == bucket_count - 1;  // values beyond the range: only max is known
      return std::chrono::microseconds(overflow ? max_ : std::min(upper_bound_of(i), max_));
    }
  }
  return std::chrono::microseconds(max_);
}

}  // namespace quiver::cli

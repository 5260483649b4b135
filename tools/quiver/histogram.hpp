#pragma once
// LatencyHistogram: an HdrHistogram-like log-linear histogram of durations with a fixed footprint.
//
// Values are recorded in microseconds. Below 128 µs each microsecond has its own bucket; above, every
// power of two [2^k, 2^(k+1)) is split into 64 equal buckets, so a bucket is never wider than 1/64
// (1.6 %) of its values. The range ends at 2^32 µs (~71 minutes); longer values land in the last
// bucket. Count, sum, sum of squares, min and max are exact; percentiles are the upper bound of their
// bucket (never above max). Not thread-safe: give each thread its own and merge() them.
//
// Histograms merge exactly: merge() adds the buckets, so the percentiles of a merged histogram are those
// of the union of the samples, to the bucket resolution. to_json()/from_json() carry a histogram whole
// (format "quiver-histogram" version 1, documented in docs/benchmarks.md, "Report format"), which is
// what lets `quiver bench merge` combine reports of several processes or machines.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>

#include <nlohmann/json.hpp>

namespace quiver::cli {

class LatencyHistogram {
 public:
  static constexpr unsigned sub_bucket_bits = 7;                          // 128 linear buckets at first
  static constexpr std::uint64_t sub_bucket_count = 1u << sub_bucket_bits;
  static constexpr std::uint64_t half_count = sub_bucket_count / 2;     // buckets per power of two after
  static constexpr unsigned max_value_bits = 32;
  static constexpr std::size_t bucket_count =
      sub_bucket_count + (max_value_bits - sub_bucket_bits + 1) * half_count;

  void record(std::chrono::nanoseconds value);
  void merge(const LatencyHistogram& other);

  std::uint64_t count() const noexcept { return count_; }
  std::chrono::microseconds min() const noexcept { return std::chrono::microseconds(count_ ? min_ : 0); }
  std::chrono::microseconds max() const noexcept { return std::chrono::microseconds(max_); }
  std::chrono::duration<double, std::micro> mean() const noexcept;
  // The population standard deviation (0 when empty).
  std::chrono::duration<double, std::micro> stddev() const noexcept;
  // The smallest recorded bucket bound below which `percent` % of the values lie (0 when empty).
  std::chrono::microseconds percentile(double percent) const;

  // {"count", "min", "max", "sum", "sum_sq", "buckets": [[index, count], ...]} with the non-empty
  // buckets only, in index order; values in microseconds.
  nlohmann::ordered_json to_json() const;
  // The histogram to_json() wrote, or what is wrong with `json` (a message naming the field).
  static std::expected<LatencyHistogram, std::string> from_json(const nlohmann::json& json);
  // The layout's parameters, written beside the histograms so a reader can check it has the same one.
  static nlohmann::ordered_json layout_json();

  // Whether `json` is a whole number >= 0 (nlohmann keeps parsed and assigned counts apart).
  static bool is_count(const nlohmann::json& json) noexcept {
    return json.is_number_unsigned() || (json.is_number_integer() && json.get<std::int64_t>() >= 0);
  }

  // Exposed for tests: the bucket of a value, and the largest value of a bucket.
  static std::size_t bucket_of(std::uint64_t micros) noexcept;
  static std::uint64_t upper_bound_of(std::size_t bucket) noexcept;

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;  // µs
  double sum_squares_ = 0;  // µs², for the standard deviation
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

}  // namespace quiver::cli

#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

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
  sum_squares_ += static_cast<double>(micros) * static_cast<double>(micros);
  min_ = std::min(min_, micros);
  max_ = std::max(max_, micros);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  sum_squares_ += other.sum_squares_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::chrono::duration<double, std::micro> LatencyHistogram::mean() const noexcept {
  if (count_ == 0) return std::chrono::duration<double, std::micro>(0);
  return std::chrono::duration<double, std::micro>(static_cast<double>(sum_) / static_cast<double>(count_));
}

std::chrono::duration<double, std::micro> LatencyHistogram::stddev() const noexcept {
  if (count_ == 0) return std::chrono::duration<double, std::micro>(0);
  const double n = static_cast<double>(count_);
  const double mean_value = static_cast<double>(sum_) / n;
  const double variance = std::max(0.0, sum_squares_ / n - mean_value * mean_value);
  return std::chrono::duration<double, std::micro>(std::sqrt(variance));
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

nlohmann::ordered_json LatencyHistogram::layout_json() {
  return {{"unit", "us"}, {"sub_bucket_bits", sub_bucket_bits}, {"max_value_bits", max_value_bits},
          {"bucket_count", bucket_count}};
}

nlohmann::ordered_json LatencyHistogram::to_json() const {
  nlohmann::ordered_json buckets = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < bucket_count; ++i) {
    if (buckets_[i] != 0) buckets.push_back({i, buckets_[i]});
  }
  return {{"count", count_}, {"min", min().count()}, {"max", max_}, {"sum", sum_}, {"sum_sq", sum_squares_},
          {"buckets", std::move(buckets)}};
}

std::expected<LatencyHistogram, std::string> LatencyHistogram::from_json(const nlohmann::json& json) {
  const auto unsigned_field = [&](const char* name) -> std::expected<std::uint64_t, std::string> {
    if (!json.is_object() || !json.contains(name) || !is_count(json[name])) {
      return std::unexpected(std::string("histogram field '") + name + "' is missing or not a count");
    }
    return json[name].get<std::uint64_t>();
  };
  LatencyHistogram h;
  const std::array<std::pair<const char*, std::uint64_t*>, 4> fields{
      {{"count", &h.count_}, {"min", &h.min_}, {"max", &h.max_}, {"sum", &h.sum_}}};
  for (const auto& [name, target] : fields) {
    auto value = unsigned_field(name);
    if (!value) return std::unexpected(value.error());
    *target = *value;
  }
  if (!json.contains("sum_sq") || !json["sum_sq"].is_number()) {
    return std::unexpected("histogram field 'sum_sq' is missing or not a number");
  }
  h.sum_squares_ = json["sum_sq"].get<double>();
  if (!json.contains("buckets") || !json["buckets"].is_array()) {
    return std::unexpected("histogram field 'buckets' is missing or not an array");
  }
  std::uint64_t total = 0;
  for (const auto& pair : json["buckets"]) {
    if (!pair.is_array() || pair.size() != 2 || !is_count(pair[0]) || !is_count(pair[1]) ||
        pair[0].get<std::uint64_t>() >= bucket_count) {
      return std::unexpected("histogram bucket " + pair.dump() + " is not [index, count] within the layout");
    }
    h.buckets_[pair[0].get<std::size_t>()] += pair[1].get<std::uint64_t>();
    total += pair[1].get<std::uint64_t>();
  }
  if (total != h.count_) {
    return std::unexpected("histogram buckets hold " + std::to_string(total) + " values but its count is " +
                           std::to_string(h.count_));
  }
  if (h.count_ == 0) h.min_ = UINT64_MAX;
  return h;
}

}  // namespace quiver::cli

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "histogram.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

TEST(LatencyHistogram, EmptyIsAllZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0us);
  EXPECT_EQ(h.max(), 0us);
  EXPECT_EQ(h.min(), 0us);
  EXPECT_EQ(h.mean().count(), 0);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int us = 1; us <= 100; ++us) h.record(std::chrono::microseconds(us));
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile(50), 50us);
  EXPECT_EQ(h.percentile(99), 99us);
  EXPECT_EQ(h.percentile(100), 100us);
  EXPECT_EQ(h.min(), 1us);
  EXPECT_EQ(h.max(), 100us);
  EXPECT_DOUBLE_EQ(h.mean().count(), 50.5);
}

TEST(LatencyHistogram, BucketsNeverWiderThanOneSixtyFourth) {
  for (std::uint64_t value : {127ull, 128ull, 129ull, 1000ull, 4095ull, 4096ull, 123456ull, 99999999ull}) {
    const std::size_t bucket = LatencyHistogram::bucket_of(value);
    const std::uint64_t upper = LatencyHistogram::upper_bound_of(bucket);
    EXPECT_GE(upper, value);
    EXPECT_LE(static_cast<double>(upper - value), static_cast<double>(value) / 64.0 + 1) << value;
    if (bucket > 0) {
      EXPECT_LT(LatencyHistogram::upper_bound_of(bucket - 1), value) << value;
    }
  }
}

TEST(LatencyHistogram, BucketsAreContiguousAndOrdered) {
  std::uint64_t previous = 0;
  for (std::size_t bucket = 1; bucket < LatencyHistogram::bucket_count; ++bucket) {
    const std::uint64_t upper = LatencyHistogram::upper_bound_of(bucket);
    ASSERT_GT(upper, previous) << bucket;
    ASSERT_EQ(LatencyHistogram::bucket_of(previous + 1), bucket) << bucket;
    ASSERT_EQ(LatencyHistogram::bucket_of(upper), bucket) << bucket;
    previous = upper;
  }
}

TEST(LatencyHistogram, PercentilesOfAUniformSpreadWithinOnePercent) {
  LatencyHistogram h;
  for (int us = 1; us <= 100000; ++us) h.record(std::chrono::microseconds(us));
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double expected = p / 100 * 100000;
    EXPECT_NEAR(static_cast<double>(h.percentile(p).count()), expected, expected * 0.016) << p;
  }
  EXPECT_EQ(h.max(), 100000us);
}

TEST(LatencyHistogram, HugeValuesLandInTheLastBucketButMaxIsExact) {
  LatencyHistogram h;
  h.record(std::chrono::hours(5));
  EXPECT_EQ(h.max(), std::chrono::hours(5));
  EXPECT_EQ(h.percentile(50), std::chrono::hours(5));  // clamped to max
}

TEST(LatencyHistogram, MergeAddsEverything) {
  LatencyHistogram a, b;
  a.record(1ms);
  a.record(2ms);
  b.record(3ms);
  b.record(10us);
  a.merge(b);
  EXPECT_EQ(a.count(), 4u);
  EXPECT_EQ(a.min(), 10us);
  EXPECT_EQ(a.max(), 3ms);
  EXPECT_NEAR(static_cast<double>(a.percentile(75).count()), 2000, 2000 / 64.0);
}

TEST(LatencyHistogram, StandardDeviationIsThePopulations) {
  LatencyHistogram h;
  for (int us : {2, 4, 4, 4, 5, 5, 7, 9}) h.record(std::chrono::microseconds(us));
  EXPECT_DOUBLE_EQ(h.mean().count(), 5.0);
  EXPECT_DOUBLE_EQ(h.stddev().count(), 2.0);
  EXPECT_EQ(LatencyHistogram().stddev().count(), 0);
}

// The reason histograms go into --json: percentiles of merged histograms are those of the union of the
// samples. Merging is exact (buckets add), so the merged percentiles equal the combined histogram's.
TEST(LatencyHistogram, MergedPercentilesAreThoseOfTheUnion) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> fast(6.0, 0.5), slow(9.0, 1.0);  // µs: ~400 µs and ~8 ms
  LatencyHistogram a, b, both;
  std::vector<double> all;
  for (int i = 0; i < 20000; ++i) {
    const auto value = std::chrono::microseconds(static_cast<std::int64_t>(i % 3 == 0 ? slow(random) : fast(random)));
    (i % 2 == 0 ? a : b).record(value);
    both.record(value);
    all.push_back(static_cast<double>(value.count()));
  }
  LatencyHistogram merged = a;
  merged.merge(b);
  std::sort(all.begin(), all.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    EXPECT_EQ(merged.percentile(p), both.percentile(p)) << p;
    // And both are the exact percentile of the samples, to the bucket resolution (1/64).
    const double exact = all[static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(all.size()))) - 1];
    EXPECT_NEAR(static_cast<double>(merged.percentile(p).count()), exact, exact / 64 + 1) << p;
  }
  EXPECT_EQ(merged.count(), both.count());
  EXPECT_DOUBLE_EQ(merged.stddev().count(), both.stddev().count());
}

TEST(LatencyHistogram, JsonRoundTripKeepsEverything) {
  LatencyHistogram h;
  for (int us : {1, 50, 129, 4000, 4001, 250000}) h.record(std::chrono::microseconds(us));
  const auto json = h.to_json();
  EXPECT_EQ(json["count"], 6);
  EXPECT_EQ(json["buckets"].size(), 5u);  // 4000 and 4001 share a bucket; empty buckets are left out
  auto back = LatencyHistogram::from_json(nlohmann::json::parse(json.dump()));
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(back->count(), h.count());
  EXPECT_EQ(back->min(), h.min());
  EXPECT_EQ(back->max(), h.max());
  EXPECT_DOUBLE_EQ(back->mean().count(), h.mean().count());
  EXPECT_DOUBLE_EQ(back->stddev().count(), h.stddev().count());
  for (double p : {10.0, 50.0, 90.0, 99.9}) EXPECT_EQ(back->percentile(p), h.percentile(p)) << p;
  auto empty = LatencyHistogram::from_json(nlohmann::json::parse(LatencyHistogram().to_json().dump()));
  ASSERT_TRUE(empty.has_value()) << empty.error();
  EXPECT_EQ(empty->count(), 0u);
  EXPECT_EQ(empty->min(), 0us);
}

TEST(LatencyHistogram, FromJsonNamesWhatIsWrong) {
  LatencyHistogram h;
  h.record(10us);
  auto json = nlohmann::json::parse(h.to_json().dump());
  auto wrong_count = json;
  wrong_count["count"] = 2;
  EXPECT_NE(LatencyHistogram::from_json(wrong_count).error().find("count is 2"), std::string::npos);
  auto bad_bucket = json;
  bad_bucket["buckets"] = nlohmann::json::array({nlohmann::json::array({LatencyHistogram::bucket_count, 1})});
  EXPECT_NE(LatencyHistogram::from_json(bad_bucket).error().find("within the layout"), std::string::npos);
  auto missing = json;
  missing.erase("sum");
  EXPECT_NE(LatencyHistogram::from_json(missing).error().find("'sum'"), std::string::npos);
}

}  // namespace
}  // namespace quiver::cli

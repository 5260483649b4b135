#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace quiver::cli

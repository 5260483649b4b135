// What bench counts (BenchTally, BenchResult): ok responses make the rate and the latency; failures are
// counted apart by kind.
#include <gtest/gtest.h>

#include "bench_engine.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

TEST(BenchTally, FailuresAreCountedApartFromRateAndLatency) {
  BenchTally tally;
  tally.record_response(200, 100, 2ms);
  tally.record_response(204, 0, 4ms);
  tally.record_response(503, 50, 900ms);
  tally.record_error(Error(ErrorKind::transport_error, "connection lost"));

  BenchResult result;
  tally.add_to(result);
  result.elapsed = 2s;
  EXPECT_EQ(result.requests, 4u);
  EXPECT_EQ(result.ok, 2u);
  EXPECT_EQ(result.error_count(), 2u);
  EXPECT_EQ(result.errors, (std::map<std::string, std::uint64_t>{{"status_5xx", 1}, {"transport_error", 1}}));
  EXPECT_DOUBLE_EQ(result.requests_per_second(), 1.0);  // 2 ok in 2 s; the failures are no rate
  EXPECT_EQ(result.bytes, 100u);
  EXPECT_EQ(result.latency.count(), 2u);
  EXPECT_LE(result.latency.max(), 4ms);  // the failed 900 ms is no latency of the server's
  ASSERT_TRUE(result.first_error_status.has_value());
  EXPECT_EQ(*result.first_error_status, 503);
  EXPECT_FALSE(result.first_error.has_value());
}

TEST(BenchTally, TalliesAddUpAndTheFirstFailureWins) {
  BenchTally first, second;
  first.record_error(Error(ErrorKind::handshake_failed, "refused"));
  second.record_response(404, 10, 1ms);
  second.record_response(200, 7, 3ms);
  BenchResult result;
  first.add_to(result);
  second.add_to(result);
  EXPECT_EQ(result.requests, 3u);
  EXPECT_EQ(result.ok, 1u);
  ASSERT_TRUE(result.first_error.has_value());
  EXPECT_EQ(result.first_error->kind(), ErrorKind::handshake_failed);
  EXPECT_FALSE(result.first_error_status.has_value());
  EXPECT_EQ(result.latency.count(), 1u);
}

}  // namespace
}  // namespace quiver::cli

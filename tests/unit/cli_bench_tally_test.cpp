// What bench counts (BenchTally, BenchResult): succeeded responses make the rate and the latency;
// failures are counted apart by kind, as h2load counts them. And how results travel: --json and back,
// and merged.
#include <gtest/gtest.h>

#include <random>

#include "bench_engine.hpp"
#include "bench_report.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

ResponseSample response(int status, std::uint64_t body, std::chrono::nanoseconds took, std::chrono::nanoseconds at = 0s) {
  return {status, 20, body, took, took / 2, at};
}

TEST(BenchTally, FailuresAreCountedApartFromRateAndLatency) {
  BenchTally tally;
  tally.started = 5;
  tally.record_response(response(200, 100, 2ms));
  tally.record_response(response(204, 0, 4ms));
  tally.record_response(response(503, 50, 900ms));
  tally.record_error(Error(ErrorKind::transport_error, "connection lost"));
  tally.record_error(Error(ErrorKind::request_timeout, "too slow"), 1500ms);

  BenchResult result;
  tally.add_to(result);
  result.elapsed = 2s;
  EXPECT_EQ(result.started, 5u);
  EXPECT_EQ(result.requests, 5u);  // done
  EXPECT_EQ(result.ok, 2u);
  EXPECT_EQ(result.error_count(), 3u);
  EXPECT_EQ(result.errored, 2u);    // no status
  EXPECT_EQ(result.timed_out, 1u);
  EXPECT_EQ(result.statuses[2], 2u);
  EXPECT_EQ(result.statuses[5], 1u);
  EXPECT_EQ(result.errors, (std::map<std::string, std::uint64_t>{
                               {"request_timeout", 1}, {"status_5xx", 1}, {"transport_error", 1}}));
  EXPECT_DOUBLE_EQ(result.requests_per_second(), 1.0);  // 2 ok in 2 s; the failures are no rate
  EXPECT_EQ(result.bytes, 100u);
  EXPECT_EQ(result.body_bytes, 150u);   // traffic counts every response
  EXPECT_EQ(result.header_bytes, 60u);
  EXPECT_EQ(result.latency.count(), 2u);
  EXPECT_LE(result.latency.max(), 4ms);  // the failed 900 ms is no latency of the server's
  EXPECT_EQ(result.first_byte.count(), 2u);
  EXPECT_LE(result.first_byte.max(), 2ms);
  ASSERT_EQ(result.timeline.size(), 2u);
  EXPECT_EQ(result.timeline[0].succeeded, 2u);
  EXPECT_EQ(result.timeline[0].failed, 2u);
  EXPECT_EQ(result.timeline[1].failed, 1u);
  ASSERT_TRUE(result.first_error_status.has_value());
  EXPECT_EQ(*result.first_error_status, 503);
  EXPECT_FALSE(result.first_error.has_value());
}

TEST(BenchTally, TalliesAddUpAndTheFirstFailureWins) {
  BenchTally first, second;
  first.record_error(Error(ErrorKind::handshake_failed, "refused"));
  second.record_response(response(404, 10, 1ms));
  second.record_response(response(200, 7, 3ms));
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

BenchResult sample_result(std::uint64_t seed, std::size_t count) {
  std::mt19937_64 random(seed);
  std::lognormal_distribution<double> micros(7.0, 1.0);
  BenchTally tally;
  for (std::size_t i = 0; i < count; ++i) {
    tally.started++;
    const auto took = std::chrono::microseconds(static_cast<std::int64_t>(micros(random)));
    tally.record_response(response(i % 50 == 0 ? 500 : 200, 1024, took, std::chrono::milliseconds(i)));
  }
  BenchResult result;
  tally.add_to(result);
  result.total = count;
  result.elapsed = 2s;
  result.connect.record(3ms);
  result.connections = 1;
  result.connection_rates = {static_cast<double>(result.ok) / 2};
  result.cpu_seconds = 0.5;
  return result;
}

TEST(BenchReport, JsonReadsBackWhole) {
  BenchResult result = sample_result(1, 3000);
  result.open_loop = OpenLoopStats{.rps = 1500, .scheduled = 3000, .late = 12, .waited_for_stream = 3, .not_sent = 0,
                                   .max_lag = 4500us};
  const BenchDescription what{"GET https://h/x", false};
  BenchSettings settings;
  settings.duration_s = 2;
  settings.rps = 1500;
  const auto json = bench_json(what, settings, result);
  EXPECT_EQ(json["format"], "quiver-bench");
  EXPECT_EQ(json["version"], 2);
  auto loaded = parse_bench_json(nlohmann::json::parse(json.dump()));
  ASSERT_TRUE(loaded.has_value()) << loaded.error();
  const BenchResult& back = loaded->result;
  EXPECT_EQ(back.ok, result.ok);
  EXPECT_EQ(back.requests, result.requests);
  EXPECT_EQ(back.statuses, result.statuses);
  EXPECT_EQ(back.errors, result.errors);
  EXPECT_EQ(back.timeline.size(), result.timeline.size());
  EXPECT_EQ(back.latency.percentile(99.9), result.latency.percentile(99.9));
  EXPECT_EQ(back.connect.count(), 1u);
  ASSERT_TRUE(back.open_loop.has_value());
  EXPECT_EQ(back.open_loop->late, 12u);
  EXPECT_EQ(back.open_loop->max_lag, 4500us);
  EXPECT_EQ(loaded->settings.rps, 1500);
  EXPECT_EQ(loaded->what.target, "GET https://h/x");
  // Printed again, the report is the same.
  EXPECT_EQ(bench_json(loaded->what, loaded->settings, back).dump(), json.dump());
}

TEST(BenchReport, ReadingRefusesOtherFormatsAndVersionsByName) {
  const auto json = nlohmann::json::parse(bench_json({"GET https://h/", false}, BenchSettings{}, sample_result(2, 10)).dump());
  auto other_version = json;
  other_version["version"] = 1;
  EXPECT_NE(parse_bench_json(other_version).error().find("version 1"), std::string::npos);
  auto other_format = json;
  other_format["format"] = "h2load";
  EXPECT_NE(parse_bench_json(other_format).error().find("not a quiver bench report"), std::string::npos);
  auto no_counts = json;
  no_counts["counts"].erase("done");
  EXPECT_NE(parse_bench_json(no_counts).error().find("'counts.done'"), std::string::npos);
  auto other_layout = json;
  other_layout["histograms"]["sub_bucket_bits"] = 5;
  EXPECT_NE(parse_bench_json(other_layout).error().find("layout"), std::string::npos);
  auto short_histogram = json;
  short_histogram["counts"]["succeeded"] = short_histogram["counts"]["succeeded"].get<int>() - 1;
  EXPECT_FALSE(parse_bench_json(short_histogram).has_value());
}

// Two reports merged equal one report of both runs' samples: the histograms add exactly.
TEST(BenchReport, MergeEqualsTheReportOfTheUnion) {
  const BenchResult a = sample_result(3, 4000), b = sample_result(4, 6000);
  BenchResult union_result;  // what one process recording every sample would have reported
  union_result.merge(a);
  union_result.merge(b);
  const BenchSettings settings;
  std::vector<LoadedBenchReport> reports;
  for (const BenchResult* r : {&a, &b}) {
    auto loaded = parse_bench_json(nlohmann::json::parse(bench_json({"GET https://h/", false}, settings, *r).dump()));
    ASSERT_TRUE(loaded.has_value()) << loaded.error();
    reports.push_back(std::move(*loaded));
  }
  const LoadedBenchReport merged = merge_bench_reports(reports);
  EXPECT_EQ(merged.result.reports, 2u);
  EXPECT_EQ(merged.result.ok, a.ok + b.ok);
  EXPECT_EQ(merged.result.requests, 10000u);
  EXPECT_EQ(merged.result.errors.at("status_5xx"), a.errors.at("status_5xx") + b.errors.at("status_5xx"));
  EXPECT_EQ(merged.result.connection_rates.size(), 2u);
  EXPECT_EQ(merged.settings.connections, 2u);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    EXPECT_EQ(merged.result.latency.percentile(p), union_result.latency.percentile(p)) << p;
  }
  EXPECT_NE(merged.result.latency.percentile(99.9), a.latency.percentile(99.9));  // it is not just one of them
  EXPECT_DOUBLE_EQ(merged.result.requests_per_second(), static_cast<double>(a.ok + b.ok) / 2);
  const std::string text = format_bench_report(merged.what, merged.settings, merged.result);
  EXPECT_NE(text.find("merged from 2 reports"), std::string::npos) << text;
}

TEST(BenchReport, HumanReportHasH2loadsLines) {
  BenchResult result = sample_result(5, 1000);
  result.errored = 1;
  result.timed_out = 1;
  const std::string text = format_bench_report({"GET https://h/", false}, BenchSettings{}, result);
  for (const char* expected : {"requests:     1000 total, 1000 started, 1000 done, 980 succeeded, 20 failed, 1 errored, 1 timeout",
                               "status codes: 980 2xx, 0 3xx, 0 4xx, 20 5xx", "failures:     20 status_5xx",
                               "traffic:", "request:", "first byte:", "connect:", "p99.9", "req/s per connection:",
                               "client CPU:"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
  EXPECT_EQ(text.find("open loop"), std::string::npos) << text;
}

}  // namespace
}  // namespace quiver::cli

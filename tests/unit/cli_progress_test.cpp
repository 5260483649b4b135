// The CLI's pure formatting: sizes and durations, the progress line, the rate, the serve access log and
// the bench report.
#include <gtest/gtest.h>

#include <sstream>

#include "bench_report.hpp"
#include "console.hpp"
#include "progress.hpp"
#include "serve.hpp"
#include "units.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

TEST(Units, Bytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(999), "999 B");
  EXPECT_EQ(format_bytes(1000), "1.00 KB");
  EXPECT_EQ(format_bytes(1536), "1.54 KB");
  EXPECT_EQ(format_bytes(12'345'678), "12.3 MB");
  EXPECT_EQ(format_bytes(999'999), "1.00 MB");
  EXPECT_EQ(format_bytes(4'000'000'000), "4.00 GB");
  EXPECT_EQ(format_rate(2'500'000.4), "2.50 MB/s");
  EXPECT_EQ(format_rate(-1), "0 B/s");
}

TEST(Units, ClockAndMilliseconds) {
  EXPECT_EQ(format_clock(7s), "0:07");
  EXPECT_EQ(format_clock(754s), "12:34");
  EXPECT_EQ(format_clock(3723s), "1:02:03");
  EXPECT_EQ(format_ms(42us), "0.042");
  EXPECT_EQ(format_ms(1270us), "1.27");
  EXPECT_EQ(format_ms(12300us), "12.3");
  EXPECT_EQ(format_ms(153ms), "153");
}

TEST(ProgressLine, KnownSizeHasBarAndEta) {
  ProgressSnapshot p;
  p.downloaded = 4'200'000;
  p.download_expected = 10'000'000;
  p.download_size_known = true;
  p.bytes_per_second = 1'000'000;
  EXPECT_EQ(format_progress(p, 10), " 42% [####------]  4.20 MB / 10.0 MB  1.00 MB/s  ETA 0:06");
}

TEST(ProgressLine, UnknownSizeShowsBytesAndRate) {
  ProgressSnapshot p;
  p.downloaded = 1'200'000;
  p.bytes_per_second = 3'400'000;
  EXPECT_EQ(format_progress(p), "1.20 MB  3.40 MB/s");
}

TEST(ProgressLine, UploadFirstThenDownload) {
  ProgressSnapshot p;
  p.uploaded = 48'000;
  p.upload_expected = 64'000;
  p.bytes_per_second = 0;
  EXPECT_EQ(format_progress(p, 4), "upload  75% [###-]  48.0 KB / 64.0 KB  0 B/s");
  p.uploaded = 64'000;
  p.downloaded = 10;
  p.download_expected = 10;
  p.download_size_known = true;
  EXPECT_EQ(format_progress(p, 4), "100% [####]  10 B / 10 B  0 B/s");
}

TEST(ProgressLine, SeveralTransfersShowTheCount) {
  ProgressSnapshot p;
  p.finished = 2;
  p.total = 5;
  EXPECT_TRUE(format_progress(p).starts_with("[2/5] ")) << format_progress(p);
}

TEST(RateMeter, AveragesOverTheWindow) {
  const auto t0 = RateMeter::Clock::now();
  RateMeter meter(std::chrono::milliseconds(1000), t0);
  EXPECT_DOUBLE_EQ(meter.update(500, t0 + 500ms), 1000);   // since the start
  EXPECT_DOUBLE_EQ(meter.update(1000, t0 + 1000ms), 1000);
  EXPECT_DOUBLE_EQ(meter.update(1000, t0 + 3000ms), 0);    // stalled: the old samples left the window
}

TEST(Console, StatusLineStaysBelowTheLogLines) {
  std::ostringstream err;
  Console console(err, /*terminal=*/true);
  console.status("50%");
  console.line("* event");
  console.status("60%");
  console.end_status(/*keep=*/true);
  EXPECT_EQ(err.str(), "50%\r\033[K* event\n50%\r\033[K60%\n");
}

TEST(Console, NoStatusLineWhenNotATerminal) {
  std::ostringstream err;
  Console console(err, /*terminal=*/false);
  console.status("50%");
  console.line("quiver: error");
  console.end_status(true);
  EXPECT_EQ(err.str(), "quiver: error\n");
}

TEST(AccessLog, OneLinePerRequest) {
  server::AccessLogEntry entry;
  entry.method = "GET";
  entry.path = "/bytes/10";
  entry.status = 200;
  entry.bytes_sent = 10;
  entry.duration = 420us;
  entry.app_error_code = h3_code::no_error;
  const std::string line = format_access_log(entry);
  EXPECT_TRUE(line.ends_with("] GET /bytes/10 200 10 bytes 0.420 ms")) << line;
  entry.status = 0;
  entry.app_error_code = h3_code::request_cancelled;
  EXPECT_TRUE(format_access_log(entry).ends_with("- 10 bytes 0.420 ms reset H3_REQUEST_CANCELLED"))
      << format_access_log(entry);
  EXPECT_EQ(https_origin("::1", 4433), "https://[::1]:4433");
}

TEST(BenchReport, HumanAndJson) {
  BenchPlan plan;
  plan.requests = 100;
  plan.connections = 2;
  plan.streams = 5;
  BenchResult result;
  result.requests = 100;
  result.ok = 98;
  result.errors = {{"request_timeout", 1}, {"status_5xx", 1}};
  result.bytes = 2'000'000;
  result.elapsed = 2s;
  for (int i = 1; i <= 100; ++i) result.latency.record(std::chrono::milliseconds(i));
  result.connections = 2;
  const BenchDescription what{"GET https://h/x", false};

  const std::string text = format_bench_report(what, plan, result);
  for (const char* expected : {"GET https://h/x", "100 requests, 2 connections x up to 5 streams", "49 req/s",
                               "1.00 MB/s", "100 done, 98 succeeded, 2 failed",
                               "failures:     1 request_timeout, 1 status_5xx", "p50", "p99", "2 made"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }

  const auto json = bench_json(what, plan, result);
  EXPECT_EQ(json["requests"], 100);
  EXPECT_EQ(json["ok"], 98);
  EXPECT_EQ(json["errors"], 2);
  EXPECT_EQ(json["errors_by_kind"]["status_5xx"], 1);
  EXPECT_DOUBLE_EQ(json["seconds"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(json["req_per_s"].get<double>(), 49.0);  // the 98 ok responses in 2 s
  EXPECT_EQ(json["bytes"], 2'000'000);
  EXPECT_DOUBLE_EQ(json["mb_per_s"].get<double>(), 1.0);
  EXPECT_NEAR(json["latency_ms"]["p50"].get<double>(), 50, 1);
  EXPECT_NEAR(json["latency_ms"]["p90"].get<double>(), 90, 2);
  EXPECT_NEAR(json["latency_ms"]["p99"].get<double>(), 99, 2);
  EXPECT_DOUBLE_EQ(json["latency_ms"]["max"].get<double>(), 100);
  EXPECT_EQ(json["connections"], 2);
  EXPECT_EQ(json["not_finished"], 0);
  EXPECT_EQ(json["aborted"], false);
}

TEST(BenchReport, StoppedEarlyWithRequestsNotFinished) {
  BenchPlan plan;
  plan.duration = 10s;
  BenchResult result;
  result.requests = 10;
  result.ok = 8;
  result.errors = {{"transport_error", 2}};
  result.not_finished = 3;
  result.elapsed = 4s;
  result.aborted = BenchAbort::connections_failing;
  const BenchDescription what{"GET https://h/x", false};

  const std::string text = format_bench_report(what, plan, result);
  for (const char* expected : {"10 s, 1 connection x up to 10 streams", "2 req/s",
                               "(stopped: the server can no longer be reached)",
                               "10 done, 8 succeeded, 2 failed, 0 errored, 0 timeout; 3 not finished",
                               "failures:     2 transport_error"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
  const auto json = bench_json(what, plan, result);
  EXPECT_EQ(json["not_finished"], 3);
  EXPECT_EQ(json["aborted"], true);
  EXPECT_EQ(json["aborted_reason"], "server_unreachable");
}

// -#: curl's bar, '#' over the width for the part done, then the percentage.
TEST(Progress, HashBarAsCurls) {
  ProgressSnapshot half;
  half.downloaded = 50;
  half.download_expected = 100;
  half.download_size_known = true;
  EXPECT_EQ(format_hash_progress(half, 10), "#####       50.0%");
  half.downloaded = 100;
  EXPECT_EQ(format_hash_progress(half, 10), "########## 100.0%");
  ProgressSnapshot unknown;
  unknown.downloaded = 2000;
  EXPECT_EQ(format_hash_progress(unknown, 10), "2.00 KB");
  ProgressSnapshot upload;
  upload.uploaded = 25;
  upload.upload_expected = 100;
  EXPECT_EQ(format_hash_progress(upload, 4), "#     25.0%");
}

}  // namespace
}  // namespace quiver::cli

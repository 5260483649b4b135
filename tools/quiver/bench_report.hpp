#pragma once
// How `quiver bench` (and the demo) present a BenchResult: a human report in h2load's terms, or one JSON
// object that carries the full histograms and reads back (parse_bench_json), so that reports of several
// processes or machines merge (`quiver bench merge`). The JSON format is versioned and documented in
// docs/benchmarks.md, "Report format".

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bench_engine.hpp"
#include "bench_result.hpp"

namespace quiver::cli {

// What was measured, for the report's header.
struct BenchDescription {
  std::string target;  // "GET https://127.0.0.1:4433/bytes/1024" (several URLs: the first, "+ N more")
  bool embedded = false;
};

// How the load was generated, for the settings line (from the plan, or read back from a report).
struct BenchSettings {
  std::optional<std::uint64_t> requests;  // -n
  std::optional<double> duration_s;       // -D
  std::size_t connections = 1;            // merged: the sum
  std::size_t streams = 10;
  double warmup_s = 0;
  std::optional<double> rps;              // open loop (merged: the sum)
  std::optional<std::uint64_t> requests_per_connection;
  std::size_t urls = 1;

  static BenchSettings of(const BenchPlan& plan);
};

// The JSON format's name and version, written in every report and checked when one is read.
inline constexpr std::string_view bench_json_format = "quiver-bench";
inline constexpr int bench_json_version = 2;

// The settings line and the results, one item per line, as h2load prints them (succeeded requests only
// in req/s, MB/s and the time figures; failures counted apart by kind):
//   finished in 1.00 s: 21234 req/s, 21.7 MB/s
//   requests:     21234 total, 21234 started, 21234 done, 21234 succeeded, 0 failed, 0 errored, 0 timeout
//   status codes: 21234 2xx, 0 3xx, 0 4xx, 0 5xx
//   traffic:      ...
//                   min  max  mean  sd  p50  p90  p99  p99.9   (ms)
//   request:      ...
std::string format_bench_report(const BenchDescription& what, const BenchSettings& settings, const BenchResult& result);
std::string format_bench_report(const BenchDescription& what, const BenchPlan& plan, const BenchResult& result);

// Everything the report says, plus the histograms (layout and buckets) and the timeline.
nlohmann::ordered_json bench_json(const BenchDescription& what, const BenchSettings& settings, const BenchResult& result);
nlohmann::ordered_json bench_json(const BenchDescription& what, const BenchPlan& plan, const BenchResult& result);

// A report read back from bench_json's output.
struct LoadedBenchReport {
  BenchDescription what;
  BenchSettings settings;
  BenchResult result;
};
// The report in `json`, or what is wrong with it (another format or version, a missing field, a
// histogram of another layout).
std::expected<LoadedBenchReport, std::string> parse_bench_json(const nlohmann::json& json);

// Merges reports (at least one) into one: counts and histograms add up (see BenchResult::merge); the
// target lists every distinct target.
LoadedBenchReport merge_bench_reports(const std::vector<LoadedBenchReport>& reports);

}  // namespace quiver::cli

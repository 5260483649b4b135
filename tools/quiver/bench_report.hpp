#pragma once
// How `quiver bench` (and the demo) present a BenchResult: a short human report or one JSON object.

#include <string>

#include <nlohmann/json.hpp>

#include "bench_engine.hpp"

namespace quiver::cli {

// What was measured, for the report's header.
struct BenchDescription {
  std::string target;  // "GET https://127.0.0.1:4433/bytes/1024"
  bool embedded = false;
};

// The settings line and the results, one item per line (req/s, MB/s and latency count the ok responses
// only; failures are counted apart, by kind, and requests cut off at the end as "not finished"):
//   finished in 1.00 s: 21234 req/s, 21.7 MB/s
//   requests:     21234 total, 21234 ok, 0 errors
//   latency:      p50 0.45 ms, p90 0.61 ms, p99 0.98 ms, max 3.21 ms (mean 0.47 ms)
//   connections:  1 used, handshake 1.93 ms (max 1.93 ms)
std::string format_bench_report(const BenchDescription& what, const BenchPlan& plan, const BenchResult& result);

// At least: requests, ok, errors, errors_by_kind, not_finished, seconds, req_per_s, bytes, mb_per_s,
// latency_ms {p50, p90, p99, max}, connections, aborted (and aborted_reason).
nlohmann::ordered_json bench_json(const BenchDescription& what, const BenchPlan& plan, const BenchResult& result);

}  // namespace quiver::cli

#include "bench_report.hpp"

#include <fmt/format.h>

#include "units.hpp"

namespace quiver::cli {

namespace {

using Millis = std::chrono::duration<double, std::milli>;

double ms(std::chrono::duration<double, std::micro> value) { return std::chrono::duration_cast<Millis>(value).count(); }

std::string settings_line(const BenchPlan& plan) {
  const std::string amount = plan.requests ? fmt::format("{} requests", *plan.requests)
                                           : fmt::format("{:g} s", std::chrono::duration<double>(*plan.duration).count());
  std::string line = fmt::format("{}, {} connection{} x up to {} stream{}", amount, plan.connections,
                                 plan.connections == 1 ? "" : "s", plan.streams, plan.streams == 1 ? "" : "s");
  if (plan.warmup.count() > 0) line += fmt::format(", {:g} s warm-up", std::chrono::duration<double>(plan.warmup).count());
  return line;
}

std::string errors_text(const BenchResult& result) {
  std::string text = fmt::format("{} error{}", result.error_count(), result.error_count() == 1 ? "" : "s");
  if (result.errors.empty()) return text;
  std::string kinds;
  for (const auto& [kind, count] : result.errors) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", count, kind);
  return text + " (" + kinds + ")";
}

std::string requests_text(const BenchResult& result) {
  std::string text = fmt::format("{} total, {} ok, {}", result.requests, result.ok, errors_text(result));
  if (result.not_finished > 0) text += fmt::format("; {} not finished", result.not_finished);
  return text;
}

std::string_view abort_text(BenchAbort why) {
  switch (why) {
    case BenchAbort::none: return "";
    case BenchAbort::never_connected: return " (stopped: no connection could be made)";
    case BenchAbort::connections_failing: return " (stopped: the server can no longer be reached)";
  }
  return "";
}

std::string_view abort_name(BenchAbort why) {
  switch (why) {
    case BenchAbort::none: return "";
    case BenchAbort::never_connected: return "no_connection";
    case BenchAbort::connections_failing: return "server_unreachable";
  }
  return "";
}

std::string latency_text(const LatencyHistogram& latency) {
  const auto p = [&](double percent) { return format_ms(latency.percentile(percent)); };
  return fmt::format("p50 {} ms, p90 {} ms, p99 {} ms, max {} ms (mean {} ms)", p(50), p(90), p(99),
                     format_ms(latency.max()), format_ms(latency.mean()));
}

std::string connections_text(const BenchResult& result) {
  std::string text = fmt::format("{} used, handshake {} ms (max {} ms)", result.connections,
                                 format_ms(result.handshake_mean), format_ms(result.handshake_max));
  if (result.retries > 0) text += fmt::format(", {} transparent retries", result.retries);
  return text;
}

}  // namespace

std::string format_bench_report(const BenchDescription& what, const BenchPlan& plan, const BenchResult& result) {
  std::string report = fmt::format("quiver bench: {}{}\n  {}\n\n", what.target, what.embedded ? " (embedded server)" : "",
                                   settings_line(plan));
  report += fmt::format("  finished in {:.2f} s: {:.0f} req/s, {:.2f} MB/s{}\n", result.elapsed.count(),
                        result.requests_per_second(), result.megabytes_per_second(), abort_text(result.aborted));
  report += fmt::format("  requests:     {}\n", requests_text(result));
  report += fmt::format("  latency:      {}\n", latency_text(result.latency));
  report += fmt::format("  connections:  {}\n", connections_text(result));
  return report;
}

nlohmann::ordered_json bench_json(const BenchDescription& what, const BenchPlan& plan, const BenchResult& result) {
  nlohmann::ordered_json errors_by_kind = nlohmann::ordered_json::object();
  for (const auto& [kind, count] : result.errors) errors_by_kind[kind] = count;
  const LatencyHistogram& latency = result.latency;
  return {
      {"target", what.target},
      {"embedded_server", what.embedded},
      {"requests", result.requests},
      {"ok", result.ok},
      {"errors", result.error_count()},
      {"errors_by_kind", std::move(errors_by_kind)},
      {"not_finished", result.not_finished},
      {"seconds", result.elapsed.count()},
      {"req_per_s", result.requests_per_second()},
      {"bytes", result.bytes},
      {"mb_per_s", result.megabytes_per_second()},
      {"latency_ms",
       {{"p50", ms(latency.percentile(50))},
        {"p90", ms(latency.percentile(90))},
        {"p99", ms(latency.percentile(99))},
        {"max", ms(latency.max())},
        {"mean", ms(latency.mean())}}},
      {"connections", result.connections},
      {"handshake_ms", {{"mean", ms(result.handshake_mean)}, {"max", ms(result.handshake_max)}}},
      {"retries", result.retries},
      {"aborted", result.aborted != BenchAbort::none},
      {"aborted_reason", abort_name(result.aborted)},
      {"settings",
       {{"connections", plan.connections},
        {"streams_per_connection", plan.streams},
        {"warmup_s", std::chrono::duration<double>(plan.warmup).count()}}},
  };
}

}  // namespace quiver::cli

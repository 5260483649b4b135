#include "bench_report.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "units.hpp"

namespace quiver::cli {

namespace {

using Millis = std::chrono::duration<double, std::milli>;
using Json = nlohmann::ordered_json;

double ms(std::chrono::duration<double, std::micro> value) { return std::chrono::duration_cast<Millis>(value).count(); }

// The percentiles every report shows, with their JSON names.
constexpr std::array<std::pair<double, const char*>, 4> shown_percentiles{
    {{50.0, "p50"}, {90.0, "p90"}, {99.0, "p99"}, {99.9, "p99.9"}}};

std::string plural(std::uint64_t count, std::string_view word) {
  return fmt::format("{} {}{}", count, word, count == 1 ? "" : "s");
}

std::string settings_line(const BenchSettings& s) {
  std::string amount;
  if (s.requests) amount = fmt::format("{} requests", *s.requests);
  if (s.duration_s) amount += fmt::format("{}{:g} s", amount.empty() ? "" : " within ", *s.duration_s);
  std::string line = fmt::format("{}, {} x up to {}", amount, plural(s.connections, "connection"), plural(s.streams, "stream"));
  if (s.urls > 1) line += fmt::format(", {} URLs round-robin", s.urls);
  line += s.rps ? fmt::format(", open loop at {:g} req/s", *s.rps) : ", closed loop";
  if (s.requests_per_connection) line += fmt::format(", a new connection every {} requests", *s.requests_per_connection);
  if (s.warmup_s > 0) line += fmt::format(", {:g} s warm-up", s.warmup_s);
  return line;
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

std::optional<BenchAbort> abort_from_name(std::string_view name) {
  for (BenchAbort why : {BenchAbort::none, BenchAbort::never_connected, BenchAbort::connections_failing}) {
    if (abort_name(why) == name) return why;
  }
  return std::nullopt;
}

std::string requests_text(const BenchResult& r) {
  std::string text = fmt::format("{} total, {} started, {} done, {} succeeded, {} failed, {} errored, {} timeout",
                                 r.total, r.started, r.requests, r.ok, r.error_count(), r.errored, r.timed_out);
  if (r.not_finished > 0) text += fmt::format("; {} not finished", r.not_finished);
  return text;
}

std::string status_text(const BenchResult& r) {
  std::string text = fmt::format("{} 2xx, {} 3xx, {} 4xx, {} 5xx", r.statuses[2], r.statuses[3], r.statuses[4], r.statuses[5]);
  if (r.statuses[1] > 0) text += fmt::format(", {} 1xx", r.statuses[1]);
  return text;
}

std::string failures_text(const BenchResult& r) {
  std::string kinds;
  for (const auto& [kind, count] : r.errors) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", count, kind);
  return kinds;
}

std::string traffic_text(const BenchResult& r) {
  return fmt::format("{} total, {} headers (decoded; QPACK's savings are not measured), {} data",
                     format_bytes(r.header_bytes + r.body_bytes), format_bytes(r.header_bytes), format_bytes(r.body_bytes));
}

std::string open_loop_text(const OpenLoopStats& o, const BenchSettings& settings) {
  std::string text = fmt::format("{} scheduled at {:g} req/s; {} sent late (more than {} ms behind schedule",
                                 o.scheduled, o.rps, o.late, OpenLoopStats::late_after.count());
  text += o.late > 0 ? fmt::format(", up to {} ms)", format_ms(o.max_lag)) : ")";
  if (o.waited_for_stream > 0) text += fmt::format(", {} held back for a free stream", o.waited_for_stream);
  text += fmt::format("; {} not sent", o.not_sent);
  if (o.waited_for_stream > 0 || o.not_sent > 0) {
    text += fmt::format(
        "\n                the client fell behind its schedule: {} requests found all {} x {} streams busy, {} were "
        "never sent; latency counts from each request's intended send time",
        o.waited_for_stream, settings.connections, settings.streams, o.not_sent);
  }
  return text;
}

std::string stats_row(std::string_view label, const LatencyHistogram& h) {
  std::string row = fmt::format("  {:<14}{:>10}{:>10}{:>10}{:>10}", label, format_ms(h.min()), format_ms(h.max()),
                                format_ms(h.mean()), format_ms(h.stddev()));
  for (const auto& [percent, name] : shown_percentiles) row += fmt::format("{:>10}", format_ms(h.percentile(percent)));
  return row + fmt::format("  ({})\n", h.count());
}

struct Spread {
  double min = 0, max = 0, mean = 0, sd = 0;
};

Spread spread_of(const std::vector<double>& values) {
  if (values.empty()) return {};
  Spread s;
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.sd = std::sqrt(squares / static_cast<double>(values.size()));
  return s;
}

std::string cpu_text(const BenchResult& r) {
  const double per_request = r.started > 0 ? r.cpu_seconds * 1e6 / static_cast<double>(r.started) : 0;
  const std::string whose = r.reports > 1 ? fmt::format("the {} processes", r.reports) : std::string("the process");
  return fmt::format("{:.2f} s user+system for {} ({:.1f} µs per request sent)", r.cpu_seconds, whose, per_request);
}

Json stats_json(const LatencyHistogram& h) {
  Json json{{"count", h.count()}, {"min", ms(h.min())}, {"max", ms(h.max())}, {"mean", ms(h.mean())}, {"sd", ms(h.stddev())}};
  for (const auto& [percent, name] : shown_percentiles) json[name] = ms(h.percentile(percent));
  return json;
}

Json settings_json(const BenchSettings& s) {
  return {{"requests", s.requests ? Json(*s.requests) : Json()},
          {"duration_s", s.duration_s ? Json(*s.duration_s) : Json()},
          {"connections", s.connections},
          {"streams_per_connection", s.streams},
          {"warmup_s", s.warmup_s},
          {"rps", s.rps ? Json(*s.rps) : Json()},
          {"requests_per_connection", s.requests_per_connection ? Json(*s.requests_per_connection) : Json()},
          {"urls", s.urls}};
}

Json open_loop_json(const OpenLoopStats& o) {
  return {{"rps", o.rps},
          {"scheduled", o.scheduled},
          {"late", o.late},
          {"waited_for_stream", o.waited_for_stream},
          {"not_sent", o.not_sent},
          {"max_lag_ms", ms(o.max_lag)}};
}

// ---- reading a report back ----

// Reads fields of one JSON object, remembering the first that is missing or of the wrong type.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& object, std::string where) : object_(object), where_(std::move(where)) {}

  std::uint64_t count(const char* name) {
    const auto* value = find(name);
    if (value && LatencyHistogram::is_count(*value)) return value->get<std::uint64_t>();
    fail(name, "a count");
    return 0;
  }
  double number(const char* name) {
    const auto* value = find(name);
    if (value && value->is_number()) return value->get<double>();
    fail(name, "a number");
    return 0;
  }
  std::string text(const char* name) {
    const auto* value = find(name);
    if (value && value->is_string()) return value->get<std::string>();
    fail(name, "a string");
    return {};
  }
  template <class T>
  std::optional<T> optional(const char* name) {
    const auto* value = find(name);
    if (!value || value->is_null()) return std::nullopt;
    if (value->is_number()) return value->get<T>();
    fail(name, "a number or null");
    return std::nullopt;
  }
  const nlohmann::json& object(const char* name) {
    static const nlohmann::json empty = nlohmann::json::object();
    const auto* value = find(name);
    if (value && value->is_object()) return *value;
    fail(name, "an object");
    return empty;
  }
  const nlohmann::json& array(const char* name) {
    static const nlohmann::json empty = nlohmann::json::array();
    const auto* value = find(name);
    if (value && value->is_array()) return *value;
    fail(name, "an array");
    return empty;
  }
  void fail(std::string_view name, std::string_view expected) {
    if (!error_) error_ = fmt::format("'{}{}' is missing or not {}", where_, name, expected);
  }
  const std::optional<std::string>& error() const { return error_; }

 private:
  const nlohmann::json* find(const char* name) const {
    if (!object_.is_object()) return nullptr;
    const auto it = object_.find(name);
    return it == object_.end() ? nullptr : &*it;
  }

  const nlohmann::json& object_;
  std::string where_;
  std::optional<std::string> error_;
};

std::optional<std::string> read_histograms(const nlohmann::json& json, BenchResult& result) {
  FieldReader fields(json, "histograms.");
  if (fields.text("format") != "quiver-histogram" || fields.count("version") != 1) {
    return "'histograms' is not format quiver-histogram version 1";
  }
  const Json layout = LatencyHistogram::layout_json();
  for (const auto& [key, value] : layout.items()) {
    if (!json.contains(key) || json[key].dump() != value.dump()) {
      return fmt::format("'histograms.{}' differs from this quiver's histogram layout ({})", key, value.dump());
    }
  }
  for (auto [name, target] : std::array<std::pair<const char*, LatencyHistogram*>, 3>{
           {{"request", &result.latency}, {"first_byte", &result.first_byte}, {"connect", &result.connect}}}) {
    auto histogram = LatencyHistogram::from_json(fields.object(name));
    if (fields.error()) return fields.error();
    if (!histogram) return fmt::format("'histograms.{}': {}", name, histogram.error());
    *target = std::move(*histogram);
  }
  return std::nullopt;
}

}  // namespace

BenchSettings BenchSettings::of(const BenchPlan& plan) {
  BenchSettings s;
  s.requests = plan.requests;
  if (plan.duration) s.duration_s = std::chrono::duration<double>(*plan.duration).count();
  s.connections = plan.connections;
  s.streams = plan.streams;
  s.warmup_s = std::chrono::duration<double>(plan.warmup).count();
  s.rps = plan.rps;
  s.requests_per_connection = plan.requests_per_connection;
  s.urls = std::max<std::size_t>(1, plan.targets.size());
  return s;
}

std::string format_bench_report(const BenchDescription& what, const BenchSettings& settings, const BenchResult& result) {
  std::string report = fmt::format("quiver bench: {}{}\n  {}{}\n\n", what.target, what.embedded ? " (embedded server)" : "",
                                   settings_line(settings),
                                   result.reports > 1 ? fmt::format("\n  merged from {} reports", result.reports) : "");
  report += fmt::format("  finished in {:.2f} s: {:.0f} req/s, {:.2f} MB/s{}\n", result.elapsed.count(),
                        result.requests_per_second(), result.megabytes_per_second(), abort_text(result.aborted));
  report += fmt::format("  requests:     {}\n", requests_text(result));
  report += fmt::format("  status codes: {}\n", status_text(result));
  if (!result.errors.empty()) report += fmt::format("  failures:     {}\n", failures_text(result));
  report += fmt::format("  traffic:      {}\n", traffic_text(result));
  if (result.open_loop) report += fmt::format("  open loop:    {}\n", open_loop_text(*result.open_loop, settings));
  report += fmt::format("  {:<14}{:>10}{:>10}{:>10}{:>10}", "(ms)", "min", "max", "mean", "sd");
  for (const auto& [percent, name] : shown_percentiles) report += fmt::format("{:>10}", name);
  report += "  (count)\n";
  report += stats_row(result.open_loop ? "request*:" : "request:", result.latency);
  report += stats_row("first byte:", result.first_byte);
  report += stats_row("connect:", result.connect);
  if (result.open_loop) report += "                * from each request's intended send time (open loop)\n";
  const Spread rates = spread_of(result.connection_rates);
  report += fmt::format("  req/s per connection: min {:.0f}, max {:.0f}, mean {:.0f}, sd {:.0f}\n", rates.min, rates.max,
                        rates.mean, rates.sd);
  report += fmt::format("  connections:  {} made{}\n", result.connections,
                        result.retries > 0 ? fmt::format(", {} transparent retries", result.retries) : "");
  report += fmt::format("  client CPU:   {}\n", cpu_text(result));
  return report;
}

std::string format_bench_report(const BenchDescription& what, const BenchPlan& plan, const BenchResult& result) {
  return format_bench_report(what, BenchSettings::of(plan), result);
}

nlohmann::ordered_json bench_json(const BenchDescription& what, const BenchSettings& settings, const BenchResult& result) {
  Json errors_by_kind = Json::object();
  for (const auto& [kind, count] : result.errors) errors_by_kind[kind] = count;
  Json statuses = Json::object();
  for (std::size_t n = 1; n <= 5; ++n) statuses[fmt::format("{}xx", n)] = result.statuses[n];
  Json timeline = Json::array();
  for (const TimelineSecond& second : result.timeline) timeline.push_back({second.succeeded, second.failed});
  const Spread rates = spread_of(result.connection_rates);
  const LatencyHistogram& latency = result.latency;
  Json latency_ms = stats_json(latency);
  return {
      {"format", bench_json_format},
      {"version", bench_json_version},
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
      {"counts",
       {{"total", result.total},
        {"started", result.started},
        {"done", result.requests},
        {"succeeded", result.ok},
        {"failed", result.error_count()},
        {"errored", result.errored},
        {"timeout", result.timed_out},
        {"not_finished", result.not_finished}}},
      {"status_codes", std::move(statuses)},
      {"traffic", {{"total", result.header_bytes + result.body_bytes}, {"headers", result.header_bytes}, {"data", result.body_bytes}}},
      {"latency_ms", std::move(latency_ms)},
      {"first_byte_ms", stats_json(result.first_byte)},
      {"connect_ms", stats_json(result.connect)},
      {"per_connection_req_per_s",
       {{"min", rates.min}, {"max", rates.max}, {"mean", rates.mean}, {"sd", rates.sd}, {"values", result.connection_rates}}},
      {"open_loop", result.open_loop ? open_loop_json(*result.open_loop) : Json()},
      {"connections", result.connections},
      {"retries", result.retries},
      {"cpu_seconds", result.cpu_seconds},
      {"aborted", result.aborted != BenchAbort::none},
      {"aborted_reason", abort_name(result.aborted)},
      {"reports", result.reports},
      {"settings", settings_json(settings)},
      {"timeline", std::move(timeline)},
      {"histograms",
       [&] {
         Json histograms{{"format", "quiver-histogram"}, {"version", 1}};
         histograms.update(LatencyHistogram::layout_json());
         histograms["request"] = result.latency.to_json();
         histograms["first_byte"] = result.first_byte.to_json();
         histograms["connect"] = result.connect.to_json();
         return histograms;
       }()},
  };
}

nlohmann::ordered_json bench_json(const BenchDescription& what, const BenchPlan& plan, const BenchResult& result) {
  return bench_json(what, BenchSettings::of(plan), result);
}

std::expected<LoadedBenchReport, std::string> parse_bench_json(const nlohmann::json& json) {
  if (!json.is_object()) return std::unexpected("not a JSON object");
  FieldReader top(json, "");
  if (top.text("format") != bench_json_format) {
    return std::unexpected(fmt::format("not a quiver bench report (its \"format\" is not \"{}\")", bench_json_format));
  }
  if (const auto version = top.count("version"); version != static_cast<std::uint64_t>(bench_json_version)) {
    return std::unexpected(fmt::format("report format version {} is not the version this quiver reads ({})", version,
                                       bench_json_version));
  }
  LoadedBenchReport report;
  report.what.target = top.text("target");
  report.what.embedded = json.value("embedded_server", false);
  BenchResult& r = report.result;
  FieldReader counts(top.object("counts"), "counts.");
  r.total = counts.count("total");
  r.started = counts.count("started");
  r.requests = counts.count("done");
  r.ok = counts.count("succeeded");
  r.errored = counts.count("errored");
  r.timed_out = counts.count("timeout");
  r.not_finished = counts.count("not_finished");
  FieldReader statuses(top.object("status_codes"), "status_codes.");
  for (std::size_t n = 1; n <= 5; ++n) r.statuses[n] = statuses.count(fmt::format("{}xx", n).c_str());
  for (const auto& [kind, count] : top.object("errors_by_kind").items()) {
    if (!LatencyHistogram::is_count(count)) return std::unexpected(fmt::format("'errors_by_kind.{}' is not a count", kind));
    r.errors[kind] = count.get<std::uint64_t>();
  }
  r.bytes = top.count("bytes");
  FieldReader traffic(top.object("traffic"), "traffic.");
  r.header_bytes = traffic.count("headers");
  r.body_bytes = traffic.count("data");
  r.elapsed = std::chrono::duration<double>(top.number("seconds"));
  r.connections = top.count("connections");
  r.retries = top.count("retries");
  r.cpu_seconds = top.number("cpu_seconds");
  r.reports = top.count("reports");
  const auto aborted = abort_from_name(top.text("aborted_reason"));
  if (!aborted) return std::unexpected("'aborted_reason' is not one quiver writes");
  r.aborted = *aborted;
  FieldReader rates(top.object("per_connection_req_per_s"), "per_connection_req_per_s.");
  for (const auto& value : rates.array("values")) {
    if (!value.is_number()) return std::unexpected("'per_connection_req_per_s.values' holds a non-number");
    r.connection_rates.push_back(value.get<double>());
  }
  for (const auto& second : top.array("timeline")) {
    if (!second.is_array() || second.size() != 2 || !LatencyHistogram::is_count(second[0]) || !LatencyHistogram::is_count(second[1])) {
      return std::unexpected("'timeline' holds an entry that is not [succeeded, failed]");
    }
    r.timeline.push_back({second[0].get<std::uint64_t>(), second[1].get<std::uint64_t>()});
  }
  if (json.contains("open_loop") && !json["open_loop"].is_null()) {
    FieldReader open(top.object("open_loop"), "open_loop.");
    OpenLoopStats o;
    o.rps = open.number("rps");
    o.scheduled = open.count("scheduled");
    o.late = open.count("late");
    o.waited_for_stream = open.count("waited_for_stream");
    o.not_sent = open.count("not_sent");
    o.max_lag = std::chrono::microseconds(std::llround(open.number("max_lag_ms") * 1000));
    if (open.error()) return std::unexpected(*open.error());
    r.open_loop = o;
  }
  FieldReader settings(top.object("settings"), "settings.");
  BenchSettings& s = report.settings;
  s.requests = settings.optional<std::uint64_t>("requests");
  s.duration_s = settings.optional<double>("duration_s");
  s.connections = settings.count("connections");
  s.streams = settings.count("streams_per_connection");
  s.warmup_s = settings.number("warmup_s");
  s.rps = settings.optional<double>("rps");
  s.requests_per_connection = settings.optional<std::uint64_t>("requests_per_connection");
  s.urls = settings.count("urls");
  for (const FieldReader* reader : {&top, &counts, &statuses, &traffic, &rates, &settings}) {
    if (reader->error()) return std::unexpected(*reader->error());
  }
  if (r.ok > r.requests) return std::unexpected("'counts.succeeded' is more than 'counts.done'");
  if (auto problem = read_histograms(top.object("histograms"), r)) return std::unexpected(*problem);
  if (top.error()) return std::unexpected(*top.error());
  if (r.latency.count() != r.ok) {
    return std::unexpected(fmt::format("'histograms.request' holds {} values, but {} requests succeeded",
                                       r.latency.count(), r.ok));
  }
  return report;
}

LoadedBenchReport merge_bench_reports(const std::vector<LoadedBenchReport>& reports) {
  LoadedBenchReport merged = reports.front();
  std::vector<std::string> targets{merged.what.target};
  for (std::size_t i = 1; i < reports.size(); ++i) {
    const LoadedBenchReport& other = reports[i];
    merged.result.merge(other.result);
    merged.settings.connections += other.settings.connections;
    if (merged.settings.rps && other.settings.rps) *merged.settings.rps += *other.settings.rps;
    merged.what.embedded = merged.what.embedded && other.what.embedded;
    if (std::find(targets.begin(), targets.end(), other.what.target) == targets.end()) targets.push_back(other.what.target);
  }
  merged.what.target = targets.front();
  for (std::size_t i = 1; i < targets.size(); ++i) merged.what.target += "; " + targets[i];
  return merged;
}

}  // namespace quiver::cli

#include "bench_result.hpp"

#include <algorithm>

namespace quiver::cli {

bool is_timeout(const Error& error) noexcept {
  switch (error.kind()) {
    case ErrorKind::idle_timeout:
    case ErrorKind::request_timeout:
    case ErrorKind::checkout_timeout: return true;
    case ErrorKind::handshake_failed: return error.handshake_failure == HandshakeFailure::timeout;
    default: return false;
  }
}

// ---- OpenLoopStats ---------------------------------------------------------------------------------

void OpenLoopStats::merge(const OpenLoopStats& other) {
  rps += other.rps;
  scheduled += other.scheduled;
  late += other.late;
  waited_for_stream += other.waited_for_stream;
  not_sent += other.not_sent;
  max_lag = std::max(max_lag, other.max_lag);
}

// ---- BenchTally ------------------------------------------------------------------------------------

TimelineSecond& BenchTally::second_of(std::chrono::nanoseconds at) {
  const auto second = static_cast<std::size_t>(std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(at).count()));
  if (timeline.size() <= second) timeline.resize(second + 1);
  return timeline[second];
}

void BenchTally::record_response(const ResponseSample& sample) {
  header_bytes += sample.header_bytes;
  body_bytes += sample.body_bytes;
  if (sample.status >= 100 && sample.status < 600) ++statuses[static_cast<std::size_t>(sample.status / 100)];
  if (sample.status < 400) {
    ++ok;
    bytes += sample.body_bytes;
    latency.record(sample.took);
    first_byte.record(sample.first_byte);
    ++second_of(sample.at).succeeded;
    return;
  }
  ++failed;
  ++second_of(sample.at).failed;
  ++errors[sample.status < 500 ? "status_4xx" : "status_5xx"];
  if (!first_error && !first_error_status) first_error_status = sample.status;
}

void BenchTally::record_error(const Error& error, std::chrono::nanoseconds at) {
  ++failed;
  ++errored;
  if (is_timeout(error)) ++timed_out;
  ++second_of(at).failed;
  ++errors[std::string(to_string(error.kind()))];
  if (!first_error && !first_error_status) first_error = error;
}

void BenchTally::add_to(BenchResult& result) const {
  result.started += started;
  result.requests += ok + failed;
  result.ok += ok;
  result.errored += errored;
  result.timed_out += timed_out;
  result.bytes += bytes;
  result.header_bytes += header_bytes;
  result.body_bytes += body_bytes;
  for (std::size_t i = 0; i < statuses.size(); ++i) result.statuses[i] += statuses[i];
  for (const auto& [kind, count] : errors) result.errors[kind] += count;
  if (!result.first_error && !result.first_error_status) {
    result.first_error = first_error;
    result.first_error_status = first_error_status;
  }
  result.latency.merge(latency);
  result.first_byte.merge(first_byte);
  if (result.timeline.size() < timeline.size()) result.timeline.resize(timeline.size());
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    result.timeline[i].succeeded += timeline[i].succeeded;
    result.timeline[i].failed += timeline[i].failed;
  }
}

// ---- BenchResult -----------------------------------------------------------------------------------

std::uint64_t BenchResult::error_count() const { return requests - ok; }

double BenchResult::requests_per_second() const {
  return elapsed.count() > 0 ? static_cast<double>(ok) / elapsed.count() : 0;
}

double BenchResult::megabytes_per_second() const {
  return elapsed.count() > 0 ? static_cast<double>(bytes) / 1e6 / elapsed.count() : 0;
}

void BenchResult::merge(const BenchResult& other) {
  total += other.total;
  started += other.started;
  requests += other.requests;
  ok += other.ok;
  errored += other.errored;
  timed_out += other.timed_out;
  not_finished += other.not_finished;
  for (std::size_t i = 0; i < statuses.size(); ++i) statuses[i] += other.statuses[i];
  for (const auto& [kind, count] : other.errors) errors[kind] += count;
  if (!first_error && !first_error_status) {
    first_error = other.first_error;
    first_error_status = other.first_error_status;
  }
  bytes += other.bytes;
  header_bytes += other.header_bytes;
  body_bytes += other.body_bytes;
  elapsed = std::max(elapsed, other.elapsed);
  latency.merge(other.latency);
  first_byte.merge(other.first_byte);
  connect.merge(other.connect);
  connections += other.connections;
  retries += other.retries;
  connection_rates.insert(connection_rates.end(), other.connection_rates.begin(), other.connection_rates.end());
  if (timeline.size() < other.timeline.size()) timeline.resize(other.timeline.size());
  for (std::size_t i = 0; i < other.timeline.size(); ++i) {
    timeline[i].succeeded += other.timeline[i].succeeded;
    timeline[i].failed += other.timeline[i].failed;
  }
  if (other.open_loop) {
    if (open_loop) {
      open_loop->merge(*other.open_loop);
    } else {
      open_loop = other.open_loop;
    }
  }
  cpu_seconds += other.cpu_seconds;
  reports += other.reports;
  if (aborted == BenchAbort::none) aborted = other.aborted;
}

}  // namespace quiver::cli

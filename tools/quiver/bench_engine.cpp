#include "bench_engine.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include <asio/post.hpp>
#include <fmt/format.h>

#include "quiver/client.hpp"
#include "telemetry_sinks.hpp"

namespace quiver::cli {

namespace {

using Clock = std::chrono::steady_clock;

// A request waits at most this long for a stream; the bench keeps at most streams-per-connection in
// flight, so only a server granting fewer streams than -m makes requests wait at all.
constexpr std::chrono::seconds checkout_timeout{30};
constexpr std::chrono::milliseconds shutdown_deadline{1000};
// Each lane's body buffer: the most body bytes one read takes.
constexpr std::size_t kReadBytes = 64 * 1024;

// When the lanes of one phase stop, shared by every worker. Thread-safe.
class Phase {
 public:
  Phase(std::optional<std::uint64_t> requests, std::optional<Clock::duration> duration, bool record, std::size_t lanes)
      : record(record),
        tickets_(requests ? static_cast<std::int64_t>(*requests) : std::numeric_limits<std::int64_t>::max()),
        deadline_(duration ? Clock::now() + *duration : Clock::time_point::max()),
        running_(lanes) {}

  // Whether a lane may send one more request.
  bool take_ticket() {
    if (aborted_ || Clock::now() >= deadline_) return false;
    return tickets_.fetch_sub(1) > 0;
  }
  // No more requests (in-flight ones still complete).
  void abort() { aborted_ = true; }
  bool aborted() const { return aborted_; }

  void lane_finished() {
    std::lock_guard lock(mutex_);
    if (--running_ == 0) finished_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [this] { return running_ == 0; });
  }

  const bool record;  // false while warming up

 private:
  std::atomic<std::int64_t> tickets_;
  const Clock::time_point deadline_;
  std::atomic<bool> aborted_{false};
  std::mutex mutex_;
  std::condition_variable finished_;
  std::size_t running_;  // lanes still sending
};

// One worker's statistics. Written only on the worker's io thread; the atomics are also read live.
struct WorkerStats {
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> failed{0};
  std::uint64_t ok = 0;
  std::uint64_t bytes = 0;
  std::map<std::string, std::uint64_t> errors;
  std::optional<Error> first_error;
  std::optional<int> first_error_status;
  LatencyHistogram latency;

  void record(const Error& error, Clock::duration took) {
    latency.record(took);
    ++completed;
    ++failed;
    ++errors[std::string(to_string(error.kind()))];
    if (!first_error && !first_error_status) first_error = error;
  }

  void record(int status, std::uint64_t body_bytes, Clock::duration took) {
    latency.record(took);
    ++completed;
    bytes += body_bytes;
    if (status < 400) {
      ++ok;
      return;
    }
    ++failed;
    ++errors[status < 500 ? "status_4xx" : "status_5xx"];
    if (!first_error && !first_error_status) first_error_status = status;
  }
};

// A failure that will repeat on every attempt while no connection has ever been made.
bool cannot_connect(const Error& error) {
  return error.kind() == ErrorKind::handshake_failed || error.kind() == ErrorKind::resolve_failed;
}

ClientOptions worker_client_options(const BenchPlan& plan, std::size_t connections, std::shared_ptr<Telemetry> telemetry) {
  ClientOptions options;
  options.io_threads = 1;
  options.shutdown_deadline = shutdown_deadline;
  options.defaults.connection = plan.connection;
  options.defaults.connection.telemetry = std::move(telemetry);
  options.defaults.max_connections = connections;
  options.defaults.checkout_timeout = checkout_timeout;
  return options;
}

// One client (one io thread) and its lanes.
class Worker {
 public:
  Worker(const BenchPlan& plan, std::size_t connections, std::shared_ptr<CountingTelemetry> telemetry)
      : plan_(plan), lanes_(connections * plan.streams), telemetry_(telemetry),
        client_(worker_client_options(plan, connections, std::move(telemetry))) {}

  // Starts every lane on the client's io thread; `phase` must outlive them (Phase::wait()).
  void start(Phase& phase) {
    asio::post(client_.executor(), [this, &phase] {
      for (auto& lane : lanes_) issue(phase, lane);
    });
  }

  std::size_t lanes() const noexcept { return lanes_.size(); }
  WorkerStats& stats() noexcept { return stats_; }

 private:
  // One chain of requests, one at a time. Its body buffer is reused by every response it reads.
  struct Lane {
    std::unique_ptr<char[]> buffer{new char[kReadBytes]};  // not zeroed: untouched pages stay unmapped
    std::optional<ResponseStream> response;
    Clock::time_point started;
    std::uint64_t body_bytes = 0;
  };

  // One step of a lane; runs on the io thread (completions run there: the client's executor).
  void issue(Phase& phase, Lane& lane) {
    lane.response.reset();
    if (!phase.take_ticket()) {
      phase.lane_finished();
      return;
    }
    lane.started = Clock::now();
    lane.body_bytes = 0;
    client_.async_stream(plan_.request, [this, &phase, &lane](Result<ResponseStream> result) {
      if (!result) return finish(phase, lane, result.error());
      lane.response.emplace(std::move(*result));
      read_body(phase, lane);
    });
  }

  // The body is counted and dropped as it arrives, as h2load does.
  void read_body(Phase& phase, Lane& lane) {
    lane.response->async_read_some({lane.buffer.get(), kReadBytes}, [this, &phase, &lane](Result<std::size_t> read) {
      if (!read) return finish(phase, lane, read.error());
      if (*read == 0) {
        if (phase.record) stats_.record(lane.response->status(), lane.body_bytes, Clock::now() - lane.started);
        return issue(phase, lane);
      }
      lane.body_bytes += *read;
      read_body(phase, lane);
    });
  }

  void finish(Phase& phase, Lane& lane, const Error& error) {
    if (phase.record) stats_.record(error, Clock::now() - lane.started);
    if (cannot_connect(error) && telemetry_->connections_ready() == 0) phase.abort();
    issue(phase, lane);
  }

  const BenchPlan& plan_;
  std::vector<Lane> lanes_;
  std::shared_ptr<CountingTelemetry> telemetry_;
  WorkerStats stats_;
  Client client_;  // last: destroyed first, after every lane has finished
};

std::vector<std::unique_ptr<Worker>> make_workers(const BenchPlan& plan, const std::shared_ptr<CountingTelemetry>& telemetry) {
  std::vector<std::unique_ptr<Worker>> workers;
  const std::size_t threads = std::clamp<std::size_t>(plan.threads, 1, plan.connections);
  for (std::size_t i = 0; i < threads; ++i) {
    const std::size_t share = plan.connections / threads + (i < plan.connections % threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(plan, share, telemetry));
  }
  return workers;
}

std::size_t total_lanes(const std::vector<std::unique_ptr<Worker>>& workers) {
  std::size_t lanes = 0;
  for (const auto& worker : workers) lanes += worker->lanes();
  return lanes;
}

// Starts every worker on `phase` and blocks until all its lanes stopped.
void run_phase(std::vector<std::unique_ptr<Worker>>& workers, Phase& phase) {
  for (auto& worker : workers) worker->start(phase);
  phase.wait();
}

// "  4231 requests (42%)  8460 req/s  0 errors"
std::string live_line(const std::vector<std::unique_ptr<Worker>>& workers, const BenchPlan& plan, Clock::time_point start) {
  std::uint64_t completed = 0, failed = 0;
  for (const auto& worker : workers) {
    completed += worker->stats().completed.load();
    failed += worker->stats().failed.load();
  }
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  const double rate = elapsed.count() > 0 ? static_cast<double>(completed) / elapsed.count() : 0;
  const double done = plan.requests ? static_cast<double>(completed) / static_cast<double>(*plan.requests)
                                    : elapsed / *plan.duration;
  return fmt::format("  {} requests ({:.0f}%)  {:.0f} req/s  {} errors", completed, std::min(done, 1.0) * 100, rate,
                     failed);
}

BenchResult collect(std::vector<std::unique_ptr<Worker>>& workers, const CountingTelemetry& telemetry) {
  BenchResult result;
  for (auto& worker : workers) {
    WorkerStats& stats = worker->stats();
    result.requests += stats.completed;
    result.ok += stats.ok;
    result.bytes += stats.bytes;
    for (const auto& [kind, count] : stats.errors) result.errors[kind] += count;
    if (!result.first_error && !result.first_error_status) {
      result.first_error = stats.first_error;
      result.first_error_status = stats.first_error_status;
    }
    result.latency.merge(stats.latency);
  }
  result.connections = telemetry.connections_ready();
  result.handshake_mean = telemetry.handshake_mean();
  result.handshake_max = telemetry.handshake_max();
  result.retries = telemetry.retries();
  return result;
}

}  // namespace

std::uint64_t BenchResult::error_count() const { return requests - ok; }

double BenchResult::requests_per_second() const {
  return elapsed.count() > 0 ? static_cast<double>(requests) / elapsed.count() : 0;
}

double BenchResult::megabytes_per_second() const {
  return elapsed.count() > 0 ? static_cast<double>(bytes) / 1e6 / elapsed.count() : 0;
}

BenchResult run_bench(const BenchPlan& plan, Console* live) {
  auto telemetry = std::make_shared<CountingTelemetry>();
  auto workers = make_workers(plan, telemetry);
  const std::size_t lanes = total_lanes(workers);

  if (plan.warmup.count() > 0) {
    Phase warmup(std::nullopt, plan.warmup, false, lanes);
    std::optional<StatusTicker> ticker;
    if (live) ticker.emplace(*live, [] { return std::string("  warming up..."); });
    run_phase(workers, warmup);
    if (ticker) ticker->stop(false);
  }

  Phase measured(plan.requests, plan.duration, true, lanes);
  const auto start = Clock::now();
  {
    std::optional<StatusTicker> ticker;
    if (live) ticker.emplace(*live, [&] { return live_line(workers, plan, start); });
    run_phase(workers, measured);
    if (ticker) ticker->stop(false);
  }
  const auto end = Clock::now();

  BenchResult result = collect(workers, *telemetry);
  result.elapsed = end - start;
  result.aborted = measured.aborted();
  return result;
}

}  // namespace quiver::cli

#include "bench_engine.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <limits>
#include <mutex>
#include <vector>

#include <asio/post.hpp>
#include <fmt/format.h>

#include "exit_codes.hpp"
#include "quiver/client.hpp"
#include "telemetry_sinks.hpp"

namespace quiver::cli {

namespace {

using Clock = std::chrono::steady_clock;

// A request waits at most this long for a stream; a driver keeps at most -m requests in flight on its
// one connection, so only a server granting fewer streams than -m makes requests wait at all.
constexpr std::chrono::seconds checkout_timeout{30};
// How long closing a driver lets its connection drain when no request of the bench is left on it.
constexpr std::chrono::milliseconds drain_deadline{1000};
// Each lane's body buffer: the most body bytes one read takes.
constexpr std::size_t kReadBytes = 64 * 1024;
// How long the main thread waits for a driver's io thread to hand over its tally (it never blocks).
constexpr std::chrono::seconds handover_limit{10};

// A failure that repeats on every attempt while the server cannot be reached.
bool cannot_connect(const Error& error) {
  return error.kind() == ErrorKind::handshake_failed || error.kind() == ErrorKind::resolve_failed ||
         is_connection_refused(error);
}

// When the lanes of one phase stop, shared by every driver. Thread-safe.
class Phase {
 public:
  Phase(std::optional<std::uint64_t> requests, std::optional<Clock::duration> duration, bool record, std::size_t lanes)
      : record(record),
        tickets_(requests ? static_cast<std::int64_t>(*requests) : std::numeric_limits<std::int64_t>::max()),
        deadline_(duration ? std::optional(Clock::now() + *duration) : std::nullopt),
        lanes_(lanes),
        running_(lanes) {}

  // Whether a lane may send one more request.
  bool take_ticket() {
    if (aborted() != BenchAbort::none || (deadline_ && Clock::now() >= *deadline_)) return false;
    return tickets_.fetch_sub(1) > 0;
  }

  // The server answered: connection failures before this one do not count towards giving up.
  void response_arrived() { connect_failures_.store(0, std::memory_order_relaxed); }
  // A request failed because no connection could be made. The phase gives up at once if no connection
  // was ever made, or when every lane's attempt since the last response failed that way.
  void connect_failed(bool ever_connected) {
    if (!ever_connected) return abort(BenchAbort::never_connected);
    if (connect_failures_.fetch_add(1) + 1 >= lanes_) abort(BenchAbort::connections_failing);
  }
  BenchAbort aborted() const { return aborted_.load(); }

  void lane_finished() {
    std::lock_guard lock(mutex_);
    if (--running_ == 0) changed_.notify_all();
  }
  // Blocks until every lane has stopped or the phase was aborted; with `cut_at_deadline`, also until
  // its deadline at the latest (requests still in flight then are not waited for).
  void wait(bool cut_at_deadline) {
    std::unique_lock lock(mutex_);
    const auto over = [this] { return running_ == 0 || aborted() != BenchAbort::none; };
    if (cut_at_deadline && deadline_) {
      changed_.wait_until(lock, *deadline_, over);
    } else {
      changed_.wait(lock, over);
    }
  }

  const bool record;  // false while warming up

 private:
  void abort(BenchAbort why) {
    BenchAbort none = BenchAbort::none;
    if (!aborted_.compare_exchange_strong(none, why)) return;
    std::lock_guard lock(mutex_);
    changed_.notify_all();
  }

  std::atomic<std::int64_t> tickets_;
  const std::optional<Clock::time_point> deadline_;
  const std::size_t lanes_;
  std::atomic<std::size_t> connect_failures_{0};
  std::atomic<BenchAbort> aborted_{BenchAbort::none};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t running_;  // lanes still sending
};

ClientOptions driver_client_options(const BenchPlan& plan, std::shared_ptr<Telemetry> telemetry) {
  ClientOptions options;
  options.io_threads = 1;
  options.shutdown_deadline = drain_deadline;
  options.defaults.connection = plan.connection;
  options.defaults.connection.telemetry = std::move(telemetry);
  options.defaults.max_connections = 1;
  options.defaults.checkout_timeout = checkout_timeout;
  return options;
}

// One connection (its own client and io thread) and its lanes.
class ConnectionDriver {
 public:
  // What close() hands over.
  struct Handover {
    BenchTally tally;
    std::uint64_t in_flight = 0;
  };

  ConnectionDriver(const BenchPlan& plan, std::shared_ptr<CountingTelemetry> telemetry)
      : plan_(plan), lanes_(plan.streams), telemetry_(telemetry), client_(driver_client_options(plan, std::move(telemetry))) {}

  // Closes the connection: at once if requests of the bench are still on it (they were abandoned).
  ~ConnectionDriver() { client_.shutdown(abandoned_ ? std::chrono::milliseconds(0) : drain_deadline); }

  // Starts every lane on the io thread.
  void start(const std::shared_ptr<Phase>& phase) {
    asio::post(client_.executor(), [this, phase] {
      for (auto& lane : lanes_) issue(phase, lane);
    });
  }

  // On the io thread: stops the lanes for good (nothing more is recorded or sent; bodies still being
  // read are dropped) and hands over the tally with the number of requests still in flight.
  Handover close() {
    auto handed = std::make_shared<std::promise<Handover>>();
    auto handover = handed->get_future();
    asio::post(client_.executor(), [this, handed] {
      closed_ = true;
      Handover result{tally_, 0};
      for (auto& lane : lanes_) {
        result.in_flight += lane.busy ? 1 : 0;
        lane.response.reset();
      }
      abandoned_ = result.in_flight > 0;
      handed->set_value(std::move(result));
    });
    if (handover.wait_for(handover_limit) != std::future_status::ready) return {};
    return handover.get();
  }

  std::uint64_t completed() const noexcept { return completed_.load(std::memory_order_relaxed); }
  std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }

 private:
  // One chain of requests, one at a time. Its body buffer is reused by every response it reads.
  struct Lane {
    std::unique_ptr<char[]> buffer{new char[kReadBytes]};  // not zeroed: untouched pages stay unmapped
    std::optional<ResponseStream> response;
    Clock::time_point started;
    std::uint64_t body_bytes = 0;
    bool busy = false;  // a request is in flight
  };

  // One step of a lane; runs on the io thread (completions run there: the client's executor).
  void issue(const std::shared_ptr<Phase>& phase, Lane& lane) {
    lane.response.reset();
    lane.busy = false;
    if (closed_) return;
    if (!phase->take_ticket()) return phase->lane_finished();
    lane.busy = true;
    lane.started = Clock::now();
    lane.body_bytes = 0;
    client_.async_stream(plan_.request, [this, phase, &lane](Result<ResponseStream> result) {
      if (closed_) return;
      if (!result) return finish(phase, lane, result.error());
      phase->response_arrived();
      lane.response.emplace(std::move(*result));
      read_body(phase, lane);
    });
  }

  // The body is counted and dropped as it arrives, as h2load does.
  void read_body(const std::shared_ptr<Phase>& phase, Lane& lane) {
    lane.response->async_read_some({lane.buffer.get(), kReadBytes}, [this, phase, &lane](Result<std::size_t> read) {
      if (closed_) return;
      if (!read) return finish(phase, lane, read.error());
      if (*read > 0) {
        lane.body_bytes += *read;
        return read_body(phase, lane);
      }
      if (phase->record) {
        tally_.record_response(lane.response->status(), lane.body_bytes, Clock::now() - lane.started);
        count(lane.response->status() < 400);
      }
      issue(phase, lane);
    });
  }

  void finish(const std::shared_ptr<Phase>& phase, Lane& lane, const Error& error) {
    if (phase->record) {
      tally_.record_error(error);
      count(false);
    }
    if (cannot_connect(error)) phase->connect_failed(telemetry_->connections_ready() > 0);
    issue(phase, lane);
  }

  void count(bool ok) {
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (!ok) failed_.fetch_add(1, std::memory_order_relaxed);
  }

  const BenchPlan& plan_;
  std::vector<Lane> lanes_;
  std::shared_ptr<CountingTelemetry> telemetry_;
  BenchTally tally_;             // io thread only
  bool closed_ = false;          // io thread only
  bool abandoned_ = false;       // written on the io thread before close() returns
  std::atomic<std::uint64_t> completed_{0}, failed_{0};  // read live by the status line
  Client client_;  // last: destroyed first, after which no completion runs
};

using Drivers = std::vector<std::unique_ptr<ConnectionDriver>>;

// Starts every driver on `phase`.
void start_phase(Drivers& drivers, const std::shared_ptr<Phase>& phase) {
  for (auto& driver : drivers) driver->start(phase);
}

// "  4231 requests (42%)  8460 req/s  0 errors"
std::string live_line(const Drivers& drivers, const BenchPlan& plan, Clock::time_point start) {
  std::uint64_t completed = 0, failed = 0;
  for (const auto& driver : drivers) {
    completed += driver->completed();
    failed += driver->failed();
  }
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  const double rate = elapsed.count() > 0 ? static_cast<double>(completed - failed) / elapsed.count() : 0;
  const double done = plan.requests ? static_cast<double>(completed) / static_cast<double>(*plan.requests)
                                    : elapsed / *plan.duration;
  return fmt::format("  {} requests ({:.0f}%)  {:.0f} req/s  {} errors", completed, std::min(done, 1.0) * 100, rate,
                     failed);
}

}  // namespace

// ---- BenchTally ------------------------------------------------------------------------------------

void BenchTally::record_response(int status, std::uint64_t body_bytes, std::chrono::nanoseconds took) {
  if (status < 400) {
    ++ok;
    bytes += body_bytes;
    latency.record(took);
    return;
  }
  ++failed;
  ++errors[status < 500 ? "status_4xx" : "status_5xx"];
  if (!first_error && !first_error_status) first_error_status = status;
}

void BenchTally::record_error(const Error& error) {
  ++failed;
  ++errors[std::string(to_string(error.kind()))];
  if (!first_error && !first_error_status) first_error = error;
}

void BenchTally::add_to(BenchResult& result) const {
  result.requests += ok + failed;
  result.ok += ok;
  result.bytes += bytes;
  for (const auto& [kind, count] : errors) result.errors[kind] += count;
  if (!result.first_error && !result.first_error_status) {
    result.first_error = first_error;
    result.first_error_status = first_error_status;
  }
  result.latency.merge(latency);
}

// ---- BenchResult -----------------------------------------------------------------------------------

std::uint64_t BenchResult::error_count() const { return requests - ok; }

double BenchResult::requests_per_second() const {
  return elapsed.count() > 0 ? static_cast<double>(ok) / elapsed.count() : 0;
}

double BenchResult::megabytes_per_second() const {
  return elapsed.count() > 0 ? static_cast<double>(bytes) / 1e6 / elapsed.count() : 0;
}

// ---- BenchRun --------------------------------------------------------------------------------------

class BenchRun::Impl {
 public:
  explicit Impl(const BenchPlan& plan) : plan_(plan), telemetry_(std::make_shared<CountingTelemetry>()) {
    for (std::size_t i = 0; i < std::max<std::size_t>(plan_.connections, 1); ++i) {
      drivers_.push_back(std::make_unique<ConnectionDriver>(plan_, telemetry_));
    }
  }

  BenchResult run(Console* live) {
    const std::size_t lanes = drivers_.size() * plan_.streams;
    BenchAbort warmup_abort = BenchAbort::none;
    if (plan_.warmup.count() > 0) {
      auto warmup = std::make_shared<Phase>(std::nullopt, plan_.warmup, false, lanes);
      std::optional<StatusTicker> ticker;
      if (live) ticker.emplace(*live, [] { return std::string("  warming up..."); });
      start_phase(drivers_, warmup);
      warmup->wait(/*cut_at_deadline=*/false);  // its requests in flight finish: the lanes are free after
      warmup_abort = warmup->aborted();
      if (ticker) ticker->stop(false);
    }

    auto measured = std::make_shared<Phase>(plan_.requests, plan_.duration, true, lanes);
    const auto start = Clock::now();
    if (warmup_abort == BenchAbort::none) {
      std::optional<StatusTicker> ticker;
      if (live) ticker.emplace(*live, [&] { return live_line(drivers_, plan_, start); });
      start_phase(drivers_, measured);
      measured->wait(/*cut_at_deadline=*/true);
      if (ticker) ticker->stop(false);
    }
    const auto end = Clock::now();

    BenchResult result;
    for (auto& driver : drivers_) {
      const ConnectionDriver::Handover handover = driver->close();
      handover.tally.add_to(result);
      result.not_finished += handover.in_flight;
    }
    result.elapsed = end - start;
    result.aborted = warmup_abort != BenchAbort::none ? warmup_abort : measured->aborted();
    result.connections = telemetry_->connections_ready();
    result.handshake_mean = telemetry_->handshake_mean();
    result.handshake_max = telemetry_->handshake_max();
    result.retries = telemetry_->retries();
    return result;
  }

 private:
  const BenchPlan& plan_;
  std::shared_ptr<CountingTelemetry> telemetry_;
  Drivers drivers_;
};

BenchRun::BenchRun(const BenchPlan& plan) : impl_(std::make_unique<Impl>(plan)) {}
BenchRun::~BenchRun() = default;
BenchResult BenchRun::run(Console* live) { return impl_->run(live); }

BenchResult run_bench(const BenchPlan& plan, Console* live) {
  BenchRun run(plan);
  return run.run(live);
}

}  // namespace quiver::cli

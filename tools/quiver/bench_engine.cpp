#include "bench_engine.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <future>
#include <iterator>
#include <limits>
#include <thread>

#include <asio/bind_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "exit_codes.hpp"
#include "quiver/client.hpp"
#include "quiver/telemetry.hpp"
#include "units.hpp"

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
// How long the main thread waits for a driver's executor to hand over its tally (it never blocks).
constexpr std::chrono::seconds handover_limit{10};
// A driver hands its --log-file lines over in pieces of about this size.
constexpr std::size_t log_flush_bytes = 64 * 1024;

// A failure that repeats on every attempt while the server cannot be reached.
bool cannot_connect(const Error& error) {
  return error.kind() == ErrorKind::handshake_failed || error.kind() == ErrorKind::resolve_failed ||
         is_connection_refused(error);
}

double cpu_seconds_now() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Handshake times and retries of every client of the bench. Called on the clients' io threads.
class BenchTelemetry final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type != ConnectionEvent::Type::ready) return;
    ready_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    connect_.record(event.duration);
  }
  void on_request_event(const RequestEvent& event) override {
    if (event.type == RequestEvent::Type::retry) retries_.fetch_add(1, std::memory_order_relaxed);
  }

  std::uint64_t connections_ready() const noexcept { return ready_.load(std::memory_order_relaxed); }
  std::uint64_t retries() const noexcept { return retries_.load(std::memory_order_relaxed); }
  LatencyHistogram connect_times() const {
    std::lock_guard lock(mutex_);
    return connect_;
  }

 private:
  std::atomic<std::uint64_t> ready_{0}, retries_{0};
  mutable std::mutex mutex_;
  LatencyHistogram connect_;  // every handshake, warm-up included: connections are made once
};

// When the requests of one phase are sent and when the phase stops, shared by every driver.
// Thread-safe.
class Phase {
 public:
  Phase(const BenchPlan& plan, bool record, std::optional<std::uint64_t> requests,
        std::optional<Clock::duration> duration, std::size_t units)
      : record(record),
        start(Clock::now()),
        wall_start(std::chrono::system_clock::now()),
        requests_(requests),
        deadline_(duration ? std::optional(start + *duration) : std::nullopt),
        rps_(plan.rps),
        lanes_(plan.connections * plan.streams),
        running_(units) {}

  // Closed loop: the index of one more request to send, if the phase allows one.
  std::optional<std::uint64_t> take_ticket() {
    if (aborted() != BenchAbort::none || past_deadline(Clock::now())) return std::nullopt;
    const std::uint64_t index = issued_.fetch_add(1);
    if (requests_ && index >= *requests_) return std::nullopt;
    return index;
  }

  // Open loop: when request `index` is meant to be sent.
  Clock::time_point intended(std::uint64_t index) const {
    return start + std::chrono::nanoseconds(std::llround(static_cast<double>(index) * 1e9 / *rps_));
  }
  // Open loop: how many requests the schedule holds (their intended times fall before the deadline,
  // and within -n).
  std::uint64_t scheduled() const {
    std::uint64_t count = requests_.value_or(std::numeric_limits<std::uint64_t>::max());
    if (deadline_) {
      auto by_deadline = static_cast<std::uint64_t>(std::max(0.0, std::floor(std::chrono::duration<double>(*deadline_ - start).count() * *rps_)));
      while (by_deadline > 0 && intended(by_deadline - 1) >= *deadline_) --by_deadline;
      while (intended(by_deadline) < *deadline_) ++by_deadline;
      count = std::min(count, by_deadline);
    }
    return count;
  }

  bool past_deadline(Clock::time_point now) const { return deadline_ && now >= *deadline_; }

  // The server answered: connection failures before this one do not count towards giving up.
  void response_arrived() { connect_failures_.store(0, std::memory_order_relaxed); }
  // A request failed because no connection could be made. The phase gives up at once if no connection
  // was ever made, or when every lane's attempt since the last response failed that way.
  void connect_failed(bool ever_connected) {
    if (!ever_connected) return abort(BenchAbort::never_connected);
    if (connect_failures_.fetch_add(1) + 1 >= lanes_) abort(BenchAbort::connections_failing);
  }
  BenchAbort aborted() const { return aborted_.load(); }

  // A unit (a lane in closed loop, a driver in open loop) has nothing more to send or wait for.
  void unit_finished() {
    std::lock_guard lock(mutex_);
    if (--running_ == 0) changed_.notify_all();
  }
  // Blocks until every unit has finished or the phase was aborted; with `cut_at_deadline`, also until
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
  const Clock::time_point start;
  const std::chrono::system_clock::time_point wall_start;  // the same instant, for --log-file

 private:
  void abort(BenchAbort why) {
    BenchAbort none = BenchAbort::none;
    if (!aborted_.compare_exchange_strong(none, why)) return;
    std::lock_guard lock(mutex_);
    changed_.notify_all();
  }

  const std::optional<std::uint64_t> requests_;
  const std::optional<Clock::time_point> deadline_;
  const std::optional<double> rps_;
  const std::size_t lanes_;
  std::atomic<std::uint64_t> issued_{0};
  std::atomic<std::size_t> connect_failures_{0};
  std::atomic<BenchAbort> aborted_{BenchAbort::none};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t running_;  // units still sending or waiting
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

// Destroys retired clients on its own thread, so a driver never waits for a connection to close.
class ClientReaper {
 public:
  ClientReaper() : thread_([this] { run(); }) {}
  ~ClientReaper() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  ClientReaper(const ClientReaper&) = delete;
  ClientReaper& operator=(const ClientReaper&) = delete;

  void retire(std::unique_ptr<Client> client) {
    {
      std::lock_guard lock(mutex_);
      retired_.push_back(std::move(client));
    }
    wake_.notify_all();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !retired_.empty(); });
      while (!retired_.empty()) {
        auto client = std::move(retired_.front());
        retired_.pop_front();
        lock.unlock();
        client.reset();  // its connection drains: nothing of the bench is left on it
        lock.lock();
      }
      if (stopping_) return;
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Client>> retired_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

// The driver's own executor when its clients come and go (churn): an io_context on a thread.
class OwnExecutor {
 public:
  OwnExecutor() : work_(asio::make_work_guard(context_)), thread_([this] { context_.run(); }) {}
  // Lets the context finish what is queued (completions of destroyed clients), then joins.
  ~OwnExecutor() {
    work_.reset();
    thread_.join();
  }
  asio::any_io_executor executor() { return context_.get_executor(); }

 private:
  asio::io_context context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

// One connection slot: its client(s), lanes and tally.
class ConnectionDriver {
 public:
  // What close() hands over.
  struct Handover {
    BenchTally tally;
    std::uint64_t in_flight = 0;
    std::uint64_t scheduled = 0;  // open loop: this driver's share of the schedule
    OpenLoopStats open_loop;
  };

  ConnectionDriver(const BenchPlan& plan, std::size_t index, std::shared_ptr<BenchTelemetry> telemetry,
                   ClientReaper& reaper)
      : plan_(plan), index_(index), telemetry_(std::move(telemetry)), reaper_(reaper) {
    if (plan_.requests_per_connection) own_executor_.emplace();
    current_ = new_client();
    executor_ = own_executor_ ? own_executor_->executor() : current_->client->executor();
    lanes_.resize(plan.streams);
  }

  // Closes the connections: at once if requests of the bench are still on them (they were abandoned).
  ~ConnectionDriver() {
    const auto deadline = abandoned_ ? std::chrono::milliseconds(0) : drain_deadline;
    for (auto& slot : retiring_) slot->client->shutdown(std::chrono::milliseconds(0));
    current_->client->shutdown(deadline);
    retiring_.clear();
    current_.reset();
    own_executor_.reset();  // runs what the clients left queued (while this driver is whole), then stops
  }

  // Starts sending on the executor.
  void start(const std::shared_ptr<Phase>& phase) {
    asio::post(executor_, [this, phase] {
      unit_reported_ = false;
      if (plan_.rps) {
        next_index_ = index_;
        schedule_done_ = false;
        free_lanes_.clear();  // nothing is in flight between phases
        for (auto& lane : lanes_) free_lanes_.push_back(&lane);
        timer_ = std::make_unique<asio::steady_timer>(executor_);
        return tick(phase);
      }
      free_lanes_.clear();  // closed loop: every lane is a chain of its own
      for (auto& lane : lanes_) issue(phase, lane);
    });
  }

  // On the executor: stops for good (nothing more is recorded or sent; bodies still being read are
  // dropped) and hands over the tally with the number of requests still in flight.
  Handover close(const std::shared_ptr<Phase>& phase) {
    auto handed = std::make_shared<std::promise<Handover>>();
    auto handover = handed->get_future();
    asio::post(executor_, [this, handed, phase] {
      closed_ = true;
      timer_.reset();
      flush_log(/*all=*/true);
      Handover result{tally_, 0, 0, open_loop_};
      for (auto& lane : lanes_) {
        result.in_flight += lane.busy ? 1 : 0;
        lane.response.reset();
      }
      if (plan_.rps) {
        const std::uint64_t total = phase->scheduled();
        result.scheduled = total > index_ ? (total - index_ - 1) / plan_.connections + 1 : 0;
        result.open_loop.scheduled = result.scheduled;
        result.open_loop.not_sent = result.scheduled - std::min(result.scheduled, tally_.started);
      }
      abandoned_ = result.in_flight > 0;
      handed->set_value(std::move(result));
    });
    if (handover.wait_for(handover_limit) != std::future_status::ready) return {};
    return handover.get();
  }

  std::uint64_t completed() const noexcept { return completed_.load(std::memory_order_relaxed); }
  std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  // The latency of the succeeded requests so far (for the live line). Thread-safe.
  LatencyHistogram live_latency() const {
    std::lock_guard lock(live_mutex_);
    return live_latency_;
  }

 private:
  // One client and the requests of the bench it carries.
  struct ClientSlot {
    std::unique_ptr<Client> client;
    std::uint64_t generation = 0;
    std::uint64_t sent = 0;       // requests given to it
    std::uint64_t in_flight = 0;  // of those, not ended yet
  };

  // One request at a time. Its body buffer is reused by every response it reads.
  struct Lane {
    std::unique_ptr<char[]> buffer{new char[kReadBytes]};  // not zeroed: untouched pages stay unmapped
    std::optional<ResponseStream> response;
    ClientSlot* slot = nullptr;
    Clock::time_point started;  // the intended send time in open loop, else the send time
    std::chrono::nanoseconds first_byte{0};
    std::uint64_t header_bytes = 0, body_bytes = 0;
    std::size_t target = 0;
    bool busy = false;  // a request is in flight
  };

  // An open-loop request whose time has come and that no lane has taken yet.
  struct Due {
    std::uint64_t index;
    Clock::time_point intended;
    bool waited;  // every lane was busy when its time came
  };

  std::unique_ptr<ClientSlot> new_client() {
    auto slot = std::make_unique<ClientSlot>();
    slot->client = std::make_unique<Client>(driver_client_options(plan_, telemetry_));
    slot->generation = generation_++;
    return slot;
  }

  // Churn: once the current client has carried its share, requests go to a new one.
  ClientSlot& client_for_next_request() {
    if (plan_.requests_per_connection && current_->sent >= *plan_.requests_per_connection) {
      retiring_.push_back(std::move(current_));
      current_ = new_client();
      reap_idle();
    }
    return *current_;
  }

  void reap_idle() {
    for (auto it = retiring_.begin(); it != retiring_.end();) {
      if ((*it)->in_flight == 0) {
        reaper_.retire(std::move((*it)->client));
        it = retiring_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // ---- closed loop ----

  void issue(const std::shared_ptr<Phase>& phase, Lane& lane) {
    if (closed_) return;
    const auto ticket = phase->take_ticket();
    if (!ticket) return phase->unit_finished();
    send(phase, lane, *ticket, Clock::now());
  }

  // ---- open loop ----

  // Moves every request whose time has come to the backlog, sends what the free lanes can take, and
  // sets the timer for the next one.
  void tick(const std::shared_ptr<Phase>& phase) {
    if (closed_) return;
    const auto now = Clock::now();
    const std::uint64_t limit = phase->scheduled();
    while (!schedule_done_) {
      if (next_index_ >= limit) {
        schedule_done_ = true;
        break;
      }
      const auto intended = phase->intended(next_index_);
      if (intended > now) break;
      const bool waited = backlog_.size() >= free_lanes_.size();
      backlog_.push_back({next_index_, intended, waited});
      next_index_ += plan_.connections;
    }
    dispatch(phase);
    if (!schedule_done_) {
      timer_->expires_at(phase->intended(next_index_));
      timer_->async_wait(asio::bind_executor(executor_, [this, phase](const std::error_code& error) {
        if (!error && !closed_) tick(phase);
      }));
    }
    maybe_finished(phase);
  }

  // Sends backlog requests on free lanes, oldest first. Past the deadline (or after an abort) the
  // backlog is dropped: those requests are not sent.
  void dispatch(const std::shared_ptr<Phase>& phase) {
    const auto now = Clock::now();
    if (phase->past_deadline(now) || phase->aborted() != BenchAbort::none) {
      backlog_.clear();
      schedule_done_ = true;
      return;
    }
    while (!backlog_.empty() && !free_lanes_.empty()) {
      const Due due = backlog_.front();
      backlog_.pop_front();
      if (phase->record) {
        const auto lag = std::chrono::duration_cast<std::chrono::microseconds>(now - due.intended);
        if (lag > OpenLoopStats::late_after) ++open_loop_.late;
        if (due.waited) ++open_loop_.waited_for_stream;
        open_loop_.max_lag = std::max(open_loop_.max_lag, lag);
      }
      Lane& lane = *free_lanes_.back();
      free_lanes_.pop_back();
      send(phase, lane, due.index, due.intended);
    }
  }

  void maybe_finished(const std::shared_ptr<Phase>& phase) {
    if (unit_reported_ || !schedule_done_ || !backlog_.empty() || free_lanes_.size() != lanes_.size()) return;
    unit_reported_ = true;
    phase->unit_finished();
  }

  // ---- both ----

  void send(const std::shared_ptr<Phase>& phase, Lane& lane, std::uint64_t index, Clock::time_point started) {
    lane.busy = true;
    lane.started = started;
    lane.first_byte = {};
    lane.header_bytes = lane.body_bytes = 0;
    lane.target = static_cast<std::size_t>(index % plan_.targets.size());
    if (phase->record) ++tally_.started;
    ClientSlot& slot = client_for_next_request();
    lane.slot = &slot;
    ++slot.sent;
    ++slot.in_flight;
    slot.client->async_stream(plan_.targets[lane.target].request,
                              asio::bind_executor(executor_, [this, phase, &lane](Result<ResponseStream> result) {
                                if (closed_) return;
                                if (!result) return finish(phase, lane, result.error());
                                phase->response_arrived();
                                lane.first_byte = Clock::now() - lane.started;
                                for (const Header& field : result->headers()) {
                                  lane.header_bytes += field.name.size() + field.value.size();
                                }
                                lane.response.emplace(std::move(*result));
                                read_body(phase, lane);
                              }));
  }

  // The body is counted and dropped as it arrives, as h2load does.
  void read_body(const std::shared_ptr<Phase>& phase, Lane& lane) {
    lane.response->async_read_some(
        {lane.buffer.get(), kReadBytes},
        asio::bind_executor(executor_, [this, phase, &lane](Result<std::size_t> read) {
          if (closed_) return;
          if (!read) return finish(phase, lane, read.error());
          if (*read > 0) {
            lane.body_bytes += *read;
            return read_body(phase, lane);
          }
          const auto now = Clock::now();
          const int status = lane.response->status();
          if (phase->record) {
            tally_.record_response({status, lane.header_bytes, lane.body_bytes, now - lane.started, lane.first_byte,
                                    now - phase->start});
            log_line(phase, lane, std::to_string(status), now);
            count(status < 400, now - lane.started);
          }
          lane_done(phase, lane);
        }));
  }

  void finish(const std::shared_ptr<Phase>& phase, Lane& lane, const Error& error) {
    const auto now = Clock::now();
    if (phase->record) {
      tally_.record_error(error, now - phase->start);
      log_line(phase, lane, std::string(to_string(error.kind())), now);
      count(false, {});
    }
    if (cannot_connect(error)) phase->connect_failed(telemetry_->connections_ready() > 0);
    lane_done(phase, lane);
  }

  // The lane's request ended: the lane takes the next request (closed loop) or goes back to the free
  // lanes (open loop), and a retired client whose last request this was is reaped.
  void lane_done(const std::shared_ptr<Phase>& phase, Lane& lane) {
    lane.response.reset();
    lane.busy = false;
    if (--lane.slot->in_flight == 0 && lane.slot != current_.get()) reap_idle();
    lane.slot = nullptr;
    if (!plan_.rps) return issue(phase, lane);
    free_lanes_.push_back(&lane);
    dispatch(phase);
    maybe_finished(phase);
  }

  void count(bool ok, std::chrono::nanoseconds took) {
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (!ok) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(live_mutex_);
    live_latency_.record(took);
  }

  void log_line(const std::shared_ptr<Phase>& phase, const Lane& lane, const std::string& outcome, Clock::time_point now) {
    if (!plan_.log) return;
    const auto wall = phase->wall_start + std::chrono::duration_cast<std::chrono::system_clock::duration>(lane.started - phase->start);
    const auto epoch_us = std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count();
    const auto latency_us = std::chrono::duration_cast<std::chrono::microseconds>(now - lane.started).count();
    fmt::format_to(std::back_inserter(log_buffer_), "{}\t{}\t{}\t{}\t{}.{}\t{}\n", epoch_us, outcome, latency_us,
                   lane.body_bytes, index_, lane.slot ? lane.slot->generation : 0, plan_.targets[lane.target].url);
    flush_log(/*all=*/false);
  }

  void flush_log(bool all) {
    if (!plan_.log || log_buffer_.empty() || (!all && log_buffer_.size() < log_flush_bytes)) return;
    plan_.log->write(log_buffer_);
    log_buffer_.clear();
  }

  const BenchPlan& plan_;
  const std::size_t index_;  // of the connection slot
  std::shared_ptr<BenchTelemetry> telemetry_;
  ClientReaper& reaper_;
  std::optional<OwnExecutor> own_executor_;  // with churn only; destroyed after the clients
  std::uint64_t generation_ = 0;
  std::unique_ptr<ClientSlot> current_;
  std::vector<std::unique_ptr<ClientSlot>> retiring_;  // churned out, requests still on them
  asio::any_io_executor executor_;  // where every completion of this driver runs

  // Everything below is touched on the executor only (after construction).
  std::vector<Lane> lanes_;          // never resized after construction: lanes are referenced
  std::vector<Lane*> free_lanes_;    // open loop: the lanes with nothing in flight
  std::deque<Due> backlog_;          // open loop: due, waiting for a lane
  std::unique_ptr<asio::steady_timer> timer_;  // open loop: the next intended send time
  std::uint64_t next_index_ = 0;     // open loop: the next request of the schedule to become due
  bool schedule_done_ = true;        // open loop: no more requests will become due in this phase
  bool unit_reported_ = false;       // open loop: phase->unit_finished() was called for this phase
  OpenLoopStats open_loop_;
  BenchTally tally_;
  std::string log_buffer_;
  bool closed_ = false;
  bool abandoned_ = false;  // written on the executor before close() returns
  std::atomic<std::uint64_t> completed_{0}, failed_{0};  // read live by the status line
  mutable std::mutex live_mutex_;
  LatencyHistogram live_latency_;
};

using Drivers = std::vector<std::unique_ptr<ConnectionDriver>>;

// Starts every driver on `phase`.
void start_phase(Drivers& drivers, const std::shared_ptr<Phase>& phase) {
  for (auto& driver : drivers) driver->start(phase);
}

// "  4231 requests (42%)  8460 req/s  0 errors  p99 1.23 ms"
std::string live_line(const Drivers& drivers, const BenchPlan& plan, Clock::time_point start) {
  std::uint64_t completed = 0, failed = 0;
  LatencyHistogram latency;
  for (const auto& driver : drivers) {
    completed += driver->completed();
    failed += driver->failed();
    latency.merge(driver->live_latency());
  }
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  const double rate = elapsed.count() > 0 ? static_cast<double>(completed - failed) / elapsed.count() : 0;
  const double done = plan.duration ? elapsed / *plan.duration
                                    : static_cast<double>(completed) / static_cast<double>(*plan.requests);
  return fmt::format("  {} requests ({:.0f}%)  {:.0f} req/s  {} errors  p99 {} ms", completed,
                     std::min(done, 1.0) * 100, rate, failed, format_ms(latency.percentile(99)));
}

}  // namespace

// ---- RequestLog ------------------------------------------------------------------------------------

std::expected<std::shared_ptr<RequestLog>, std::string> RequestLog::open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return std::unexpected(fmt::format("cannot write the log file {}", path));
  return std::shared_ptr<RequestLog>(new RequestLog(file));
}

RequestLog::~RequestLog() { std::fclose(file_); }

void RequestLog::write(std::string_view lines) {
  std::lock_guard lock(mutex_);
  if (std::fwrite(lines.data(), 1, lines.size(), file_) != lines.size()) failed_ = true;
}

bool RequestLog::good() const {
  std::lock_guard lock(mutex_);
  return !failed_ && std::fflush(file_) == 0;
}

// ---- BenchRun --------------------------------------------------------------------------------------

class BenchRun::Impl {
 public:
  explicit Impl(const BenchPlan& plan) : plan_(plan), telemetry_(std::make_shared<BenchTelemetry>()) {
    for (std::size_t i = 0; i < std::max<std::size_t>(plan_.connections, 1); ++i) {
      drivers_.push_back(std::make_unique<ConnectionDriver>(plan_, i, telemetry_, reaper_));
    }
  }

  BenchResult run(Console* live) {
    BenchAbort warmup_abort = BenchAbort::none;
    if (plan_.warmup.count() > 0) {
      auto warmup = std::make_shared<Phase>(plan_, false, std::nullopt, plan_.warmup, units());
      std::optional<StatusTicker> ticker;
      if (live) ticker.emplace(*live, [] { return std::string("  warming up..."); });
      start_phase(drivers_, warmup);
      warmup->wait(/*cut_at_deadline=*/false);  // its requests in flight finish: the lanes are free after
      warmup_abort = warmup->aborted();
      if (ticker) ticker->stop(false);
    }

    const double cpu_before = cpu_seconds_now();
    auto measured = std::make_shared<Phase>(plan_, true, plan_.requests, plan_.duration, units());
    if (warmup_abort == BenchAbort::none) {
      std::optional<StatusTicker> ticker;
      if (live) ticker.emplace(*live, [&] { return live_line(drivers_, plan_, measured->start); });
      start_phase(drivers_, measured);
      measured->wait(/*cut_at_deadline=*/true);
      if (ticker) ticker->stop(false);
    }
    const auto end = Clock::now();

    BenchResult result;
    result.elapsed = end - measured->start;
    if (plan_.rps) result.open_loop = OpenLoopStats{.rps = *plan_.rps};
    for (auto& driver : drivers_) {
      const ConnectionDriver::Handover handover = driver->close(measured);
      handover.tally.add_to(result);
      result.not_finished += handover.in_flight;
      result.connection_rates.push_back(
          result.elapsed.count() > 0 ? static_cast<double>(handover.tally.ok) / result.elapsed.count() : 0);
      if (result.open_loop) {
        OpenLoopStats share = handover.open_loop;
        share.rps = 0;
        result.open_loop->merge(share);
      }
    }
    result.cpu_seconds = cpu_seconds_now() - cpu_before;
    result.total = result.open_loop ? result.open_loop->scheduled : plan_.requests.value_or(result.started);
    result.aborted = warmup_abort != BenchAbort::none ? warmup_abort : measured->aborted();
    result.connections = telemetry_->connections_ready();
    result.connect = telemetry_->connect_times();
    result.retries = telemetry_->retries();
    return result;
  }

 private:
  // What a phase waits for: every lane (closed loop) or every driver's schedule (open loop).
  std::size_t units() const { return plan_.rps ? drivers_.size() : drivers_.size() * plan_.streams; }

  const BenchPlan& plan_;
  std::shared_ptr<BenchTelemetry> telemetry_;
  ClientReaper reaper_;  // before the drivers: destroyed after them
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

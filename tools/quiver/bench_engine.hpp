#pragma once
// The load generator behind `quiver bench` (and the demo's bench step), over quiver::Client's async API.
//
// Shape: one driver per connection, each its own Client (one io thread, max_connections = 1) with
// `streams` lanes, so -m is a cap per connection: no connection ever carries more than `streams`
// requests of the bench (one Client for all connections would let its pool put every lane on the first
// connection that is ready). A lane is a chain: send the request, and when the response completes,
// record it and send the next, until the phase says stop. Every completion of a driver runs on that
// driver's io thread, so its tally needs no lock; the main thread reads atomics while the bench runs
// and takes each tally on its driver's io thread when the phase ends.
//
// Phases: an optional unrecorded warm-up (for a duration; its requests in flight finish before the
// measured phase starts), then the measured phase: a request count (it ends when every lane has
// stopped) or a duration (it ends at its deadline: requests still in flight are reported as not
// finished, not waited for). Elapsed time runs from the first request of the measured phase to its end.
// A phase stops early (aborted) when the server cannot be reached: a connection cannot be made and
// none ever was, or every lane's last attempt failed to connect with no response in between.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "console.hpp"
#include "histogram.hpp"
#include "quiver/error.hpp"
#include "quiver/options.hpp"
#include "quiver/request.hpp"

namespace quiver::cli {

struct BenchPlan {
  Request request;                 // copied for every send
  ConnectionOptions connection;    // TLS, timeouts (the engine installs its own telemetry)
  std::optional<std::uint64_t> requests;            // stop after this many...
  std::optional<std::chrono::milliseconds> duration;  // ...or after this long (exactly one is set)
  std::chrono::milliseconds warmup{0};
  std::size_t connections = 1;     // each its own client and io thread
  std::size_t streams = 10;        // in flight per connection, at most
};

// Why a phase stopped before its end.
enum class BenchAbort { none, never_connected, connections_failing };

struct BenchResult {
  std::uint64_t requests = 0;      // finished: ok + errors
  std::uint64_t ok = 0;            // a response with status < 400; the only ones in req/s, MB/s, latency
  std::uint64_t not_finished = 0;  // in flight when the measured phase ended (at its deadline or abort)
  std::map<std::string, std::uint64_t> errors;  // by ErrorKind name, or "status_4xx"/"status_5xx"
  std::optional<Error> first_error;             // the first library error seen, if any
  std::optional<int> first_error_status;        // or the first status >= 400, if that came first
  std::uint64_t bytes = 0;                      // body bytes of the ok responses
  std::chrono::duration<double> elapsed{0};
  LatencyHistogram latency;                     // of the ok responses
  std::uint64_t connections = 0;                // connections that completed a handshake
  std::chrono::nanoseconds handshake_mean{0}, handshake_max{0};
  std::uint64_t retries = 0;                    // transparent retries (GOAWAY, rejected streams)
  BenchAbort aborted = BenchAbort::none;

  std::uint64_t error_count() const;
  double requests_per_second() const;   // ok responses per second
  double megabytes_per_second() const;  // 1 MB = 10^6 bytes
};

// What one driver's lanes recorded. Not thread-safe: one driver's io thread writes it.
struct BenchTally {
  std::uint64_t ok = 0, failed = 0, bytes = 0;
  std::map<std::string, std::uint64_t> errors;
  std::optional<Error> first_error;
  std::optional<int> first_error_status;
  LatencyHistogram latency;

  // A complete response: ok (counted, timed) below 400, else an error of kind status_4xx/status_5xx.
  void record_response(int status, std::uint64_t body_bytes, std::chrono::nanoseconds took);
  // A failed request: counted by kind only; its time is no latency of the server's.
  void record_error(const Error& error);
  // Adds this tally's counts to `result`; the first error of the first tally added wins.
  void add_to(BenchResult& result) const;
};

// One bench: its drivers live from construction to destruction, so the caller can report before the
// connections are closed. Not thread-safe.
class BenchRun {
 public:
  explicit BenchRun(const BenchPlan& plan);
  // Closes the connections; requests still in flight are abandoned.
  ~BenchRun();
  BenchRun(const BenchRun&) = delete;
  BenchRun& operator=(const BenchRun&) = delete;

  // Runs the plan's phases (once). When `live` is a terminal console, a progress line is drawn on it.
  BenchResult run(Console* live);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A BenchRun, run and closed.
BenchResult run_bench(const BenchPlan& plan, Console* live);

}  // namespace quiver::cli

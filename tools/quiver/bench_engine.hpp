#pragma once
// The load generator behind `quiver bench` (and the demo's bench step), over quiver::Client's async API.
//
// Shape: `threads` workers, each one Client with one io thread and max_connections = its share of
// `connections`, drives (its connections x streams) "lanes". A lane is a chain: send the request, and
// when the response completes, record it and send the next, until the phase says stop. Every
// completion of a worker runs on that worker's io thread, so its statistics need no lock; the main
// thread only reads atomics while the bench runs and the rest once it is over.
//
// Phases: an optional unrecorded warm-up (for a duration), then the measured phase (a request count or
// a duration). Elapsed time runs from the first request of the measured phase to its last response.

#include <chrono>
#include <cstdint>
#include <map>
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
  std::size_t connections = 1;     // total, split over the threads
  std::size_t streams = 10;        // in flight per connection
  std::size_t threads = 1;
};

struct BenchResult {
  std::uint64_t requests = 0;  // completed (ok + errors)
  std::uint64_t ok = 0;        // a response with status < 400
  std::map<std::string, std::uint64_t> errors;  // by ErrorKind name, or "status_4xx"/"status_5xx"
  std::optional<Error> first_error;             // the first library error seen, if any
  std::optional<int> first_error_status;        // or the first status >= 400, if that came first
  std::uint64_t bytes = 0;                      // response body bytes
  std::chrono::duration<double> elapsed{0};
  LatencyHistogram latency;
  std::uint64_t connections = 0;                // connections that completed a handshake
  std::chrono::nanoseconds handshake_mean{0}, handshake_max{0};
  std::uint64_t retries = 0;                    // transparent retries (GOAWAY, rejected streams)
  bool aborted = false;                         // stopped early: no connection could be made

  std::uint64_t error_count() const;
  double requests_per_second() const;
  double megabytes_per_second() const;  // 1 MB = 10^6 bytes
};

// Runs the plan to its end. When `live` is a terminal console, a progress line is drawn on it.
BenchResult run_bench(const BenchPlan& plan, Console* live);

}  // namespace quiver::cli

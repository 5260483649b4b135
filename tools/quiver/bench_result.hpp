#pragma once
// What `quiver bench` measured (BenchResult), how one connection's share of it is recorded while the
// bench runs (BenchTally), and how results of several runs merge into one.
//
// The counts follow h2load's: total (planned), started (sent), done (ended: a response or an error),
// succeeded (status < 400), failed (done but not succeeded: a status >= 400 or an error), errored (an
// error, no status), timed out (errors that are timeouts). Only the succeeded requests make the rate,
// MB/s and the latency figures; failures are counted apart, by kind.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "quiver/error.hpp"

namespace quiver::cli {

// Why a phase stopped before its end.
enum class BenchAbort { none, never_connected, connections_failing };

// How an open-loop (--rps) run kept to its schedule.
struct OpenLoopStats {
  // A request sent later than this after its intended time counts as late.
  static constexpr std::chrono::milliseconds late_after{1};

  double rps = 0;                       // the rate asked for (merged: the sum)
  std::uint64_t scheduled = 0;          // intended send times inside the measured phase
  std::uint64_t late = 0;               // sent more than late_after behind their intended time
  std::uint64_t waited_for_stream = 0;  // held back because every stream of the connection was busy
  std::uint64_t not_sent = 0;           // scheduled, but the phase ended before they could be sent
  std::chrono::microseconds max_lag{0}; // the furthest behind schedule a request was sent

  void merge(const OpenLoopStats& other);
};

// One second of the measured phase (seconds since its start).
struct TimelineSecond {
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
};

struct BenchResult {
  std::uint64_t total = 0;         // planned: -n, the open-loop schedule, or (with -D, closed loop) started
  std::uint64_t started = 0;       // sent
  std::uint64_t requests = 0;      // done: succeeded + failed
  std::uint64_t ok = 0;            // succeeded: a complete response with status < 400
  std::uint64_t errored = 0;       // failed without a status (transport, reset, timeout, ...)
  std::uint64_t timed_out = 0;     // errored by a timeout
  std::uint64_t not_finished = 0;  // started, but in flight when the measured phase ended
  std::array<std::uint64_t, 6> statuses{};      // [n]: responses with status nxx (n = 1..5)
  std::map<std::string, std::uint64_t> errors;  // failures by ErrorKind name, or "status_4xx"/"status_5xx"
  std::optional<Error> first_error;             // the first library error seen, if any
  std::optional<int> first_error_status;        // or the first status >= 400, if that came first
  std::uint64_t bytes = 0;                      // body bytes of the succeeded responses
  std::uint64_t header_bytes = 0;               // decoded response fields (name + value), every response
  std::uint64_t body_bytes = 0;                 // response body bytes, every response
  std::chrono::duration<double> elapsed{0};     // merged: the longest run (the runs are taken as concurrent)
  LatencyHistogram latency;                     // request time of the succeeded requests
  LatencyHistogram first_byte;                  // time to the response head, succeeded requests
  LatencyHistogram connect;                     // handshake times of the connections made
  std::uint64_t connections = 0;                // connections that completed a handshake
  std::uint64_t retries = 0;                    // transparent retries (GOAWAY, rejected streams)
  std::vector<double> connection_rates;         // succeeded req/s of each connection slot (-c)
  std::vector<TimelineSecond> timeline;         // per second of the measured phase
  std::optional<OpenLoopStats> open_loop;       // set for --rps runs
  double cpu_seconds = 0;                       // user + system CPU of the process in the measured phase
  std::uint64_t reports = 1;                    // how many runs were merged into this one
  BenchAbort aborted = BenchAbort::none;

  std::uint64_t error_count() const;    // failed: requests - ok
  double requests_per_second() const;   // ok responses per second
  double megabytes_per_second() const;  // 1 MB = 10^6 bytes

  // Adds `other` (another run, or another process's) to this result: counts and histograms add up, so
  // percentiles are those of the union of the samples; elapsed is the longest; the first failure of
  // this result stays first.
  void merge(const BenchResult& other);
};

// A complete response as a lane saw it.
struct ResponseSample {
  int status = 0;
  std::uint64_t header_bytes = 0;
  std::uint64_t body_bytes = 0;
  std::chrono::nanoseconds took{0};        // from the (intended) send time to the end of the body
  std::chrono::nanoseconds first_byte{0};  // from the (intended) send time to the response head
  std::chrono::nanoseconds at{0};          // when it ended, since the measured phase began
};

// What one connection slot recorded. Not thread-safe: one driver's executor writes it.
struct BenchTally {
  std::uint64_t started = 0, ok = 0, failed = 0, errored = 0, timed_out = 0;
  std::uint64_t bytes = 0, header_bytes = 0, body_bytes = 0;
  std::array<std::uint64_t, 6> statuses{};
  std::map<std::string, std::uint64_t> errors;
  std::optional<Error> first_error;
  std::optional<int> first_error_status;
  LatencyHistogram latency, first_byte;
  std::vector<TimelineSecond> timeline;

  // A complete response: succeeded (counted, timed) below 400, else a failure of kind status_4xx/5xx.
  void record_response(const ResponseSample& sample);
  // A failed request (`at`: since the phase began): counted by kind only; its time is no latency of
  // the server's.
  void record_error(const Error& error, std::chrono::nanoseconds at = {});
  // Adds this tally's counts to `result`; the first error of the first tally added wins.
  void add_to(BenchResult& result) const;

 private:
  TimelineSecond& second_of(std::chrono::nanoseconds at);
};

// Whether an error is a timeout (h2load's "timeout" column).
bool is_timeout(const Error& error) noexcept;

}  // namespace quiver::cli

#pragma once
// The load generator behind `quiver bench` (and the demo's bench step), over quiver::Client's async API.
//
// Shape: one driver per connection slot (-c), each its own Client (one io thread, max_connections = 1)
// with `streams` lanes, so -m is a cap per connection: no connection ever carries more than `streams`
// requests of the bench (one Client for all connections would let its pool put every lane on the first
// connection that is ready). Every completion of a driver runs on the driver's executor (its client's io
// thread), so its tally needs no lock; the main thread reads atomics while the bench runs and takes each
// tally on its driver's executor when the phase ends.
//
// Two ways to load the server:
// - closed loop (the default): a lane is a chain: send a request, and when its response completes,
//   record it and send the next. The server's pace sets the client's: latency runs from the send.
// - open loop (`rps`): requests have intended send times on a fixed schedule (request g of the phase at
//   start + g / rps, driver d taking g = d, d + c, d + 2c, ...), independent of the responses. A request
//   whose time has come goes out on a free lane; when every lane of the connection is busy it waits in
//   a backlog and is counted as held back for a stream. Latency runs from the intended send time, so a
//   stall of the server shows in the percentiles instead of slowing the client down (coordinated
//   omission, corrected as wrk2 does). Requests sent more than OpenLoopStats::late_after behind their
//   time are counted as late; those still in the backlog when the phase ends as not sent.
//
// Connection churn (`requests_per_connection`): after that many requests a driver starts a new Client
// (a new connection, a new handshake) and retires the old one once its requests are done (a reaper
// thread destroys it). Completions then all run on an executor of the driver's own, since the clients
// come and go.
//
// Phases: an optional unrecorded warm-up (for a duration; its requests in flight finish before the
// measured phase starts), then the measured phase: a request count (it ends when every request has
// ended) or a duration (it ends at its deadline: nothing more is sent, requests still in flight are
// reported as not finished, not waited for). Elapsed time runs from the start of the measured phase
// to its end. A phase stops early (aborted) when the server cannot be reached: a connection cannot be
// made and none ever was, or every lane's last attempt failed to connect with no response in between.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bench_result.hpp"
#include "console.hpp"
#include "quiver/options.hpp"
#include "quiver/request.hpp"

namespace quiver::cli {

// `--log-file`: one line per request of the measured phase, written by every driver. Thread-safe.
//   <intended send time, µs since the Unix epoch> TAB <status, or the error kind> TAB <latency µs>
//   TAB <body bytes> TAB <connection: slot.generation> TAB <URL>
class RequestLog {
 public:
  static std::expected<std::shared_ptr<RequestLog>, std::string> open(const std::string& path);
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Appends whole lines.
  void write(std::string_view lines);
  // Whether every write so far succeeded.
  bool good() const;

 private:
  explicit RequestLog(std::FILE* file) : file_(file) {}
  mutable std::mutex mutex_;
  std::FILE* file_;
  bool failed_ = false;
};

// One URL of the bench, with its request (method, fields, body) ready to be copied for every send.
struct BenchTarget {
  Request request;
  std::string url;  // as printed and logged
};

struct BenchPlan {
  std::vector<BenchTarget> targets;  // used round-robin: request g of a phase goes to targets[g % size]
  ConnectionOptions connection;      // TLS, timeouts (the engine installs its own telemetry)
  std::optional<std::uint64_t> requests;              // stop after this many...
  std::optional<std::chrono::milliseconds> duration;  // ...or after this long (at least one is set)
  std::chrono::milliseconds warmup{0};
  std::size_t connections = 1;     // each its own client and io thread
  std::size_t streams = 10;        // in flight per connection, at most
  std::optional<double> rps;       // open loop at this total rate (requests per second)
  std::optional<std::uint64_t> requests_per_connection;  // churn: a new connection after this many
  std::shared_ptr<RequestLog> log; // --log-file, if any
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

#pragma once
// The CLI's two telemetry sinks (quiver::Telemetry): counters for bench and demo, and the -v log of
// fetch. Both are called on the client's io threads; both are thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "console.hpp"
#include "quiver/headers.hpp"
#include "quiver/telemetry.hpp"

namespace quiver::cli {

// Counts what bench and demo report: connections that became ready and their handshake times, drains,
// transparent retries.
class CountingTelemetry final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override;
  void on_request_event(const RequestEvent& event) override;

  std::uint64_t connections_ready() const noexcept { return ready_.load(); }
  std::uint64_t connections_draining() const noexcept { return draining_.load(); }
  std::uint64_t retries() const noexcept { return retries_.load(); }
  std::chrono::nanoseconds handshake_mean() const noexcept;
  std::chrono::nanoseconds handshake_max() const noexcept { return std::chrono::nanoseconds(handshake_max_ns_.load()); }

 private:
  std::atomic<std::uint64_t> ready_{0}, draining_{0}, retries_{0};
  std::atomic<std::int64_t> handshake_total_ns_{0}, handshake_max_ns_{0};
};

// `quiver -v`: one "* ..." line per connection and request event, and the request's fields ("> ") when
// it is sent. The console is borrowed and must outlive every client using this sink.
class VerboseLog final : public Telemetry {
 public:
  explicit VerboseLog(Console& console) : console_(console) {}

  // The fields to print when the request `method` `target` (:path) is sent: once, by the first such
  // request to start (a retry prints nothing new).
  void expect_request(const std::string& method, const std::string& target, std::vector<Header> fields);

  void on_connection_event(const ConnectionEvent& event) override;
  void on_request_event(const RequestEvent& event) override;

 private:
  struct Expected {
    std::string key;  // "METHOD target"
    std::vector<Header> fields;
  };
  void print_fields_of(const RequestEvent& event);

  Console& console_;
  std::mutex mutex_;
  std::deque<Expected> expected_;
};

}  // namespace quiver::cli

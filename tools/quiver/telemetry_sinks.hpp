#pragma once
// The CLI's two telemetry sinks (quiver::Telemetry): counters for bench and demo, and the -v log of
// fetch. Both are called on the client's io threads; both are thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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

// -v's lines for a connection's handshake, as curl writes them: "* SSL connection using TLSv1.3 / CIPHER",
// "* ALPN: server accepted h3", "* Server certificate:" with subject, start and expire date, issuer; then
// the QUIC version (or TCP) and the RTT estimate. Lines whose facts are unknown are left out.
std::vector<std::string> handshake_lines(const HandshakeDetails& handshake);

// `quiver -v`: one "* ..." line per connection and request event, the request in curl's layout
// ("> GET /path HTTP/3", "> Host: ...", the fields, ">") when it is sent, and the response head ("< ") as the transfer sees it. Lines about one request come in the
// order they happened to it: a request's head before its "Response complete" (held back until the
// transfer has printed the head), and after every "Retrying ..." a final line (complete or failed),
// written by finished() when the library reported none.
//
// Requests are told apart by "METHOD target": the transfer announces each with expect_request() and
// ends it with finished(); events go to the oldest unfinished request with their key.
class VerboseLog final : public Telemetry {
 public:
  explicit VerboseLog(Console& console) : console_(console) {}

  // The fields to print when the request `method` `target` (:path) is sent: once, by the first such
  // request to start (a retry prints nothing new).
  void expect_request(const std::string& method, const std::string& target, std::vector<Header> fields);
  // The transfer's response head ("< HTTP/3 200", "< name: value"), then any line held back for it.
  // With --http3 (auto), first a line saying which protocol was used and why (`protocol_choice`).
  void show_head(const std::string& method, const std::string& target, int status, const Headers& headers,
                 std::string_view http_version = "3", std::string_view protocol_choice = {});
  // The transfer is over (`failure` unset: it succeeded). Prints the request's final line if the library
  // reported none since its last start or retry.
  void finished(const std::string& method, const std::string& target, const std::optional<std::string>& failure);

  void on_connection_event(const ConnectionEvent& event) override;
  void on_request_event(const RequestEvent& event) override;

 private:
  // One announced request, from expect_request() to finished().
  struct Tracked {
    std::string key;  // "METHOD target"
    std::vector<Header> fields;
    bool fields_printed = false;
    bool headers_arrived = false;   // the library has the head; the transfer is about to print it
    bool head_printed = false;
    bool final_printed = false;     // "Response complete" or "failed" since the last start or retry
    // The stream of the attempt the last "Retrying" line was about: that attempt's own failure event
    // (which the library may report after the retry) is already told by that line.
    std::optional<std::uint64_t> retried_stream;
    std::vector<std::string> held;  // lines that must follow the head
  };
  Tracked* find_locked(const std::string& key);
  void print_fields_locked(Tracked& tracked);
  void final_line_locked(const RequestEvent& event, std::string line);

  Console& console_;
  std::mutex mutex_;  // taken before the console's own lock, never after
  std::deque<Tracked> tracked_;
};

}  // namespace quiver::cli

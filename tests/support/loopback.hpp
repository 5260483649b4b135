#pragma once
// Test support: the project's server on loopback plus a client io_context, and a way to wait for
// asynchronous replies with a bounded deadline (a bug fails the test instead of hanging the suite).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <fmt/format.h>

#include "quiver/telemetry.hpp"

#include "h3/connection.hpp"
#include "test_server/server.hpp"

namespace quiver::test {

// The AddressSanitizer / ThreadSanitizer builds (scripts/sanitize.sh) run unoptimised and several times
// slower: load tests divide their request counts by this.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kLoadDivisor = 4;
#else
inline constexpr int kLoadDivisor = 1;
#endif

std::string data_file(const std::string& name);  // tests/data/<name>
std::string deterministic_bytes(std::size_t offset, std::size_t length);  // the server's /bytes pattern
// "sha256//BASE64" of a PEM certificate's SubjectPublicKeyInfo (curl's --pinnedpubkey), computed apart
// from the library's way (which asks GnuTLS for the key id): the public key exported as DER, hashed.
std::string public_key_pin(const std::string& pem_file);
// The DER bytes of the first certificate in a PEM file (throws std::runtime_error if there is none).
std::string certificate_der(const std::string& pem_file);

// Server options with the test certificate (valid for localhost, 127.0.0.1 and ::1).
server::ServerOptions test_server_options(const std::string& host = "127.0.0.1");
// server.start(), or throws std::runtime_error with its error's message (the test then fails with it).
void start_or_throw(server::Server& server);
// Client options trusting the test CA, with short timeouts suitable for tests.
ConnectionOptions test_client_options();
// A loopback UDP port with nothing bound to it (bound once to pick it, then closed): datagrams sent
// there are answered by ICMP port unreachable.
std::uint16_t closed_udp_port();

// Counts the pool's transparent retries and the connections that became ready (telemetry runs on the
// client's io threads, hence atomics).
class RetryCounter final : public Telemetry {
 public:
  void on_request_event(const RequestEvent& event) override {
    if (event.type == RequestEvent::Type::retry) ++retries;
  }
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type == ConnectionEvent::Type::ready) ++connections;
  }
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> connections{0};
};

// The addresses a dialer reported trying (ConnectionEvent::attempt), in order, with their protocol.
class AttemptLog final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type != ConnectionEvent::Type::attempt) return;
    std::lock_guard lock(mutex_);
    attempts_.push_back(fmt::format("{} h{}", event.peer, event.http_version));
  }
  std::vector<std::string> attempts() const {  // "127.0.0.1:4433 h3"
    std::lock_guard lock(mutex_);
    return attempts_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> attempts_;
};

// Records what the connection told its observer, in order.
class RecordingObserver : public http::ConnectionObserver {
 public:
  void on_ready(http::Connection&, std::uint64_t max_streams) override;
  void on_stream_done(http::Connection&) override;
  void on_stream_open_failed(http::Connection&, const Error& error) override;
  void on_stream_credit(http::Connection&) override { ++credit; }
  void on_draining(http::Connection&) override;
  void on_closed(http::Connection&, const Error& reason) override;

  std::vector<std::string> events;  // "ready 7", "done", "open_failed ...", "closed ..."
  std::vector<std::uint64_t> ready_max_streams;
  int done = 0;
  int closed = 0;
  int draining = 0;
  int credit = 0;
};

// The access log of a server, safe to read from the test thread.
class AccessLog {
 public:
  std::function<void(const server::AccessLogEntry&)> sink();
  std::vector<server::AccessLogEntry> entries() const;

 private:
  mutable std::mutex mutex_;
  std::vector<server::AccessLogEntry> entries_;
};

// Runs `io` until `done()` is true or `limit` passes; returns whether `done()` became true.
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = std::chrono::seconds(20));

// Collects replies of requests sent through a connection.
struct Replies {
  std::vector<std::optional<Result<Response>>> slots;
  std::size_t received = 0;
  bool duplicate_reply = false;  // a handler was called twice (must never happen)

  // A handler that stores its result in slot `index` (the slot vector grows as needed).
  h3::ResponseHandler slot(std::size_t index);
  bool all_received() const { return received == slots.size(); }
};

}  // namespace quiver::test

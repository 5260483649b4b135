#pragma once
// Shared by the fault tests: the project's server behind a UdpFaultProxy, a Client whose telemetry
// counts handshakes, requests whose completion time is recorded, and resident-memory readings.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include "faults/udp_fault_proxy.hpp"
#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Resident set size of this process (client and in-process server together), in bytes.
inline std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// Bytes allocated with malloc and not yet freed, in every arena, mmapped chunks included (glibc). Unlike
// the resident set, it is not hidden by memory an earlier test freed and the allocator kept.
inline std::size_t heap_in_use() {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// A measured result, printed so that a run can be copied into docs/reliability.md.
inline void report(const std::string& what) {
  std::cout << "[  RESULT  ] " << ::testing::UnitTest::GetInstance()->current_test_info()->name() << ": " << what
            << std::endl;
}

// Counts connection spans; thread-safe (the client's io threads call it).
class CountingTelemetry : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    switch (event.type) {
      case ConnectionEvent::Type::start: ++starts; break;
      case ConnectionEvent::Type::ready: ++ready; break;
      case ConnectionEvent::Type::exception: ++exceptions; break;
      case ConnectionEvent::Type::attempt:
      case ConnectionEvent::Type::draining: break;
      case ConnectionEvent::Type::closed: {
        ++closed;
        std::lock_guard lock(mutex_);
        closed_reasons_.push_back(event.error ? event.error->to_string() : "no error");
        break;
      }
    }
  }
  std::vector<std::string> closed_reasons() const {
    std::lock_guard lock(mutex_);
    return closed_reasons_;
  }

  std::atomic<int> starts{0}, ready{0}, exceptions{0}, closed{0};

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> closed_reasons_;
};

// Replies of async requests with the time each one arrived. The handlers share ownership of the state, so
// a reply that comes after a failed test gave up waiting (e.g. at the Client's shutdown) is harmless.
class Outcomes {
 public:
  struct Outcome {
    std::optional<Result<Response>> result;
    Clock::time_point at;
  };

  explicit Outcomes(std::size_t count) : state_(std::make_shared<State>()) { state_->outcomes.resize(count); }

  auto handler(std::size_t index) {
    return [state = state_, index](Result<Response> result) {
      std::lock_guard lock(state->mutex);
      state->outcomes[index] = Outcome{std::move(result), Clock::now()};
      ++state->received;
      state->cv.notify_all();
    };
  }
  bool wait_all(Clock::time_point deadline) {
    std::unique_lock lock(state_->mutex);
    return state_->cv.wait_until(lock, deadline, [&] { return state_->received == state_->outcomes.size(); });
  }
  // Only once wait_all() returned true.
  const std::vector<Outcome>& all() const { return state_->outcomes; }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<Outcome> outcomes;
    std::size_t received = 0;
  };
  std::shared_ptr<State> state_;
};

class FaultTest : public ::testing::Test {
 protected:
  // QUIVER_FAULT_SEED overrides every test's seed (to explore other fates).
  static std::uint64_t seed(std::uint64_t fallback) {
    if (const char* text = std::getenv("QUIVER_FAULT_SEED")) return std::strtoull(text, nullptr, 10);
    return fallback;
  }

  // Starts the server on `port` (0: any) and the proxy in front of it (or points the proxy at it).
  void start_server(server::ServerOptions options = test_server_options(), std::uint64_t proxy_seed = 1) {
    server_options_ = options;
    server_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*server_);
    if (!proxy_) {
      proxy_ = std::make_unique<UdpFaultProxy>(server_->port(), seed(proxy_seed));
      RecordProperty("seed", std::to_string(seed(proxy_seed)));
    } else {
      proxy_->set_server_port(server_->port());
    }
  }

  // A new server with the same options, on the same port if it is free (else another port, and the
  // proxy follows it). Returns whether the port was the same.
  bool restart_server() {
    auto options = server_options_;
    std::uint16_t old_port = last_port_ ? last_port_ : (server_ ? server_->port() : 0);
    server_.reset();
    last_port_ = 0;
    options.port = old_port;
    try {
      start_server(options);
      return true;
    } catch (const std::exception&) {
      options.port = 0;
      start_server(options);
      return false;
    }
  }

  // Server::stop(): every connection gets CONNECTION_CLOSE.
  void stop_server() {
    last_port_ = server_->port();
    server_->stop();
  }

  // Forgets the server without a CONNECTION_CLOSE reaching the client: black-hole first, then destroy.
  void crash_server() {
    proxy_->start_blackhole();
    last_port_ = server_->port();
    server_.reset();
  }

  ClientOptions client_options(std::chrono::milliseconds idle_timeout = 10s) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.idle_timeout = idle_timeout;
    options.defaults.connection.telemetry = telemetry_;
    options.shutdown_deadline = 500ms;  // a test that leaves the path dead must not wait 5 s
    return options;
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", proxy_->port(), target);
  }

  std::shared_ptr<CountingTelemetry> telemetry_ = std::make_shared<CountingTelemetry>();
  server::ServerOptions server_options_;
  std::uint16_t last_port_ = 0;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<UdpFaultProxy> proxy_;
};

}  // namespace quiver::test

// Load against a server that sends GOAWAY every 10 requests on a connection (nginx's keepalive_requests):
// through the public Client with default pool options, 20 000 requests at 20 and at 100 in flight finish
// with no error, and the server processes each exactly once. Under such load the pool's connection is replaced every 10
// requests and one request may be refused several times in a row (it must stay within the pool's
// refusal budget, see docs/pool.md).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kRequestsPerConnection = 10;

struct LoadResult {
  int failures = 0;
  std::string first_failure;
  bool finished = false;
};

class GoawayLoadTest : public ::testing::TestWithParam<int> {
 protected:
  void start_server(server::GoawayAfterRequests mode) {
    auto options = test_server_options();
    options.goaway_after_requests = kRequestsPerConnection;
    options.goaway_after_requests_mode = mode;
    server_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*server_);
  }

  ClientOptions client_options() {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.telemetry = telemetry_;
    return options;
  }

  std::string url(int index) const {
    return fmt::format("https://127.0.0.1:{}/bytes/16?n={}", server_->port(), index);
  }

  // Sends `total` GETs keeping `concurrency` in flight (each completion launches the next); failures
  // are counted, not asserted one by one (one line per failure would flood the log).
  LoadResult run_load(Client& client, int total, int concurrency) {
    LoadResult result;
    std::mutex mutex;
    std::atomic<int> next{0};
    std::atomic<int> done{0};
    std::promise<void> finished;
    std::function<void()> launch = [&] {
      int i = next++;
      if (i >= total) return;
      client.async_request(*get(url(i)).build(), [&](Result<Response> reply) {
        if (!reply || reply->status != 200) {
          std::lock_guard lock(mutex);
          if (result.failures++ == 0) {
            result.first_failure = reply ? fmt::format("status {}", reply->status) : reply.error().to_string();
          }
        }
        launch();  // before counting this one done: after the last count nothing may touch these locals
        if (++done == total) finished.set_value();
      });
    };
    for (int i = 0; i < concurrency; ++i) launch();
    result.finished = finished.get_future().wait_for(120s) == std::future_status::ready;
    return result;
  }

  void expect_every_request_processed_once(server::GoawayAfterRequests mode, int requests) {
    int concurrency = GetParam();
    start_server(mode);
    auto started = std::chrono::steady_clock::now();
    LoadResult load;
    {
      Client client(client_options());
      load = run_load(client, requests, concurrency);
      client.shutdown(5s);
    }
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    ASSERT_TRUE(load.finished) << "the load did not finish within 120 s";
    EXPECT_EQ(load.failures, 0) << "first failure: " << load.first_failure;
    auto stats = server_->stats();
    // Every request succeeded, so each was processed at least once: the total says none was processed twice.
    EXPECT_EQ(stats.requests_started, static_cast<std::uint64_t>(requests));
    EXPECT_GE(stats.goaways_sent, static_cast<std::uint64_t>(requests) / kRequestsPerConnection);
    std::cout << fmt::format("[ load     ] {} requests at {} in flight: {} ms, {} connections, {} retries, "
                             "{} streams refused above the GOAWAY id\n",
                             requests, concurrency, elapsed.count(), telemetry_->connections.load(),
                             telemetry_->retries.load(), stats.streams_over_limit);
  }

  std::shared_ptr<RetryCounter> telemetry_ = std::make_shared<RetryCounter>();
  std::unique_ptr<server::Server> server_;
};

// GOAWAY(4N) once N requests reached the connection; the requests above it are never processed and come
// back to the pool unprocessed; the connection closes when its N requests are done. About 7 s at 20 and
// 12 s at 100 in flight on a loaded 2-core machine (RelWithDebInfo): 2000 handshakes each.
TEST_P(GoawayLoadTest, TwentyThousandRequestsWithGracefulGoawayEveryTenRequests) {
  expect_every_request_processed_once(server::GoawayAfterRequests::graceful, 20000);
}

// The same, the way a real server sheds a connection: streams above the GOAWAY id are reset with
// H3_INTERNAL_ERROR and the connection is closed with H3_EXCESSIVE_LOAD once the first N are done. Only
// the GOAWAY id tells these resets from ones of processed requests. Fewer requests, to keep the suite short.
TEST_P(GoawayLoadTest, FiveThousandRequestsWithResetsAboveTheGoawayIdEveryTenRequests) {
  expect_every_request_processed_once(server::GoawayAfterRequests::reset_above, 5000);
}

INSTANTIATE_TEST_SUITE_P(InFlight, GoawayLoadTest, ::testing::Values(20, 100),
                         [](const ::testing::TestParamInfo<int>& info) { return fmt::format("{}", info.param); });

}  // namespace
}  // namespace quiver::test

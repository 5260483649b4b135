// The pool's refusal budget through the public Client, against the project's server rejecting the first
// K requests of each path with H3_REQUEST_REJECTED (ServerOptions::reject_first_per_path): a request
// refused several times in a row by the same live connection is still served, and one refused more often
// than PoolOptions::max_refusal_retries fails saying so; the server never processes a rejected one.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class RefusalRetryTest : public ::testing::Test {
 protected:
  void start_server(std::uint32_t reject_first_per_path) {
    auto options = test_server_options();
    options.reject_first_per_path = reject_first_per_path;
    server_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*server_);
  }

  ClientOptions client_options(std::size_t max_connections = 1) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.telemetry = telemetry_;
    options.defaults.max_connections = max_connections;
    return options;
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
  }

  std::shared_ptr<RetryCounter> telemetry_ = std::make_shared<RetryCounter>();
  std::unique_ptr<server::Server> server_;
};

// One connection (the default): the same connection refuses the request three times; it is sent again
// at once after the first refusal and after a short backoff after the others.
TEST_F(RefusalRetryTest, RequestRejectedThreeTimesByTheSameConnectionIsServed) {
  start_server(3);
  Client client(client_options());
  auto response = client.request(*get(url("/bytes/5")).timeout(10s).build());
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, deterministic_bytes(0, 5));
  auto stats = server_->stats();
  EXPECT_EQ(stats.requests_rejected, 3u);
  EXPECT_EQ(stats.requests_started, 1u);
  EXPECT_EQ(telemetry_->retries.load(), 3u);
  EXPECT_EQ(telemetry_->connections.load(), 1u);
}

TEST_F(RefusalRetryTest, RequestRejectedMoreOftenThanTheBudgetFailsSayingSo) {
  start_server(3);
  auto options = client_options();
  options.defaults.max_refusal_retries = 2;
  Client client(options);
  auto response = client.request(*get(url("/bytes/5")).timeout(10s).build());
  ASSERT_FALSE(response);
  const Error& error = response.error();
  EXPECT_EQ(error.kind(), ErrorKind::stream_reset) << error.to_string();
  EXPECT_EQ(error.h3_code, h3_code::request_rejected);
  EXPECT_TRUE(error.unprocessed);
  EXPECT_EQ(error.error_class(), ErrorClass::transient);
  EXPECT_NE(error.message().find("max_refusal_retries = 2"), std::string::npos) << error.message();
  auto stats = server_->stats();
  EXPECT_EQ(stats.requests_rejected, 3u);
  EXPECT_EQ(stats.requests_started, 0u);
}

// Two connections allowed: the retry goes to a second connection (the first refused it) and is served
// there; the first connection is not asked again.
TEST_F(RefusalRetryTest, RejectedRequestGoesToAConnectionThatDidNotRefuseIt) {
  start_server(1);
  Client client(client_options(2));
  auto response = client.request(*get(url("/bytes/5")).timeout(10s).build());
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  auto stats = server_->stats();
  EXPECT_EQ(stats.requests_rejected, 1u);
  EXPECT_EQ(stats.requests_started, 1u);
  EXPECT_EQ(stats.connections_accepted, 2u);
  EXPECT_EQ(telemetry_->retries.load(), 1u);
}

}  // namespace
}  // namespace quiver::test

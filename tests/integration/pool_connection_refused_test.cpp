// A pool whose server port is closed: the requests waiting for the handshake fail at once with
// connection_refused (docs/pool.md, "Handshake failure"), not after the checkout or connect timeout, and
// the pool does not retry the handshake in a loop.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/use_future.hpp>
#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class HandshakeAttempts final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type == ConnectionEvent::Type::exception) ++failed;
  }
  std::atomic<int> failed{0};
};

TEST(PoolConnectionRefusedTest, WaitingRequestsFailAtOnceWithConnectionRefused) {
  const auto port = closed_udp_port();
  auto telemetry = std::make_shared<HandshakeAttempts>();
  ClientOptions options;
  options.defaults.connection = test_client_options();
  options.defaults.connection.connect_timeout = 20s;  // neither timeout may be what ends the requests
  options.defaults.connection.telemetry = telemetry;
  options.defaults.checkout_timeout = 20s;
  options.defaults.max_connections = 2;
  Client client(options);
  const std::string url = fmt::format("https://127.0.0.1:{}/bytes/5", port);

  for (int wave = 0; wave < 2; ++wave) {  // the second wave: a new attempt, refused at once too
    const auto started = SteadyClock::now();
    std::vector<std::future<Result<Response>>> replies;
    for (int i = 0; i < 5; ++i) replies.push_back(client.async_request(*get(url).build(), asio::use_future));
    for (auto& reply : replies) {
      ASSERT_EQ(reply.wait_for(15s), std::future_status::ready) << "wave " << wave;
      Result<Response> result = reply.get();
      ASSERT_FALSE(result) << "wave " << wave;
      EXPECT_EQ(result.error().kind(), ErrorKind::connection_refused) << result.error().to_string();
      EXPECT_EQ(result.error().error_class(), ErrorClass::transient);
    }
    EXPECT_LT(SteadyClock::now() - started, 5s) << "wave " << wave << ": well before any timeout";
  }
  // Each attempt was opened for waiting requests (at most one per request), never in reply to a failure.
  EXPECT_GE(telemetry->failed.load(), 2);
  EXPECT_LE(telemetry->failed.load(), 10);
}

}  // namespace
}  // namespace quiver::test

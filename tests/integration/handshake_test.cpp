// How a connection attempt fails, and what the error says the caller may do: refused (nothing listens),
// timed out (nothing answers), a bad certificate; and drain() while still connecting.
#include <gtest/gtest.h>

#include <asio/ip/udp.hpp>
#include <fmt/format.h>

#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A loopback UDP port with nothing bound to it (bound once to pick it, then closed): datagrams sent
// there are answered by ICMP port unreachable.
std::uint16_t closed_port() {
  asio::io_context io;
  asio::ip::udp::socket socket(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return socket.local_endpoint().port();
}

Request get_from(std::uint16_t port, const std::string& target = "/") {
  Request request;
  request.url = *Url::parse(fmt::format("https://127.0.0.1:{}{}", port, target));
  return request;
}

// ---- connection refused -------------------------------------------------------------------------

TEST_F(ConnectionTest, RefusedInitialFailsAtOnceAsConnectionRefused) {
  const auto port = closed_port();
  auto options = test_client_options();
  options.connect_timeout = 20s;  // the refusal, not the timeout, must end the attempt
  connection_ = h3::Connection::create(io_.get_executor(), h3::Origin{"127.0.0.1", port}, options, &observer_);
  connection_->start();
  Replies replies;
  for (int i = 0; i < 2; ++i) connection_->request(get_from(port), replies.slot(i));
  const auto started = Clock::now();
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }, 15s)) << connection_->debug_string();
  EXPECT_LT(Clock::now() - started, 5s);  // well before the connect timeout
  for (auto& reply : replies.slots) {
    ASSERT_FALSE(*reply);
    const Error& error = reply->error();
    EXPECT_EQ(error.kind(), ErrorKind::connection_refused) << error.to_string();
    EXPECT_EQ(error.error_class(), ErrorClass::transient) << error.to_string();
    EXPECT_EQ(error.handshake_failure, HandshakeFailure::refused) << error.to_string();
    EXPECT_NE(error.message().find(std::to_string(port)), std::string::npos) << error.message();
  }
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }));
  EXPECT_TRUE(observer_.ready_max_streams.empty());
}

}  // namespace
}  // namespace quiver::test

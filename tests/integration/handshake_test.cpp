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

Request get_from(std::uint16_t port, const std::string& target = "/") {
  Request request;
  request.url = *Url::parse(fmt::format("https://127.0.0.1:{}{}", port, target));
  return request;
}

// ---- connection refused -------------------------------------------------------------------------

TEST_F(ConnectionTest, RefusedInitialFailsAtOnceAsConnectionRefused) {
  const auto port = closed_udp_port();
  auto options = test_client_options();
  options.connect_timeout = 20s;  // the refusal, not the timeout, must end the attempt
  connection_ = h3::Connection::create(io_.get_executor(), quiver::Origin{"127.0.0.1", port}, options, &observer_);
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

namespace quiver::test {
namespace {

// ---- the class of a handshake failure -----------------------------------------------------------

// Nothing answers: transient (another attempt, later or elsewhere, may work).
TEST_F(ConnectionTest, HandshakeTimeoutIsTransient) {
  asio::io_context silent_io;
  asio::ip::udp::socket silent(silent_io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = silent.local_endpoint().port();
  auto options = test_client_options();
  options.connect_timeout = std::chrono::milliseconds(200);
  connection_ = h3::Connection::create(io_.get_executor(), quiver::Origin{"127.0.0.1", port}, options, &observer_);
  connection_->start();
  std::optional<Result<Response>> reply;
  connection_->request(get_from(port), [&](Result<Response> r) { reply = std::move(r); });
  ASSERT_TRUE(run_until(io_, [&] { return reply.has_value(); }));
  ASSERT_FALSE(*reply);
  EXPECT_EQ(reply->error().kind(), ErrorKind::handshake_failed) << reply->error().to_string();
  EXPECT_EQ(reply->error().handshake_failure, HandshakeFailure::timeout);
  EXPECT_EQ(reply->error().error_class(), ErrorClass::transient) << reply->error().to_string();
}

// A certificate that does not verify fails every attempt the same way: unrecoverable.
TEST_F(ConnectionTest, BadCertificateIsUnrecoverable) {
  start_server();
  auto options = test_client_options();
  options.tls.ca_file.clear();  // the test CA is not in the system store
  connect(options);
  auto reply = fetch(get("/bytes/1"));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().kind(), ErrorKind::handshake_failed) << reply.error().to_string();
  EXPECT_EQ(reply.error().handshake_failure, HandshakeFailure::certificate);
  EXPECT_EQ(reply.error().error_class(), ErrorClass::unrecoverable) << reply.error().to_string();
  EXPECT_FALSE(reply.error().unprocessed);
}

// ---- drain() while connecting -------------------------------------------------------------------

// Nothing was sent yet: the queued requests are answered at once as unprocessed (safe to send
// elsewhere), the attempt ends, and the state is closed; nothing hangs and nothing reaches the server.
TEST_F(ConnectionTest, DrainWhileConnectingAnswersQueuedRequestsUnprocessedAndCloses) {
  start_server();
  connect();
  Replies replies;
  for (int i = 0; i < 3; ++i) connection_->request(get("/bytes/10"), replies.slot(i));
  ASSERT_EQ(connection_->state(), h3::ConnectionState::connecting);
  connection_->drain();
  connection_->drain();  // idempotent
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }, 5s));
  for (auto& reply : replies.slots) {
    ASSERT_FALSE(*reply);
    EXPECT_EQ(reply->error().kind(), ErrorKind::goaway) << reply->error().to_string();
    EXPECT_TRUE(reply->error().unprocessed);
    EXPECT_EQ(reply->error().error_class(), ErrorClass::transient);
  }
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }, 5s));
  auto late = fetch(get("/bytes/1"));  // refused at once: the connection is over
  ASSERT_FALSE(late);
  run_until(io_, [] { return false; }, std::chrono::milliseconds(100));
  EXPECT_EQ(observer_.closed, 1);
  EXPECT_TRUE(observer_.ready_max_streams.empty());
  EXPECT_EQ(server_->stats().requests_started, 0u);
}

// Drained before the handshake even began (the address is still being resolved): same outcome.
TEST_F(ConnectionTest, DrainRightAfterStartEndsTheAttempt) {
  start_server();
  connect();
  connection_->drain();
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }, 5s));
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
  run_until(io_, [] { return false; }, std::chrono::milliseconds(200));  // no late handshake revives it
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
  EXPECT_EQ(server_->stats().connections_accepted, 0u);
}

}  // namespace
}  // namespace quiver::test

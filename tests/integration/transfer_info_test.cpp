// What a response says of how it was obtained (Response::transfer): the URL, the peer, the protocol,
// whether the connection was reused, and curl's -w timings, for buffered and streamed responses.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class TransferInfoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<server::Server>(test_server_options());
    start_or_throw(*server_);
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.request_timeout = 10s;
    client_ = std::make_unique<Client>(options);
  }
  std::string url(const std::string& target) const { return fmt::format("https://127.0.0.1:{}{}", server_->port(), target); }

  std::unique_ptr<server::Server> server_;
  std::unique_ptr<Client> client_;
};

// The phases happen in curl's order, each no later than the next.
void expect_ordered(const Timings& t) {
  EXPECT_LE(t.name_lookup, t.connect);
  EXPECT_LE(t.connect, t.tls);
  EXPECT_LE(t.tls, t.first_byte);
  EXPECT_LE(t.first_byte, t.total);
}

TEST_F(TransferInfoTest, AFreshConnectionReportsEveryPhaseAndThePeer) {
  auto response = client_->request(get(url("/bytes/1000")));
  ASSERT_TRUE(response) << response.error().to_string();
  const auto& transfer = response->transfer;
  EXPECT_EQ(transfer.url.to_string(), url("/bytes/1000"));
  EXPECT_EQ(transfer.redirects, 0);
  EXPECT_EQ(transfer.http_version, "3");
  EXPECT_EQ(transfer.peer_address, "127.0.0.1");
  EXPECT_EQ(transfer.peer_port, server_->port());
  EXPECT_FALSE(transfer.connection_reused);
  EXPECT_GT(transfer.timings.connect.count(), 0) << "a handshake happened for this request";
  EXPECT_GT(transfer.timings.total.count(), 0);
  expect_ordered(transfer.timings);
}

TEST_F(TransferInfoTest, AReusedConnectionHasNoConnectionPhases) {
  ASSERT_TRUE(client_->request(get(url("/bytes/10"))));
  auto response = client_->request(get(url("/bytes/10")));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_TRUE(response->transfer.connection_reused);
  EXPECT_EQ(response->transfer.timings.name_lookup.count(), 0);
  EXPECT_EQ(response->transfer.timings.connect.count(), 0);
  EXPECT_EQ(response->transfer.timings.tls.count(), 0);
  EXPECT_GT(response->transfer.timings.first_byte.count(), 0);
  expect_ordered(response->transfer.timings);
}

TEST_F(TransferInfoTest, AStreamedResponseHasItsTotalOnceTheBodyEnded) {
  auto stream = client_->stream(get(url("/stream/3?size=1000")));
  ASSERT_TRUE(stream) << stream.error().to_string();
  EXPECT_EQ(stream->transfer().http_version, "3");
  EXPECT_EQ(stream->transfer().peer_port, server_->port());
  EXPECT_GT(stream->transfer().timings.first_byte.count(), 0);
  EXPECT_EQ(stream->transfer().timings.total.count(), 0) << "not over yet";
  ASSERT_TRUE(stream->read_all());
  auto transfer = stream->transfer();
  EXPECT_GE(transfer.timings.total, transfer.timings.first_byte);
  EXPECT_GT(transfer.timings.total.count(), 0);
  expect_ordered(transfer.timings);
}

TEST_F(TransferInfoTest, AResolvedNameHasALookupTime) {
  auto response = client_->request(get(fmt::format("https://localhost:{}/bytes/10", server_->port())));
  if (!response && response.error().kind() == ErrorKind::connection_refused) GTEST_SKIP() << "localhost is not 127.0.0.1 here";
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_GT(response->transfer.timings.name_lookup.count(), 0);
  expect_ordered(response->transfer.timings);
}

}  // namespace
}  // namespace quiver::test

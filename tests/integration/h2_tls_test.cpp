// TLS over TCP (HTTP/2) has what QUIC has, through the real Client against the test support's nghttp2
// server: public-key pinning checked after the handshake, ConnectionOptions::connect_to applied by the TCP
// dialer, and TLS session resumption from the Client's session cache (ConnectionEvent::resumed, and the
// server's own count of resumed handshakes).
#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/h2_test_server.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

// The `resumed` flag of every ready event, in order, and how many connections closed.
class ConnectionEvents final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    std::lock_guard lock(mutex_);
    if (event.type == ConnectionEvent::Type::ready) resumed_.push_back(event.resumed);
    if (event.type == ConnectionEvent::Type::closed) ++closed_;
  }
  std::vector<bool> resumed() const {
    std::lock_guard lock(mutex_);
    return resumed_;
  }
  int closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<bool> resumed_;
  int closed_ = 0;
};

class H2TlsTest : public ::testing::Test {
 protected:
  void start_server(H2ServerOptions options = {}) { server_ = std::make_unique<H2TestServer>(options); }

  ClientOptions client_options() const {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.http_version = HttpVersion::http2;
    options.defaults.connection.connect_timeout = 2s;
    options.defaults.connection.telemetry = events_;
    options.defaults.request_timeout = 10s;
    return options;
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
  }

  std::shared_ptr<ConnectionEvents> events_ = std::make_shared<ConnectionEvents>();
  std::unique_ptr<H2TestServer> server_;
};

TEST_F(H2TlsTest, APinnedPublicKeyMustMatch) {
  start_server();
  const auto pin = public_key_pin(data_file("server.pem"));
  const auto request = [&](std::vector<std::string> pins) {
    ClientOptions options = client_options();
    options.defaults.connection.tls.pinned_public_keys = std::move(pins);
    return Client(options).request(get(url("/bytes/10")));
  };
  auto pinned = request({"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", pin});
  ASSERT_TRUE(pinned) << pinned.error().to_string();
  EXPECT_EQ(pinned->status, 200);
  EXPECT_EQ(pinned->transfer.http_version, "2");

  const int received = server_->requests_received();
  auto other = request({"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind(), ErrorKind::handshake_failed);
  EXPECT_EQ(other.error().handshake_failure, HandshakeFailure::certificate);
  EXPECT_EQ(other.error().error_class(), ErrorClass::unrecoverable);
  EXPECT_NE(other.error().message().find(pin), std::string::npos) << other.error().message();
  EXPECT_EQ(server_->requests_received(), received) << "nothing is sent to a server whose key is not pinned";
}

TEST_F(H2TlsTest, ConnectToSendsTheConnectionElsewhereAndKeepsTheUrlsName) {
  start_server();
  ClientOptions options = client_options();
  // localhost is in the certificate: verification passes though the TCP connection goes to 127.0.0.1
  // at the server's port, not the URL's.
  options.defaults.connection.connect_to = {{"localhost", 1, "127.0.0.1", server_->port()}};
  Client client(options);
  auto response = client.request(get("https://localhost:1/bytes/10"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->transfer.http_version, "2");
  EXPECT_EQ(response->transfer.peer_address, "127.0.0.1");
  EXPECT_EQ(response->transfer.peer_port, server_->port());

  ClientOptions unmatched = client_options();
  unmatched.defaults.connection.connect_to = {{"localhost", 2, "127.0.0.1", server_->port()}};
  auto refused = Client(unmatched).request(get("https://127.0.0.1:1/bytes/10"));
  ASSERT_FALSE(refused) << "a rule for another host and port does not apply";
  EXPECT_EQ(refused.error().kind(), ErrorKind::connection_refused);
}

// The pool closes an idle connection quickly; the next request opens a second connection, which offers
// the ticket the first one received and resumes.
TEST_F(H2TlsTest, SecondConnectionResumesTheFirstOnesSession) {
  start_server({.session_tickets = true});
  ClientOptions options = client_options();
  options.defaults.idle_close = 100ms;
  Client client(options);
  for (int i = 0; i < 2; ++i) {
    auto response = client.request(get(url("/bytes/10")));
    ASSERT_TRUE(response) << response.error().to_string();
    EXPECT_EQ(response->status, 200);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (events_->closed() <= i && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(events_->closed(), i + 1) << "the idle connection was not closed";
  }
  EXPECT_EQ(events_->resumed(), (std::vector<bool>{false, true}));
  EXPECT_EQ(server_->connections(), 2);
  EXPECT_EQ(server_->resumed_handshakes(), 1);
}

// Without tickets from the server there is nothing to resume: the flag says what happened.
TEST_F(H2TlsTest, NoTicketsNoResumption) {
  start_server();
  ClientOptions options = client_options();
  options.defaults.idle_close = 100ms;
  Client client(options);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client.request(get(url("/bytes/10"))));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (events_->closed() <= i && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(events_->resumed(), (std::vector<bool>{false, false}));
  EXPECT_EQ(server_->resumed_handshakes(), 0);
}

}  // namespace
}  // namespace quiver::test

// Mutual TLS (TlsOptions::client_certificate / client_key, curl's --cert / --key) over QUIC and TCP,
// through the real Client against servers that require a client certificate signed by the test CA: the
// project's HTTP/3 server (ServerOptions::client_ca_file) and the test support's HTTP/2 server. Accepted
// with the certificate, refused without it; a certificate that cannot be loaded is the caller's error.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/h2_test_server.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

ClientOptions client_options(HttpVersion version, std::string certificate = {}, std::string key = {}) {
  ClientOptions options;
  options.defaults.connection = test_client_options();
  options.defaults.connection.http_version = version;
  options.defaults.connection.connect_timeout = 2s;
  options.defaults.connection.tls.client_certificate = std::move(certificate);
  options.defaults.connection.tls.client_key = std::move(key);
  options.defaults.request_timeout = 5s;
  options.defaults.max_refusal_retries = 0;
  return options;
}

class MtlsTest : public ::testing::Test {
 protected:
  void start_h3_server() {
    auto options = test_server_options();
    options.client_ca_file = data_file("ca.pem");
    h3_server_ = std::make_unique<server::Server>(options);
    start_or_throw(*h3_server_);
  }
  std::string h3_url() const { return fmt::format("https://127.0.0.1:{}/get", h3_server_->port()); }
  std::string h2_url() const { return fmt::format("https://127.0.0.1:{}/bytes/10", h2_server_->port()); }

  std::unique_ptr<server::Server> h3_server_;
  std::unique_ptr<H2TestServer> h2_server_;
};

TEST_F(MtlsTest, Http3ServerAcceptsAClientCertificate) {
  start_h3_server();
  Client client(client_options(HttpVersion::http3_only, data_file("client.pem"), data_file("client-key.pem")));
  auto response = client.request(get(h3_url()));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
}

TEST_F(MtlsTest, Http3ServerRefusesAClientWithoutCertificate) {
  start_h3_server();
  Client client(client_options(HttpVersion::http3_only));
  auto response = client.request(get(h3_url()));
  ASSERT_FALSE(response) << "status " << response->status;
  EXPECT_EQ(h3_server_->stats().requests_started, 0u);
}

TEST_F(MtlsTest, Http2ServerAcceptsAClientCertificate) {
  h2_server_ = std::make_unique<H2TestServer>(H2ServerOptions{.require_client_certificate = true});
  Client client(client_options(HttpVersion::http2, data_file("client.pem"), data_file("client-key.pem")));
  auto response = client.request(get(h2_url()));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(h2_server_->failed_handshakes(), 0);
}

TEST_F(MtlsTest, Http2ServerRefusesAClientWithoutCertificate) {
  h2_server_ = std::make_unique<H2TestServer>(H2ServerOptions{.require_client_certificate = true});
  Client client(client_options(HttpVersion::http2));
  auto response = client.request(get(h2_url()));
  ASSERT_FALSE(response) << "status " << response->status;
  EXPECT_EQ(h2_server_->requests_received(), 0);
  EXPECT_GE(h2_server_->failed_handshakes(), 1);
}

// A certificate from another CA is refused as well (the server verifies the chain).
TEST_F(MtlsTest, Http2ServerRefusesACertificateFromAnotherCa) {
  h2_server_ = std::make_unique<H2TestServer>(H2ServerOptions{.require_client_certificate = true});
  Client client(client_options(HttpVersion::http2, data_file("selfsigned.pem"), data_file("selfsigned-key.pem")));
  auto response = client.request(get(h2_url()));
  ASSERT_FALSE(response) << "status " << response->status;
  EXPECT_EQ(h2_server_->requests_received(), 0);
}

TEST_F(MtlsTest, ACertificateThatCannotBeLoadedIsTheCallersError) {
  start_h3_server();
  for (auto version : {HttpVersion::http3_only, HttpVersion::http2}) {
    Client client(client_options(version, data_file("no-such-client.pem")));
    auto response = client.request(get(h3_url()));
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().kind(), ErrorKind::handshake_failed);
    EXPECT_EQ(response.error().error_class(), ErrorClass::invalid);
    EXPECT_EQ(response.error().handshake_failure, HandshakeFailure::client_certificate);
    EXPECT_NE(response.error().message().find("no-such-client.pem"), std::string::npos) << response.error().message();
  }
  // A key without a certificate.
  Client client(client_options(HttpVersion::http3_only, "", data_file("client-key.pem")));
  auto response = client.request(get(h3_url()));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().handshake_failure, HandshakeFailure::client_certificate);
}

}  // namespace
}  // namespace quiver::test

// What the ready event tells of a handshake (ConnectionEvent::handshake): TLS version, cipher, ALPN, the
// server certificate's names and validity, the QUIC version and the RTT estimate — over HTTP/3 against the
// project's server and over HTTP/2 against the test support's nghttp2 server. And ConnectionOptions::
// qlog_dir: one qlog file per QUIC connection.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/h2_test_server.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class ReadyDetails final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type != ConnectionEvent::Type::ready) return;
    std::lock_guard lock(mutex_);
    details_.push_back(event.handshake);
  }
  std::vector<HandshakeDetails> details() const {
    std::lock_guard lock(mutex_);
    return details_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<HandshakeDetails> details_;
};

ClientOptions client_options(HttpVersion version, std::shared_ptr<Telemetry> telemetry) {
  ClientOptions options;
  options.defaults.connection = test_client_options();
  options.defaults.connection.http_version = version;
  options.defaults.connection.telemetry = std::move(telemetry);
  options.defaults.request_timeout = 10s;
  return options;
}

// The test certificate (tests/data/server.pem): subject and issuer, valid now.
void expect_test_certificate(const HandshakeDetails& details) {
  EXPECT_EQ(details.certificate_subject, "CN=localhost,O=Quiver test");
  EXPECT_EQ(details.certificate_issuer, "CN=Quiver Test CA,O=Quiver test");
  ASSERT_TRUE(details.certificate_not_before && details.certificate_not_after);
  const auto now = std::chrono::system_clock::now();
  EXPECT_LT(*details.certificate_not_before, now);
  EXPECT_GT(*details.certificate_not_after, now);
}

TEST(HandshakeDetailsTest, Http3ReadyEventTellsTlsCertificateQuicVersionAndRtt) {
  server::Server server(test_server_options());
  start_or_throw(server);
  auto events = std::make_shared<ReadyDetails>();
  {
    Client client(client_options(HttpVersion::http3_only, events));
    auto response = client.request(get(fmt::format("https://127.0.0.1:{}/bytes/10", server.port())));
    ASSERT_TRUE(response) << response.error().to_string();
  }
  auto details = events->details();
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0].tls_version, "TLSv1.3");
  EXPECT_TRUE(details[0].cipher.starts_with("TLS_")) << details[0].cipher;
  EXPECT_EQ(details[0].alpn, "h3");
  expect_test_certificate(details[0]);
  EXPECT_EQ(details[0].quic_version, 1u);
  EXPECT_GT(details[0].rtt.count(), 0);
}

TEST(HandshakeDetailsTest, Http2ReadyEventTellsTlsAndCertificate) {
  H2TestServer server;
  auto events = std::make_shared<ReadyDetails>();
  {
    Client client(client_options(HttpVersion::http2, events));
    auto response = client.request(get(fmt::format("https://127.0.0.1:{}/bytes/10", server.port())));
    ASSERT_TRUE(response) << response.error().to_string();
  }
  auto details = events->details();
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0].tls_version, "TLSv1.3");
  EXPECT_TRUE(details[0].cipher.starts_with("TLS_")) << details[0].cipher;
  EXPECT_EQ(details[0].alpn, "h2");
  expect_test_certificate(details[0]);
  EXPECT_EQ(details[0].quic_version, 0u) << "not QUIC";
}

TEST(HandshakeDetailsTest, QlogDirGetsAFilePerQuicConnection) {
  server::Server server(test_server_options());
  start_or_throw(server);
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("quiver-qlog-{}", server.port());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (int i = 0; i < 2; ++i) {  // two clients: two connections
    ClientOptions options = client_options(HttpVersion::http3_only, nullptr);
    options.defaults.connection.qlog_dir = dir.string();
    Client client(options);
    ASSERT_TRUE(client.request(get(fmt::format("https://127.0.0.1:{}/bytes/10", server.port()))));
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files.push_back(entry.path());
  std::vector<std::string> texts;
  for (const auto& file : files) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    texts.push_back(text.str());
  }
  std::filesystem::remove_all(dir);
  ASSERT_EQ(files.size(), 2u);
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].extension(), ".sqlog");
    EXPECT_EQ(files[i].stem().string().size(), 36u) << "the hex source connection id: " << files[i];
    EXPECT_NE(texts[i].find("\"qlog_version\""), std::string::npos) << texts[i].substr(0, 300);
  }
}

}  // namespace
}  // namespace quiver::test

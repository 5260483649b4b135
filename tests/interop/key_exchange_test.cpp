// The key exchange against ngtcp2's gtlsserver: quiver's ClientHello carries one key share (X25519), and a
// server that accepts only another group asks for it with a HelloRetryRequest, which quiver answers.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "docroot.hpp"
#include "external_server.hpp"
#include "quiver/quiver.hpp"

namespace quiver::interop {
namespace {

class ReadyEvents final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type == ConnectionEvent::Type::ready) ready = event;  // read after the request returned
  }
  std::optional<ConnectionEvent> ready;
};

class KeyExchangeTest : public ::testing::Test {
 protected:
  // Fetches the 1 KB file from a gtlsserver that accepts `groups` ("" = its default) over HTTP/3 and
  // returns the key-exchange group the handshake agreed on.
  std::string fetch_with_server_groups(const std::string& groups) {
    auto docroot = Docroot::create();
    if (!docroot) {
      ADD_FAILURE() << docroot.error();
      return {};
    }
    ServerTls tls = test_server_tls();
    tls.groups = groups;
    auto server = ExternalServer::start(ServerKind::gtlsserver, docroot->path(), tls);
    if (!server) {
      ADD_FAILURE() << server.error();
      return {};
    }
    auto events = std::make_shared<ReadyEvents>();
    ClientOptions options;
    options.defaults.connection.http_version = HttpVersion::http3_only;
    options.defaults.connection.tls.ca_file = test_ca_file().string();
    options.defaults.connection.telemetry = events;
    Client client(options);
    const auto& file = standard_files().front();
    Request request;
    request.url = *Url::parse("https://127.0.0.1:" + std::to_string((*server)->port()) + "/" + file.name);
    request.timeout = std::chrono::seconds(10);
    auto response = client.request(request);
    client.shutdown(std::chrono::seconds(2));
    if (!response) {
      ADD_FAILURE() << response.error().to_string() << "\n" << (*server)->log_tail();
      return {};
    }
    EXPECT_EQ(response->body, docroot->contents(file.name));
    if (!events->ready) {
      ADD_FAILURE() << "no ready event";
      return {};
    }
    return events->ready->handshake.key_exchange;
  }
};

TEST_F(KeyExchangeTest, AServerWithTheDefaultGroupsAgreesOnX25519) {
  EXPECT_EQ(fetch_with_server_groups(""), "X25519");
}

TEST_F(KeyExchangeTest, AServerThatAcceptsOnlyP256GetsItAfterAHelloRetryRequest) {
  EXPECT_EQ(fetch_with_server_groups("-GROUP-ALL:+GROUP-SECP256R1"), "SECP256R1");
}

}  // namespace
}  // namespace quiver::interop

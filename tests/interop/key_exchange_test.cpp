// The key exchange against ngtcp2's gtlsserver: quiver's ClientHello carries one key share (X25519), and a
// server that accepts only another group asks for it with a HelloRetryRequest, which quiver answers. The
// server's qlog shows how many ClientHellos it received (Initial packets with CRYPTO frames): two after a
// HelloRetryRequest, one otherwise.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

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

// Initial packets carrying CRYPTO frames that the server received, over all its qlog files (JSON-SEQ).
int client_hellos(const std::filesystem::path& qlog_dir) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(qlog_dir)) {
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.front() == '\x1e') line.erase(0, 1);
      auto event = nlohmann::json::parse(line, nullptr, false);
      if (event.is_discarded() || event.value("name", "") != "transport:packet_received") continue;
      const auto& data = event["data"];
      if (data["header"].value("packet_type", "") != "initial" || !data.contains("frames")) continue;
      for (const auto& frame : data["frames"]) {
        if (frame.value("frame_type", "") == "crypto") {
          ++count;
          break;
        }
      }
    }
  }
  return count;
}

struct Handshake {
  std::string key_exchange;  // the group the handshake agreed on
  int client_hellos = 0;     // as the server's qlog counts them
};

class KeyExchangeTest : public ::testing::Test {
 protected:
  // Fetches the 1 KB file from a gtlsserver that accepts `groups` ("" = its default) over HTTP/3; waits
  // (a few seconds at most) until the server's qlog shows `expected_hellos` ClientHellos.
  Handshake fetch_with_server_groups(const std::string& groups, int expected_hellos) {
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
    // The server writes a connection's qlog out when the connection ends (after the client's close).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int hellos = client_hellos((*server)->qlog_dir());
    while (hellos < expected_hellos && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      hellos = client_hellos((*server)->qlog_dir());
    }
    return {events->ready->handshake.key_exchange, hellos};
  }
};

TEST_F(KeyExchangeTest, AServerWithTheDefaultGroupsAgreesOnX25519InOneClientHello) {
  const Handshake handshake = fetch_with_server_groups("", 1);
  EXPECT_EQ(handshake.key_exchange, "X25519");
  EXPECT_EQ(handshake.client_hellos, 1);
}

// The ClientHello offers no P-256 key share (only X25519's): the server has to ask for one.
TEST_F(KeyExchangeTest, AServerThatAcceptsOnlyP256GetsItAfterAHelloRetryRequest) {
  const Handshake handshake = fetch_with_server_groups("-GROUP-ALL:+GROUP-SECP256R1", 2);
  EXPECT_EQ(handshake.key_exchange, "SECP256R1");
  EXPECT_EQ(handshake.client_hellos, 2) << "no HelloRetryRequest: the first ClientHello carried a P-256 share";
}

}  // namespace
}  // namespace quiver::interop

// ConnectionOptions::connect_to (curl's --resolve and --connect-to) through the real Client: the packets
// go to the override's address while the TLS name and :authority stay the URL's. And TlsOptions::ca_path
// (curl's --capath), the other way to say where a connection's trust comes from.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gnutls/gnutls.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"
#include "tls/tls_context.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class ConnectOverrideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<server::Server>(test_server_options());
    start_or_throw(*server_);
  }

  std::unique_ptr<Client> client_with(std::vector<ConnectOverride> overrides, bool verify = true) const {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.connect_timeout = 2s;
    options.defaults.connection.tls.verify_peer = verify;
    options.defaults.connection.connect_to = std::move(overrides);
    options.defaults.request_timeout = 10s;
    return std::make_unique<Client>(options);
  }

  std::unique_ptr<server::Server> server_;
};

TEST_F(ConnectOverrideTest, ResolveSendsANameThatDoesNotResolveToTheGivenAddress) {
  const std::string url = fmt::format("https://quiver-test.invalid:{}/get", server_->port());
  auto unresolved = client_with({})->request(get(url));
  ASSERT_FALSE(unresolved);
  EXPECT_EQ(unresolved.error().kind(), ErrorKind::resolve_failed);

  // verification off: the test certificate does not name quiver-test.invalid
  auto client = client_with({{"quiver-test.invalid", server_->port(), "127.0.0.1", 0}}, false);
  auto response = client->request(get(url));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(json::parse(response->body)["headers"]["Host"], fmt::format("quiver-test.invalid:{}", server_->port()));
  EXPECT_EQ(response->transfer.peer_address, "127.0.0.1");
}

TEST_F(ConnectOverrideTest, TheCertificateIsCheckedForTheUrlsName) {
  // localhost is in the certificate: verification passes though the packets go to 127.0.0.1 directly.
  auto client = client_with({{"localhost", 0, "127.0.0.1", 0}});
  auto response = client->request(get(fmt::format("https://localhost:{}/get", server_->port())));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->transfer.peer_address, "127.0.0.1");
}

TEST_F(ConnectOverrideTest, ConnectToChangesThePortToo) {
  auto client = client_with({{"localhost", 1, "127.0.0.1", server_->port()}});
  auto response = client->request(get("https://localhost:1/get"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(json::parse(response->body)["headers"]["Host"], "localhost:1") << "the authority is the URL's";
  EXPECT_EQ(response->transfer.peer_port, server_->port());
}

TEST_F(ConnectOverrideTest, AnOverrideForAnotherPortDoesNotApply) {
  auto client = client_with({{"quiver-test.invalid", 1, "127.0.0.1", 0}}, false);
  auto response = client->request(get(fmt::format("https://quiver-test.invalid:{}/get", server_->port())));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::resolve_failed);
}

TEST_F(ConnectOverrideTest, CaPathTrustsThePemFilesOfADirectory) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("quiver-capath-{}", server_->port());
  std::filesystem::create_directories(dir);
  const auto request = [&] {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.tls.ca_file.clear();
    options.defaults.connection.tls.system_trust = false;
    options.defaults.connection.tls.ca_path = dir.string();
    return Client(options).request(get(fmt::format("https://127.0.0.1:{}/get", server_->port())));
  };
  auto empty = request();
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind(), ErrorKind::handshake_failed);
  EXPECT_NE(empty.error().message().find("cannot load CA directory"), std::string::npos) << empty.error().message();
  std::filesystem::copy_file(data_file("ca.pem"), dir / "test-ca.pem");
  auto trusted = request();
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(trusted) << trusted.error().to_string();
  EXPECT_EQ(trusted->status, 200);
}

// A chain the context verified for one name (remembered: tls::VerifiedChains) is never taken as verified
// for another name, and a failed verification is not remembered.
TEST_F(ConnectOverrideTest, AChainVerifiedForOneNameIsNotTakenForAnother) {
  auto trusted = client_with({{"localhost", 0, "127.0.0.1", 0}})->request(
      get(fmt::format("https://localhost:{}/get", server_->port())));
  ASSERT_TRUE(trusted) << trusted.error().to_string();

  auto context = tls::ClientTlsContext::shared(test_client_options().tls);  // the one the client used
  ASSERT_TRUE(context);
  std::string leaf = certificate_der(data_file("server.pem"));
  const gnutls_datum_t chain[] = {{reinterpret_cast<unsigned char*>(leaf.data()), static_cast<unsigned>(leaf.size())}};
  EXPECT_TRUE((*context)->verified_chains().contains(tls::VerifiedChains::key("localhost", chain, {})))
      << "the verified chain was not remembered";

  // The same chain from the same server, for a name it does not carry: checked in full, and refused.
  auto client = client_with({{"quiver-other.invalid", 0, "127.0.0.1", 0}});
  auto refused = client->request(get(fmt::format("https://quiver-other.invalid:{}/get", server_->port())));
  ASSERT_FALSE(refused) << "a certificate for localhost was accepted for quiver-other.invalid";
  EXPECT_EQ(refused.error().kind(), ErrorKind::handshake_failed);
  EXPECT_NE(refused.error().message().find("host name mismatch"), std::string::npos) << refused.error().message();
  EXPECT_FALSE((*context)->verified_chains().contains(tls::VerifiedChains::key("quiver-other.invalid", chain, {})));
}

TEST_F(ConnectOverrideTest, APinnedPublicKeyMustMatch) {
  const auto pin = public_key_pin(data_file("server.pem"));
  const auto url = fmt::format("https://127.0.0.1:{}/get", server_->port());
  const auto request = [&](std::vector<std::string> pins) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.tls.pinned_public_keys = std::move(pins);
    return Client(options).request(get(url));
  };
  auto pinned = request({"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", pin});
  ASSERT_TRUE(pinned) << pinned.error().to_string();
  EXPECT_EQ(pinned->status, 200);
  auto other = request({"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind(), ErrorKind::handshake_failed);
  EXPECT_EQ(other.error().handshake_failure, HandshakeFailure::certificate);
  EXPECT_NE(other.error().message().find(pin), std::string::npos) << other.error().message();
}

}  // namespace
}  // namespace quiver::test

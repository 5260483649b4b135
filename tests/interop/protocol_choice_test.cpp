// Protocol choice against Debian's caddy, which serves HTTP/1.1, HTTP/2 and HTTP/3 on one port and
// announces HTTP/3 with Alt-Svc: an auto client (HttpVersion::http3) with both up uses HTTP/3; one that
// first has to fall back to TCP (its cached Alt-Svc alternative points at a dead UDP port) learns caddy's
// own `alt-svc: h3=":PORT"` from the HTTP/2 response, and its next connection speaks HTTP/3 there.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <fmt/format.h>

#include "docroot.hpp"
#include "external_server.hpp"
#include "quiver/client.hpp"

namespace quiver::interop {
namespace {

using namespace std::chrono_literals;

const Docroot& docroot() {
  static const Docroot shared = [] {
    auto created = Docroot::create();
    if (!created) throw std::runtime_error("cannot create the document root: " + created.error());
    return std::move(*created);
  }();
  return shared;
}

class ProtocolChoiceInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = ExternalServer::start(ServerKind::caddy, docroot().path());
    ASSERT_TRUE(started) << started.error();
    server_ = std::move(*started);
  }

  ClientOptions auto_options() const {
    ClientOptions options;
    options.defaults.connection.http_version = HttpVersion::http3;
    options.defaults.connection.tls.ca_file = test_ca_file().string();
    options.defaults.connection.connect_timeout = 4s;
    return options;
  }

  std::string url() const { return fmt::format("https://127.0.0.1:{}/{}", server_->port(), standard_files().front().name); }
  std::string diagnostics() const { return "\n--- " + server_->command_line() + " ---\n" + server_->log_tail(); }

  Result<Response> get_file(Client& client) const {
    auto got = client.request(*get(url()).timeout(30s).build());
    if (got) {
      EXPECT_TRUE(got->body == docroot().contents(standard_files().front().name));
    }
    return got;
  }

  std::unique_ptr<ExternalServer> server_;
};

TEST_F(ProtocolChoiceInterop, BothUpUsesHttp3) {
  auto options = auto_options();
  options.defaults.connection.http3_race_delay = 2s;
  Client client(options);
  auto got = get_file(client);
  ASSERT_TRUE(got) << got.error().to_string() << diagnostics();
  EXPECT_EQ(got->transfer.http_version, "3");
  EXPECT_EQ(got->transfer.protocol_choice, "HTTP/3 won the race (no Alt-Svc known)");
}

TEST_F(ProtocolChoiceInterop, CaddysAltSvcUpgradesTheNextConnectionToHttp3) {
  // A stale alternative at a UDP port nothing answers on (a bound socket that never reads).
  asio::io_context io;
  asio::ip::udp::socket dead(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto file = std::filesystem::temp_directory_path() / fmt::format("quiver-caddy-alt-svc-{}", ::getpid());
  std::ofstream(file) << fmt::format("h2 127.0.0.1 {0} h3 127.0.0.1 {1} \"20990101 00:00:00\" 0 0\n", server_->port(),
                                     dead.local_endpoint().port());
  auto options = auto_options();
  options.alt_svc_file = file.string();
  options.defaults.idle_close = 50ms;
  Client client(options);
  auto first = get_file(client);
  ASSERT_TRUE(first) << first.error().to_string() << diagnostics();
  EXPECT_EQ(first->transfer.http_version, "2") << first->transfer.protocol_choice;
  ASSERT_TRUE(first->headers.get("alt-svc")) << "caddy sent no Alt-Svc";

  for (int i = 0; i < 1000 && !client.stats().empty() && !client.stats()[0].connections.empty(); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  auto second = get_file(client);
  ASSERT_TRUE(second) << second.error().to_string() << diagnostics();
  EXPECT_EQ(second->transfer.http_version, "3") << second->transfer.protocol_choice;
  EXPECT_EQ(second->transfer.protocol_choice,
            fmt::format("HTTP/3 won the race (Alt-Svc h3=\":{}\")", server_->port()));
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace quiver::interop

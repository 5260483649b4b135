// HttpVersion::http3 (auto) through the real Client over loopback: the project's HTTP/3 server (UDP) and
// the test support's HTTP/2 server (TCP) on the same port, or one of them missing, or a UDP socket that
// never answers (a blackhole). QUIC refused -> TCP at once; blackholed -> TCP after the race delay, long
// before the QUIC connect timeout; both up -> HTTP/3; a QUIC failure marks HTTP/3 broken, so the next
// connection goes straight to TCP until the mark expires; Alt-Svc learnt over TCP sends the next
// connection to HTTP/3 at the announced port, also from a file a second Client reads.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/h1_test_server.hpp"
#include "support/h2_test_server.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

// Connection events, as the Client's telemetry reports them (io thread), read from the test thread.
class ConnectionLog final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
  }
  // How many connections started over QUIC (3), HTTP/2 (2) or HTTP/1.1 (1).
  int starts(int http_version) const {
    std::lock_guard lock(mutex_);
    return static_cast<int>(std::ranges::count_if(events_, [&](const ConnectionEvent& event) {
      return event.type == ConnectionEvent::Type::start && event.http_version == http_version;
    }));
  }
  std::vector<std::string> reasons() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> reasons;
    for (const auto& event : events_) {
      if (event.type == ConnectionEvent::Type::start) reasons.push_back(fmt::format("{}: {}", event.http_version, event.reason));
    }
    return reasons;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<ConnectionEvent> events_;
};

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// A bound UDP socket that never reads: QUIC's Initial packets vanish (no ICMP error either).
class UdpBlackhole {
 public:
  explicit UdpBlackhole(std::uint16_t port)
      : socket_(io_, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), port)) {}

 private:
  asio::io_context io_;
  asio::ip::udp::socket socket_;
};

class ProtocolRaceTest : public ::testing::Test {
 protected:
  // The HTTP/3 server on a free UDP port, QUIC only: the TCP side is the HTTP/2 test server's, which
  // counts its connections.
  std::uint16_t start_http3() {
    auto options = test_server_options();
    options.tcp = false;
    http3_ = std::make_unique<server::Server>(options);
    start_or_throw(*http3_);
    return http3_->port();
  }
  // HTTP/3 on a free UDP port and the HTTP/2 server on the same port number over TCP. That TCP port may be
  // taken (another process's ephemeral port): then both are tried again on a new port.
  std::uint16_t start_both() {
    for (int attempt = 1;; ++attempt) {
      std::uint16_t port = start_http3();
      try {
        start_http2(port);
        return port;
      } catch (const std::runtime_error&) {
        http3_.reset();
        if (attempt == 5) throw;
      }
    }
  }
  // The HTTP/2 server on TCP `port` (0: a free one).
  std::uint16_t start_http2(std::uint16_t port = 0, std::string alt_svc = {}) {
    H2ServerOptions options;
    options.port = port;
    options.alt_svc = std::move(alt_svc);
    http2_ = std::make_unique<H2TestServer>(options);
    return http2_->port();
  }

  ClientOptions auto_options() {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.http_version = HttpVersion::http3;
    options.defaults.connection.connect_timeout = kConnectTimeout;
    options.defaults.connection.telemetry = log_;
    options.on_warning = [this](const std::string& warning) {
      std::lock_guard lock(warnings_mutex_);
      warnings_.push_back(warning);
    };
    return options;
  }

  static std::string url(std::uint16_t port, const std::string& target = "/bytes/1000") {
    return fmt::format("https://127.0.0.1:{}{}", port, target);
  }

  // GET /bytes/1000: succeeds with the right body over `http_version`; returns why that protocol.
  static std::string get_over(Client& client, std::uint16_t port, const std::string& http_version) {
    auto got = client.request(*get(url(port)).timeout(20s).build());
    EXPECT_TRUE(got) << got.error().to_string();
    if (!got) return {};
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(got->body, deterministic_bytes(0, 1000));
    EXPECT_EQ(got->transfer.http_version, http_version) << got->transfer.protocol_choice;
    return got->transfer.protocol_choice;
  }

  // Waits until the Client's pools hold no connection (an idle one closed after idle_close).
  static bool all_closed(const Client& client) {
    return eventually([&] {
      for (const auto& pool : client.stats()) {
        if (!pool.connections.empty()) return false;
      }
      return true;
    });
  }

  static constexpr auto kConnectTimeout = 4000ms;
  std::shared_ptr<ConnectionLog> log_ = std::make_shared<ConnectionLog>();
  std::unique_ptr<server::Server> http3_;
  std::unique_ptr<H2TestServer> http2_;
  std::mutex warnings_mutex_;
  std::vector<std::string> warnings_;
};

TEST_F(ProtocolRaceTest, NothingOnUdpFallsBackToTcpAtOnce) {
  std::uint16_t port = start_http2();  // nothing bound on UDP: the QUIC Initial meets ICMP unreachable
  Client client(auto_options());
  auto started = std::chrono::steady_clock::now();
  std::string choice = get_over(client, port, "2");
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_NE(choice.find("TCP won the race (QUIC failed"), std::string::npos) << choice;
  EXPECT_LT(took, kConnectTimeout / 2) << "the fallback waited for the QUIC connect timeout";
  EXPECT_EQ(log_->starts(3), 1);
  EXPECT_EQ(log_->starts(2), 1);
  auto stats = client.stats();
  ASSERT_EQ(stats.size(), 1u);
  ASSERT_EQ(stats[0].connections.size(), 1u);
  EXPECT_EQ(stats[0].connections[0].http_version, "2");
  EXPECT_EQ(stats[0].connections[0].protocol_choice, choice);
}

// The TCP attempt offers h2 and http/1.1: a server that speaks only HTTP/1.1 is reached too.
TEST_F(ProtocolRaceTest, AnHttp11OnlyServerIsReachedOverTcp) {
  H1TestServer http1;  // nothing bound on UDP at its port
  Client client(auto_options());
  std::string choice = get_over(client, http1.port(), "1.1");
  EXPECT_NE(choice.find("TCP won the race (QUIC failed"), std::string::npos) << choice;
  EXPECT_EQ(log_->starts(1), 1);
  EXPECT_EQ(log_->starts(2), 0);
  EXPECT_EQ(http1.connections(), 1);
}

// QUIC reached the server and its certificate failed verification: TCP is not tried (it would show the
// same certificate; a fallback must never get round a failed check), and the error says why.
TEST_F(ProtocolRaceTest, ACertificateFailureOverQuicEndsTheRaceWithoutTcp) {
  std::uint16_t port = start_both();
  auto options = auto_options();
  options.defaults.connection.tls.ca_file = data_file("selfsigned.pem");  // did not sign the server's
  options.defaults.connection.http3_race_delay = 2s;  // QUIC fails long before TCP would start anyway
  Client client(options);
  auto got = client.request(*get(url(port)).timeout(20s).build());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind(), ErrorKind::handshake_failed) << got.error().to_string();
  EXPECT_EQ(got.error().handshake_failure, HandshakeFailure::certificate) << got.error().to_string();
  EXPECT_EQ(log_->starts(3), 1);
  EXPECT_EQ(log_->starts(2), 0);
  EXPECT_EQ(http2_->connections(), 0);
}

TEST_F(ProtocolRaceTest, UdpBlackholedFallsBackAfterTheRaceDelayNotTheConnectTimeout) {
  std::uint16_t port = start_http2();
  UdpBlackhole blackhole(port);
  Client client(auto_options());
  auto started = std::chrono::steady_clock::now();
  std::string choice = get_over(client, port, "2");
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_NE(choice.find("TCP won the race (QUIC not connected after 250 ms)"), std::string::npos) << choice;
  EXPECT_GE(took, 250ms);  // TCP waited for the race delay
  EXPECT_LT(took, kConnectTimeout / 2) << "the fallback waited for the QUIC connect timeout";
  EXPECT_EQ(http2_->connections(), 1);
}

// A blackhole never ends the QUIC attempt that lost (only its connect timeout would): when the TCP
// connection it lost to ends, it counts as failed, so the next connection goes straight to TCP.
TEST_F(ProtocolRaceTest, UdpBlackholedMarksHttp3BrokenWhenTheConnectionEnds) {
  std::uint16_t port = start_http2();
  UdpBlackhole blackhole(port);
  auto options = auto_options();
  options.defaults.idle_close = 50ms;  // each request below gets a new connection
  Client client(options);
  EXPECT_NE(get_over(client, port, "2").find("QUIC not connected after"), std::string::npos);
  ASSERT_TRUE(all_closed(client));
  std::string choice = get_over(client, port, "2");
  EXPECT_NE(choice.find("marked broken"), std::string::npos) << choice;
  EXPECT_EQ(log_->starts(3), 1) << "the second connection tried QUIC";
}

TEST_F(ProtocolRaceTest, BothUpUsesHttp3) {
  std::uint16_t port = start_both();
  auto options = auto_options();
  options.defaults.connection.http3_race_delay = 2s;  // QUIC on loopback is ready long before
  Client client(options);
  std::string choice = get_over(client, port, "3");
  EXPECT_EQ(choice, "HTTP/3 won the race (no Alt-Svc known)");
  EXPECT_EQ(log_->starts(2), 0);
  EXPECT_EQ(http2_->connections(), 0);
}

// Both attempts start at once (race delay 0): whichever wins, the pool sees one connection.
TEST_F(ProtocolRaceTest, BothStartedAtOnceGiveOneConnection) {
  std::uint16_t port = start_both();
  auto options = auto_options();
  options.defaults.connection.http3_race_delay = 0ms;  // both start at once; either may win
  Client client(options);
  auto got = client.request(*get(url(port)).timeout(20s).build());
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(got->body, deterministic_bytes(0, 1000));
  EXPECT_TRUE(got->transfer.http_version == "3" || got->transfer.http_version == "2");
  auto stats = client.stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].connections.size(), 1u);  // one connection for the pool, whichever won
}

TEST_F(ProtocolRaceTest, QuicFailureMarksHttp3BrokenSoTheNextConnectionGoesStraightToTcp) {
  std::uint16_t port = start_http2();  // QUIC refused
  auto options = auto_options();
  options.defaults.idle_close = 50ms;  // each request below gets a new connection
  options.defaults.connection.http3_broken_time = 600ms;  // long enough for the second request, short for the wait below
  Client client(options);
  EXPECT_NE(get_over(client, port, "2").find("QUIC failed"), std::string::npos);
  ASSERT_TRUE(all_closed(client));

  std::string choice = get_over(client, port, "2");
  EXPECT_NE(choice.find("TCP only: HTTP/3 at :"), std::string::npos) << choice;
  EXPECT_NE(choice.find("marked broken"), std::string::npos) << choice;
  EXPECT_EQ(log_->starts(3), 1) << "the second connection tried QUIC";
  ASSERT_TRUE(all_closed(client));

  // Once the mark expires QUIC is tried again (and fails again: the next mark is twice as long).
  std::this_thread::sleep_for(600ms);
  EXPECT_NE(get_over(client, port, "2").find("QUIC failed"), std::string::npos);
  EXPECT_EQ(log_->starts(3), 2);
  EXPECT_EQ(log_->starts(2), 3);
}

TEST_F(ProtocolRaceTest, AltSvcOverTcpSendsTheNextConnectionToHttp3AtTheAnnouncedPort) {
  std::uint16_t h3_port = start_http3();
  std::uint16_t port = start_http2(0, fmt::format("h3=\":{}\"; ma=60", h3_port));  // UDP on `port`: refused
  auto options = auto_options();
  options.defaults.idle_close = 50ms;
  Client client(options);
  get_over(client, port, "2");
  ASSERT_TRUE(all_closed(client));
  std::string choice = get_over(client, port, "3");
  EXPECT_EQ(choice, fmt::format("HTTP/3 won the race (Alt-Svc h3=\":{}\")", h3_port));
  EXPECT_EQ(http2_->connections(), 1);
}

TEST_F(ProtocolRaceTest, PersistedAltSvcIsUsedByASecondClient) {
  std::uint16_t h3_port = start_http3();
  std::uint16_t port = start_http2(0, fmt::format("h3=\":{}\"; ma=60", h3_port));
  auto file = std::filesystem::temp_directory_path() / fmt::format("quiver-alt-svc-{}", ::getpid());
  std::filesystem::remove(file);
  auto options = auto_options();
  options.alt_svc_file = file.string();
  {
    Client first(options);
    get_over(first, port, "2");
  }
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  {
    Client second(options);
    EXPECT_NE(get_over(second, port, "3").find("Alt-Svc"), std::string::npos);
  }
  EXPECT_EQ(http2_->connections(), 1);
  std::filesystem::remove(file);
}

TEST_F(ProtocolRaceTest, ABadAltSvcFileIsIgnoredWithAWarning) {
  std::uint16_t port = start_http2();
  auto file = std::filesystem::temp_directory_path() / fmt::format("quiver-alt-svc-bad-{}", ::getpid());
  std::ofstream(file) << "garbage\n";
  auto options = auto_options();
  options.alt_svc_file = file.string();
  {
    Client client(options);
    get_over(client, port, "2");
  }
  std::lock_guard lock(warnings_mutex_);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("Alt-Svc file"), std::string::npos) << warnings_[0];
  std::filesystem::remove(file);
}

TEST_F(ProtocolRaceTest, AltSvcClearForgetsTheAlternative) {
  std::uint16_t port = start_http2(0, "clear");
  auto file = std::filesystem::temp_directory_path() / fmt::format("quiver-alt-svc-clear-{}", ::getpid());
  // An alternative at a blackholed port: the first connection races there and TCP wins after the delay.
  std::uint16_t dead_port = closed_udp_port();
  UdpBlackhole blackhole(dead_port);
  std::ofstream(file) << fmt::format("h2 127.0.0.1 {} h3 127.0.0.1 {} \"20990101 00:00:00\" 0 0\n", port, dead_port);
  auto options = auto_options();
  options.alt_svc_file = file.string();
  options.defaults.idle_close = 50ms;
  Client client(options);
  EXPECT_NE(get_over(client, port, "2").find("QUIC not connected after 250 ms"), std::string::npos);
  ASSERT_TRUE(all_closed(client));
  // The response said `clear`: the next connection tries QUIC at the origin's own port again.
  EXPECT_NE(get_over(client, port, "2").find("QUIC failed"), std::string::npos);
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("h3 127.0.0.1"), std::string::npos) << text;
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace quiver::test

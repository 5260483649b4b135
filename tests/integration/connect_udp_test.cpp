// CONNECT-UDP (RFC 9298) through the project's server as a MASQUE proxy to a UDP echo server on loopback:
// Client::connect_udp, the server's target policy (403, 502, 404) and DATAGRAM capsules (RFC 9297 §3.5).
#include <gtest/gtest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/use_future.hpp>
#include <fmt/format.h>

#include <map>
#include <thread>

#include "quiver/connect_udp.hpp"
#include "support/loopback.hpp"
#include "support/udp_echo_server.hpp"
#include "test_server/server.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class ConnectUdpTest : public ::testing::Test {
 protected:
  void start_proxy(bool connect_udp = true, std::vector<std::string> allow = {"127.0.0.0/8", "::1/128"}) {
    auto options = test_server_options();
    options.connect_udp = connect_udp;
    options.datagrams = options.extended_connect = true;  // for the 404 case, where connect_udp is off
    options.connect_udp_allow = std::move(allow);
    proxy_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*proxy_);
  }
  Client& client(std::uint64_t max_udp_payload = 1200) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.http_datagrams = true;
    options.defaults.connection.max_udp_payload = max_udp_payload;
    client_ = std::make_unique<Client>(std::move(options));
    return *client_;
  }
  std::string url_template(std::string_view query = "") const {
    return fmt::format("https://127.0.0.1:{}/.well-known/masque/udp/{{target_host}}/{{target_port}}/{}",
                       proxy_->port(), query);
  }
  static Result<std::string> receive_within(UdpTunnel& tunnel, std::chrono::milliseconds limit = 5s) {
    asio::cancellation_signal signal;
    auto future = tunnel.async_receive(asio::bind_cancellation_slot(signal.slot(), asio::use_future));
    if (future.wait_for(limit) != std::future_status::ready) signal.emit(asio::cancellation_type::terminal);
    return future.get();
  }

  UdpEchoServer echo_;
  std::unique_ptr<server::Server> proxy_;
  std::unique_ptr<Client> client_;  // destroyed before the proxy
};

// Datagram `seq` of `size` bytes: its number, then a pattern of both (so a mixed-up byte shows).
std::string numbered(std::uint32_t seq, std::size_t size) {
  std::string payload = fmt::format("{:08}", seq);
  while (payload.size() < size) payload += static_cast<char>('a' + (seq + payload.size()) % 26);
  return payload.substr(0, std::max<std::size_t>(size, 8));
}

TEST_F(ConnectUdpTest, EveryDatagramComesBackByteIdentical) {
  start_proxy();
  auto tunnel = client().connect_udp(url_template(), "127.0.0.1", echo_.port());
  ASSERT_TRUE(tunnel) << tunnel.error().to_string();
  EXPECT_EQ(tunnel->channel().status(), 200);
  EXPECT_EQ(tunnel->channel().headers().get("capsule-protocol"), "?1");
  const std::size_t max = tunnel->max_payload_size();
  ASSERT_GT(max, 1000u);
  EXPECT_EQ(max + 1, tunnel->channel().max_datagram_size());  // the context id's byte
  // 300 datagrams, 16 in flight at most, sizes from 8 bytes to the largest one datagram carries.
  constexpr std::uint32_t kCount = 300, kWindow = 16;
  std::map<std::uint32_t, std::string> sent;
  std::uint32_t next = 0, received = 0;
  while (received < kCount) {
    while (next < kCount && next - received < kWindow) {
      std::string payload = numbered(next, 8 + (next * 37) % (max - 7));
      ASSERT_TRUE(tunnel->send(payload)) << next;
      sent.emplace(next++, std::move(payload));
    }
    auto back = receive_within(*tunnel);
    ASSERT_TRUE(back) << back.error().to_string() << " after " << received;
    auto seq = static_cast<std::uint32_t>(std::stoul(back->substr(0, 8)));
    ASSERT_TRUE(sent.contains(seq));
    EXPECT_EQ(*back, sent.at(seq)) << seq;
    sent.erase(seq);
    ++received;
  }
  EXPECT_EQ(echo_.echoed(), kCount);
  EXPECT_EQ(tunnel->channel().datagram_stats().dropped, 0u);
}

TEST_F(ConnectUdpTest, OverTheLargestPayloadIsRefusedAsInvalid) {
  start_proxy();
  auto tunnel = client().connect_udp(url_template(), "127.0.0.1", echo_.port());
  ASSERT_TRUE(tunnel) << tunnel.error().to_string();
  auto sent = tunnel->send(std::string(tunnel->max_payload_size() + 1, 'x'));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind(), ErrorKind::datagram_too_large);
  EXPECT_EQ(sent.error().error_class(), ErrorClass::invalid);
}

// A sender faster than the congestion controller gets congestion_limited, then, once the transport has
// sent what waited, is taken again (the backlog is re-read, not remembered from the last send).
TEST_F(ConnectUdpTest, CongestionLimitedSenderIsTakenAgainOnceTheBacklogDrains) {
  start_proxy();
  auto tunnel = client().connect_udp(url_template(), "127.0.0.1", echo_.port());
  ASSERT_TRUE(tunnel) << tunnel.error().to_string();
  const std::string payload(tunnel->max_payload_size(), 'c');
  bool limited = false;
  for (int i = 0; i < 20000 && !limited; ++i) {
    auto sent = tunnel->send(payload);
    if (!sent) {
      ASSERT_EQ(sent.error().kind(), ErrorKind::congestion_limited) << sent.error().to_string();
      EXPECT_EQ(sent.error().error_class(), ErrorClass::transient);
      limited = true;
    }
  }
  ASSERT_TRUE(limited) << "20000 sends in a row were never congestion limited";
  bool taken = false;
  for (auto until = std::chrono::steady_clock::now() + 5s; !taken && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
    taken = tunnel->send(payload).has_value();
  }
  EXPECT_TRUE(taken) << "still congestion_limited 5 s after the burst";
}

TEST_F(ConnectUdpTest, TargetOutsideTheAllowedNetworksGets403) {
  start_proxy();
  auto tunnel = client().connect_udp(url_template(), "192.0.2.1", 53);  // TEST-NET-1, not loopback
  ASSERT_FALSE(tunnel);
  EXPECT_EQ(tunnel.error().kind(), ErrorKind::proxy_refused);
  EXPECT_NE(tunnel.error().message().find("403"), std::string::npos) << tunnel.error().message();
  EXPECT_NE(tunnel.error().message().find("error=destination_ip_prohibited"), std::string::npos);
}

TEST_F(ConnectUdpTest, UnresolvableTargetGets502WithDnsError) {
  start_proxy();
  auto tunnel = client().connect_udp(url_template(), "no-such-host.invalid", 53);  // RFC 6761: never resolves
  ASSERT_FALSE(tunnel);
  EXPECT_EQ(tunnel.error().kind(), ErrorKind::proxy_refused);
  EXPECT_NE(tunnel.error().message().find("502"), std::string::npos) << tunnel.error().message();
  EXPECT_NE(tunnel.error().message().find("error=dns_error"), std::string::npos);
}

TEST_F(ConnectUdpTest, AllowListWidensWhatIsReachable) {
  start_proxy(true, {"192.0.2.0/24"});
  auto refused = client().connect_udp(url_template(), "127.0.0.1", echo_.port());  // loopback no longer allowed
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::proxy_refused);
  auto allowed = client_->connect_udp(url_template(), "192.0.2.1", 9);  // a tunnel: UDP has no handshake
  ASSERT_TRUE(allowed) << allowed.error().to_string();
  EXPECT_EQ(allowed->channel().status(), 200);
}

TEST_F(ConnectUdpTest, IPv6TargetIsPercentEncodedInThePath) {
  UdpEchoServer echo6("::1");
  start_proxy();
  auto tunnel = client().connect_udp(url_template(), "::1", echo6.port());
  ASSERT_TRUE(tunnel) << tunnel.error().to_string();
  ASSERT_TRUE(tunnel->send("over v6"));
  auto back = receive_within(*tunnel);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, "over v6");
}

TEST_F(ConnectUdpTest, AllowListThatIsNoNetworkStopsTheServerStarting) {
  auto options = test_server_options();
  options.connect_udp = true;
  options.connect_udp_allow = {"127.0.0.0/8", "not-a-network"};
  server::Server server(std::move(options));
  auto started = server.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().error_class(), ErrorClass::invalid);
  EXPECT_NE(started.error().message().find("not-a-network"), std::string::npos) << started.error().message();
}

TEST_F(ConnectUdpTest, ServerThatIsNoProxyAnswers404) {
  start_proxy(/*connect_udp=*/false);
  auto tunnel = client().connect_udp(url_template(), "127.0.0.1", echo_.port());
  ASSERT_FALSE(tunnel);
  EXPECT_EQ(tunnel.error().kind(), ErrorKind::proxy_refused);
  EXPECT_NE(tunnel.error().message().find("404"), std::string::npos) << tunnel.error().message();
}

TEST_F(ConnectUdpTest, TemplateWithoutTheVariablesIsAnInvalidUrl) {
  start_proxy();
  auto tunnel = client().connect_udp(fmt::format("https://127.0.0.1:{}/masque", proxy_->port()), "127.0.0.1", 53);
  ASSERT_FALSE(tunnel);
  EXPECT_EQ(tunnel.error().kind(), ErrorKind::invalid_url);
  EXPECT_NE(tunnel.error().message().find("{target_host}"), std::string::npos) << tunnel.error().message();
}

// The proxy answers in DATAGRAM capsules on the stream (?capsules=1): they arrive as datagrams, and the
// stream itself yields no data.
TEST_F(ConnectUdpTest, DatagramCapsulesOnTheStreamArriveAsDatagrams) {
  start_proxy();
  auto tunnel = client().connect_udp(url_template("?capsules=1"), "127.0.0.1", echo_.port());
  ASSERT_TRUE(tunnel) << tunnel.error().to_string();
  for (int i = 0; i < 20; ++i) {
    std::string payload = numbered(static_cast<std::uint32_t>(i), 100 + i * 50);
    ASSERT_TRUE(tunnel->send(payload));
    auto back = receive_within(*tunnel);
    ASSERT_TRUE(back) << back.error().to_string() << " at " << i;
    EXPECT_EQ(*back, payload);
  }
  EXPECT_EQ(tunnel->channel().datagram_stats().received, 20u);
}

// A DATAGRAM capsule over the limit (64 KiB + 8) is malformed: the channel ends with protocol_error and
// H3_DATAGRAM_ERROR (its stream reset with it), and the connection serves on.
TEST_F(ConnectUdpTest, MalformedCapsuleEndsTheChannelWithDatagramError) {
  start_proxy();
  auto tunnel = client().connect_udp(url_template("?capsules=malformed"), "127.0.0.1", echo_.port());
  ASSERT_TRUE(tunnel) << tunnel.error().to_string();
  ASSERT_TRUE(tunnel->send("provoke"));
  auto ended = receive_within(*tunnel);
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().kind(), ErrorKind::protocol_error) << ended.error().to_string();
  EXPECT_EQ(ended.error().h3_code, h3_code::datagram_error);
  auto again = client_->connect_udp(url_template(), "127.0.0.1", echo_.port());
  ASSERT_TRUE(again) << again.error().to_string();
  ASSERT_TRUE(again->send("still fine"));
  auto back = receive_within(*again);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(*back, "still fine");
}

TEST_F(ConnectUdpTest, ClosingTheTunnelEndsReceivesAndSends) {
  start_proxy();
  auto tunnel = client().connect_udp(url_template(), "127.0.0.1", echo_.port());
  ASSERT_TRUE(tunnel) << tunnel.error().to_string();
  auto waiting = tunnel->async_receive(asio::use_future);
  tunnel->close();
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  auto ended = waiting.get();
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().kind(), ErrorKind::channel_closed);
  auto sent = tunnel->send("late");
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind(), ErrorKind::channel_closed);
}

}  // namespace
}  // namespace quiver::test

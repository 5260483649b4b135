// `quiver tunnel` end to end: a UDP client on loopback -> the tunnel's local port -> `quiver serve
// --connect-udp` (CONNECT-UDP over HTTP/3) -> a UDP echo server, and back; and its clear failures.
#include <csignal>
#include <regex>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <fmt/format.h>

#include "cli/cli_fixture.hpp"
#include "cli/serve_process.hpp"
#include "support/udp_echo_server.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> tunnel_args(const ServeProcess& serve, const std::string& target) {
  return {QUIVER_CLI_PATH, "tunnel", "--proxy", serve.url(""), "--cacert", data_file("ca.pem"), target};
}

ServeProcess proxy(std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--cert", data_file("server.pem"), "--key", data_file("server-key.pem"),
                                "--connect-udp", "-q"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ServeProcess(args);
}

// Sends `payload` to 127.0.0.1:`port` and waits (bounded) for one datagram back.
std::optional<std::string> round_trip(std::uint16_t port, const std::string& payload) {
  asio::io_context io;
  asio::ip::udp::socket socket(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  socket.send_to(asio::buffer(payload), asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  std::array<char, 65536> buffer{};
  std::optional<std::string> answer;
  socket.async_receive(asio::buffer(buffer), [&](asio::error_code ec, std::size_t size) {
    if (!ec) answer.emplace(buffer.data(), size);
  });
  io.run_for(5s);
  return answer;
}

TEST(Tunnel, CarriesARealUdpExchangeThroughTheProxy) {
  UdpEchoServer echo;
  auto serve = proxy();
  ASSERT_NE(serve.port(), 0) << serve.describe();
  EXPECT_NE(serve.banner().find("listening"), std::string::npos);
  ChildProcess tunnel(tunnel_args(serve, fmt::format("127.0.0.1:{}", echo.port())));
  auto first = tunnel.read_line(10s);
  ASSERT_TRUE(first) << tunnel.err();
  std::smatch match;
  ASSERT_TRUE(std::regex_search(*first, match, std::regex(R"(^quiver tunnel: 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:\d+ .*max datagram payload (\d+) bytes)")))
      << *first;
  const auto port = static_cast<std::uint16_t>(std::stoi(match[1]));
  EXPECT_GT(std::stoi(match[2]), 1000);
  for (int i = 0; i < 20; ++i) {
    std::string payload = fmt::format("datagram {} {}", i, std::string(static_cast<std::size_t>(i) * 50, 'x'));
    auto back = round_trip(port, payload);
    ASSERT_TRUE(back) << "no answer to datagram " << i << "; tunnel stderr: " << tunnel.err();
    EXPECT_EQ(*back, payload);
  }
  EXPECT_EQ(echo.echoed(), 20u);
  tunnel.send_signal(SIGINT);
  auto ended = tunnel.wait(10s);
  EXPECT_EQ(ended.exit_code, 0) << describe(ended);
  serve.stop(SIGTERM);
}

TEST(Tunnel, ForbiddenTargetIsAClearErrorAtOnce) {
  auto serve = proxy();
  ASSERT_NE(serve.port(), 0) << serve.describe();
  auto result = run_process(tunnel_args(serve, "192.0.2.1:53"), 20s);
  EXPECT_EQ(result.exit_code, 56) << describe(result);
  EXPECT_NE(result.err.find("proxy_refused"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("403"), std::string::npos) << result.err;
  serve.stop(SIGTERM);
}

TEST(Tunnel, ProxyWithoutDatagramsIsAClearError) {
  ServeProcess serve({"--cert", data_file("server.pem"), "--key", data_file("server-key.pem"), "-q"});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  auto result = run_process(tunnel_args(serve, "127.0.0.1:53"), 20s);
  EXPECT_NE(result.exit_code, 0) << describe(result);
  // No extended CONNECT and no datagrams: the channel is refused before any request goes out.
  EXPECT_NE(result.err.find("extended_connect_disabled"), std::string::npos) << result.err;
  serve.stop(SIGTERM);
}

TEST(Tunnel, BadTargetIsAUsageError) {
  auto result = run_process({QUIVER_CLI_PATH, "tunnel", "--proxy", "https://127.0.0.1:1", "no-port"}, 10s);
  EXPECT_EQ(result.exit_code, 2) << describe(result);
  EXPECT_NE(result.err.find("HOST:PORT"), std::string::npos) << result.err;
}

TEST(Tunnel, ServeRefusesAllowListWithoutConnectUdp) {
  auto result = run_process({QUIVER_CLI_PATH, "serve", "--port", "0", "--connect-udp-allow", "10.0.0.0/8"}, 10s);
  EXPECT_EQ(result.exit_code, 2) << describe(result);
  EXPECT_NE(result.err.find("--connect-udp-allow needs --connect-udp"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace quiver::test

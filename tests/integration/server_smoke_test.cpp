// The project's test server on its own: lifecycle, start() errors, hostile datagrams, route plans.
// (End-to-end behaviour through the client is covered by the other integration tests.)
#include <gtest/gtest.h>

#include <asio/ip/udp.hpp>
#include <fmt/format.h>

#include <array>
#include <chrono>
#include <thread>

#include "test_server/routes.hpp"
#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using server::Server;
using server::ServerOptions;

std::string start_error(ServerOptions options) {
  Server server(std::move(options));
  auto started = server.start();
  return started ? "" : started.error().message();
}

TEST(ServerSmokeTest, MissingCertificateFileIsNamed) {
  auto options = test_server_options();
  options.cert_file = "/nonexistent/quiver-cert.pem";
  EXPECT_NE(start_error(options).find("/nonexistent/quiver-cert.pem"), std::string::npos) << start_error(options);
}

TEST(ServerSmokeTest, MissingKeyFileIsNamed) {
  auto options = test_server_options();
  options.key_file = "/nonexistent/quiver-key.pem";
  EXPECT_NE(start_error(options).find("/nonexistent/quiver-key.pem"), std::string::npos) << start_error(options);
}

TEST(ServerSmokeTest, UnusableCertificateOrMismatchedKeyIsNamed) {
  auto options = test_server_options();
  options.cert_file = data_file("server-key.pem");  // not a certificate
  EXPECT_NE(start_error(options).find("server-key.pem"), std::string::npos) << start_error(options);

  options = test_server_options();
  options.key_file = data_file("wrong-host-key.pem");  // another certificate's key
  auto error = start_error(options);
  EXPECT_NE(error.find("server.pem"), std::string::npos) << error;
  EXPECT_NE(error.find("wrong-host-key.pem"), std::string::npos) << error;
}

TEST(ServerSmokeTest, BadHostAndPortInUseAreReported) {
  auto options = test_server_options();
  options.host = "not-an-address";
  EXPECT_NE(start_error(options).find("not-an-address"), std::string::npos);

  Server first(test_server_options());
  start_or_throw(first);
  options = test_server_options();
  options.port = first.port();
  auto error = start_error(options);
  EXPECT_NE(error.find("bind"), std::string::npos) << error;
  EXPECT_NE(error.find(std::to_string(first.port())), std::string::npos) << error;
}

TEST(ServerSmokeTest, StartsOnAnEphemeralPortAndStopsIdempotently) {
  Server server(test_server_options());
  EXPECT_EQ(server.port(), 0);
  start_or_throw(server);
  EXPECT_NE(server.port(), 0);
  EXPECT_EQ(server.connection_count(), 0u);
  EXPECT_FALSE(server.start());  // started already
  server.shutdown_gracefully();
  server.stop();
  server.stop();
  server.shutdown_gracefully();  // no-op once stopped
}

TEST(ServerSmokeTest, BindsIpv6Loopback) {
  Server server(test_server_options("::1"));
  if (auto started = server.start(); !started) GTEST_SKIP() << "no IPv6 loopback here: " << started.error().message();
  EXPECT_NE(server.port(), 0);
}

TEST(ServerSmokeTest, DestructorStopsARunningServerPromptly) {
  auto started = std::chrono::steady_clock::now();
  {
    Server server(test_server_options());
    start_or_throw(server);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

// Garbage is dropped; unknown versions get Version Negotiation; short packets for unknown
// connections get a (smaller) stateless reset. None of it creates a connection or crashes.
TEST(ServerSmokeTest, HostileDatagramsAreHandled) {
  Server server(test_server_options());
  start_or_throw(server);
  asio::io_context io;
  asio::ip::udp::socket socket(io, asio::ip::udp::endpoint(asio::ip::udp::v4(), 0));
  socket.non_blocking(true);
  asio::ip::udp::endpoint to(asio::ip::make_address("127.0.0.1"), server.port());
  auto reply = [&]() -> std::optional<std::vector<std::uint8_t>> {
    std::array<std::uint8_t, 2048> buffer;
    auto deadline = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < deadline) {
      asio::error_code ec;
      asio::ip::udp::endpoint from;
      auto n = socket.receive_from(asio::buffer(buffer), from, 0, ec);
      if (!ec) return std::vector<std::uint8_t>(buffer.begin(), buffer.begin() + n);
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  };

  socket.send_to(asio::buffer(std::string()), to);  // empty datagram
  for (std::size_t size : {1u, 7u, 30u, 1200u}) socket.send_to(asio::buffer(std::string(size, '\xc3')), to);

  std::vector<std::uint8_t> unknown_version(1200, 0);
  std::array<std::uint8_t, 15> header{0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 4, 1, 2, 3, 4, 4, 5, 6, 7, 8};
  std::copy(header.begin(), header.end(), unknown_version.begin());
  while (reply()) {}  // drain anything the garbage provoked
  socket.send_to(asio::buffer(unknown_version), to);
  auto negotiation = reply();
  ASSERT_TRUE(negotiation);
  ASSERT_GE(negotiation->size(), 7u);
  EXPECT_EQ((*negotiation)[1] | (*negotiation)[2] | (*negotiation)[3] | (*negotiation)[4], 0);  // version 0

  std::vector<std::uint8_t> short_header(100, 0x55);
  short_header[0] = 0x40;
  socket.send_to(asio::buffer(short_header), to);
  auto reset = reply();
  ASSERT_TRUE(reset);
  EXPECT_LT(reset->size(), short_header.size());

  EXPECT_EQ(server.connection_count(), 0u);
}

TEST_F(ConnectionTest, TenMegabyteDownloadArrivesWhole) {
  start_server();
  connect();
  auto response = fetch(get("/bytes/10485760"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->headers.get("content-length"), "10485760");
  ASSERT_EQ(response->body.size(), 10485760u);
  EXPECT_TRUE(response->body == deterministic_bytes(0, 10485760));
}

TEST_F(ConnectionTest, ServerStopClosesItsConnections) {
  start_server();
  connect();
  ASSERT_TRUE(fetch(get("/bytes/10")));
  EXPECT_EQ(server_->connection_count(), 1u);
  server_->stop();
  EXPECT_EQ(server_->connection_count(), 0u);
  ASSERT_TRUE(run_until(io_, [&] { return connection_->state() == h3::ConnectionState::closed; }, 3s));
}

// ---- route plans, without any protocol ----

server::ResponsePlan plan_for(std::string target, std::string body = "") {
  server::RouteRequest request;
  request.method = "GET";
  request.target = std::move(target);
  request.body = std::move(body);
  return server::route(std::move(request));
}

std::string drain(server::BodySource& body) {
  std::string out;
  auto now = std::chrono::steady_clock::now();
  for (;;) {
    auto pull = body.pull(1000, now);
    if (pull.kind != server::Pull::Kind::data) return out;
    out.append(reinterpret_cast<const char*>(pull.bytes.data()), pull.bytes.size());
    if (pull.last) return out;
  }
}

TEST(ServerRoutesTest, NumbersAndQueries) {
  EXPECT_EQ(server::parse_number("1234"), 1234u);
  EXPECT_EQ(server::parse_number("0x10c", true), 0x10cu);
  EXPECT_FALSE(server::parse_number("0x10c"));
  EXPECT_FALSE(server::parse_number(""));
  EXPECT_FALSE(server::parse_number("-1"));
  EXPECT_FALSE(server::parse_number("99999999999999999999999"));
  EXPECT_EQ(server::query_param("size=5&delay_ms=7", "delay_ms"), "7");
  EXPECT_FALSE(server::query_param("size=5", "delay_ms"));
}

TEST(ServerRoutesTest, PlansFollowTheRouteTable) {
  auto bytes = plan_for("/bytes/100");
  EXPECT_EQ(bytes.status, 200);
  ASSERT_TRUE(bytes.body);
  EXPECT_EQ(drain(*bytes.body), deterministic_bytes(0, 100));

  EXPECT_EQ(plan_for("/bytes/x").status, 400);
  EXPECT_EQ(plan_for("/nope").status, 404);
  EXPECT_EQ(plan_for("/status/99").status, 400);
  EXPECT_EQ(plan_for("/status/418").status, 418);
  EXPECT_FALSE(plan_for("/status/204").body);

  auto reset = plan_for("/reset/0x10c?after=5");
  ASSERT_TRUE(reset.reset);
  EXPECT_EQ(reset.reset->code, 0x10cu);
  EXPECT_EQ(reset.reset->after_bytes, 5u);
  EXPECT_EQ(plan_for("/close/258").close_connection, 258u);
  EXPECT_EQ(plan_for("/delay/25").delay, 25ms);
  EXPECT_EQ(plan_for("/goaway?delay_ms=5").goaway_after, 5ms);
  EXPECT_EQ(plan_for("/trailers").trailers.size(), 2u);

  auto stream = plan_for("/stream/3?size=4");
  ASSERT_TRUE(stream.body);
  EXPECT_EQ(drain(*stream.body), deterministic_bytes(0, 12));

  EXPECT_TRUE(server::route_traits("/echo").wants_body);
  EXPECT_FALSE(server::route_traits("/bytes/1").wants_body);
  EXPECT_TRUE(server::route_traits("/reset/1").before_body);
}

TEST(ServerRoutesTest, EarlyStatusIsRoutedAtTheHeadersAndStopsTheUpload) {
  EXPECT_TRUE(server::route_traits("/status/413?early=1").before_body);
  EXPECT_FALSE(server::route_traits("/status/413").before_body);
  EXPECT_FALSE(server::route_traits("/status/413?early=0").before_body);
  auto early = plan_for("/status/413?early=1");
  EXPECT_EQ(early.status, 413);
  EXPECT_TRUE(early.stop_reading);
  EXPECT_TRUE(plan_for("/status/204?early=1").stop_reading);
  EXPECT_FALSE(plan_for("/status/413").stop_reading);
}

TEST(ServerRoutesTest, SlowUploadHashesWhatItReads) {
  EXPECT_TRUE(server::route_traits("/slow-upload").before_body);
  auto plan = plan_for("/slow-upload");
  ASSERT_TRUE(plan.upload);
  EXPECT_EQ(plan.upload->bytes_per_second, 10'000'000u);  // the default
  EXPECT_EQ(plan_for("/slow-upload?rate=123").upload->bytes_per_second, 123u);
  EXPECT_EQ(plan_for("/slow-upload?rate=0").status, 400);
  EXPECT_EQ(plan_for("/slow-upload?rate=fast").status, 400);

  const std::string body = "hello upload";
  auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  plan.upload->sink->write(bytes.first(5));
  plan.upload->sink->write(bytes.subspan(5));
  auto answer = plan.upload->sink->finish();
  EXPECT_EQ(answer.status, 200);
  EXPECT_FALSE(answer.upload);
  ASSERT_TRUE(answer.body);
  // FNV-1a 64 of "hello upload", computed independently.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : body) h = (h ^ c) * 0x100000001b3ULL;
  EXPECT_EQ(drain(*answer.body), fmt::format("received 12 bytes fnv1a-{:016x}", h));
  EXPECT_EQ(server::fnv1a(bytes), h);
  EXPECT_EQ(server::fnv1a(bytes.subspan(5), server::fnv1a(bytes.first(5))), h);
}

}  // namespace
}  // namespace quiver::test

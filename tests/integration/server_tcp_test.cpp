// The project's server over TCP: HTTP/2 (ALPN h2) on the same port as HTTP/3, through the real Client
// (ConnectionOptions::http_version = http2). Every plain route answers over HTTP/2 as over HTTP/3,
// responses over TCP carry alt-svc, either side can be switched off, and the test controls (GOAWAY
// after N requests, Server::send_goaway, refused and rejected streams, resets) work over HTTP/2:
// nothing lost or duplicated. (httpbin's routes over both protocols: httpbin_routes_test.cpp.)
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"
#include "support/server_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class ServerTcpTest : public ServerFixture {
 protected:
  // Sends every request at once; their results in order.
  static std::vector<Result<Response>> send_all(Client& client, const std::vector<RequestBuilder>& requests) {
    std::vector<std::future<Result<Response>>> futures;
    for (RequestBuilder builder : requests) futures.push_back(client.async_request(*builder.timeout(20s).build()));
    std::vector<Result<Response>> results;
    for (auto& future : futures) results.push_back(future.get());
    return results;
  }
};

TEST_F(ServerTcpTest, EveryPlainRouteAnswersOverHttp2AsOverHttp3) {
  start_server();
  auto h3 = make_client(HttpVersion::http3_only);
  auto h2 = make_client(HttpVersion::http2);
  expect_same_answers(*h3, *h2, plain_route_requests([&](const std::string& target) { return url(target); }));
}

TEST_F(ServerTcpTest, ResponsesTellTheProtocolAndTcpOnesCarryAltSvc) {
  start_server();
  auto over_h2 = make_client(HttpVersion::http2)->request(get(url("/bytes/10")));
  ASSERT_TRUE(over_h2) << over_h2.error().to_string();
  EXPECT_EQ(over_h2->transfer.http_version, "2");
  EXPECT_EQ(over_h2->headers.get("alt-svc"), fmt::format("h3=\":{}\"; ma=86400", server_->port()));
  auto over_h3 = make_client(HttpVersion::http3_only)->request(get(url("/bytes/10")));
  ASSERT_TRUE(over_h3) << over_h3.error().to_string();
  EXPECT_EQ(over_h3->transfer.http_version, "3");
  EXPECT_FALSE(over_h3->headers.get("alt-svc")) << "HTTP/3 responses advertise nothing";
  // The server logs a stream when it closes, which may come just after the client has the response.
  wait_for([&] { return access_log_.entries().size() >= 2; }, std::chrono::seconds(5));
  auto log = access_log_.entries();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].protocol, "h2");
  EXPECT_EQ(log[1].protocol, "h3");
  EXPECT_EQ(server_->stats().tcp_connections_accepted, 1u);
  EXPECT_EQ(server_->stats().connections_accepted, 1u);
}

TEST_F(ServerTcpTest, WithHttp3OffTcpStillAnswersWithoutAltSvc) {
  auto options = test_server_options();
  options.http3 = false;
  start_server(options);
  auto over_h2 = make_client(HttpVersion::http2)->request(get(url("/bytes/10")));
  ASSERT_TRUE(over_h2) << over_h2.error().to_string();
  EXPECT_EQ(over_h2->status, 200);
  EXPECT_FALSE(over_h2->headers.get("alt-svc")) << "no HTTP/3 to advertise";
  auto over_h3 = make_client(HttpVersion::http3_only)->request(get(url("/bytes/10")).timeout(3s));
  EXPECT_FALSE(over_h3) << "nothing listens on UDP";
}

TEST_F(ServerTcpTest, WithTcpOffHttp3StillAnswers) {
  auto options = test_server_options();
  options.tcp = false;
  start_server(options);
  auto over_h3 = make_client(HttpVersion::http3_only)->request(get(url("/bytes/10")));
  ASSERT_TRUE(over_h3) << over_h3.error().to_string();
  auto over_h2 = make_client(HttpVersion::http2)->request(get(url("/bytes/10")).timeout(3s));
  EXPECT_FALSE(over_h2) << "nothing listens on TCP";
}

TEST_F(ServerTcpTest, BothSidesOffIsRefusedAtStart) {
  auto options = test_server_options();
  options.http3 = options.tcp = false;
  server::Server server(options);
  auto started = server.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().error_class(), ErrorClass::invalid);
}

TEST_F(ServerTcpTest, HundredConcurrentRequestsShareOneConnection) {
  auto options = test_server_options();
  options.max_streams = 100;
  start_server(options);
  auto client = make_client(HttpVersion::http2);
  std::vector<RequestBuilder> requests;
  for (int i = 0; i < 100; ++i) requests.push_back(get(url(fmt::format("/delay/100?n={}", i))));
  auto results = send_all(*client, requests);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(results[i]) << i << ": " << results[i].error().to_string();
    EXPECT_EQ(results[i]->body, "delayed");
  }
  EXPECT_EQ(server_->stats().tcp_connections_accepted, 1u);
  EXPECT_GT(server_->stats().peak_concurrent_streams, 1u);
}

// nginx's keepalive_requests over HTTP/2: GOAWAY once N requests reached a connection. The requests above
// the GOAWAY's last-stream-id are retried on a new connection; each is processed exactly once.
TEST_F(ServerTcpTest, GoawayAfterRequestsDrainsWithNothingLostOrDuplicated) {
  auto options = test_server_options();
  options.goaway_after_requests = 10;
  start_server(options);
  auto client = make_client(HttpVersion::http2);
  std::vector<RequestBuilder> requests;
  for (int i = 0; i < 50; ++i) requests.push_back(get(url(fmt::format("/delay/{}?n={}", 20, i))));
  auto results = send_all(*client, requests);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(results[i]) << i << ": " << results[i].error().to_string();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(processed(fmt::format("/delay/20?n={}", i)), 1u) << i;
  EXPECT_GE(server_->stats().tcp_connections_accepted, 5u);
  EXPECT_GE(server_->stats().goaways_sent, 4u);
  EXPECT_EQ(server_->stats().requests_started, 50u) << "every request processed once";
}

TEST_F(ServerTcpTest, GoawayAfterRequestsWithResetsAboveDrainsToo) {
  auto options = test_server_options();
  options.goaway_after_requests = 10;
  options.goaway_after_requests_mode = server::GoawayAfterRequests::reset_above;
  start_server(options);
  auto client = make_client(HttpVersion::http2);
  std::vector<RequestBuilder> requests;
  for (int i = 0; i < 30; ++i) requests.push_back(get(url(fmt::format("/bytes/{}?n={}", 10 + i, i))));
  auto results = send_all(*client, requests);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(results[i]) << i << ": " << results[i].error().to_string();
  for (int i = 0; i < 30; ++i) EXPECT_EQ(processed(fmt::format("/bytes/{}?n={}", 10 + i, i)), 1u) << i;
}

TEST_F(ServerTcpTest, SendGoawayDrainsInFlightRequestsAndTheRestGoElsewhere) {
  start_server();
  auto client = make_client(HttpVersion::http2);
  std::vector<std::future<Result<Response>>> first;
  for (int i = 0; i < 10; ++i)
    first.push_back(client->async_request(*get(url(fmt::format("/delay/300?n={}", i))).timeout(20s).build()));
  ASSERT_TRUE(wait_for([&] { return server_->stats().requests_started >= 10; }, 5s));
  server_->send_goaway();
  ASSERT_TRUE(wait_for([&] { return server_->stats().goaways_sent >= 1; }, 5s));
  std::vector<RequestBuilder> later;
  for (int i = 0; i < 10; ++i) later.push_back(get(url(fmt::format("/bytes/5?later={}", i))));
  auto later_results = send_all(*client, later);
  for (auto& future : first) {
    auto result = future.get();
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_EQ(result->body, "delayed");
  }
  for (auto& result : later_results) ASSERT_TRUE(result) << result.error().to_string();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(processed(fmt::format("/delay/300?n={}", i)), 1u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(processed(fmt::format("/bytes/5?later={}", i)), 1u);
  EXPECT_EQ(server_->stats().tcp_connections_accepted, 2u) << "the later requests went to a new connection";
}

TEST_F(ServerTcpTest, RejectedRequestsAreRetriedUntilServed) {
  auto options = test_server_options();
  options.reject_first_per_path = 2;
  start_server(options);
  auto response = make_client(HttpVersion::http2)->request(get(url("/bytes/42")));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, deterministic_bytes(0, 42));
  EXPECT_EQ(server_->stats().requests_rejected, 2u);
  EXPECT_EQ(server_->stats().requests_started, 1u);
}

TEST_F(ServerTcpTest, RefusedStreamsAreNeverProcessed) {
  start_server();
  auto client = make_client(HttpVersion::http2);
  ASSERT_TRUE(client->request(get(url("/bytes/1"))));
  server_->refuse_new_streams(true);
  auto refused = client->request(get(url("/bytes/2")).timeout(5s));
  EXPECT_FALSE(refused);
  EXPECT_GE(server_->stats().streams_refused, 1u);
  EXPECT_EQ(processed("/bytes/2"), 0u);
  server_->refuse_new_streams(false);
  auto served = client->request(get(url("/bytes/3")));
  ASSERT_TRUE(served) << served.error().to_string();
}

TEST_F(ServerTcpTest, ResetRouteResetsTheStreamWithTheMappedCode) {
  start_server();
  auto client = make_client(HttpVersion::http2);
  auto reset = client->request(get(url("/reset/0x102")));  // H3_INTERNAL_ERROR -> INTERNAL_ERROR
  ASSERT_FALSE(reset);
  EXPECT_NE(reset.error().to_string().find("reset"), std::string::npos) << reset.error().to_string();
  auto after = client->request(get(url("/reset/0x10c?after=1000")));  // part of the body, then CANCEL
  EXPECT_FALSE(after);
  auto fine = client->request(get(url("/bytes/3")));
  ASSERT_TRUE(fine) << fine.error().to_string();
  EXPECT_EQ(server_->stats().tcp_connections_accepted, 1u) << "a stream reset leaves the connection up";
}

TEST_F(ServerTcpTest, MisbehaveIsHttp3OnlyOverHttp2) {
  start_server();
  auto response = make_client(HttpVersion::http2)->request(get(url("/misbehave/bad-status")));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 501);
}

TEST_F(ServerTcpTest, GracefulShutdownDrainsTcpConnections) {
  start_server();
  auto client = make_client(HttpVersion::http2);
  auto slow = client->async_request(*get(url("/delay/200")).timeout(10s).build());
  ASSERT_TRUE(wait_for([&] { return server_->stats().requests_started >= 1; }, 5s));
  server_->shutdown_gracefully();
  auto result = slow.get();
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_TRUE(wait_for([&] { return server_->connection_count() == 0; }, 5s));
}

}  // namespace
}  // namespace quiver::test

// HTTP/1.1 through the real Client (ConnectionOptions::http_version = http1_1) against the test support's
// misbehaving HTTP/1.1 server (support/h1_test_server.hpp): one exchange per connection at a time,
// keep-alive reuse, content-length / chunked / close-delimited bodies both ways, `Connection: close` as a
// drain with nothing lost, the stale keep-alive race retried (idempotent) or reported (POST), HEAD, 1xx,
// 204 and 304, malformed responses as protocol errors, many requests over several connections; and the
// worker alone: ready with one stream, cancellation mid-response closes the connection.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <fmt/format.h>

#include "h1/connection.hpp"
#include "quiver/client.hpp"
#include "support/h1_test_server.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class H1ClientTest : public ::testing::Test {
 protected:
  void start_server(H1ServerOptions options = {}) { server_ = std::make_unique<H1TestServer>(options); }

  ClientOptions client_options(std::size_t max_connections = 1) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.http_version = HttpVersion::http1_1;
    options.defaults.connection.telemetry = telemetry_;
    options.defaults.max_connections = max_connections;
    return options;
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
  }

  std::shared_ptr<RetryCounter> telemetry_ = std::make_shared<RetryCounter>();
  std::unique_ptr<H1TestServer> server_;
};

TEST_F(H1ClientTest, GetAndPostOverHttp11) {
  start_server();
  Client client(client_options());
  auto got = client.request(*get(url("/bytes/70000")).build());
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->transfer.http_version, "1.1");
  EXPECT_EQ(got->transfer.peer_address, "127.0.0.1");
  EXPECT_FALSE(got->transfer.connection_reused);
  EXPECT_GT(got->transfer.timings.connect.count(), 0);
  EXPECT_GE(got->transfer.timings.first_byte, got->transfer.timings.tls);
  EXPECT_EQ(got->body, deterministic_bytes(0, 70000));
  std::string upload = deterministic_bytes(5, 300000);
  auto posted = client.request(*post(url("/echo")).body(upload).build());
  ASSERT_TRUE(posted) << posted.error().to_string();
  EXPECT_EQ(posted->body, upload);
  EXPECT_EQ(posted->headers.get("x-request-chunked"), "no");  // content-length
  EXPECT_TRUE(posted->transfer.connection_reused);
  EXPECT_EQ(server_->connections(), 1);
}

// --http2 offers ALPN h2 and http/1.1: a server that chooses http/1.1, or offers no ALPN at all (as old
// servers), is spoken to over HTTP/1.1 on the connection that dial made.
TEST_F(H1ClientTest, Http2OptionSpeaksHttp11WhenTheServerChoosesIt) {
  for (bool alpn : {true, false}) {
    SCOPED_TRACE(alpn ? "server chooses http/1.1" : "server without ALPN");
    H1ServerOptions server_options;
    server_options.alpn = alpn;
    start_server(server_options);
    auto options = client_options();
    options.defaults.connection.http_version = HttpVersion::http2;
    Client client(options);
    for (int i = 0; i < 2; ++i) {
      auto got = client.request(*get(url("/bytes/1000")).build());
      ASSERT_TRUE(got) << got.error().to_string();
      EXPECT_EQ(got->transfer.http_version, "1.1");
      EXPECT_EQ(got->body, deterministic_bytes(0, 1000));
      EXPECT_EQ(got->transfer.connection_reused, i == 1);
      if (i == 0) {
        EXPECT_GE(got->transfer.timings.tls, got->transfer.timings.connect);
      }
    }
    EXPECT_EQ(server_->connections(), 1);
    auto stats = client.stats();
    ASSERT_EQ(stats.size(), 1u);
    ASSERT_EQ(stats[0].connections.size(), 1u);
    EXPECT_EQ(stats[0].connections[0].http_version, "1.1");
  }
}

TEST_F(H1ClientTest, ChunkedUploadFromAProducer) {
  start_server();
  Client client(client_options());
  auto chunks = std::make_shared<int>(0);
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += deterministic_bytes(static_cast<std::size_t>(i) * 10000, 10000);
  auto request = post(url("/echo")).body(RequestBody::from_producer([chunks]() -> std::optional<std::string> {
    if (*chunks == 20) return std::nullopt;
    int i = (*chunks)++;
    return deterministic_bytes(static_cast<std::size_t>(i) * 10000, 10000);
  }));
  auto response = client.request(*request.build());
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->headers.get("x-request-chunked"), "yes");
  EXPECT_EQ(response->body, expected);
}

TEST_F(H1ClientTest, ChunkedAndCloseDelimitedDownloadsAndTrailers) {
  start_server();
  Client client(client_options());
  auto chunked = client.request(*get(url("/chunked/1000000")).build());
  ASSERT_TRUE(chunked) << chunked.error().to_string();
  EXPECT_EQ(chunked->body, deterministic_bytes(0, 1000000));
  auto trailers = client.request(*get(url("/trailers")).build());
  ASSERT_TRUE(trailers) << trailers.error().to_string();
  EXPECT_EQ(trailers->body, "body");
  EXPECT_EQ(trailers->trailers.get("x-checksum"), "42");
  auto until_close = client.request(*get(url("/eof/50000")).build());
  ASSERT_TRUE(until_close) << until_close.error().to_string();
  EXPECT_EQ(until_close->body, deterministic_bytes(0, 50000));
  auto after = client.request(*get(url("/bytes/10")).build());  // on a new connection
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_EQ(server_->connections(), 2);
}

// A consumer that does not read holds the server back (TCP), not the client's memory.
TEST_F(H1ClientTest, StreamedDownloadWithBoundedMemory) {
  start_server();
  ClientOptions options = client_options();
  options.defaults.connection.stream_window = 256 * 1024;
  Client client(options);
  constexpr std::size_t size = 40'000'000;
  auto stream = client.stream(*get(url(fmt::format("/bytes/{}", size))).build());
  ASSERT_TRUE(stream) << stream.error().to_string();
  EXPECT_EQ(stream->transfer().http_version, "1.1");
  std::this_thread::sleep_for(500ms);
  EXPECT_LT(server_->bytes_sent(), size / 2) << "the client read on without its consumer";
  std::string body;
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    auto n = stream->read(buffer);
    ASSERT_TRUE(n) << n.error().to_string();
    if (*n == 0) break;
    body.append(buffer.data(), *n);
  }
  EXPECT_EQ(body.size(), size);
  EXPECT_TRUE(body == deterministic_bytes(0, size));
  auto next = client.request(*get(url("/bytes/5")).build());  // the connection is reused
  ASSERT_TRUE(next) << next.error().to_string();
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(H1ClientTest, KeepAliveCarriesSequentialRequestsOnOneConnection) {
  start_server();
  Client client(client_options());
  for (int i = 0; i < 5; ++i) {
    auto got = client.request(*get(url(fmt::format("/bytes/{}", 1000 + i))).build());
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->body, deterministic_bytes(0, 1000 + i));
    EXPECT_EQ(got->transfer.connection_reused, i > 0);
  }
  EXPECT_EQ(server_->connections(), 1);
}

// `Connection: close` drains: the response completes, the requests behind it go to a new connection,
// none is lost or sent twice.
TEST_F(H1ClientTest, ConnectionCloseDrainsWithNothingLost) {
  start_server();
  Client client(client_options(2));
  std::vector<std::future<Result<Response>>> futures;
  for (int i = 0; i < 20; ++i) {
    std::string target = i % 5 == 0 ? fmt::format("/close?{}", i) : fmt::format("/bytes/{}", 100 + i);
    futures.push_back(client.async_request(*get(url(target)).timeout(20s).build()));
  }
  for (int i = 0; i < 20; ++i) {
    auto result = futures[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(result) << i << ": " << result.error().to_string();
    EXPECT_EQ(result->body, i % 5 == 0 ? "bye" : deterministic_bytes(0, 100 + i)) << i;
  }
  auto targets = server_->received_targets();
  EXPECT_EQ(targets.size(), 20u);
  EXPECT_EQ(std::set<std::string>(targets.begin(), targets.end()).size(), 20u) << "a request was sent twice";
  EXPECT_GE(server_->connections(), 4);  // every /close ended its connection
}

// The server closes a kept-alive connection as the next request arrives: a GET is sent again on a new
// connection (the caller sees only the response); a POST may have been processed and is reported.
TEST_F(H1ClientTest, StaleKeepAliveRaceRetriesIdempotentRequestsOnly) {
  start_server({.drop_request_number = 2});
  Client client(client_options());
  auto first = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(first) << first.error().to_string();
  auto second = client.request(*get(url("/bytes/20")).build());
  ASSERT_TRUE(second) << second.error().to_string();
  EXPECT_EQ(second->body, deterministic_bytes(0, 20));
  EXPECT_FALSE(second->transfer.connection_reused);
  EXPECT_EQ(server_->requests_dropped(), 1);
  EXPECT_EQ(server_->connections(), 2);
  EXPECT_EQ(telemetry_->retries.load(), 1u);

  auto post_request = client.request(*post(url("/echo")).body("pay once").build());
  ASSERT_FALSE(post_request) << "the POST on the stale connection was answered";
  EXPECT_EQ(post_request.error().kind(), ErrorKind::transport_error) << post_request.error().to_string();
  EXPECT_EQ(post_request.error().error_class(), ErrorClass::unrecoverable);
  EXPECT_NE(post_request.error().message().find("may have been processed"), std::string::npos)
      << post_request.error().message();
  EXPECT_EQ(server_->requests_dropped(), 2);
}

TEST_F(H1ClientTest, ServerClosingAnIdleConnectionCostsNothing) {
  start_server({.idle_close = 100ms});
  Client client(client_options());
  ASSERT_TRUE(client.request(*get(url("/bytes/10")).build()));
  std::this_thread::sleep_for(400ms);
  auto again = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_FALSE(again->transfer.connection_reused);
  EXPECT_EQ(server_->connections(), 2);
}

TEST_F(H1ClientTest, HeadInterimNoContentAndNotModifiedHaveNoBody) {
  start_server();
  Client client(client_options());
  auto headed = client.request(*head(url("/bytes/100")).build());
  ASSERT_TRUE(headed) << headed.error().to_string();
  EXPECT_EQ(headed->status, 200);
  EXPECT_EQ(headed->headers.get("content-length"), "100");
  EXPECT_TRUE(headed->body.empty());
  for (int status : {204, 304}) {
    auto got = client.request(*get(url(fmt::format("/status/{}", status))).build());
    ASSERT_TRUE(got) << status << ": " << got.error().to_string();
    EXPECT_EQ(got->status, status);
    EXPECT_TRUE(got->body.empty());
  }
  auto interim = client.request(*get(url("/continue")).build());
  ASSERT_TRUE(interim) << interim.error().to_string();
  EXPECT_EQ(interim->status, 200);
  EXPECT_EQ(interim->body, "ok");
  EXPECT_EQ(server_->connections(), 1);  // none of these left the connection unusable
}

TEST_F(H1ClientTest, MalformedResponsesFailWithProtocolErrors) {
  start_server();
  Client client(client_options());
  for (std::string name : {"bad-chunk", "too-long", "bad-status", "truncated", "big-headers"}) {
    auto got = client.request(*get(url("/raw/" + name)).build());
    ASSERT_FALSE(got) << name << " was accepted";
    ErrorKind expected = name == "big-headers" ? ErrorKind::headers_too_large : ErrorKind::protocol_error;
    EXPECT_EQ(got.error().kind(), expected) << name << ": " << got.error().to_string();
    auto next = client.request(*get(url("/bytes/10")).build());  // a new connection works
    ASSERT_TRUE(next) << name << ": " << next.error().to_string();
  }
  // A response nobody asked for, after a good one: the connection closes; the next request is unharmed.
  auto first = client.request(*get(url("/raw/extra-later")).build());
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_EQ(first->body, "first");
  std::this_thread::sleep_for(300ms);
  auto after = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_FALSE(after->transfer.connection_reused);
}

TEST_F(H1ClientTest, HundredConcurrentRequestsOverSeveralConnections) {
  start_server();
  Client client(client_options(6));
  std::vector<std::future<Result<Response>>> futures;
  for (int i = 0; i < 100; ++i) {
    futures.push_back(client.async_request(*get(url(fmt::format("/bytes/{}", 100 + i))).timeout(20s).build()));
  }
  for (int i = 0; i < 100; ++i) {
    auto result = futures[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(result) << i << ": " << result.error().to_string();
    EXPECT_EQ(result->body, deterministic_bytes(0, 100 + i)) << i;
  }
  EXPECT_LE(server_->peak_connections(), 6);
  EXPECT_GT(server_->connections(), 1);
  EXPECT_LE(server_->connections(), 6);
  EXPECT_EQ(server_->requests_received(), 100);
}

TEST_F(H1ClientTest, ServerWithoutAlpnSpeaksHttp11) {
  start_server({.alpn = false});
  Client client(client_options());
  auto got = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(got->transfer.http_version, "1.1");
}

// The worker alone: one stream of credit when ready, 0 while busy; a cancel mid-response closes the
// connection (HTTP/1.1 cannot abandon a message) and the caller hears `cancelled` once.
TEST_F(H1ClientTest, WorkerCreditAndCancellationMidResponse) {
  start_server();
  asio::io_context io;
  RecordingObserver observer;
  auto connection = h1::Connection::create(io.get_executor(), Origin{"127.0.0.1", server_->port()},
                                           test_client_options(), &observer);
  connection->start();
  ASSERT_TRUE(run_until(io, [&] { return connection->state() == http::ConnectionState::connected; }));
  ASSERT_TRUE(run_until(io, [&] { return !observer.ready_max_streams.empty(); }));
  EXPECT_EQ(observer.ready_max_streams.front(), 1u);
  EXPECT_EQ(connection->max_streams(), 1u);

  Request request;
  request.url = *Url::parse(url("/delay/2000"));
  asio::cancellation_signal signal;
  std::optional<Result<Response>> reply;
  int replies = 0;
  connection->request(std::move(request), [&](Result<Response> r) { reply = std::move(r); ++replies; },
                      signal.slot());
  EXPECT_EQ(connection->max_streams(), 0u);
  run_until(io, [] { return false; }, 100ms);
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(io, [&] { return reply.has_value() && observer.closed == 1; }));
  ASSERT_FALSE(*reply);
  EXPECT_EQ(reply->error().kind(), ErrorKind::cancelled);
  run_until(io, [] { return false; }, 50ms);
  EXPECT_EQ(replies, 1);
  EXPECT_EQ(connection->state(), http::ConnectionState::closed);
}

}  // namespace
}  // namespace quiver::test

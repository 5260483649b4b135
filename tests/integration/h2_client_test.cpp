// HTTP/2 through the real Client (ConnectionOptions::http_version = http2) against the test support's
// misbehaving nghttp2 server (support/h2_test_server.hpp): the protocol-neutral pool over the HTTP/2
// worker — credit from SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY drain with the unprocessed requests
// retried elsewhere (nothing lost or duplicated), REFUSED_STREAM retried, uploads, streamed bodies,
// trailers; and the worker alone: ready only once the server's SETTINGS arrived, with that credit.
#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <fmt/format.h>

#include "h2/connection.hpp"
#include "quiver/client.hpp"
#include "support/h2_test_server.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class H2ClientTest : public ::testing::Test {
 protected:
  void start_server(H2ServerOptions options = {}) { server_ = std::make_unique<H2TestServer>(options); }

  ClientOptions client_options() {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.http_version = HttpVersion::http2;
    options.defaults.connection.telemetry = telemetry_;
    return options;
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
  }

  // Sends `count` GETs of /bytes/<100 + i> at once; returns their results in order.
  std::vector<Result<Response>> get_concurrently(Client& client, int count) {
    std::vector<std::future<Result<Response>>> futures;
    for (int i = 0; i < count; ++i) {
      futures.push_back(client.async_request(*get(url(fmt::format("/bytes/{}", 100 + i))).timeout(20s).build()));
    }
    std::vector<Result<Response>> results;
    for (auto& future : futures) results.push_back(future.get());
    return results;
  }

  void expect_all_served(const std::vector<Result<Response>>& results) {
    for (std::size_t i = 0; i < results.size(); ++i) {
      ASSERT_TRUE(results[i]) << "request " << i << ": " << results[i].error().to_string();
      EXPECT_EQ(results[i]->status, 200);
      EXPECT_EQ(results[i]->transfer.http_version, "2");
      EXPECT_EQ(results[i]->body, deterministic_bytes(0, 100 + i)) << "request " << i;
    }
  }

  std::shared_ptr<RetryCounter> telemetry_ = std::make_shared<RetryCounter>();
  std::unique_ptr<H2TestServer> server_;
};

TEST_F(H2ClientTest, GetAndPostOverHttp2) {
  start_server();
  Client client(client_options());
  auto got = client.request(*get(url("/bytes/70000")).build());
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->transfer.http_version, "2");
  EXPECT_EQ(got->transfer.peer_address, "127.0.0.1");
  EXPECT_FALSE(got->transfer.connection_reused);
  EXPECT_GT(got->transfer.timings.connect.count(), 0);  // the first request on the connection dialed it
  EXPECT_GE(got->transfer.timings.tls, got->transfer.timings.connect);
  EXPECT_GE(got->transfer.timings.first_byte, got->transfer.timings.tls);
  EXPECT_EQ(got->body, deterministic_bytes(0, 70000));
  std::string upload = deterministic_bytes(5, 300000);  // over the default 64 KB stream window
  auto posted = client.request(*post(url("/echo")).body(upload).build());
  ASSERT_TRUE(posted) << posted.error().to_string();
  EXPECT_EQ(posted->body, upload);
  EXPECT_TRUE(posted->transfer.connection_reused);
  EXPECT_EQ(posted->transfer.timings.connect.count(), 0);
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(H2ClientTest, StreamedUploadFromAProducer) {
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
  EXPECT_EQ(response->body, expected);
}

TEST_F(H2ClientTest, StreamedDownloadAndTrailers) {
  start_server();
  Client client(client_options());
  auto stream = client.stream(*get(url("/bytes/3000000")).build());
  ASSERT_TRUE(stream) << stream.error().to_string();
  EXPECT_EQ(stream->transfer().http_version, "2");
  auto body = stream->read_all();
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_EQ(*body, deterministic_bytes(0, 3000000));

  auto trailers = client.request(*get(url("/trailers")).build());
  ASSERT_TRUE(trailers) << trailers.error().to_string();
  EXPECT_EQ(trailers->body, "body");
  EXPECT_EQ(trailers->trailers.get("x-checksum"), std::optional<std::string_view>("42"));
}

// The server allows 2 streams at once: 12 concurrent requests all complete, never more than 2 open.
TEST_F(H2ClientTest, ConcurrentStreamsStayWithinTheServersLimit) {
  start_server({.max_concurrent_streams = 2, .response_delay = 5ms});
  Client client(client_options());
  expect_all_served(get_concurrently(client, 12));
  EXPECT_LE(server_->peak_open_streams(), 2);
  EXPECT_EQ(server_->requests_refused(), 0);
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(H2ClientTest, HundredConcurrentRequestsOnOneConnection) {
  start_server();
  Client client(client_options());
  expect_all_served(get_concurrently(client, 100));
  EXPECT_EQ(server_->connections(), 1);
  EXPECT_EQ(server_->requests_answered(), 100);
}

// GOAWAY with last stream 3 after five requests: streams 1 and 3 complete on the first connection; the
// three above it fail unprocessed and the pool sends them again on a second connection. Each request is
// answered exactly once.
TEST_F(H2ClientTest, GoawayDrainsAndTheUnprocessedAreRetried) {
  start_server({.goaway_after_requests = 5, .goaway_last_stream_id = 3, .response_delay = 0ms});
  Client client(client_options());
  expect_all_served(get_concurrently(client, 5));
  EXPECT_EQ(server_->connections(), 2);
  EXPECT_EQ(server_->requests_answered(), 5);
  EXPECT_EQ(telemetry_->retries.load(), 3u);
}

TEST_F(H2ClientTest, RefusedStreamIsRetried) {
  start_server({.refuse_first_requests = 2});
  Client client(client_options());
  auto response = client.request(*get(url("/bytes/10")).timeout(10s).build());
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, deterministic_bytes(0, 10));
  EXPECT_EQ(server_->requests_refused(), 2);
  EXPECT_EQ(server_->requests_answered(), 1);
  EXPECT_EQ(telemetry_->retries.load(), 2u);
}

// A response slower than the idle timeout: with the request in flight the quiet connection sends PINGs,
// whose answers keep it open (without them it would close after 300 ms of silence).
TEST_F(H2ClientTest, PingsKeepAConnectionWithARequestInFlightOpen) {
  start_server({.response_delay = 1000ms});
  auto options = client_options();
  options.defaults.connection.idle_timeout = 300ms;
  Client client(options);
  auto response = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, deterministic_bytes(0, 10));
  EXPECT_EQ(server_->connections(), 1);
}

// Without requests, silence for the idle timeout closes the connection.
TEST_F(H2ClientTest, AnIdleConnectionClosesAfterTheIdleTimeout) {
  start_server();
  asio::io_context io;
  RecordingObserver observer;
  auto options = test_client_options();
  options.http_version = HttpVersion::http2;
  options.idle_timeout = 200ms;
  auto connection = h2::Connection::create(io.get_executor(), Origin{"127.0.0.1", server_->port()}, options, &observer);
  connection->start();
  ASSERT_TRUE(run_until(io, [&] { return observer.closed == 1; }));
  ASSERT_FALSE(observer.events.empty());
  EXPECT_NE(observer.events.back().find("idle timeout"), std::string::npos) << observer.events.back();
  EXPECT_EQ(observer.ready_max_streams.size(), 1u);
}

// Dropping a streamed response half-way resets only its stream: the connection serves the next request.
TEST_F(H2ClientTest, ADroppedStreamLeavesTheConnectionUsable) {
  start_server();
  Client client(client_options());
  {
    auto stream = client.stream(*get(url("/bytes/5000000")).build());
    ASSERT_TRUE(stream) << stream.error().to_string();
    auto chunk = stream->next_chunk();
    ASSERT_TRUE(chunk && *chunk) << (chunk ? "end of body" : chunk.error().to_string());
  }
  auto response = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, deterministic_bytes(0, 10));
  EXPECT_EQ(server_->connections(), 1);
}

// Flow control with bounded memory: a streamed body nobody reads stops at the stream window (credit goes
// back only as the consumer reads), and the rest arrives, intact, once it does. A second request that
// completes afterwards shows the server has seen every frame the client sent meanwhile.
TEST_F(H2ClientTest, AnUnreadStreamedBodyStopsAtTheStreamWindow) {
  start_server();
  constexpr std::size_t kWindow = 65536;
  constexpr std::size_t kBody = 3000000;
  auto options = client_options();
  options.defaults.connection.stream_window = kWindow;
  Client client(options);
  auto stream = client.stream(*get(url(fmt::format("/bytes/{}", kBody))).build());
  ASSERT_TRUE(stream) << stream.error().to_string();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server_->body_bytes_sent() < kWindow && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_GE(server_->body_bytes_sent(), kWindow);
  auto other = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(other) << other.error().to_string();
  EXPECT_LE(server_->body_bytes_sent(), kWindow + 10);
  auto body = stream->read_all();
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_EQ(*body, deterministic_bytes(0, kBody));
}

// Bad input fails its own request only: a malformed response is a protocol_error, a header section over
// max_response_header_bytes is headers_too_large; the connection serves the next request.
TEST_F(H2ClientTest, AMalformedResponseFailsOnlyItsRequest) {
  start_server();
  Client client(client_options());
  auto bad = client.request(*get(url("/bad-status")).build());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::protocol_error) << bad.error().to_string();
  auto good = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(good) << good.error().to_string();
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(H2ClientTest, AHeaderSectionOverTheLimitFailsOnlyItsRequest) {
  start_server();
  auto options = client_options();
  options.defaults.connection.max_response_header_bytes = 4096;
  Client client(options);
  auto big = client.request(*get(url("/big-headers")).build());
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().kind(), ErrorKind::headers_too_large) << big.error().to_string();
  auto good = client.request(*get(url("/bytes/10")).build());
  ASSERT_TRUE(good) << good.error().to_string();
  EXPECT_EQ(server_->connections(), 1);
}

// The Client's shutdown drains gracefully: the server receives our GOAWAY before the connection closes.
TEST_F(H2ClientTest, ShutdownSendsGoaway) {
  start_server();
  {
    Client client(client_options());
    ASSERT_TRUE(client.request(*get(url("/bytes/10")).build()));
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server_->goaways_received() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(server_->goaways_received(), 1);
}

// Cancellation rides with the request over HTTP/2 too: the caller's slot reaches the worker, the
// request fails `cancelled` at once (its stream is reset) and the connection serves the next request.
TEST_F(H2ClientTest, CancellingThroughTheSlotEndsTheRequest) {
  start_server({.response_delay = 30s});
  Client client(client_options());
  asio::cancellation_signal signal;
  std::promise<Result<Response>> done;
  client.async_request(*get(url("/bytes/10")).build(),
                       asio::bind_cancellation_slot(signal.slot(), [&](Result<Response> result) {
                         done.set_value(std::move(result));
                       }));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server_->requests_received() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_EQ(server_->requests_received(), 1);
  signal.emit(asio::cancellation_type::terminal);
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto result = future.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::cancelled) << result.error().to_string();
  EXPECT_EQ(server_->connections(), 1);
}

// ---- lifetime, as over HTTP/3 (tests/integration/lifetime_test.cpp) ------------------------------

// Destroying the Client inside one of its own completion handlers: the other request in flight still
// completes during the background drain.
TEST_F(H2ClientTest, DestroyingTheClientInsideItsOwnHandler) {
  start_server({.response_delay = 200ms});
  auto client = std::make_unique<Client>(client_options());
  ASSERT_TRUE(client->request(*get(url("/bytes/1")).build()));  // connected
  auto other = client->async_request(*get(url("/bytes/20")).build(), asio::use_future);
  std::promise<bool> destroyed;
  client->async_request(*get(url("/bytes/10")).build(), [&](Result<Response> result) {
    client.reset();  // on the client's own io thread
    destroyed.set_value(result.has_value());
  });
  auto done = destroyed.get_future();
  ASSERT_EQ(done.wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(done.get());
  ASSERT_EQ(other.wait_for(20s), std::future_status::ready);
  auto result = other.get();
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->body, deterministic_bytes(0, 20));
}

// A request the server sits on is closed at the shutdown deadline, with its one completion, an error.
TEST_F(H2ClientTest, DestructorKeepsTheShutdownDeadline) {
  start_server({.response_delay = 30s});
  auto options = client_options();
  options.shutdown_deadline = 200ms;
  auto client = std::make_unique<Client>(options);
  auto slow = client->async_request(*get(url("/bytes/1")).build(), asio::use_future);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server_->requests_received() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  client.reset();
  ASSERT_EQ(slow.wait_for(20s), std::future_status::ready);
  EXPECT_FALSE(slow.get());
}

// A streamed response kept after its Client: reads end with shut_down, nothing hangs or crashes.
TEST_F(H2ClientTest, AStreamThatOutlivesItsClient) {
  start_server();
  std::optional<ResponseStream> stream;
  {
    auto options = client_options();
    options.shutdown_deadline = 200ms;
    options.defaults.connection.stream_window = 65536;
    Client client(options);
    auto opened = client.stream(*get(url("/bytes/5000000")).build());
    ASSERT_TRUE(opened) << opened.error().to_string();
    stream.emplace(std::move(*opened));
  }
  auto chunk = stream->next_chunk();
  ASSERT_FALSE(chunk);
  EXPECT_EQ(chunk.error().kind(), ErrorKind::shut_down);
  stream->cancel();
  stream.reset();
}

// The worker alone: connected only once the server's SETTINGS arrived, with their limit as credit.
TEST_F(H2ClientTest, ReadyWithTheServersConcurrentStreamLimit) {
  start_server({.max_concurrent_streams = 7});
  asio::io_context io;
  RecordingObserver observer;
  auto options = test_client_options();
  options.http_version = HttpVersion::http2;
  auto connection = h2::Connection::create(io.get_executor(), Origin{"127.0.0.1", server_->port()}, options, &observer);
  EXPECT_EQ(connection->max_streams(), 0u);
  connection->start();
  ASSERT_TRUE(run_until(io, [&] { return !observer.ready_max_streams.empty(); }));
  EXPECT_EQ(observer.ready_max_streams.front(), 7u);
  EXPECT_EQ(connection->max_streams(), 7u);
  connection->close();
  ASSERT_TRUE(run_until(io, [&] { return observer.closed == 1; }));
}

// Nothing listens: the request fails promptly with connection_refused, as over QUIC.
TEST_F(H2ClientTest, NothingListeningFailsWithConnectionRefused) {
  start_server();
  std::uint16_t port = server_->port();
  server_.reset();
  Client client(client_options());
  auto response = client.request(*get(fmt::format("https://127.0.0.1:{}/", port)).build());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::connection_refused) << response.error().to_string();
}

TEST_F(H2ClientTest, UntrustedCertificateFailsTheHandshake) {
  start_server();
  auto options = client_options();
  options.defaults.connection.tls.ca_file.clear();
  options.defaults.connection.tls.system_trust = true;
  Client client(options);
  auto response = client.request(*get(url("/")).build());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::handshake_failed) << response.error().to_string();
  EXPECT_EQ(response.error().handshake_failure, HandshakeFailure::certificate);
}

}  // namespace
}  // namespace quiver::test

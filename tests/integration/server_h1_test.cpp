// The project's server over TCP speaking HTTP/1.1 (ALPN http/1.1; src/test_server/h1_session.*), through the
// real Client (ConnectionOptions::http_version = http1_1): every plain route answers as over HTTP/3,
// bodies both ways (content-length and chunked), keep-alive, HEAD, trailers (chunked), alt-svc, and the
// server's GOAWAY equivalents (send_goaway, graceful shutdown, goaway_after_requests) end a connection
// after the exchange in progress with nothing lost or duplicated. (httpbin's routes over all three
// protocols: httpbin_routes_test.cpp.)
#include <gtest/gtest.h>

#include <poll.h>

#include <cstring>
#include <future>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <gnutls/gnutls.h>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"
#include "support/server_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

struct RawWire {
  std::string bytes;    // all that was read
  bool closed = false;  // the server closed the connection (else the read timed out)
};

// One TLS connection to the server (blocking GnuTLS, ALPN `alpn` or none, the certificate not checked):
// sends `request`, reads until the server closes or 5 s pass.
RawWire raw_tls_exchange(std::uint16_t port, const std::string& request, const char* alpn) {
  RawWire wire;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  gnutls_certificate_credentials_t credentials = nullptr;
  gnutls_certificate_allocate_credentials(&credentials);
  gnutls_session_t session = nullptr;
  gnutls_init(&session, GNUTLS_CLIENT);
  gnutls_set_default_priority(session);
  gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials);
  if (alpn) {
    gnutls_datum_t protocol{reinterpret_cast<unsigned char*>(const_cast<char*>(alpn)),
                            static_cast<unsigned>(std::strlen(alpn))};
    gnutls_alpn_set_protocols(session, &protocol, 1, 0);
  }
  gnutls_transport_set_int(session, socket.native_handle());
  int rv = 0;
  do {
    rv = gnutls_handshake(session);
  } while (rv < 0 && gnutls_error_is_fatal(rv) == 0);
  if (rv != 0) wire.bytes = fmt::format("handshake failed: {}", gnutls_strerror(rv));
  if (rv == 0 && gnutls_record_send(session, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buffer[16384];
    for (;;) {
      auto n = gnutls_record_recv(session, buffer, sizeof buffer);
      if (n > 0) {
        wire.bytes.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n == GNUTLS_E_AGAIN) {  // the socket may be non-blocking: wait for input, 5 s at most
        pollfd readable{socket.native_handle(), POLLIN, 0};
        if (::poll(&readable, 1, 5000) > 0) continue;
        break;
      }
      if (n < 0 && gnutls_error_is_fatal(static_cast<int>(n)) == 0) continue;
      wire.closed = n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION;
      if (!wire.closed && n != GNUTLS_E_AGAIN) wire.bytes += fmt::format("[read failed: {}]", gnutls_strerror(static_cast<int>(n)));
      break;
    }
  }
  gnutls_deinit(session);
  gnutls_certificate_free_credentials(credentials);
  return wire;
}

class ServerH1Test : public ServerFixture {
 protected:
  static std::unique_ptr<Client> make_client(HttpVersion version = HttpVersion::http1_1) {
    return ServerFixture::make_client(version);
  }
};

TEST_F(ServerH1Test, EveryPlainRouteAnswersOverHttp1AsOverHttp3) {
  start_server();
  auto h3 = make_client(HttpVersion::http3_only);
  auto h1 = make_client();
  expect_same_answers(*h3, *h1, plain_route_requests([&](const std::string& target) { return url(target); }, false));
}

TEST_F(ServerH1Test, DownloadsAreByteIdenticalAndTcpResponsesCarryAltSvc) {
  start_server();
  auto response = make_client()->request(get(url("/bytes/1000000")));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->transfer.http_version, "1.1");
  EXPECT_EQ(response->headers.get("content-length"), "1000000");
  EXPECT_TRUE(response->body == deterministic_bytes(0, 1'000'000)) << response->body.size() << " bytes";
  EXPECT_EQ(response->headers.get("alt-svc"), fmt::format("h3=\":{}\"; ma=86400", server_->port()));
  auto streamed = make_client()->request(get(url("/stream/40?size=10000")));
  ASSERT_TRUE(streamed) << streamed.error().to_string();
  EXPECT_FALSE(streamed->headers.get("content-length")) << "no length known: chunked";
  EXPECT_TRUE(streamed->body == deterministic_bytes(0, 400'000));
  auto log = access_log_.entries();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].protocol, "http/1.1");
  EXPECT_EQ(log[0].bytes_sent, 1'000'000u);
  EXPECT_EQ(log[0].status, 200);
}

TEST_F(ServerH1Test, WithHttp3OffThereIsNoAltSvc) {
  auto options = test_server_options();
  options.http3 = false;
  start_server(options);
  auto response = make_client()->request(get(url("/bytes/10")));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_FALSE(response->headers.get("alt-svc"));
}

TEST_F(ServerH1Test, EchoesContentLengthAndChunkedRequestBodies) {
  start_server();
  auto client = make_client();
  const std::string sized = deterministic_bytes(3, 500'000);
  auto echoed = client->request(post(url("/echo")).body(sized));
  ASSERT_TRUE(echoed) << echoed.error().to_string();
  EXPECT_TRUE(echoed->body == sized) << echoed->body.size() << " bytes";
  EXPECT_EQ(echoed->headers.get("x-echo-content-length"), "500000");

  auto chunks = std::make_shared<int>(0);
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += deterministic_bytes(static_cast<std::size_t>(i) * 10000, 10000);
  auto chunked = client->request(post(url("/echo")).body(RequestBody::from_producer([chunks]() -> std::optional<std::string> {
    if (*chunks == 20) return std::nullopt;
    int i = (*chunks)++;
    return deterministic_bytes(static_cast<std::size_t>(i) * 10000, 10000);
  })));
  ASSERT_TRUE(chunked) << chunked.error().to_string();
  EXPECT_EQ(chunked->headers.get("x-echo-transfer-encoding"), "chunked");
  EXPECT_TRUE(chunked->body == expected) << chunked->body.size() << " bytes";
  EXPECT_EQ(server_->stats().tcp_connections_accepted, 1u);
}

TEST_F(ServerH1Test, KeepAliveCarriesTheNextRequestsAndHeadHasNoBody) {
  start_server();
  auto client = make_client();
  auto first = client->request(get(url("/bytes/10")));
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_FALSE(first->transfer.connection_reused);
  auto headed = client->request(head(url("/bytes/777")));
  ASSERT_TRUE(headed) << headed.error().to_string();
  EXPECT_TRUE(headed->transfer.connection_reused);
  EXPECT_EQ(headed->headers.get("content-length"), "777");
  EXPECT_TRUE(headed->body.empty());
  auto streamed_head = client->request(head(url("/stream/3")));
  ASSERT_TRUE(streamed_head) << streamed_head.error().to_string();
  EXPECT_TRUE(streamed_head->body.empty());
  auto after = client->request(get(url("/bytes/20")));
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_TRUE(after->transfer.connection_reused);
  EXPECT_EQ(after->body, deterministic_bytes(0, 20));
  EXPECT_EQ(server_->stats().tcp_connections_accepted, 1u);
}

TEST_F(ServerH1Test, TrailersComeAfterAChunkedBody) {
  start_server();
  auto response = make_client()->request(get(url("/trailers")));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, "hello trailers");
  EXPECT_FALSE(response->headers.get("content-length")) << "trailers need chunked framing";
  EXPECT_EQ(response->trailers.get("x-trailer-one"), "1");
  EXPECT_TRUE(response->trailers.get("x-checksum").value_or("").starts_with("fnv1a-"));
}

// What the library's client never sends, over a raw TLS connection: pipelined requests (answered in
// order), the client's `connection: close`, no ALPN, HTTP/1.0, an extension method, expect: 100-continue,
// a malformed request.
TEST_F(ServerH1Test, PipelinedRequestsAreAnsweredInOrderAndConnectionCloseIsHonoured) {
  start_server();
  auto wire = raw_tls_exchange(server_->port(),
                               "GET /bytes/5 HTTP/1.1\r\nHost: h\r\n\r\n"
                               "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
                               "GET /bytes/3?last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                               "http/1.1");
  ASSERT_TRUE(wire.closed) << "the server closes after the request that said connection: close";
  const auto first = wire.bytes.find("\r\n\r\nabcde"), second = wire.bytes.find("\r\n\r\nxyz"),
             third = wire.bytes.find("\r\n\r\nabc", second);
  ASSERT_NE(first, std::string::npos) << wire.bytes;
  ASSERT_NE(second, std::string::npos) << wire.bytes;
  ASSERT_NE(third, std::string::npos) << wire.bytes;
  EXPECT_LT(first, second);
  EXPECT_TRUE(wire.bytes.ends_with("connection: close\r\n\r\nabc")) << wire.bytes;
  EXPECT_EQ(processed("/bytes/3?last"), 1u);
}

TEST_F(ServerH1Test, NoAlpnHttp10ExtensionMethodsAndExpectContinue) {
  start_server();
  auto old = raw_tls_exchange(server_->port(), "GET /stream/2?size=10 HTTP/1.0\r\n\r\n", nullptr);
  EXPECT_TRUE(old.closed);
  EXPECT_TRUE(old.bytes.starts_with("HTTP/1.1 200 OK\r\n")) << old.bytes;
  EXPECT_EQ(old.bytes.find("transfer-encoding"), std::string::npos) << "HTTP/1.0 knows no chunks: " << old.bytes;
  EXPECT_TRUE(old.bytes.ends_with("\r\n\r\n" + deterministic_bytes(0, 20))) << old.bytes;

  auto brew = raw_tls_exchange(server_->port(), "BREW /anything HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                               "http/1.1");
  EXPECT_TRUE(brew.bytes.starts_with("HTTP/1.1 200 OK\r\n")) << brew.bytes;
  EXPECT_NE(brew.bytes.find("\"method\": \"BREW\""), std::string::npos) << brew.bytes;

  auto expect = raw_tls_exchange(server_->port(),
                                 "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
                                 "Connection: close\r\n\r\nhi",
                                 "http/1.1");
  EXPECT_TRUE(expect.bytes.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")) << expect.bytes;
  EXPECT_TRUE(expect.bytes.ends_with("\r\n\r\nhi")) << expect.bytes;

  auto bad = raw_tls_exchange(server_->port(), "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "http/1.1");
  EXPECT_TRUE(bad.closed);
  EXPECT_TRUE(bad.bytes.starts_with("HTTP/1.1 400 Bad Request\r\n")) << bad.bytes;
}

// GOAWAY's HTTP/1.1 form: the exchange in progress completes (`connection: close`), then the connection
// closes; later requests go to a new connection; each request is processed once.
TEST_F(ServerH1Test, SendGoawayEndsTheConnectionAfterTheCurrentExchange) {
  start_server();
  auto client = make_client();
  auto slow = client->async_request(*get(url("/delay/300")).timeout(10s).build());
  ASSERT_TRUE(wait_for([&] { return server_->stats().requests_started >= 1; }, 5s));
  server_->send_goaway();
  auto result = slow.get();
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->body, "delayed");
  EXPECT_EQ(result->headers.get("connection"), "close");
  EXPECT_TRUE(wait_for([&] { return server_->connection_count() == 0; }, 5s));
  for (int i = 0; i < 3; ++i) {
    auto later = client->request(get(url(fmt::format("/bytes/5?later={}", i))));
    ASSERT_TRUE(later) << later.error().to_string();
  }
  EXPECT_EQ(processed("/delay/300"), 1u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(processed(fmt::format("/bytes/5?later={}", i)), 1u);
  EXPECT_EQ(server_->stats().tcp_connections_accepted, 2u);
  EXPECT_EQ(server_->stats().goaways_sent, 1u);
}

TEST_F(ServerH1Test, GoawayAfterRequestsDrainsWithNothingLostOrDuplicated) {
  auto options = test_server_options();
  options.goaway_after_requests = 3;
  start_server(options);
  auto client = make_client();
  std::vector<std::future<Result<Response>>> futures;
  for (int i = 0; i < 20; ++i)
    futures.push_back(client->async_request(*get(url(fmt::format("/delay/10?n={}", i))).timeout(20s).build()));
  for (int i = 0; i < 20; ++i) {
    auto result = futures[i].get();
    ASSERT_TRUE(result) << i << ": " << result.error().to_string();
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(processed(fmt::format("/delay/10?n={}", i)), 1u) << i;
  EXPECT_GE(server_->stats().tcp_connections_accepted, 7u) << "3 requests a connection";
  EXPECT_EQ(server_->stats().requests_started, 20u);
}

TEST_F(ServerH1Test, GracefulShutdownFinishesTheExchangeThenCloses) {
  start_server();
  auto client = make_client();
  auto slow = client->async_request(*get(url("/delay/200")).timeout(10s).build());
  ASSERT_TRUE(wait_for([&] { return server_->stats().requests_started >= 1; }, 5s));
  server_->shutdown_gracefully();
  auto result = slow.get();
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->body, "delayed");
  EXPECT_TRUE(wait_for([&] { return server_->connection_count() == 0; }, 5s));
}

// No stream reset in HTTP/1.1: /reset closes the connection (after ?after's bytes); the next request
// gets a new one.
TEST_F(ServerH1Test, ResetAndCloseRoutesCloseTheConnection) {
  start_server();
  auto client = make_client();
  EXPECT_FALSE(client->request(get(url("/reset/0x102")).timeout(5s)));
  auto after = client->request(get(url("/reset/0x10c?after=1000")).timeout(5s));
  EXPECT_FALSE(after) << "a body cut short is an error";
  EXPECT_FALSE(client->request(get(url("/close/0x100")).timeout(5s)));
  auto fine = client->request(get(url("/bytes/3")));
  ASSERT_TRUE(fine) << fine.error().to_string();
  EXPECT_GE(server_->stats().tcp_connections_accepted, 3u);
}

TEST_F(ServerH1Test, MisbehaveIsHttp3Only) {
  start_server();
  auto response = make_client()->request(get(url("/misbehave/bad-status")));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 501);
}

// /slow-upload reads at its rate: over HTTP/1.1 by not reading the socket (TCP holds the client back).
TEST_F(ServerH1Test, SlowUploadIsReadAtItsPace) {
  start_server();
  const std::string upload(200'000, 's');
  const auto start = std::chrono::steady_clock::now();
  auto response = make_client()->request(post(url("/slow-upload?rate=1000000")).body(upload));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_TRUE(response->body.starts_with("received 200000 bytes fnv1a-")) << response->body;
  EXPECT_GE(took, 80ms) << "200 KB at 1 MB/s (less the saved-up burst) is not instant";
}

}  // namespace
}  // namespace quiver::test

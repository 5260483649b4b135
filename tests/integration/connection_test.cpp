// The worker against the project's server on loopback: real QUIC, real TLS, real HTTP/3.
#include <gtest/gtest.h>

#include <asio/cancellation_signal.hpp>
#include <asio/ip/udp.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>

#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

TEST_F(ConnectionTest, BufferedGetReturnsStatusHeadersAndBody) {
  start_server();
  connect();
  auto response = fetch(get("/bytes/5000"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, deterministic_bytes(0, 5000));
  EXPECT_EQ(response->headers.get("content-length"), "5000");
  for (const Header& field : response->headers) {
    EXPECT_EQ(field.name, [&] { std::string s = field.name; for (char& c : s) c = static_cast<char>(std::tolower(c)); return s; }());
  }
}

TEST_F(ConnectionTest, PostBodyIsEchoedByteForByte) {
  start_server();
  connect();
  Request request = get("/echo");
  request.method = "POST";
  std::string sent = deterministic_bytes(3, 300 * 1024);
  request.body = sent;
  request.headers.add("Content-Type", "application/octet-stream");
  request.headers.add("X-Custom", "Value One");
  auto response = fetch(request);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, sent);
  EXPECT_EQ(response->headers.get("x-echo-x-custom"), "Value One");  // sent lowercase, value intact
}

TEST_F(ConnectionTest, TrailersArriveAfterTheBody) {
  start_server();
  connect();
  auto response = fetch(get("/trailers"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, "hello trailers");
  EXPECT_EQ(response->trailers.get("x-trailer-one"), "1");
}

TEST_F(ConnectionTest, PseudoHeadersFollowRfc9114AndHostSetsAuthority) {
  start_server();
  connect();
  auto plain = fetch(get("/headers?x=1"));
  ASSERT_TRUE(plain) << plain.error().to_string();
  auto fields = nlohmann::json::parse(plain->body);
  EXPECT_EQ(fields[":method"], "GET");
  EXPECT_EQ(fields[":scheme"], "https");
  EXPECT_EQ(fields[":path"], "/headers?x=1");
  EXPECT_EQ(fields[":authority"], fmt::format("127.0.0.1:{}", server_->port()));

  Request with_host = get("/headers");
  with_host.headers.add("Host", "example.test");
  auto overridden = fetch(with_host);
  ASSERT_TRUE(overridden) << overridden.error().to_string();
  auto fields2 = nlohmann::json::parse(overridden->body);
  EXPECT_EQ(fields2[":authority"], "example.test");
  EXPECT_FALSE(fields2.contains("host"));
}

TEST_F(ConnectionTest, RequestsQueuedDuringConnectAreSentInOrder) {
  auto options = test_server_options();
  options.max_streams = 1;  // one stream at a time: the server sees requests in the order we sent them
  start_server(options);
  connect();
  ASSERT_EQ(connection_->state(), h3::ConnectionState::connecting);
  Replies replies;
  for (int i = 0; i < 5; ++i) connection_->request(get(fmt::format("/echo?seq={}", i)), replies.slot(i));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  for (auto& reply : replies.slots) ASSERT_TRUE(*reply) << reply->error().to_string();
  // The server logs a request when its stream closes, which may be just after the client's reply.
  ASSERT_TRUE(run_until(io_, [&] { return access_log_.entries().size() == 5; }, 3s));
  auto log = access_log_.entries();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(log[i].path, fmt::format("/echo?seq={}", i));
}

TEST_F(ConnectionTest, FailedHandshakeFailsTheWholeQueue) {
  start_server();
  auto options = test_client_options();
  options.tls.ca_file.clear();  // the test CA is not in the system store
  connect(options);
  Replies replies;
  for (int i = 0; i < 3; ++i) connection_->request(get("/bytes/10"), replies.slot(i));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  for (auto& reply : replies.slots) {
    ASSERT_FALSE(*reply);
    EXPECT_EQ(reply->error().kind(), ErrorKind::handshake_failed);
    EXPECT_EQ(reply->error().handshake_failure, HandshakeFailure::certificate);
    EXPECT_NE(reply->error().message().find("issuer is unknown"), std::string::npos) << reply->error().message();
    EXPECT_NE(reply->error().message().find("127.0.0.1"), std::string::npos);
  }
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
  EXPECT_TRUE(access_log_.entries().empty());
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }));
  EXPECT_TRUE(observer_.ready_max_streams.empty());
}

TEST_F(ConnectionTest, CertificateVerifiesWithTheCaFile) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
}

TEST_F(ConnectionTest, CaFileAloneWithoutTheSystemStoreVerifies) {
  start_server();
  auto options = test_client_options();
  options.tls.system_trust = false;  // only the test CA
  connect(options);
  auto response = fetch(get("/bytes/10"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, deterministic_bytes(0, 10));
}

TEST_F(ConnectionTest, NoTrustAnchorAtAllIsRefusedBeforeAnyPacket) {
  start_server();
  auto options = test_client_options();
  options.tls.system_trust = false;
  options.tls.ca_file.clear();
  connect(options);
  auto response = fetch(get("/bytes/10"));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::handshake_failed);
  EXPECT_EQ(response.error().error_class(), ErrorClass::invalid);
  EXPECT_NE(response.error().message().find("no trust anchors"), std::string::npos) << response.error().message();
  EXPECT_TRUE(access_log_.entries().empty());
}

TEST_F(ConnectionTest, CertificateForAnotherHostIsRefused) {
  auto options = test_server_options();
  options.cert_file = data_file("wrong-host.pem");
  options.key_file = data_file("wrong-host-key.pem");
  start_server(options);
  connect();
  auto response = fetch(get("/bytes/1"));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::handshake_failed);
  EXPECT_NE(response.error().message().find("host name mismatch"), std::string::npos) << response.error().message();
}

TEST_F(ConnectionTest, ExpiredAndSelfSignedCertificatesAreRefused) {
  for (auto [cert, cause] : std::vector<std::pair<std::string, std::string>>{
           {"expired", "certificate expired"}, {"selfsigned", "unknown issuer"}}) {
    auto options = test_server_options();
    options.cert_file = data_file(cert + ".pem");
    options.key_file = data_file(cert + "-key.pem");
    start_server(options);
    connect();
    auto response = fetch(get("/bytes/1"));
    ASSERT_FALSE(response) << cert;
    EXPECT_EQ(response.error().kind(), ErrorKind::handshake_failed);
    EXPECT_EQ(response.error().handshake_failure, HandshakeFailure::certificate);
    EXPECT_NE(response.error().message().find(cause), std::string::npos) << response.error().message();
    EXPECT_TRUE(access_log_.entries().empty());
    server_.reset();
  }
}

TEST_F(ConnectionTest, VerificationCanBeDisabled) {
  start_server();
  auto options = test_client_options();
  options.tls.ca_file.clear();
  options.tls.verify_peer = false;
  connect(options);
  auto response = fetch(get("/status/204"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 204);
}

TEST_F(ConnectionTest, MaxStreamsIsZeroThenThePeersLimitAndGrowsBack) {
  auto options = test_server_options();
  options.max_streams = 7;
  start_server(options);
  connect();
  EXPECT_EQ(connection_->max_streams(), 0u);
  ASSERT_TRUE(wait_connected());
  EXPECT_EQ(connection_->max_streams(), 7u);
  ASSERT_TRUE(run_until(io_, [&] { return !observer_.ready_max_streams.empty(); }));
  EXPECT_EQ(observer_.ready_max_streams, std::vector<std::uint64_t>{7});

  Replies replies;
  for (int i = 0; i < 7; ++i) connection_->request(get("/delay/100"), replies.slot(i));
  EXPECT_EQ(connection_->max_streams(), 0u);  // all credit in use
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  // The server raises MAX_STREAMS as streams close; the worker reads the live credit.
  ASSERT_TRUE(run_until(io_, [&] { return connection_->max_streams() == 7; }, 3s))
      << connection_->debug_string();
}

TEST_F(ConnectionTest, RequestsBeyondTheStreamLimitWaitForCredit) {
  auto options = test_server_options();
  options.max_streams = 2;
  start_server(options);
  connect();
  Replies replies;
  for (int i = 0; i < 6; ++i) connection_->request(get("/bytes/100"), replies.slot(i));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  for (auto& reply : replies.slots) EXPECT_TRUE(*reply) << reply->error().to_string();
}

// Credit above 100 is used, not capped: with a server allowing 300 streams, 300 requests are in flight at
// once on one connection.
TEST_F(ConnectionTest, ThreeHundredConcurrentRequestsUseCreditAboveAHundred) {
  auto options = test_server_options();
  options.max_streams = 300;
  start_server(options);
  connect();
  ASSERT_TRUE(wait_connected());
  EXPECT_EQ(connection_->max_streams(), 300u);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.ready_max_streams.size() == 1; }));
  EXPECT_EQ(observer_.ready_max_streams[0], 300u);
  Replies replies;
  for (int i = 0; i < 300; ++i) connection_->request(get("/delay/300"), replies.slot(i));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  for (auto& reply : replies.slots) ASSERT_TRUE(*reply) << reply->error().to_string();
  EXPECT_EQ(server_->stats().peak_concurrent_streams, 300u);  // all of them open at once
  EXPECT_EQ(server_->stats().requests_started, 300u);
}

TEST_F(ConnectionTest, HundredConcurrentRequestsOnOneConnection) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  for (int i = 0; i < 100; ++i) connection_->request(get(fmt::format("/bytes/{}", 1000 + i)), replies.slot(i));
  EXPECT_EQ(connection_->requests_in_flight(), 100u);
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  EXPECT_FALSE(replies.duplicate_reply);
  for (int i = 0; i < 100; ++i) {
    auto& reply = *replies.slots[i];
    ASSERT_TRUE(reply) << reply.error().to_string();
    EXPECT_EQ(reply->body, deterministic_bytes(0, 1000 + i));
  }
  EXPECT_EQ(server_->connection_count(), 1u);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.done == 100; }));
}

TEST_F(ConnectionTest, ResetOfOneStreamLeavesTheOthersIntact) {
  start_server();
  connect();
  Replies replies;
  connection_->request(get("/bytes/20000"), replies.slot(0));
  connection_->request(get("/reset/267?after=100"), replies.slot(1));  // 0x10b H3_REQUEST_REJECTED
  connection_->request(get("/reset/258"), replies.slot(2));            // 0x102 H3_INTERNAL_ERROR
  connection_->request(get("/delay/50"), replies.slot(3));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));

  ASSERT_TRUE(*replies.slots[0]);
  EXPECT_EQ((*replies.slots[0])->body.size(), 20000u);
  const Error& rejected = replies.slots[1]->error();
  EXPECT_EQ(rejected.kind(), ErrorKind::stream_reset);
  EXPECT_EQ(rejected.h3_code, h3_code::request_rejected);
  EXPECT_EQ(rejected.error_class(), ErrorClass::transient);
  EXPECT_TRUE(rejected.stream_id.has_value());
  EXPECT_NE(rejected.message().find("H3_REQUEST_REJECTED"), std::string::npos);
  const Error& internal = replies.slots[2]->error();
  EXPECT_EQ(internal.h3_code, h3_code::internal_error);
  EXPECT_EQ(internal.error_class(), ErrorClass::unrecoverable);
  EXPECT_NE(internal.message().find("H3_INTERNAL_ERROR"), std::string::npos);
  ASSERT_TRUE(*replies.slots[3]);
  EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
}

TEST_F(ConnectionTest, ConnectionCloseFailsEveryRequestInFlight) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  for (int i = 0; i < 3; ++i) connection_->request(get("/delay/2000"), replies.slot(i));
  run_until(io_, [] { return false; }, 50ms);
  connection_->request(get("/close/258"), replies.slot(3));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }, 5s));
  for (auto& reply : replies.slots) {
    ASSERT_FALSE(*reply);
    EXPECT_EQ(reply->error().kind(), ErrorKind::transport_error);
    EXPECT_EQ(reply->error().h3_code, h3_code::internal_error);
  }
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }));
  EXPECT_NE(observer_.events.back().find("H3_INTERNAL_ERROR"), std::string::npos) << observer_.events.back();

  // The worker has ended: a new request is refused at once.
  auto late = fetch(get("/bytes/1"));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().kind(), ErrorKind::transport_error);
}

TEST_F(ConnectionTest, InvalidHeadersAreRejectedWithoutOpeningAStream) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  std::uint64_t credit = connection_->max_streams();
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"Connection", "close"}, {"Transfer-Encoding", "chunked"}, {"TE", "gzip"}, {"", "x"},
           {"X-Bad", "a\r\nb"}, {"X-Nul", std::string("a\0b", 3)}}) {
    Request request = get("/bytes/1");
    request.headers.add(name, value);
    auto response = fetch(request);
    ASSERT_FALSE(response) << name;
    EXPECT_EQ(response.error().kind(), ErrorKind::invalid_request);
    EXPECT_EQ(response.error().error_class(), ErrorClass::invalid);
  }
  EXPECT_EQ(connection_->max_streams(), credit);
  EXPECT_TRUE(access_log_.entries().empty());
  EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
}

TEST_F(ConnectionTest, ConnectTimeoutFailsQueuedRequests) {
  // A UDP socket that never answers: the handshake cannot complete.
  asio::io_context silent_io;
  asio::ip::udp::socket silent(silent_io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto options = test_client_options();
  options.connect_timeout = 300ms;
  connection_ = h3::Connection::create(io_.get_executor(), quiver::Origin{"127.0.0.1", silent.local_endpoint().port()},
                                       options, &observer_);
  connection_->start();
  std::optional<Result<Response>> reply;
  Request request;
  request.url = *Url::parse(fmt::format("https://127.0.0.1:{}/", silent.local_endpoint().port()));
  auto started = std::chrono::steady_clock::now();
  connection_->request(request, [&](Result<Response> r) { reply = std::move(r); });
  ASSERT_TRUE(run_until(io_, [&] { return reply.has_value(); }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  ASSERT_FALSE(*reply);
  EXPECT_EQ(reply->error().kind(), ErrorKind::handshake_failed);
  EXPECT_EQ(reply->error().handshake_failure, HandshakeFailure::timeout);
  EXPECT_NE(reply->error().message().find("300 ms"), std::string::npos) << reply->error().message();
}

TEST_F(ConnectionTest, RequestTimeoutCancelsOnlyThatRequest) {
  start_server();
  connect();
  Replies replies;
  Request slow = get("/delay/3000");
  slow.timeout = 200ms;
  auto started = std::chrono::steady_clock::now();
  connection_->request(slow, replies.slot(0));
  connection_->request(get("/bytes/10"), replies.slot(1));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  ASSERT_FALSE(*replies.slots[0]);
  EXPECT_EQ(replies.slots[0]->error().kind(), ErrorKind::request_timeout);
  EXPECT_TRUE(*replies.slots[1]);
  // The abandoned stream is reset, so its slot comes back and the connection carries on.
  ASSERT_TRUE(run_until(io_, [&] { return observer_.done == 2; }, 3s));
  EXPECT_TRUE(fetch(get("/bytes/1")));
}

TEST_F(ConnectionTest, PingsKeepAQuietConnectionAliveWhileARequestIsInFlight) {
  auto server_options = test_server_options();
  server_options.idle_timeout = 1s;
  start_server(server_options);
  auto options = test_client_options();
  options.idle_timeout = 1s;
  connect(options);
  auto response = fetch(get("/delay/2500"));  // silent for 2.5 s: well over the idle timeout
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, "delayed");
  // With nothing in flight the connection is allowed to idle out.
  ASSERT_TRUE(run_until(io_, [&] { return connection_->state() == h3::ConnectionState::closed; }, 4s));
}

TEST_F(ConnectionTest, UnresolvableHostFailsWithResolveError) {
  start_server();
  auto conn = h3::Connection::create(io_.get_executor(), quiver::Origin{"no-such-host.invalid", 443},
                                     test_client_options(), nullptr);
  conn->start();
  std::optional<Result<Response>> reply;
  Request request;
  request.url = *Url::parse("https://no-such-host.invalid/");
  conn->request(request, [&](Result<Response> r) { reply = std::move(r); });
  ASSERT_TRUE(run_until(io_, [&] { return reply.has_value(); }, 10s));
  ASSERT_FALSE(*reply);
  EXPECT_EQ(reply->error().kind(), ErrorKind::resolve_failed);
}

TEST_F(ConnectionTest, WorksOverIpv6) {
  start_server(test_server_options("::1"));
  connect(test_client_options(), "::1");
  auto response = fetch(get("/bytes/64"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, deterministic_bytes(0, 64));
}

TEST_F(ConnectionTest, ObserverHearsReadyDoneAndClosedOnce) {
  start_server();
  connect();
  auto response = fetch(get("/bytes/10"));
  ASSERT_TRUE(response);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.done == 1; }));
  connection_->close();
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }));
  run_until(io_, [] { return false; }, 50ms);
  ASSERT_EQ(observer_.events.size(), 3u);
  EXPECT_EQ(observer_.events[0], "ready 100");
  EXPECT_EQ(observer_.events[1], "done");
  EXPECT_EQ(observer_.events[2].rfind("closed", 0), 0u);
}

// The worker holds itself while its connection lives (nothing below it does): a request in flight is
// answered after the owner dropped its pointer, and once closed the worker lets go of itself.
TEST_F(ConnectionTest, ARequestInFlightIsAnsweredAfterTheOwnerDroppedTheConnection) {
  start_server();
  connect();
  std::optional<Result<Response>> reply;
  connection_->request(get("/delay/200"), [&](Result<Response> r) { reply = std::move(r); });
  std::weak_ptr<h3::Connection> worker = connection_;
  connection_.reset();
  ASSERT_TRUE(run_until(io_, [&] { return reply.has_value(); })) << "the request died with the pointer";
  ASSERT_TRUE(*reply) << reply->error().to_string();
  EXPECT_EQ((*reply)->body, "delayed");
  auto alive = worker.lock();
  ASSERT_TRUE(alive) << "the worker let go of itself while its connection was open";
  alive->close();
  alive.reset();
  EXPECT_TRUE(run_until(io_, [&] { return worker.expired(); })) << "a closed worker still holds itself";
}

// A request's cancellation handler knows the worker weakly: emitting it after the worker is gone is
// harmless, and the request had its one answer from the close.
TEST_F(ConnectionTest, CancellingAfterTheWorkerIsGoneIsHarmless) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());  // so the request goes on the wire at once
  std::optional<Result<Response>> reply;
  int replies = 0;
  asio::cancellation_signal cancel;
  connection_->request(
      get("/delay/3000"),
      [&](Result<Response> r) {
        ++replies;
        reply = std::move(r);
      },
      cancel.slot());
  std::weak_ptr<h3::Connection> worker = connection_;
  connection_->close();
  connection_.reset();
  ASSERT_TRUE(run_until(io_, [&] { return worker.expired(); }));
  cancel.emit(asio::cancellation_type::terminal);
  run_until(io_, [] { return false; }, 20ms);
  ASSERT_EQ(replies, 1);
  ASSERT_FALSE(*reply);
  EXPECT_EQ(reply->error().kind(), ErrorKind::transport_error);
}

TEST_F(ConnectionTest, DebugStringShowsOriginStateAndCredit) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  std::string text = connection_->debug_string();
  EXPECT_NE(text.find(fmt::format("https://127.0.0.1:{}", server_->port())), std::string::npos) << text;
  EXPECT_NE(text.find("state=connected"), std::string::npos) << text;
  EXPECT_NE(text.find("max_streams=100"), std::string::npos) << text;
  EXPECT_NE(text.find("goaway=none"), std::string::npos) << text;
}

}  // namespace
}  // namespace quiver::test

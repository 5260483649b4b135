// Streamed responses and request bodies, cancellation and telemetry, against the project's server.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <asio/cancellation_signal.hpp>

#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

class StreamingTest : public ConnectionTest {
 protected:
  // Starts a streaming request and waits for its headers.
  Result<h3::StreamingResponse> open_stream(Request request) {
    std::optional<Result<h3::StreamingResponse>> head;
    connection_->stream(std::move(request), [&](Result<h3::StreamingResponse> r) { head = std::move(r); });
    EXPECT_TRUE(run_until(io_, [&] { return head.has_value(); })) << "no headers";
    return head.value_or(std::unexpected(Error(ErrorKind::io_error, "test: no headers")));
  }

  // One read; waits for its result.
  Result<std::optional<std::string>> read(h3::BodyReader& body, std::size_t max = 1 << 20,
                                          std::chrono::milliseconds limit = 10s) {
    std::optional<Result<std::optional<std::string>>> chunk;
    body.async_read(max, [&](Result<std::optional<std::string>> r) { chunk = std::move(r); });
    EXPECT_TRUE(run_until(io_, [&] { return chunk.has_value(); }, limit)) << "read never completed";
    return chunk.value_or(std::unexpected(Error(ErrorKind::io_error, "test: no chunk")));
  }

  Result<std::string> read_all(h3::BodyReader& body) {
    std::string all;
    for (;;) {
      auto chunk = read(body);
      if (!chunk) return std::unexpected(chunk.error());
      if (!*chunk) return all;
      all += **chunk;
    }
  }
};

TEST_F(StreamingTest, HeadersArriveBeforeTheBodyThenChunksThenEnd) {
  start_server();
  connect();
  auto head = open_stream(get("/stream/4?size=1000&delay_ms=300"));
  ASSERT_TRUE(head) << head.error().to_string();
  // The headers are handed over before the body is all there (its last chunk comes >= 900 ms later).
  EXPECT_LT(head->body->buffered_bytes(), 4000u);
  EXPECT_EQ(head->status, 200);
  auto body = read_all(*head->body);
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_EQ(*body, deterministic_bytes(0, 4000));
}

TEST_F(StreamingTest, TrailersAreAvailableAtTheEnd) {
  start_server();
  connect();
  auto head = open_stream(get("/trailers"));
  ASSERT_TRUE(head);
  auto body = read_all(*head->body);
  ASSERT_TRUE(body);
  EXPECT_EQ(*body, "hello trailers");
  EXPECT_EQ(head->body->trailers().get("x-trailer-one"), "1");
}

// Trailers over max_response_header_bytes come after the headers were handed over: the body reader
// fails with headers_too_large instead of ending.
TEST_F(StreamingTest, TrailersOverTheHeaderLimitFailTheBodyReader) {
  start_server();
  connect();
  auto head = open_stream(get("/misbehave/huge-trailers?kb=64"));
  ASSERT_TRUE(head) << head.error().to_string();
  EXPECT_EQ(head->status, 200);
  auto body = read_all(*head->body);
  ASSERT_FALSE(body) << "the body ended: " << *body;
  EXPECT_EQ(body.error().kind(), ErrorKind::headers_too_large) << body.error().to_string();
  EXPECT_EQ(body.error().h3_code, h3_code::excessive_load) << body.error().to_string();
  EXPECT_FALSE(head->body->trailers().contains("x-huge-0"));
}

TEST_F(StreamingTest, UnreadBodyStaysWithinTheStreamWindow) {
  start_server();
  auto options = test_client_options();
  options.stream_window = 64 * 1024;
  connect(options);
  auto head = open_stream(get("/bytes/8000000"));
  ASSERT_TRUE(head);
  // The consumer does not read: bytes arrive up to the window, and no further.
  ASSERT_TRUE(run_until(io_, [&] { return head->body->buffered_bytes() > 0; }));
  run_until(io_, [] { return false; }, 300ms);
  EXPECT_LE(head->body->buffered_bytes(), options.stream_window);
  auto body = read_all(*head->body);  // then reads everything: the sender resumes
  ASSERT_TRUE(body) << body.error().to_string();
  ASSERT_EQ(body->size(), 8000000u);
  EXPECT_TRUE(*body == deterministic_bytes(0, 8000000));
}

TEST_F(StreamingTest, IdleConsumerGetsIdleTimeoutOnItsNextRead) {
  start_server();
  auto options = test_client_options();
  options.stream_idle_timeout = 200ms;
  connect(options);
  auto head = open_stream(get("/bytes/5000000"));
  ASSERT_TRUE(head);
  run_until(io_, [] { return false; }, 500ms);
  auto chunk = read(*head->body);
  ASSERT_FALSE(chunk);
  EXPECT_EQ(chunk.error().kind(), ErrorKind::idle_timeout);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.done == 1; }));  // the slot is released
  EXPECT_TRUE(fetch(get("/bytes/10")));
}

TEST_F(StreamingTest, PendingReadOnASilentServerGetsIdleTimeout) {
  start_server();
  auto options = test_client_options();
  options.stream_idle_timeout = 200ms;
  connect(options);
  auto head = open_stream(get("/stream/2?size=10&delay_ms=5000"));
  ASSERT_TRUE(head);
  auto first = read(*head->body);
  ASSERT_TRUE(first && *first);
  auto started = std::chrono::steady_clock::now();
  auto second = read(*head->body, 1 << 20, 10s);
  ASSERT_FALSE(second) << "the second chunk (5 s later) came first";
  EXPECT_EQ(second.error().kind(), ErrorKind::idle_timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);  // well before the server's 5 s pause ends
}

// The idle timeout counts from the last activity, not from the headers: a body whose chunks keep coming
// (100 ms apart) outlives several timeouts (300 ms) and succeeds.
TEST_F(StreamingTest, ABodyKeptBusyPastTheIdleTimeoutSucceeds) {
  start_server();
  auto options = test_client_options();
  options.stream_idle_timeout = 300ms;
  connect(options);
  auto started = std::chrono::steady_clock::now();
  auto head = open_stream(get("/stream/12?size=100&delay_ms=100"));
  ASSERT_TRUE(head) << head.error().to_string();
  auto body = read_all(*head->body);
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_EQ(*body, deterministic_bytes(0, 1200));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);  // the body lasted 3 idle timeouts
}

// 0 disables the idle timeout: neither a server pausing 600 ms nor a consumer not reading for 600 ms
// fails the body.
TEST_F(StreamingTest, ZeroIdleTimeoutNeverFires) {
  start_server();
  auto options = test_client_options();
  options.stream_idle_timeout = std::chrono::milliseconds(0);
  connect(options);
  auto head = open_stream(get("/stream/3?size=10&delay_ms=600"));
  ASSERT_TRUE(head) << head.error().to_string();
  auto first = read(*head->body);
  ASSERT_TRUE(first && *first) << (first ? "end" : first.error().to_string());
  run_until(io_, [] { return false; }, 600ms);  // the consumer does not read either
  auto rest = read_all(*head->body);
  ASSERT_TRUE(rest) << rest.error().to_string();
  EXPECT_EQ(**first + *rest, deterministic_bytes(0, 30));
}

TEST_F(StreamingTest, BufferReadsGetEveryByteInOrder) {
  start_server();
  connect();
  auto head = open_stream(get("/bytes/300000"));
  ASSERT_TRUE(head) << head.error().to_string();
  // Half waits for bytes already buffered, half is read while it arrives (copied straight in).
  ASSERT_TRUE(run_until(io_, [&] { return head->body->buffered_bytes() >= 20000; }));
  std::string body;
  std::vector<char> buffer(7000);
  for (;;) {
    std::optional<Result<std::size_t>> read;
    head->body->async_read_some(buffer, [&](Result<std::size_t> r) { read = r; });
    ASSERT_TRUE(run_until(io_, [&] { return read.has_value(); })) << "read never completed";
    ASSERT_TRUE(*read) << read->error().to_string();
    ASSERT_LE(**read, buffer.size());
    if (**read == 0) break;
    body.append(buffer.data(), **read);
  }
  EXPECT_EQ(body.size(), 300000u);
  EXPECT_TRUE(body == deterministic_bytes(0, 300000));
}

TEST_F(StreamingTest, BufferReadIntoNothingIsRefused) {
  start_server();
  connect();
  auto head = open_stream(get("/bytes/10"));
  ASSERT_TRUE(head);
  std::optional<Result<std::size_t>> read;
  head->body->async_read_some({}, [&](Result<std::size_t> r) { read = r; });
  ASSERT_TRUE(run_until(io_, [&] { return read.has_value(); }));
  ASSERT_FALSE(*read);
  EXPECT_EQ(read->error().kind(), ErrorKind::invalid_request);
  auto body = read_all(*head->body);  // the body is still there
  ASSERT_TRUE(body);
  EXPECT_EQ(*body, deterministic_bytes(0, 10));
}

// Flow-control credit for body bytes is owed to the connection as well as to the stream. These send
// several times the connection window through bodies that are read only after their stream closed, or
// never read: if any of that credit were lost the connection window would shrink until the server
// could send nothing more, and the last request would stall.
ConnectionOptions small_connection_window() {
  auto options = test_client_options();
  options.connection_window = 128 * 1024;
  options.stream_window = 64 * 1024;
  options.stream_idle_timeout = 2s;  // a stall fails promptly instead of waiting 30 s
  return options;
}

TEST_F(StreamingTest, BodiesReadAfterTheirStreamClosedGiveTheConnectionWindowBack) {
  start_server();
  connect(small_connection_window());
  constexpr std::size_t size = 50000;
  for (int i = 0; i < 12; ++i) {  // 600 KB through a 128 KiB connection window
    auto head = open_stream(get(fmt::format("/bytes/{}", size)));
    ASSERT_TRUE(head) << "request " << i << ": " << head.error().to_string();
    const int done_before = observer_.done;
    ASSERT_TRUE(run_until(io_, [&] { return observer_.done > done_before; }))
        << "request " << i << ": the stream did not close";
    ASSERT_EQ(head->body->buffered_bytes(), size);  // all of it arrived before the first read
    auto body = read_all(*head->body);
    ASSERT_TRUE(body) << "request " << i << ": " << body.error().to_string();
    EXPECT_EQ(body->size(), size);
  }
}

TEST_F(StreamingTest, AbandonedBodiesGiveTheConnectionWindowBack) {
  start_server();
  connect(small_connection_window());
  for (int i = 0; i < 8; ++i) {  // each leaves a stream window unread
    auto head = open_stream(get("/bytes/1000000"));
    ASSERT_TRUE(head) << "request " << i << ": " << head.error().to_string();
    // Most of a stream window arrives unread (the window also counts HTTP/3 framing).
    ASSERT_TRUE(run_until(io_, [&] { return head->body->buffered_bytes() >= 60 * 1024; }))
        << "request " << i << ": only " << head->body->buffered_bytes() << " bytes arrived";
    if (i % 2 == 0) head->body->cancel();  // cancelled, or just dropped
  }
  auto head = open_stream(get("/bytes/300000"));
  ASSERT_TRUE(head) << head.error().to_string();
  auto body = read_all(*head->body);
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_EQ(body->size(), 300000u);
}

TEST_F(StreamingTest, DroppingTheReaderResetsOnlyThatStream) {
  start_server();
  connect();
  Replies replies;
  connection_->request(get("/delay/100"), replies.slot(0));
  {
    auto head = open_stream(get("/bytes/5000000"));
    ASSERT_TRUE(head);
  }  // the reader is dropped here, mid-body
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  EXPECT_TRUE(*replies.slots[0]);
  ASSERT_TRUE(run_until(io_, [&] {
    for (auto& entry : access_log_.entries()) {
      if (entry.path == "/bytes/5000000") return true;
    }
    return false;
  }));
  for (auto& entry : access_log_.entries()) {
    if (entry.path == "/bytes/5000000") {
      EXPECT_EQ(entry.app_error_code, h3_code::request_cancelled);
      EXPECT_LT(entry.bytes_sent, 5000000u);
    }
  }
  EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
}

TEST_F(StreamingTest, ProducerBodyIsSentChunkByChunk) {
  start_server();
  connect();
  int pulls = 0;
  std::string expected;
  for (int i = 0; i < 40; ++i) expected += deterministic_bytes(i * 16384, 16384);
  Request request = get("/echo");
  request.method = "POST";
  request.body = RequestBody::from_producer([&pulls]() -> std::optional<std::string> {
    if (pulls == 40) return std::nullopt;
    int i = pulls++;
    return deterministic_bytes(static_cast<std::size_t>(i) * 16384, 16384);
  });
  auto response = fetch(request);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(pulls, 40);
  EXPECT_TRUE(response->body == expected);
}

TEST_F(StreamingTest, FileBodyIsReadLazily) {
  start_server();
  connect();
  auto path = std::filesystem::temp_directory_path() / fmt::format("quiver-body-{}.bin", ::getpid());
  std::string content = deterministic_bytes(7, 3 * 1024 * 1024 + 17);
  std::ofstream(path, std::ios::binary) << content;
  Request request = get("/echo");
  request.method = "PUT";
  request.body = RequestBody::from_file(path.string());
  auto response = fetch(request);
  std::filesystem::remove(path);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_TRUE(response->body == content);
}

TEST_F(StreamingTest, MissingBodyFileIsRejectedBeforeAStreamOpens) {
  start_server();
  connect();
  Request request = get("/echo");
  request.method = "POST";
  request.body = RequestBody::from_file("/nonexistent/quiver-body.bin");
  auto response = fetch(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::body_failed);
  EXPECT_NE(response.error().message().find("/nonexistent/quiver-body.bin"), std::string::npos);
  EXPECT_TRUE(access_log_.entries().empty());
}

TEST_F(StreamingTest, FailingProducerResetsTheStreamAndNamesTheFailure) {
  start_server();
  connect();
  int pulls = 0;
  Request request = get("/echo");
  request.method = "POST";
  request.body = RequestBody::from_producer([&pulls]() -> std::optional<std::string> {
    if (++pulls == 3) throw std::runtime_error("disk on fire");
    return std::string(1000, 'x');
  });
  auto response = fetch(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::body_failed);
  EXPECT_NE(response.error().message().find("disk on fire"), std::string::npos) << response.error().message();
  EXPECT_TRUE(fetch(get("/bytes/10")));  // the connection is unharmed
}

TEST_F(StreamingTest, CancelFailsTheRequestAtOnceAndResetsItsStream) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  std::optional<Result<Response>> reply;
  asio::cancellation_signal cancel;
  connection_->request(get("/delay/3000"), [&](Result<Response> r) { reply = std::move(r); }, cancel.slot());
  ASSERT_TRUE(run_until(io_, [&] { return server_->stats().requests_started == 1; }));  // in flight there
  cancel.emit(asio::cancellation_type::terminal);
  io_.restart();
  io_.poll();  // the answer is posted by the cancellation itself: no network round trip
  ASSERT_TRUE(reply.has_value()) << "the cancellation did not answer at once";
  ASSERT_FALSE(*reply);
  EXPECT_EQ(reply->error().kind(), ErrorKind::cancelled);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.done == 1; }));
  ASSERT_TRUE(run_until(io_, [&] { return !access_log_.entries().empty(); }));
  EXPECT_EQ(access_log_.entries()[0].app_error_code, h3_code::request_cancelled);
}

// A response complete before the upload ended (the server answered at the headers and keeps reading):
// cancelling it then stops the upload (the stream is reset) instead of letting it run for ever.
TEST_F(StreamingTest, CancelAfterTheResponseStopsTheUpload) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  std::size_t pulls = 0;
  auto endless = [&pulls]() -> std::optional<std::string> {
    ++pulls;
    return std::string(16 * 1024, 'u');
  };
  Request request = get("/status/200?early=1&keep_reading=1");
  request.method = "POST";
  request.body = RequestBody::from_producer(endless);
  std::optional<Result<Response>> reply;
  asio::cancellation_signal cancel;
  connection_->request(std::move(request), [&](Result<Response> r) { reply = std::move(r); }, cancel.slot());
  ASSERT_TRUE(run_until(io_, [&] { return reply.has_value(); }));
  ASSERT_TRUE(*reply) << reply->error().to_string();
  EXPECT_EQ((*reply)->status, 200);
  const auto pulls_at_answer = pulls;
  ASSERT_TRUE(run_until(io_, [&] { return pulls > pulls_at_answer + 4; })) << "the upload is not running";
  EXPECT_EQ(observer_.done, 0);
  cancel.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.done == 1; })) << "the upload still runs";
  const auto pulls_at_close = pulls;
  run_until(io_, [] { return false; }, 100ms);
  EXPECT_EQ(pulls, pulls_at_close) << "the producer is still pulled";
  EXPECT_EQ(connection_->requests_in_flight(), 0u);
  EXPECT_TRUE(fetch(get("/bytes/10")));  // the connection is unharmed
}

// The same through a streamed response: the body read to its end, then the reader cancelled.
TEST_F(StreamingTest, CancellingTheReaderAfterTheBodyEndedStopsTheUpload) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  std::size_t pulls = 0;
  auto endless = [&pulls]() -> std::optional<std::string> {
    ++pulls;
    return std::string(16 * 1024, 'u');
  };
  Request request = get("/status/200?early=1&keep_reading=1");
  request.method = "POST";
  request.body = RequestBody::from_producer(endless);
  auto head = open_stream(std::move(request));
  ASSERT_TRUE(head) << head.error().to_string();
  auto body = read_all(*head->body);
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_EQ(*body, "status 200\n");
  const auto pulls_at_end = pulls;
  ASSERT_TRUE(run_until(io_, [&] { return pulls > pulls_at_end + 4; })) << "the upload is not running";
  head->body->cancel();
  ASSERT_TRUE(run_until(io_, [&] { return observer_.done == 1; })) << "the upload still runs";
  EXPECT_EQ(connection_->requests_in_flight(), 0u);
}

TEST_F(StreamingTest, CancelWhileConnectingNeverSendsTheRequest) {
  start_server();
  connect();
  std::optional<Result<Response>> cancelled, kept;
  asio::cancellation_signal cancel;
  connection_->request(get("/bytes/1"), [&](Result<Response> r) { cancelled = std::move(r); }, cancel.slot());
  connection_->request(get("/bytes/2"), [&](Result<Response> r) { kept = std::move(r); });
  cancel.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(io_, [&] { return cancelled && kept; }));
  EXPECT_EQ(cancelled->error().kind(), ErrorKind::cancelled);
  EXPECT_TRUE(*kept);
  ASSERT_TRUE(run_until(io_, [&] { return !access_log_.entries().empty(); }));
  run_until(io_, [] { return false; }, 50ms);  // nothing else may arrive
  auto log = access_log_.entries();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].path, "/bytes/2");
}

class RecordingTelemetry : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override { connection.push_back(event.type); }
  void on_request_event(const RequestEvent& event) override { request.push_back(event); }
  std::vector<ConnectionEvent::Type> connection;
  std::vector<RequestEvent> request;
};

TEST_F(StreamingTest, TelemetrySeesConnectionAndRequestSpans) {
  start_server();
  auto telemetry = std::make_shared<RecordingTelemetry>();
  auto options = test_client_options();
  options.telemetry = telemetry;
  connect(options);
  ASSERT_TRUE(fetch(get("/status/201")));
  connection_->close();
  ASSERT_TRUE(run_until(io_, [&] { return telemetry->connection.size() == 4; }));
  using Type = ConnectionEvent::Type;
  EXPECT_EQ(telemetry->connection, (std::vector<Type>{Type::start, Type::attempt, Type::ready, Type::closed}));
  ASSERT_EQ(telemetry->request.size(), 3u);
  EXPECT_EQ(telemetry->request[0].type, RequestEvent::Type::start);
  EXPECT_EQ(telemetry->request[1].type, RequestEvent::Type::headers);
  EXPECT_EQ(telemetry->request[1].status, 201);
  const RequestEvent& stop = telemetry->request[2];
  EXPECT_EQ(stop.type, RequestEvent::Type::stop);
  EXPECT_EQ(stop.status, 201);
  EXPECT_EQ(stop.target, "/status/201");
  EXPECT_EQ(stop.method, "GET");
  EXPECT_GT(stop.bytes, 0u);
  EXPECT_GT(stop.duration.count(), 0);
  EXPECT_TRUE(stop.stream_id.has_value());

  // A failing request ends with an exception event carrying the error.
  ASSERT_FALSE(fetch(get("/bytes/1")));  // the connection is closed now
  ASSERT_TRUE(run_until(io_, [&] { return telemetry->request.size() == 4; }));
  EXPECT_EQ(telemetry->request[3].type, RequestEvent::Type::exception);
  ASSERT_TRUE(telemetry->request[3].error.has_value());
}

}  // namespace
}  // namespace quiver::test

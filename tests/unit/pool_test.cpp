// OriginPool against scripted connections and a manual clock: routing, waiting, retries, draining, closing,
// timeouts, shutdown. No test waits on real time.
#include "pool/origin_pool.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "unit/fake_connection.hpp"
#include "unit/manual_clock.hpp"

namespace quiver::pool {
namespace {

using namespace std::chrono_literals;
using testing::FakeConnection;
using testing::FakeConnectionFactory;
using testing::ManualClock;

// What one caller saw: how many times its handler ran, and the last result.
template <class Value>
struct Outcome {
  int calls = 0;
  std::optional<Result<Value>> result;
  asio::cancellation_signal cancel;  // its slot goes with the request: emit it to cancel

  bool answered() const { return calls > 0; }
  bool ok() const { return result && result->has_value(); }
  ErrorKind error_kind() const { return result->error().kind(); }
  const Error& error() const { return result->error(); }
};

class RecordingTelemetry final : public Telemetry {
 public:
  void on_request_event(const RequestEvent& event) override { events.push_back(event); }
  std::vector<RequestEvent> events;
};

Error unprocessed_goaway() {
  Error error(ErrorKind::goaway, ErrorClass::transient, "refused by GOAWAY");
  error.unprocessed = true;
  return error;
}

Error rejected_reset() {
  Error error(ErrorKind::stream_reset, ErrorClass::transient, "server reset stream with H3_REQUEST_REJECTED");
  error.h3_code = h3_code::request_rejected;
  error.unprocessed = true;
  return error;
}

// As the worker reports an ICMP port unreachable to its Initial.
Error connection_refused() {
  Error error(ErrorKind::connection_refused, "connection to https://example.test:443 refused");
  error.handshake_failure = HandshakeFailure::refused;
  return error;
}

Error handshake_failure() {
  Error error(ErrorKind::handshake_failed, "handshake with https://example.test:443 failed: refused");
  error.handshake_failure = HandshakeFailure::refused;
  return error;
}

class OriginPoolTest : public ::testing::Test {
 protected:
  OriginPoolTest() {
    options.checkout_timeout = 5s;
    options.idle_close = 0ms;
  }

  void TearDown() override {
    for (const auto& connection : factory->created) {
      EXPECT_EQ(connection->handed_beyond_credit, 0) << "a request was handed beyond the stream credit";
      EXPECT_EQ(connection->handed_while_not_connected, 0) << "a request was handed to a connection not connected";
    }
  }

  OriginPool& pool() {
    if (!pool_) pool_ = OriginPool::create(io.get_executor(), quiver::Origin{"example.test", 443}, options, factory, clock);
    return *pool_;
  }
  std::weak_ptr<OriginPool> weak_pool() {
    pool();
    return pool_;
  }
  void drop_pool() { pool_.reset(); }

  // Runs every handler that is ready, without waiting for timers.
  void settle() {
    io.restart();
    io.poll();
  }
  // Moves the manual clock forward, then runs what fell due (and what that made ready).
  void advance(std::chrono::milliseconds by) {
    clock->advance(by);
    settle();
  }

  static Request make_request(const std::string& target, RequestBody body = {}) {
    Request request;
    request.method = body.empty() ? "GET" : "POST";
    request.url = Url::parse("https://example.test" + target).value();
    request.body = std::move(body);
    return request;
  }

  std::shared_ptr<Outcome<Response>> send(const std::string& target, RequestBody body = {}) {
    return send(make_request(target, std::move(body)));
  }
  std::shared_ptr<Outcome<Response>> send(Request request) {
    auto outcome = std::make_shared<Outcome<Response>>();
    pool().request(
        std::move(request),
        [outcome](Result<Response> result) {
          ++outcome->calls;
          outcome->result = std::move(result);
        },
        outcome->cancel.slot());
    return outcome;
  }
  std::shared_ptr<Outcome<http::StreamingResponse>> send_stream(const std::string& target) {
    auto outcome = std::make_shared<Outcome<http::StreamingResponse>>();
    pool().stream(
        make_request(target),
        [outcome](Result<http::StreamingResponse> result) {
          ++outcome->calls;
          outcome->result = std::move(result);
        },
        outcome->cancel.slot());
    return outcome;
  }
  // As the client does it: on the pool's executor.
  template <class Value>
  static void cancel(Outcome<Value>& outcome) {
    outcome.cancel.emit(asio::cancellation_type::terminal);
  }

  FakeConnection& connection(std::size_t index) { return *factory->created.at(index); }
  std::size_t connections_created() const { return factory->created.size(); }

  asio::io_context io;
  std::shared_ptr<FakeConnectionFactory> factory = std::make_shared<FakeConnectionFactory>();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  PoolOptions options;

 private:
  std::shared_ptr<OriginPool> pool_;
};

// ---- routing -------------------------------------------------------------------------------------

TEST_F(OriginPoolTest, RoutesToTheLeastLoadedConnectionWithCredit) {
  options.max_connections = 2;
  send("/1");
  send("/2");
  settle();
  ASSERT_EQ(connections_created(), 2u);
  connection(0).become_ready(10);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);  // the only connected one takes both waiting requests
  connection(1).become_ready(10);
  settle();

  send("/3");
  send("/4");
  EXPECT_EQ(connection(1).handed.size(), 2u);  // 0 and then 1 in flight, against 2 on the first
  send("/5");
  EXPECT_EQ(connection(0).handed.size(), 3u);  // a tie goes to the first connected
  connection(1).respond(0);
  settle();
  send("/6");
  ASSERT_EQ(connection(1).handed.size(), 3u);
  EXPECT_EQ(connection(1).target(2), "/6");
}

TEST_F(OriginPoolTest, OpensConnectionsUpToMaxCountingThoseStillConnecting) {
  options.max_connections = 2;
  send("/1");
  send("/2");
  send("/3");
  send("/4");
  settle();
  EXPECT_EQ(connections_created(), 2u);
  EXPECT_EQ(connection(0).start_calls, 1);
  EXPECT_EQ(connection(1).start_calls, 1);
  PoolStats stats = pool().stats();
  EXPECT_EQ(stats.connecting, 2u);
  EXPECT_EQ(stats.waiting, 4u);
}

TEST_F(OriginPoolTest, EachConnectingConnectionIsCountedOnForOneWaitingRequest) {
  options.max_connections = 3;
  send("/1");
  settle();
  EXPECT_EQ(connections_created(), 1u);
  send("/2");
  settle();
  EXPECT_EQ(connections_created(), 2u);
}

TEST_F(OriginPoolTest, OneConnectionByDefault) {
  for (int i = 0; i < 5; ++i) send("/" + std::to_string(i));
  settle();
  EXPECT_EQ(connections_created(), 1u);
}

TEST_F(OriginPoolTest, OnReadyDispatchesOnlyAsManyAsTheCreditInArrivalOrder) {
  send("/1");
  send("/2");
  send("/3");
  connection(0).become_ready(2);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  EXPECT_EQ(connection(0).target(0), "/1");
  EXPECT_EQ(connection(0).target(1), "/2");
  EXPECT_EQ(pool().stats().waiting, 1u);
}

TEST_F(OriginPoolTest, WaitingRequestIsServedWhenCreditGrows) {
  send("/1");
  send("/2");
  connection(0).become_ready(1);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 1u);
  connection(0).grant_credit(1);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  EXPECT_EQ(connection(0).target(1), "/2");
  EXPECT_EQ(pool().stats().waiting, 0u);
}

TEST_F(OriginPoolTest, WaitingRequestsAreServedInFifoOrderWhenAStreamEnds) {
  auto first = send("/1");
  send("/2");
  send("/3");
  connection(0).become_ready(1);
  settle();
  connection(0).respond(0, 200, /*credit_back=*/true);
  settle();
  ASSERT_TRUE(first->ok());
  EXPECT_EQ(first->result->value().status, 200);
  ASSERT_EQ(connection(0).handed.size(), 2u);
  EXPECT_EQ(connection(0).target(1), "/2");
  EXPECT_EQ(pool().stats().waiting, 1u);
}

TEST_F(OriginPoolTest, AppliesTheDefaultRequestTimeoutOnlyWhenTheRequestHasNone) {
  options.request_timeout = 2000ms;
  send("/default");
  Request own = make_request("/own");
  own.timeout = 500ms;
  send(std::move(own));
  connection(0).become_ready(10);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  EXPECT_EQ(connection(0).handed[0].request.timeout, 2000ms);
  EXPECT_EQ(connection(0).handed[1].request.timeout, 500ms);
}

// ---- waiting limits ------------------------------------------------------------------------------

TEST_F(OriginPoolTest, CheckoutTimeoutFailsAWaitingRequest) {
  options.checkout_timeout = 50ms;
  auto waiting = send("/1");
  advance(49ms);
  EXPECT_FALSE(waiting->answered());
  EXPECT_EQ(pool().stats().waiting, 1u);
  advance(1ms);
  ASSERT_EQ(waiting->calls, 1);
  EXPECT_EQ(waiting->error_kind(), ErrorKind::checkout_timeout);
  EXPECT_TRUE(waiting->error().unprocessed);
  EXPECT_EQ(pool().stats().waiting, 0u);
  connection(0).become_ready(10);
  settle();
  EXPECT_TRUE(connection(0).handed.empty());
}

TEST_F(OriginPoolTest, EachWaitingRequestHasItsOwnCheckoutDeadline) {
  options.checkout_timeout = 50ms;
  auto first = send("/1");
  advance(20ms);
  auto second = send("/2");
  advance(30ms);
  ASSERT_EQ(first->calls, 1);
  EXPECT_EQ(first->error_kind(), ErrorKind::checkout_timeout);
  advance(19ms);
  EXPECT_FALSE(second->answered());
  advance(1ms);
  ASSERT_EQ(second->calls, 1);
  EXPECT_EQ(second->error_kind(), ErrorKind::checkout_timeout);
}

TEST_F(OriginPoolTest, ServedRequestNoLongerHasACheckoutDeadline) {
  options.checkout_timeout = 50ms;
  auto outcome = send("/1");
  advance(49ms);
  connection(0).become_ready(10);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 1u);
  EXPECT_EQ(clock->pending(), 0u);
  advance(1h);
  EXPECT_FALSE(outcome->answered());
  connection(0).respond(0);
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_TRUE(outcome->ok());
}

TEST_F(OriginPoolTest, RetriedRequestWaitsWithAFreshCheckoutDeadline) {
  options.checkout_timeout = 50ms;
  options.max_connections = 2;
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  advance(40ms);
  connection(0).fail(0, unprocessed_goaway());
  connection(0).begin_draining();
  settle();
  ASSERT_EQ(pool().stats().waiting, 1u) << "the retry waits for the replacement connection";
  advance(49ms);
  EXPECT_FALSE(outcome->answered()) << "the deadline counts from the retry, not from admission";
  advance(1ms);
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::checkout_timeout);
}

TEST_F(OriginPoolTest, RefusesAtOnceWhenTheQueueIsFull) {
  options.max_waiting = 2;
  auto first = send("/1");
  auto second = send("/2");
  auto third = send("/3");
  EXPECT_FALSE(third->answered()) << "the pool's own answers are posted, never called inline";
  settle();
  ASSERT_EQ(third->calls, 1);
  EXPECT_EQ(third->error_kind(), ErrorKind::checkout_timeout);
  EXPECT_NE(third->error().message().find("full"), std::string::npos) << third->error().message();
  EXPECT_FALSE(first->answered());
  EXPECT_FALSE(second->answered());
}

// ---- draining and closing ------------------------------------------------------------------------

TEST_F(OriginPoolTest, DrainingConnectionIsReplacedAtOnceAndNotCounted) {
  auto first = send("/1");
  connection(0).become_ready(1);
  settle();
  send("/2");
  settle();
  ASSERT_EQ(connections_created(), 1u);

  connection(0).begin_draining();
  settle();
  ASSERT_EQ(connections_created(), 2u) << "waiting requests must not stall behind a drain";
  PoolStats stats = pool().stats();
  EXPECT_EQ(stats.draining, 1u);
  EXPECT_EQ(stats.connecting, 1u);

  send("/3");
  settle();
  EXPECT_EQ(connections_created(), 2u);
  connection(1).become_ready(10);
  settle();
  ASSERT_EQ(connection(1).handed.size(), 2u);
  EXPECT_EQ(connection(1).target(0), "/2");
  EXPECT_EQ(connection(1).target(1), "/3");
  EXPECT_EQ(connection(0).handed.size(), 1u);

  connection(0).respond(0);
  settle();
  EXPECT_TRUE(first->ok());
}

TEST_F(OriginPoolTest, ClosedConnectionLeavesThePoolAndIsNeverUsedAgain) {
  send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).respond(0);
  connection(0).close_with(Error(ErrorKind::transport_error, "peer closed"));
  settle();
  EXPECT_TRUE(pool().stats().connections.empty());
  EXPECT_EQ(connection(0).observer(), nullptr) << "the pool detaches before dropping a connection";

  send("/2");
  settle();
  ASSERT_EQ(connections_created(), 2u);
  connection(1).become_ready(10);
  settle();
  EXPECT_EQ(connection(0).handed.size(), 1u);
  EXPECT_EQ(connection(1).handed.size(), 1u);
}

TEST_F(OriginPoolTest, ConnectionWhoseCloseIsStillOnTheWayIsNotUsed) {
  send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).set_state_silently(http::ConnectionState::closed);
  auto second = send("/2");
  settle();
  EXPECT_EQ(connection(0).handed.size(), 1u);
  EXPECT_EQ(pool().stats().waiting, 1u);

  connection(0).close_with(Error(ErrorKind::transport_error, "idle timeout"));
  settle();
  ASSERT_EQ(connections_created(), 2u);
  connection(1).become_ready(10);
  settle();
  ASSERT_EQ(connection(1).handed.size(), 1u);
  EXPECT_EQ(connection(1).target(0), "/2");
}

TEST_F(OriginPoolTest, HandshakeFailureFailsWaitingRequestsWhenNothingElseCanServe) {
  auto first = send("/1");
  auto second = send("/2");
  connection(0).close_with(handshake_failure());
  settle();
  ASSERT_EQ(first->calls, 1);
  ASSERT_EQ(second->calls, 1);
  EXPECT_EQ(first->error_kind(), ErrorKind::handshake_failed);
  EXPECT_EQ(second->error_kind(), ErrorKind::handshake_failed);
  EXPECT_EQ(connections_created(), 1u) << "no replacement is opened in reply to a failed handshake";

  send("/3");
  settle();
  EXPECT_EQ(connections_created(), 2u) << "a new request tries again";
}

TEST_F(OriginPoolTest, HandshakeFailureKeepsRequestsWaitingForALiveConnection) {
  options.max_connections = 2;
  send("/1");
  connection(0).become_ready(1);
  settle();
  auto waiting = send("/2");
  settle();
  ASSERT_EQ(connections_created(), 2u);
  connection(1).close_with(handshake_failure());
  settle();
  EXPECT_FALSE(waiting->answered());
  EXPECT_EQ(connections_created(), 2u);

  connection(0).respond(0, 200, /*credit_back=*/true);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  EXPECT_EQ(connection(0).target(1), "/2");
}

// Connection refused (ICMP port unreachable) on the last connection that could serve: the waiting
// requests get that error at once, not checkout_timeout later.
TEST_F(OriginPoolTest, RefusedHandshakeOfTheLastConnectingConnectionFailsWaitingRequestsAtOnce) {
  options.max_connections = 2;
  auto first = send("/1");
  auto second = send("/2");
  settle();
  ASSERT_EQ(connections_created(), 2u);
  connection(0).close_with(connection_refused());
  settle();
  EXPECT_FALSE(first->answered()) << "the other connection may still connect";
  connection(1).close_with(connection_refused());
  settle();
  for (const auto& outcome : {first, second}) {
    ASSERT_EQ(outcome->calls, 1);
    EXPECT_EQ(outcome->error_kind(), ErrorKind::connection_refused);
    EXPECT_EQ(outcome->error().handshake_failure, HandshakeFailure::refused);
  }
  EXPECT_EQ(clock->pending(), 0u) << "no checkout deadline left running";
  EXPECT_EQ(connections_created(), 2u);
}

// A request refused by GOAWAY waits for the replacement; the server is gone by then, and the draining
// connection cannot serve it: it fails at once with the handshake error.
TEST_F(OriginPoolTest, RefusedHandshakeOfTheReplacementFailsARetriedRequestAtOnce) {
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, unprocessed_goaway());
  connection(0).begin_draining();
  settle();
  ASSERT_EQ(connections_created(), 2u);
  connection(1).close_with(connection_refused());
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::connection_refused);
  EXPECT_EQ(outcome->error().handshake_failure, HandshakeFailure::refused);
  EXPECT_EQ(connections_created(), 2u);
}

// ---- retries -------------------------------------------------------------------------------------

TEST_F(OriginPoolTest, RetriesAnUnprocessedRequestOnANewConnection) {
  options.max_connections = 2;
  auto telemetry = std::make_shared<RecordingTelemetry>();
  options.connection.telemetry = telemetry;
  auto outcome = send("/upload", RequestBody("payload"));
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, unprocessed_goaway());
  connection(0).begin_draining();
  settle();
  EXPECT_FALSE(outcome->answered()) << "the caller sees a retry only in telemetry";
  ASSERT_EQ(connections_created(), 2u);

  connection(1).become_ready(10);
  settle();
  ASSERT_EQ(connection(1).handed.size(), 1u);
  EXPECT_EQ(connection(1).target(0), "/upload");
  EXPECT_EQ(connection(1).handed[0].request.body.bytes(), "payload");
  connection(1).respond(0);
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_TRUE(outcome->ok());

  ASSERT_EQ(telemetry->events.size(), 1u);
  EXPECT_EQ(telemetry->events[0].type, RequestEvent::Type::retry);
  EXPECT_EQ(telemetry->events[0].target, "/upload");
  ASSERT_TRUE(telemetry->events[0].error);
  EXPECT_EQ(telemetry->events[0].error->kind(), ErrorKind::goaway);
}

TEST_F(OriginPoolTest, RetryAvoidsTheConnectionThatRejectedItWhenAnotherCanTakeIt) {
  options.max_connections = 2;
  send("/1");
  send("/2");
  connection(0).become_ready(10);
  connection(1).become_ready(10);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  send("/3");
  send("/4");
  settle();
  ASSERT_EQ(connection(1).handed.size(), 2u);
  // The first connection becomes the least loaded (nothing once /2 ends and /1 fails); the second has two.
  connection(0).respond(1);
  connection(0).fail(0, rejected_reset());
  settle();
  EXPECT_EQ(connection(0).handed.size(), 2u);
  ASSERT_EQ(connection(1).handed.size(), 3u);
  EXPECT_EQ(connection(1).target(2), "/1");
}

TEST_F(OriginPoolTest, RetryUsesTheSameConnectionWhenNoOtherMayExist) {
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, rejected_reset());
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  EXPECT_FALSE(outcome->answered());
  connection(0).respond(1);
  settle();
  EXPECT_EQ(outcome->calls, 1);
  EXPECT_TRUE(outcome->ok());
}

TEST_F(OriginPoolTest, ProducerBodyIsNotRetried) {
  auto outcome = send("/upload", RequestBody::from_producer([] { return std::optional<std::string>(); }));
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, rejected_reset());
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::stream_reset);
  EXPECT_TRUE(outcome->error().unprocessed);
  EXPECT_EQ(connection(0).handed.size(), 1u);
}

TEST_F(OriginPoolTest, ProcessedFailureIsNotRetried) {
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, Error(ErrorKind::stream_reset, "server reset stream with H3_INTERNAL_ERROR"));
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::stream_reset);
  EXPECT_EQ(connection(0).handed.size(), 1u);
}

// ---- refusals: their own budget, bounded by the deadline ---------------------------------------------

TEST_F(OriginPoolTest, RefusalsAreRetriedMoreThanOnce) {
  auto outcome = send("/1");
  for (std::size_t refusal = 0; refusal < 3; ++refusal) {
    connection(refusal).become_ready(10);
    settle();
    ASSERT_EQ(connection(refusal).handed.size(), 1u);
    connection(refusal).fail(0, unprocessed_goaway());
    connection(refusal).begin_draining();
    settle();
    ASSERT_FALSE(outcome->answered()) << "refusal " << refusal + 1;
  }
  ASSERT_EQ(connections_created(), 4u);
  connection(3).become_ready(10);
  settle();
  ASSERT_EQ(connection(3).handed.size(), 1u);
  connection(3).respond(0);
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_TRUE(outcome->ok());
}

// Each refusal comes from a new connection (GOAWAY, then a replacement), so no backoff is involved.
TEST_F(OriginPoolTest, ExhaustedRefusalBudgetFailsTheRequestAndSaysSo) {
  ASSERT_EQ(options.max_refusal_retries, 10) << "the documented default";
  auto outcome = send("/1");
  for (std::size_t refusal = 0; refusal < 11; ++refusal) {
    ASSERT_EQ(connections_created(), refusal + 1);
    connection(refusal).become_ready(10);
    settle();
    ASSERT_EQ(connection(refusal).handed.size(), 1u);
    connection(refusal).fail(0, unprocessed_goaway());
    connection(refusal).begin_draining();
    settle();
  }
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::goaway);
  EXPECT_TRUE(outcome->error().unprocessed);
  EXPECT_EQ(outcome->error().error_class(), ErrorClass::transient);
  const std::string& message = outcome->error().message();
  EXPECT_NE(message.find("refused by GOAWAY"), std::string::npos) << message;
  EXPECT_NE(message.find("refused 11 times"), std::string::npos) << message;
  EXPECT_NE(message.find("max_refusal_retries = 10"), std::string::npos) << message;
  EXPECT_EQ(pool().stats().waiting, 0u);
}

TEST_F(OriginPoolTest, RefusalBudgetIsConfigurable) {
  options.max_refusal_retries = 0;
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, rejected_reset());
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::stream_reset);
  EXPECT_NE(outcome->error().message().find("max_refusal_retries = 0"), std::string::npos);
  EXPECT_EQ(connection(0).handed.size(), 1u);
}

// Three connections, each refusing once: the request goes to each in turn, never back to one that refused
// it while another has not (the first connection is always among the least loaded), and with no backoff.
TEST_F(OriginPoolTest, RetryNeverGoesToAConnectionThatAlreadyRefusedIt) {
  options.max_connections = 3;
  send("/a");
  send("/b");
  send("/c");
  settle();
  ASSERT_EQ(connections_created(), 3u);
  for (std::size_t i = 0; i < 3; ++i) connection(i).become_ready(10);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) connection(0).respond(i, 200, /*credit_back=*/true);
  settle();

  auto outcome = send("/1");
  ASSERT_EQ(connection(0).handed.size(), 4u);
  connection(0).fail(3, rejected_reset());
  settle();
  ASSERT_EQ(connection(1).handed.size(), 1u) << "the first refuser is avoided";
  connection(1).fail(0, rejected_reset());
  settle();
  EXPECT_EQ(connection(0).handed.size(), 4u) << "nor does it go back to the first refuser";
  ASSERT_EQ(connection(2).handed.size(), 1u);
  EXPECT_EQ(connection(2).target(0), "/1");
  EXPECT_EQ(clock->pending(), 0u) << "no backoff after refusals by different connections";
  connection(2).respond(0);
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_TRUE(outcome->ok());
  EXPECT_EQ(connections_created(), 3u);
}

// Only when every connection it could get has refused it does it go back to one of them: at once after
// that connection's first refusal, after a backoff after its second and later ones.
TEST_F(OriginPoolTest, BacksOffOnlyWhenTheSameConnectionRefusesTheSameRequestAgain) {
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, rejected_reset());
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u) << "its first refusal: sent again at once (no other connection)";
  EXPECT_EQ(clock->pending(), 0u);

  connection(0).fail(1, rejected_reset());
  settle();
  EXPECT_EQ(connection(0).handed.size(), 2u) << "its second refusal: backoff first";
  EXPECT_EQ(pool().stats().waiting, 1u);
  auto first_backoff = OriginPool::repeat_refusal_backoff(2);
  EXPECT_EQ(first_backoff, 25ms);
  advance(first_backoff - 1ms);
  EXPECT_EQ(connection(0).handed.size(), 2u);
  advance(1ms);
  ASSERT_EQ(connection(0).handed.size(), 3u);

  connection(0).fail(2, rejected_reset());
  settle();
  EXPECT_EQ(OriginPool::repeat_refusal_backoff(3), 50ms) << "doubling";
  advance(49ms);
  EXPECT_EQ(connection(0).handed.size(), 3u);
  advance(1ms);
  ASSERT_EQ(connection(0).handed.size(), 4u);
  connection(0).respond(3);
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_TRUE(outcome->ok());
  EXPECT_EQ(OriginPool::repeat_refusal_backoff(100), 200ms) << "bounded";
}

TEST_F(OriginPoolTest, RequestsBehindABackingOffRequestAreNotHeldUp) {
  auto refused = send("/refused");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, rejected_reset());
  settle();
  connection(0).fail(1, rejected_reset());
  settle();
  auto other = send("/other");
  settle();
  ASSERT_EQ(connection(0).handed.size(), 3u);
  EXPECT_EQ(connection(0).target(2), "/other");
  EXPECT_EQ(pool().stats().waiting, 1u) << "the refused one keeps waiting out its backoff";
  advance(25ms);
  ASSERT_EQ(connection(0).handed.size(), 4u);
  EXPECT_EQ(connection(0).target(3), "/refused");
  EXPECT_FALSE(refused->answered());
  EXPECT_FALSE(other->answered());
}

// Both requests on the first connection are refused by its GOAWAY while two newer ones wait: on the
// replacement they go first, in their original order.
TEST_F(OriginPoolTest, RefusedRequestsGoBackToTheFrontOfTheQueueInTheirOrder) {
  send("/1");
  send("/2");
  connection(0).become_ready(2);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  send("/3");
  send("/4");
  settle();
  EXPECT_EQ(pool().stats().waiting, 2u);
  connection(0).fail(0, unprocessed_goaway());
  connection(0).fail(1, unprocessed_goaway());
  connection(0).begin_draining();
  settle();
  ASSERT_EQ(connections_created(), 2u);
  EXPECT_EQ(pool().stats().waiting, 4u);
  connection(1).become_ready(10);
  settle();
  ASSERT_EQ(connection(1).handed.size(), 4u);
  EXPECT_EQ(connection(1).target(0), "/1");
  EXPECT_EQ(connection(1).target(1), "/2");
  EXPECT_EQ(connection(1).target(2), "/3");
  EXPECT_EQ(connection(1).target(3), "/4");
}

TEST_F(OriginPoolTest, RetryIsSentWithWhatIsLeftOfTheDeadlineAndNotPastIt) {
  Request request = make_request("/1");
  request.timeout = 100ms;
  auto outcome = send(std::move(request));
  advance(30ms);  // waiting for the connection does not count
  connection(0).become_ready(10);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 1u);
  EXPECT_EQ(connection(0).handed[0].request.timeout, 100ms);
  advance(60ms);
  connection(0).fail(0, unprocessed_goaway());
  connection(0).begin_draining();
  settle();
  connection(1).become_ready(10);
  settle();
  ASSERT_EQ(connection(1).handed.size(), 1u);
  EXPECT_EQ(connection(1).handed[0].request.timeout, 40ms);

  advance(40ms);
  connection(1).fail(0, unprocessed_goaway());
  connection(1).begin_draining();
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::goaway);
  EXPECT_TRUE(outcome->error().unprocessed);
  EXPECT_NE(outcome->error().message().find("deadline"), std::string::npos) << outcome->error().message();
  EXPECT_EQ(connections_created(), 2u) << "nothing is opened for a request that is over";
}

TEST_F(OriginPoolTest, DeadlineBoundsTheWaitOfARefusedRequest) {
  options.request_timeout = 100ms;
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  advance(60ms);
  connection(0).fail(0, unprocessed_goaway());
  connection(0).begin_draining();
  settle();
  ASSERT_EQ(connections_created(), 2u);  // the replacement never becomes ready
  advance(39ms);
  EXPECT_FALSE(outcome->answered());
  advance(1ms);
  ASSERT_EQ(outcome->calls, 1) << "its deadline, not the 5 s checkout timeout";
  EXPECT_EQ(outcome->error_kind(), ErrorKind::goaway);
  EXPECT_TRUE(outcome->error().unprocessed);
  EXPECT_NE(outcome->error().message().find("deadline passed while it waited"), std::string::npos)
      << outcome->error().message();
  EXPECT_EQ(pool().stats().waiting, 0u);
}

TEST_F(OriginPoolTest, BackoffThatWouldPassTheDeadlineFailsAtOnce) {
  Request request = make_request("/1");
  request.timeout = 30ms;
  auto outcome = send(std::move(request));
  connection(0).become_ready(10);
  settle();
  advance(10ms);
  connection(0).fail(0, rejected_reset());
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  connection(0).fail(1, rejected_reset());  // a 25 ms backoff from t=10 ms would end past t=30 ms
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::stream_reset);
  EXPECT_NE(outcome->error().message().find("deadline"), std::string::npos) << outcome->error().message();
}

// Found by the issue: the retry avoiding the refusing connection opened a new one, then went back to the
// refuser as soon as that one counted against max_connections, leaving the new connection unused.
TEST_F(OriginPoolTest, RetryUsesTheConnectionItOpenedInsteadOfGoingBackToTheRefuser) {
  options.max_connections = 2;
  auto refused = send("/1");
  auto other = send("/2");
  connection(0).become_ready(10);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  connection(0).fail(0, rejected_reset());  // the connection stays connected
  settle();
  ASSERT_EQ(connections_created(), 2u) << "a connection that did not refuse it is opened";
  connection(0).respond(1);
  settle();
  EXPECT_EQ(connection(0).handed.size(), 2u) << "not sent back to the refuser while the new one connects";
  connection(1).become_ready(10);
  settle();
  ASSERT_EQ(connection(1).handed.size(), 1u);
  EXPECT_EQ(connection(1).target(0), "/1");
  connection(1).respond(0);
  settle();
  EXPECT_TRUE(refused->ok());
  EXPECT_TRUE(other->ok());
  EXPECT_EQ(connections_created(), 2u);
}

TEST_F(OriginPoolTest, StreamedRequestIsRoutedAndRetried) {
  auto outcome = send_stream("/events");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, rejected_reset());
  settle();
  EXPECT_FALSE(outcome->answered());
  ASSERT_EQ(connection(0).handed.size(), 2u);
  connection(0).respond(1, 206);
  settle();
  ASSERT_EQ(outcome->calls, 1);
  ASSERT_TRUE(outcome->ok());
  EXPECT_EQ(outcome->result->value().status, 206);
}

// ---- cancel --------------------------------------------------------------------------------------

TEST_F(OriginPoolTest, CancelOfAWaitingRequestAnswersItAndNeverSendsIt) {
  auto outcome = send("/1");
  cancel(*outcome);
  EXPECT_FALSE(outcome->answered());
  EXPECT_EQ(clock->pending(), 0u) << "its checkout deadline is cancelled with it";
  settle();
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::cancelled);
  connection(0).become_ready(10);
  settle();
  EXPECT_TRUE(connection(0).handed.empty());
  EXPECT_EQ(pool().stats().waiting, 0u);
}

TEST_F(OriginPoolTest, CancelOfAnInFlightRequestReachesItsConnection) {
  auto outcome = send("/1");
  auto other = send("/2");
  connection(0).become_ready(10);
  settle();
  ASSERT_EQ(connection(0).handed.size(), 2u);
  EXPECT_TRUE(connection(0).handed[0].cancellable) << "the slot goes with the request";
  cancel(*outcome);
  settle();
  ASSERT_EQ(connection(0).cancelled, (std::vector<std::size_t>{0})) << "only its own request is cancelled";
  EXPECT_EQ(outcome->calls, 1) << "the connection's own cancelled reply must not reach the caller twice";
  EXPECT_EQ(outcome->error_kind(), ErrorKind::cancelled);
  EXPECT_FALSE(other->answered());
  cancel(*outcome);  // already answered: ignored
  settle();
  EXPECT_EQ(connection(0).cancelled.size(), 1u);
  EXPECT_EQ(outcome->calls, 1);
}

TEST_F(OriginPoolTest, CancelOfAStreamedRequestReachesItsConnection) {
  auto outcome = send_stream("/events");
  connection(0).become_ready(10);
  settle();
  cancel(*outcome);
  settle();
  EXPECT_EQ(connection(0).cancelled, (std::vector<std::size_t>{0}));
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::cancelled);
}

// A refused request is sent again on a second connection: a cancel then reaches that one, not the first.
TEST_F(OriginPoolTest, CancelAfterARetryReachesTheConnectionItWasRetriedOn) {
  options.max_connections = 2;
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, unprocessed_goaway());
  connection(0).begin_draining();
  settle();
  ASSERT_EQ(connections_created(), 2u);
  connection(1).become_ready(10);
  settle();
  ASSERT_EQ(connection(1).handed.size(), 1u) << "the retry";
  EXPECT_TRUE(connection(1).handed[0].cancellable) << "the slot goes with the retry too";
  cancel(*outcome);
  settle();
  EXPECT_TRUE(connection(0).cancelled.empty());
  EXPECT_EQ(connection(1).cancelled, (std::vector<std::size_t>{0}));
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::cancelled);
}

// Between the refusal and the retry the request waits in the queue: the pool answers the cancel itself,
// and the connection that refused it no longer listens.
TEST_F(OriginPoolTest, CancelWhileWaitingForARetryStaysInThePool) {
  options.max_connections = 2;
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).fail(0, unprocessed_goaway());
  connection(0).begin_draining();
  settle();
  ASSERT_EQ(pool().stats().waiting, 1u);
  cancel(*outcome);
  settle();
  EXPECT_TRUE(connection(0).cancelled.empty()) << "the refusing connection still heard the cancel";
  ASSERT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->error_kind(), ErrorKind::cancelled);
  EXPECT_EQ(pool().stats().waiting, 0u);
  connection(1).become_ready(10);
  settle();
  EXPECT_TRUE(connection(1).handed.empty()) << "a cancelled request is never sent again";
}

TEST_F(OriginPoolTest, CancelAfterTheAnswerIsANoOp) {
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).respond(0);
  settle();
  ASSERT_TRUE(outcome->ok());
  cancel(*outcome);
  settle();
  EXPECT_TRUE(connection(0).cancelled.empty()) << "the cancel reached the connection after the answer";
  EXPECT_EQ(outcome->calls, 1);
  EXPECT_TRUE(outcome->ok());
}

// The pool's handler in the caller's slot knows the pool only weakly.
TEST_F(OriginPoolTest, CancelAfterThePoolIsGoneIsHarmless) {
  auto outcome = send("/1");
  drop_pool();
  settle();
  ASSERT_EQ(outcome->calls, 1);
  cancel(*outcome);
  settle();
  EXPECT_EQ(outcome->calls, 1);
}

// ---- idle close ----------------------------------------------------------------------------------

TEST_F(OriginPoolTest, IdleConnectionIsClosedAndRemoved) {
  options.idle_close = 50ms;
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  advance(1h);
  EXPECT_EQ(connection(0).close_calls, 0) << "a connection with a request in flight is not idle";
  connection(0).respond(0);
  settle();
  advance(49ms);
  EXPECT_EQ(connection(0).close_calls, 0);
  advance(1ms);
  EXPECT_EQ(connection(0).close_calls, 1);
  EXPECT_EQ(connection(0).observer(), nullptr);
  EXPECT_TRUE(pool().stats().connections.empty());

  send("/2");
  settle();
  EXPECT_EQ(connections_created(), 2u);
}

TEST_F(OriginPoolTest, IdleCountdownRestartsAfterEachRequest) {
  options.idle_close = 50ms;
  send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).respond(0);
  settle();
  advance(30ms);
  send("/2");
  connection(0).respond(1);
  settle();
  advance(49ms);
  EXPECT_EQ(connection(0).close_calls, 0) << "idle only since the second request ended";
  advance(1ms);
  EXPECT_EQ(connection(0).close_calls, 1);
}

TEST_F(OriginPoolTest, IdleTimerStopsWhenTheConnectionDrains) {
  options.idle_close = 50ms;
  send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).respond(0);
  settle();
  connection(0).begin_draining();
  settle();
  EXPECT_EQ(clock->pending(), 0u);
  advance(1h);
  EXPECT_EQ(connection(0).close_calls, 0) << "a draining connection is closed by its peer or by shutdown";
  EXPECT_EQ(pool().stats().draining, 1u);
}

// ---- stats ---------------------------------------------------------------------------------------

TEST_F(OriginPoolTest, StatsReportConnectionsByStateInFlightAndWaiting) {
  options.max_connections = 3;
  send("/1");
  send("/2");
  send("/3");
  settle();
  ASSERT_EQ(connections_created(), 3u);
  connection(0).become_ready(4);
  connection(1).become_ready(7);
  settle();
  connection(2).begin_draining();
  send("/4");
  send("/5");
  send("/6");
  settle();

  PoolStats stats = pool().stats();
  EXPECT_EQ(stats.origin, "https://example.test:443");
  EXPECT_EQ(stats.connecting, 0u);
  EXPECT_EQ(stats.connected, 2u);
  EXPECT_EQ(stats.draining, 1u);
  EXPECT_EQ(stats.in_flight, 6u);
  EXPECT_EQ(stats.waiting, 0u);
  ASSERT_EQ(stats.connections.size(), 3u);
  EXPECT_EQ(stats.connections[0].state, "connected");
  EXPECT_EQ(stats.connections[0].in_flight + stats.connections[1].in_flight, 6u);
  EXPECT_EQ(stats.connections[0].max_streams + stats.connections[1].max_streams, 11u - 6u);
  EXPECT_EQ(stats.connections[2].state, "draining");
  EXPECT_EQ(stats.connections[2].max_streams, 0u);
}

// ---- shutdown and destruction --------------------------------------------------------------------

TEST_F(OriginPoolTest, ShutdownDrainsConnectionsFailsWaitingRefusesNewAndCallsDone) {
  options.max_connections = 2;
  auto in_flight = send("/1");
  connection(0).become_ready(1);
  settle();
  auto waiting = send("/2");
  settle();
  ASSERT_EQ(connections_created(), 2u);

  int done_calls = 0;
  pool().shutdown(1s, [&done_calls] { ++done_calls; });
  auto refused = send("/3");
  settle();
  EXPECT_EQ(connection(0).drain_calls, 1);
  EXPECT_EQ(connection(1).close_calls, 1) << "a connection still connecting has nothing to drain";
  ASSERT_EQ(waiting->calls, 1);
  EXPECT_EQ(waiting->error_kind(), ErrorKind::goaway);
  EXPECT_NE(waiting->error().message().find("shutting down"), std::string::npos);
  ASSERT_EQ(refused->calls, 1);
  EXPECT_EQ(refused->error_kind(), ErrorKind::goaway);
  EXPECT_EQ(done_calls, 0);
  EXPECT_EQ(pool().stats().draining, 1u);

  connection(0).respond(0);
  connection(0).close_with(Error(ErrorKind::transport_error, "drained"));
  settle();
  EXPECT_TRUE(in_flight->ok());
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(connections_created(), 2u);
}

TEST_F(OriginPoolTest, ShutdownDeadlineClosesTheRest) {
  auto outcome = send("/1");
  connection(0).become_ready(10);
  settle();
  int done_calls = 0;
  pool().shutdown(50ms, [&done_calls] { ++done_calls; });
  settle();
  advance(49ms);
  EXPECT_EQ(done_calls, 0);
  EXPECT_EQ(connection(0).close_calls, 0);
  advance(1ms);
  EXPECT_EQ(connection(0).close_calls, 1);
  EXPECT_EQ(done_calls, 1);
  ASSERT_EQ(outcome->calls, 1) << "the request in flight gets the connection's error";
  EXPECT_EQ(outcome->error_kind(), ErrorKind::transport_error);
}

TEST_F(OriginPoolTest, ShutdownHoldsThePoolUntilTheDeadline) {
  send("/1");
  connection(0).become_ready(10);
  settle();
  std::weak_ptr<OriginPool> weak = weak_pool();
  int done_calls = 0;
  pool().shutdown(50ms, [&done_calls] { ++done_calls; });
  drop_pool();
  settle();
  EXPECT_FALSE(weak.expired()) << "the deadline timer owns the pool while it drains";
  EXPECT_EQ(connection(0).close_calls, 0);
  advance(50ms);
  EXPECT_EQ(connection(0).close_calls, 1);
  EXPECT_EQ(done_calls, 1);
  EXPECT_TRUE(weak.expired());
}

TEST_F(OriginPoolTest, ShutdownDoneEarlyCancelsTheDeadlineAndReleasesThePool) {
  send("/1");
  connection(0).become_ready(10);
  settle();
  connection(0).respond(0);
  std::weak_ptr<OriginPool> weak = weak_pool();
  int done_calls = 0;
  pool().shutdown(50ms, [&done_calls] { ++done_calls; });
  drop_pool();
  connection(0).close_with(Error(ErrorKind::transport_error, "drained"));
  settle();
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(clock->pending(), 0u);
  EXPECT_TRUE(weak.expired()) << "a cancelled deadline releases the pool";
  advance(1h);
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(connection(0).close_calls, 0);
}

TEST_F(OriginPoolTest, ShutdownWithoutConnectionsIsDoneAtOnce) {
  int done_calls = 0;
  pool().shutdown(1s, [&done_calls] { ++done_calls; });
  settle();
  EXPECT_EQ(done_calls, 1);
}

TEST_F(OriginPoolTest, DroppingThePoolAnswersEveryRequestOnce) {
  auto in_flight = send("/1");
  connection(0).become_ready(1);
  settle();
  auto waiting = send("/2");
  drop_pool();
  settle();
  EXPECT_EQ(connection(0).close_calls, 1);
  ASSERT_EQ(in_flight->calls, 1);
  EXPECT_EQ(in_flight->error_kind(), ErrorKind::transport_error);
  ASSERT_EQ(waiting->calls, 1);
  EXPECT_EQ(waiting->error_kind(), ErrorKind::goaway);
}

}  // namespace
}  // namespace quiver::pool

namespace quiver::pool {
namespace {

using namespace std::chrono_literals;

// ---- the clocks themselves -----------------------------------------------------------------------

TEST(PoolClockTest, ManualClockPostsDueTimersInDeadlineOrder) {
  asio::io_context io;
  testing::ManualClock clock;
  std::vector<std::string> fired;
  auto schedule = [&](std::chrono::milliseconds delay, std::string name) {
    return clock.schedule(io.get_executor(), delay, [&fired, name] { fired.push_back(name); });
  };
  auto b = schedule(30ms, "b");
  auto a = schedule(10ms, "a");
  auto c = schedule(30ms, "c");
  auto d = schedule(50ms, "d");
  Clock::TimePoint start = clock.now();
  clock.advance(29ms);
  clock.advance(1ms);
  EXPECT_TRUE(fired.empty()) << "advance() only posts";
  EXPECT_EQ(clock.now() - start, 30ms);
  io.poll();
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(clock.pending(), 1u);
}

TEST(PoolClockTest, ManualClockCancelWinsOverAPostedCallback) {
  asio::io_context io;
  testing::ManualClock clock;
  int calls = 0;
  auto timer = clock.schedule(io.get_executor(), 10ms, [&calls] { ++calls; });
  clock.advance(10ms);
  timer.reset();
  io.poll();
  EXPECT_EQ(calls, 0);
}

TEST(PoolClockTest, ManualClockReleasesACancelledCallbackOnTheExecutor) {
  asio::io_context io;
  testing::ManualClock clock;
  auto token = std::make_shared<int>(0);
  auto timer = clock.schedule(io.get_executor(), 10ms, [token] {});
  timer->cancel();
  EXPECT_EQ(token.use_count(), 2) << "not released inside cancel()";
  EXPECT_EQ(clock.pending(), 0u);
  io.poll();
  EXPECT_EQ(token.use_count(), 1);
}

TEST(PoolClockTest, RealClockRunsTheCallbackOnTheExecutorUnlessCancelled) {
  asio::io_context io;
  std::shared_ptr<Clock> clock = real_clock();
  int fired = 0;
  int cancelled = 0;
  auto timer = clock->schedule(io.get_executor(), 0ms, [&fired] { ++fired; });
  auto other = clock->schedule(io.get_executor(), 0ms, [&cancelled] { ++cancelled; });
  other->cancel();
  EXPECT_EQ(fired, 0);
  io.run();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(cancelled, 0);
}

// Two timers due together: both completions are queued in one pass, so whichever runs first cancels the
// other after asio can no longer abort it. Only the cancelled flag keeps the second from running.
TEST(PoolClockTest, RealClockCancelWinsOverACompletionAlreadyQueued) {
  asio::io_context io;
  std::shared_ptr<Clock> clock = real_clock();
  int calls = 0;
  std::unique_ptr<Timer> first;
  std::unique_ptr<Timer> second;
  first = clock->schedule(io.get_executor(), 0ms, [&] {
    ++calls;
    second.reset();
  });
  second = clock->schedule(io.get_executor(), 0ms, [&] {
    ++calls;
    first.reset();
  });
  io.run();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace quiver::pool

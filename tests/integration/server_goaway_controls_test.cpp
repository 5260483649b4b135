// The test server's GOAWAY and refusal controls (ServerOptions::goaway_in_first_flight,
// reject_first_per_path, goaway_after_requests), and what the worker makes of them: every request the
// server did not process fails `unprocessed` (safe to retry), whatever the way it was refused.
#include <algorithm>

#include <fmt/format.h>

#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

// Never processed, safe to retry: transient and `unprocessed`, on stream `stream_id`.
void expect_unprocessed(const Result<Response>& reply, std::uint64_t stream_id) {
  ASSERT_FALSE(reply) << "stream " << stream_id << " was answered";
  const Error& error = reply.error();
  EXPECT_TRUE(error.unprocessed) << error.to_string();
  EXPECT_EQ(error.error_class(), ErrorClass::transient) << error.to_string();
  EXPECT_EQ(error.stream_id, stream_id) << error.to_string();
}

// ---- reject_first_per_path ------------------------------------------------------------------------

TEST_F(ConnectionTest, RejectFirstPerPathRejectsTheFirstRequestsOfEachPathUnprocessed) {
  auto options = test_server_options();
  options.reject_first_per_path = 2;
  start_server(options);
  connect();
  ASSERT_TRUE(wait_connected());
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto rejected = fetch(get("/bytes/5"));
    ASSERT_FALSE(rejected) << "attempt " << attempt << " was served";
    EXPECT_EQ(rejected.error().kind(), ErrorKind::stream_reset) << rejected.error().to_string();
    EXPECT_EQ(rejected.error().h3_code, h3_code::request_rejected);
    expect_unprocessed(rejected, 4u * attempt);
  }
  auto third = fetch(get("/bytes/5"));
  ASSERT_TRUE(third) << third.error().to_string();
  EXPECT_EQ(third->body, deterministic_bytes(0, 5));
  auto other_path = fetch(get("/bytes/6"));  // counted apart: its first request is rejected
  ASSERT_FALSE(other_path);
  EXPECT_EQ(other_path.error().h3_code, h3_code::request_rejected);

  auto stats = server_->stats();
  EXPECT_EQ(stats.requests_rejected, 3u);
  EXPECT_EQ(stats.requests_started, 1u);  // only the served one was processed
  EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
}

// ---- goaway_after_requests ------------------------------------------------------------------------

TEST_F(ConnectionTest, GoawayAfterRequestsServesTheFirstNAndRefusesTheRestUnprocessed) {
  auto options = test_server_options();
  options.goaway_after_requests = 3;
  start_server(options);
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  for (int i = 0; i < 5; ++i) connection_->request(get(fmt::format("/delay/100?i={}", i)), replies.slot(i));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); })) << connection_->debug_string();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(*replies.slots[i]) << i << ": " << replies.slots[i]->error().to_string();
  for (int i = 3; i < 5; ++i) {
    expect_unprocessed(*replies.slots[i], 4u * i);
    EXPECT_EQ(replies.slots[i]->error().kind(), ErrorKind::goaway);
    EXPECT_EQ(replies.slots[i]->error().goaway_id, 12u);  // the first stream the server did not process
  }
  // The requests below the id done, the connection closes cleanly.
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; })) << connection_->debug_string();
  EXPECT_EQ(observer_.draining, 1);
  auto stats = server_->stats();
  EXPECT_EQ(stats.requests_started, 3u);
  EXPECT_EQ(stats.goaways_sent, 1u);
  EXPECT_EQ(stats.streams_over_limit, 2u);
}

TEST_F(ConnectionTest, GoawayAfterRequestsCountsSequentialRequestsPerConnection) {
  auto options = test_server_options();
  options.goaway_after_requests = 2;
  start_server(options);
  for (int round = 0; round < 2; ++round) {
    connect();
    ASSERT_TRUE(wait_connected());
    ASSERT_TRUE(fetch(get("/bytes/1")));
    ASSERT_TRUE(fetch(get("/bytes/2")));  // the second: GOAWAY(8) follows its response
    ASSERT_TRUE(run_until(io_, [&] { return connection_->state() != h3::ConnectionState::connected; }))
        << connection_->debug_string();
    auto late = fetch(get("/bytes/3"));
    ASSERT_FALSE(late);
    EXPECT_TRUE(late.error().unprocessed) << late.error().to_string();
  }
  EXPECT_EQ(server_->stats().requests_started, 4u);
  EXPECT_EQ(server_->stats().goaways_sent, 2u);
}

}  // namespace
}  // namespace quiver::test

namespace quiver::test {
namespace {

// ---- goaway_in_first_flight -----------------------------------------------------------------------

// The GOAWAY arrives with the handshake's end, before the worker heard that the handshake completed: it
// must still take effect (the connection drains and closes; nothing sits "connected" without credit).
TEST_F(ConnectionTest, GoawayInTheFirstFlightRefusesQueuedRequestsAndDrains) {
  auto options = test_server_options();
  options.goaway_in_first_flight = true;
  start_server(options);
  connect();
  Replies replies;
  for (int i = 0; i < 3; ++i) connection_->request(get("/bytes/10"), replies.slot(i));  // queued while connecting
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); })) << connection_->debug_string();
  for (auto& reply : replies.slots) {
    ASSERT_FALSE(*reply) << "a request was served after GOAWAY(0)";
    EXPECT_EQ(reply->error().kind(), ErrorKind::goaway) << reply->error().to_string();
    EXPECT_TRUE(reply->error().unprocessed) << reply->error().to_string();
    EXPECT_EQ(reply->error().error_class(), ErrorClass::transient);
  }
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; })) << connection_->debug_string();
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
  EXPECT_EQ(connection_->max_streams(), 0u);
  // The owner hears ready, then draining, then closed; once each. Ready has no credit when the GOAWAY
  // came in the handshake's receive batch (the usual case); on a loaded machine the two may be read
  // apart, and then the credit is withdrawn by the GOAWAY instead (max_streams() is 0 above either way).
  ASSERT_GE(observer_.events.size(), 3u);
  EXPECT_TRUE(observer_.events.front().starts_with("ready ")) << observer_.events.front();
  EXPECT_EQ(observer_.draining, 1);
  EXPECT_EQ(server_->stats().requests_started, 0u);
  EXPECT_EQ(server_->stats().goaways_sent, 1u);
}

TEST_F(ConnectionTest, GoawayInTheFirstFlightDrainsAnIdleConnection) {
  auto options = test_server_options();
  options.goaway_in_first_flight = true;
  start_server(options);
  connect();
  ASSERT_TRUE(run_until(io_, [&] { return observer_.draining == 1; })) << connection_->debug_string();
  EXPECT_EQ(connection_->max_streams(), 0u);
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; })) << connection_->debug_string();
}

}  // namespace
}  // namespace quiver::test

namespace quiver::test {
namespace {

// ---- GOAWAY, then resets with H3_INTERNAL_ERROR and a close with H3_EXCESSIVE_LOAD ------------------

// The resets arrive in the batch that carries the GOAWAY (before it, in the same packet): they are judged
// with its id known, so the requests above it fail unprocessed, not as H3_INTERNAL_ERROR resets.
TEST_F(ConnectionTest, StreamsResetAboveTheGoawayIdFailUnprocessedWhateverTheCode) {
  auto options = test_server_options();
  options.goaway_after_requests = 1;
  options.goaway_after_requests_mode = server::GoawayAfterRequests::reset_above;
  start_server(options);
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  connection_->request(get("/delay/200"), replies.slot(0));
  for (int i = 1; i < 4; ++i) connection_->request(get("/bytes/10"), replies.slot(i));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); })) << connection_->debug_string();
  ASSERT_TRUE(*replies.slots[0]) << replies.slots[0]->error().to_string();  // below the id: served
  for (int i = 1; i < 4; ++i) {
    expect_unprocessed(*replies.slots[i], 4u * i);
    EXPECT_EQ(replies.slots[i]->error().kind(), ErrorKind::goaway) << replies.slots[i]->error().to_string();
    EXPECT_EQ(replies.slots[i]->error().goaway_id, 4u);
  }
  // The request below the id done, the connection ends (the client drains and closes it, or the server
  // sheds it with H3_EXCESSIVE_LOAD, whichever comes first).
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; })) << connection_->debug_string();
  EXPECT_EQ(server_->stats().requests_started, 1u);
}

// Resets, GOAWAY and CONNECTION_CLOSE(H3_EXCESSIVE_LOAD) in one batch: the requests above the id fail
// unprocessed; the one below it was being processed, so it fails as a transport error (not retryable).
TEST_F(ConnectionTest, CloseWithExcessiveLoadAfterGoawayFailsOnlyTheRequestsBelowTheIdAsProcessed) {
  auto options = test_server_options();
  options.goaway_after_requests = 1;
  options.goaway_after_requests_mode = server::GoawayAfterRequests::reset_above_and_close_now;
  start_server(options);
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  connection_->request(get("/delay/5000"), replies.slot(0));
  for (int i = 1; i < 4; ++i) connection_->request(get("/bytes/10"), replies.slot(i));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); })) << connection_->debug_string();
  ASSERT_FALSE(*replies.slots[0]);
  const Error& processed = replies.slots[0]->error();
  EXPECT_EQ(processed.kind(), ErrorKind::transport_error) << processed.to_string();
  EXPECT_EQ(processed.error_class(), ErrorClass::unrecoverable) << processed.to_string();
  EXPECT_FALSE(processed.unprocessed) << processed.to_string();
  EXPECT_EQ(processed.h3_code, h3_code::excessive_load) << processed.to_string();
  for (int i = 1; i < 4; ++i) {
    expect_unprocessed(*replies.slots[i], 4u * i);
    EXPECT_EQ(replies.slots[i]->error().kind(), ErrorKind::goaway) << replies.slots[i]->error().to_string();
  }
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }));
  EXPECT_EQ(server_->stats().requests_started, 1u);
}

}  // namespace
}  // namespace quiver::test

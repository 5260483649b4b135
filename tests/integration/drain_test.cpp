// GOAWAY-driven draining: the peer's GOAWAY and our own drain().
#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

bool unprocessed_refusal(const Result<Response>& reply) {
  if (reply) return false;
  const Error& e = reply.error();
  return e.unprocessed && e.error_class() == ErrorClass::transient &&
         (e.kind() == ErrorKind::goaway || (e.kind() == ErrorKind::stream_reset && e.h3_code == h3_code::request_rejected));
}

TEST_F(ConnectionTest, PeerGoawayLetsEarlierStreamsFinishAndRefusesLaterOnes) {
  auto options = test_server_options();
  options.max_streams = 2;  // the third request waits for credit, which comes only after the GOAWAY
  start_server(options);
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  // Stream 0 is slow; stream 4 (/goaway) makes the server send GOAWAY(8); the third request never
  // reached the server, so it fails as unprocessed (safe to retry elsewhere).
  connection_->request(get("/delay/300"), replies.slot(0));
  connection_->request(get("/goaway"), replies.slot(1));
  connection_->request(get("/bytes/10"), replies.slot(2));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  ASSERT_TRUE(*replies.slots[0]) << replies.slots[0]->error().to_string();
  ASSERT_TRUE(*replies.slots[1]) << replies.slots[1]->error().to_string();
  ASSERT_FALSE(*replies.slots[2]) << "the request after the GOAWAY was processed";
  EXPECT_TRUE(unprocessed_refusal(*replies.slots[2])) << replies.slots[2]->error().to_string();
  ASSERT_TRUE(run_until(io_, [&] { return observer_.draining == 1; }));

  // Draining or already closed: either way a new request is refused at once, never sent.
  auto late = fetch(get("/bytes/1"));
  ASSERT_FALSE(late);
  EXPECT_EQ(connection_->max_streams(), 0u);
  ASSERT_TRUE(run_until(io_, [&] { return connection_->state() == h3::ConnectionState::closed; }, 5s));
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }));
  EXPECT_EQ(observer_.draining, 1);
}

TEST_F(ConnectionTest, DrainingRefusesNewRequestsAsUnprocessed) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  connection_->request(get("/delay/300"), replies.slot(0));
  run_until(io_, [] { return false; }, 30ms);
  connection_->drain();
  EXPECT_EQ(connection_->state(), h3::ConnectionState::draining);
  EXPECT_EQ(connection_->max_streams(), 0u);
  connection_->request(get("/bytes/1"), replies.slot(1));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  ASSERT_TRUE(*replies.slots[0]) << replies.slots[0]->error().to_string();  // in flight: finishes
  ASSERT_FALSE(*replies.slots[1]);
  EXPECT_EQ(replies.slots[1]->error().kind(), ErrorKind::goaway);
  EXPECT_TRUE(replies.slots[1]->error().unprocessed);
  // The last request ended: the connection closes by itself.
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; }, 3s));
  EXPECT_EQ(observer_.draining, 1);
  EXPECT_NE(std::find_if(observer_.events.begin(), observer_.events.end(),
                         [](const std::string& e) { return e.rfind("open_failed", 0) == 0; }),
            observer_.events.end());
}

TEST_F(ConnectionTest, DrainTimeoutClosesAConnectionThatWillNotFinish) {
  start_server();
  auto options = test_client_options();
  options.drain_timeout = 200ms;
  connect(options);
  ASSERT_TRUE(wait_connected());
  std::optional<Result<Response>> reply;
  connection_->request(get("/delay/5000"), [&](Result<Response> r) { reply = std::move(r); });
  run_until(io_, [] { return false; }, 30ms);
  connection_->drain();
  ASSERT_TRUE(run_until(io_, [&] { return reply.has_value(); }, 2s));
  ASSERT_FALSE(*reply);
  EXPECT_EQ(reply->error().kind(), ErrorKind::goaway);
  EXPECT_FALSE(reply->error().unprocessed);  // the server may have acted on it
  EXPECT_NE(reply->error().message().find("unknown"), std::string::npos) << reply->error().message();
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
}

TEST_F(ConnectionTest, ServerGracefulShutdownDrainsTheClient) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  connection_->request(get("/delay/200"), replies.slot(0));
  run_until(io_, [] { return false; }, 50ms);
  server_->shutdown_gracefully();
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  EXPECT_TRUE(*replies.slots[0]) << replies.slots[0]->error().to_string();
  ASSERT_TRUE(run_until(io_, [&] { return observer_.draining == 1 && observer_.closed == 1; }, 5s));
}

}  // namespace
}  // namespace quiver::test

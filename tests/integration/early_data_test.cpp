// 0-RTT against the project's server: on a resumed connection eligible requests ride in early data
// (the server sees their headers before its handshake completes); a rejection makes the worker resend
// them after the handshake, and the server processes each once; requests that are not replay-safe wait
// for the handshake unless they ask otherwise.
#include <gtest/gtest.h>

#include <mutex>

#include "support/connection_fixture.hpp"
#include "tls/session_cache.hpp"

namespace quiver::test {
namespace {

class ReadyEvent final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type != ConnectionEvent::Type::ready) return;
    std::lock_guard lock(mutex_);
    last_ = event;
    ++count_;
  }
  int count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::optional<ConnectionEvent> last() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<ConnectionEvent> last_;
  int count_ = 0;
};

class EarlyDataTest : public ConnectionTest {
 protected:
  void SetUp() override { start_server(); }

  void open(bool early_data) {
    auto options = test_client_options();
    options.telemetry = events_;
    connection_ = h3::Connection::create(io_.get_executor(), Origin{"127.0.0.1", server_->port()}, options,
                                         &observer_, quic::DialShared{cache_, early_data, nullptr});
    connection_->start();
  }

  void close_connection() {
    connection_->close();
    run_until(io_, [&] { return observer_.closed > closed_; }, 5s);
    closed_ = observer_.closed;
  }

  // A full handshake that leaves a ticket in the cache.
  void get_ticket() {
    open(true);
    ASSERT_TRUE(fetch(get("/bytes/1")));
    ASSERT_TRUE(run_until(io_, [&] { return cache_->size() > 0; }, 5s)) << "no ticket arrived";
    close_connection();
  }

  Request with_method(const std::string& method, const std::string& target, std::string body = {}) {
    Request request = get(target);
    request.method = method;
    if (!body.empty()) request.body = std::move(body);
    return request;
  }

  // Sends the requests right after start() (before the handshake) and waits for every reply and for
  // the connection's ready event (an early request's answer may come before it: it arrives with the
  // server's handshake flight).
  std::vector<Result<Response>> send_all(std::vector<Request> requests) {
    Replies replies;
    const int ready_before = events_->count();
    for (std::size_t i = 0; i < requests.size(); ++i) connection_->request(std::move(requests[i]), replies.slot(i));
    EXPECT_TRUE(run_until(io_, [&] { return replies.all_received() && events_->count() > ready_before; }, 10s))
        << connection_->debug_string();
    std::vector<Result<Response>> results;
    for (auto& slot : replies.slots) {
      results.push_back(slot.value_or(std::unexpected(Error(ErrorKind::io_error, "test: no reply"))));
    }
    return results;
  }

  std::shared_ptr<tls::SessionCache> cache_ = std::make_shared<tls::SessionCache>(16);
  std::shared_ptr<ReadyEvent> events_ = std::make_shared<ReadyEvent>();
  int closed_ = 0;
};

TEST_F(EarlyDataTest, GetGoesInEarlyDataAndIsAnswered) {
  get_ticket();
  const auto before = server_->stats();
  open(true);
  auto results = send_all({get("/bytes/10")});
  ASSERT_TRUE(results[0]) << results[0].error().to_string();
  EXPECT_EQ(results[0]->body, deterministic_bytes(0, 10));
  auto ready = events_->last();
  ASSERT_TRUE(ready);
  EXPECT_TRUE(ready->resumed);
  EXPECT_TRUE(ready->early_data_offered);
  EXPECT_TRUE(ready->early_data_accepted);
  EXPECT_EQ(ready->early_requests, 1u);
  // The server's handshake ends with our Finished, which may come after it answered the early request.
  EXPECT_TRUE(run_until(io_, [&] { return server_->stats().early_data_accepted > before.early_data_accepted; }, 5s));
  const auto after = server_->stats();
  EXPECT_EQ(after.early_data_accepted - before.early_data_accepted, 1u);
  EXPECT_EQ(after.early_requests - before.early_requests, 1u);  // the server had it before its handshake ended
  EXPECT_EQ(after.requests_started - before.requests_started, 1u);
}

// The server refuses the early data: the request is sent again after the handshake, succeeds, and the
// server processed it exactly once.
TEST_F(EarlyDataTest, RejectedEarlyDataIsResentAndProcessedOnce) {
  get_ticket();
  server_->accept_early_data(false);
  const auto before = server_->stats();
  open(true);
  auto results = send_all({get("/bytes/10"), get("/bytes/20")});
  for (auto& result : results) ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(results[0]->body.size(), 10u);
  EXPECT_EQ(results[1]->body.size(), 20u);
  auto ready = events_->last();
  ASSERT_TRUE(ready);
  EXPECT_TRUE(ready->resumed);
  EXPECT_TRUE(ready->early_data_offered);
  EXPECT_FALSE(ready->early_data_accepted);
  EXPECT_EQ(ready->early_requests, 2u);
  const auto after = server_->stats();
  EXPECT_EQ(after.early_data_accepted, before.early_data_accepted);
  EXPECT_EQ(after.early_requests, before.early_requests);
  EXPECT_EQ(after.requests_started - before.requests_started, 2u);
  // And the connection works on after the restart: another request on it.
  auto later = fetch(get("/bytes/5"));
  ASSERT_TRUE(later) << later.error().to_string();
  EXPECT_EQ(later->body.size(), 5u);
}

// A POST is not replay-safe: it waits for the handshake while the GET goes early, unless it asks.
TEST_F(EarlyDataTest, PostWaitsForTheHandshakeUnlessItAsks) {
  get_ticket();
  auto before = server_->stats();
  open(true);
  auto results = send_all({with_method("POST", "/echo", "payload"), get("/bytes/3")});
  for (auto& result : results) ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(results[0]->body, "payload");
  EXPECT_EQ(events_->last()->early_requests, 1u);
  EXPECT_EQ(server_->stats().early_requests - before.early_requests, 1u);  // the GET only
  close_connection();

  before = server_->stats();
  open(true);
  Request forced = with_method("POST", "/echo", "again");
  forced.early_data = true;
  Request held_back = get("/bytes/3");
  held_back.early_data = false;
  results = send_all({std::move(forced), std::move(held_back)});
  for (auto& result : results) ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(results[0]->body, "again");
  EXPECT_EQ(events_->last()->early_requests, 1u);
  EXPECT_EQ(server_->stats().early_requests - before.early_requests, 1u);  // the forced POST only
}

// How many requests go early is the stream limit the server gave the ticket's connection (remembered
// transport parameters): with 2, the third GET waits for the handshake (and for credit).
TEST_F(EarlyDataTest, EarlyRequestsStayWithinTheRememberedStreamLimit) {
  server_.reset();
  auto options = test_server_options();
  options.max_streams = 2;
  start_server(options);
  get_ticket();
  const auto before = server_->stats();
  open(true);
  auto results = send_all({get("/bytes/1"), get("/bytes/2"), get("/bytes/3")});
  for (auto& result : results) ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(results[2]->body.size(), 3u);
  EXPECT_EQ(events_->last()->early_requests, 2u);
  EXPECT_EQ(server_->stats().early_requests - before.early_requests, 2u);
}

// Without the opt-in a resumed connection sends nothing early.
TEST_F(EarlyDataTest, OffUnlessAskedFor) {
  get_ticket();
  const auto before = server_->stats();
  open(false);
  auto results = send_all({get("/bytes/10")});
  ASSERT_TRUE(results[0]);
  auto ready = events_->last();
  ASSERT_TRUE(ready);
  EXPECT_TRUE(ready->resumed);
  EXPECT_FALSE(ready->early_data_offered);
  EXPECT_EQ(ready->early_requests, 0u);
  EXPECT_EQ(server_->stats().early_requests, before.early_requests);
}

}  // namespace
}  // namespace quiver::test

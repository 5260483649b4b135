// The test server's controls and body-reading routes, seen through the worker (h3::Connection):
// hold_streams_from + send_goaway, refuse_new_streams, /slow-upload, /status?early=1, stats().
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// FNV-1a 64, written independently of the server's, to check /slow-upload's answer.
std::uint64_t fnv1a(std::string_view bytes, std::uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

std::string upload_answer(std::uint64_t size, std::uint64_t hash) {
  return fmt::format("received {} bytes fnv1a-{:016x}", size, hash);
}

class ServerControlsTest : public ConnectionTest {
 protected:
  void idle(std::chrono::milliseconds how_long) {
    run_until(io_, [] { return false; }, how_long);
  }

  Request post(const std::string& target, RequestBody body) {
    Request request = get(target);
    request.method = "POST";
    request.body = std::move(body);
    return request;
  }

  // Waits (generously) until the server has started `started` requests and holds `held` streams.
  bool wait_server(std::uint64_t started, std::uint64_t held = 0) {
    return run_until(io_, [&] {
      auto stats = server_->stats();
      return stats.requests_started == started && stats.streams_held == held;
    });
  }

  // A reply that is already there (posted) once the ready handlers ran: no network round trip.
  std::optional<Result<Response>> refused_at_once(Request request) {
    std::optional<Result<Response>> reply;
    connection_->request(std::move(request), [&](Result<Response> r) { reply = std::move(r); });
    io_.restart();
    io_.poll();
    return reply;
  }

  std::vector<std::string> logged_paths() {
    std::vector<std::string> paths;
    for (const auto& entry : access_log_.entries()) paths.push_back(entry.path);
    std::sort(paths.begin(), paths.end());
    return paths;
  }
};

// Whether slots [from, to) all have their reply (they may come in any order).
bool have_replies(const Replies& replies, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) {
    if (i >= replies.slots.size() || !replies.slots[i]) return false;
  }
  return true;
}

// A request the server refused by GOAWAY `goaway_id`: never processed, safe to retry.
void expect_goaway_refusal(const Result<Response>& reply, std::uint64_t goaway_id, std::uint64_t stream_id) {
  ASSERT_FALSE(reply) << "stream " << stream_id << " was processed";
  const Error& error = reply.error();
  EXPECT_EQ(error.kind(), ErrorKind::goaway) << error.to_string();
  EXPECT_TRUE(error.unprocessed) << error.to_string();
  EXPECT_EQ(error.goaway_id, goaway_id) << error.to_string();
  EXPECT_EQ(error.stream_id, stream_id) << error.to_string();
}

// ---- hold_streams_from + send_goaway ----------------------------------------------------------------

TEST_F(ServerControlsTest, GoawayWithTenRequestsInFlightSplitsAtTheHeldStreamId) {
  start_server();
  server_->hold_streams_from(20);
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  for (int i = 0; i < 10; ++i) connection_->request(get(fmt::format("/delay/1000?i={}", i)), replies.slot(i));
  ASSERT_TRUE(wait_server(5, 5)) << "streams 0..16 started, 20..36 held unseen";
  server_->send_goaway();

  // GOAWAY(max) then GOAWAY(20): the held requests fail at once, the others are still running.
  ASSERT_TRUE(run_until(io_, [&] { return observer_.draining == 1 && have_replies(replies, 5, 10); }))
      << connection_->debug_string();
  for (int i = 5; i < 10; ++i) expect_goaway_refusal(*replies.slots[i], 20, 4 * i);

  // Draining: a new request is refused at once, without a stream (its answer is already posted).
  EXPECT_EQ(connection_->state(), h3::ConnectionState::draining);
  auto late = refused_at_once(get("/bytes/1"));
  ASSERT_TRUE(late.has_value()) << "the refusal waited for the network";
  ASSERT_FALSE(*late);
  EXPECT_EQ(late->error().kind(), ErrorKind::goaway) << late->error().to_string();
  EXPECT_TRUE(late->error().unprocessed);

  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(*replies.slots[i]) << i << ": " << replies.slots[i]->error().to_string();
    EXPECT_EQ((*replies.slots[i])->body, "delayed");
  }
  // After the last request the connection closes cleanly; draining was heard exactly once.
  ASSERT_TRUE(run_until(io_, [&] { return observer_.closed == 1; })) << connection_->debug_string();
  EXPECT_EQ(connection_->state(), h3::ConnectionState::closed);
  EXPECT_EQ(observer_.draining, 1);
  const auto& closed = observer_.events.back();  // a drained close, not a failure
  EXPECT_TRUE(closed.starts_with("closed goaway") || closed.find("H3_NO_ERROR") != std::string::npos) << closed;
  ASSERT_TRUE(run_until(io_, [&] { return server_->connection_count() == 0; }));
  EXPECT_EQ(server_->stats().requests_started, 5u);  // nothing held was ever processed
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(fmt::format("/delay/1000?i={}", i));
  EXPECT_EQ(logged_paths(), expected);

  // Unlike shutdown_gracefully, the server still takes new connections (held streams still apply).
  server_->hold_streams_from(std::numeric_limits<std::uint64_t>::max());  // holds nothing
  connect();
  auto fresh = fetch(get("/bytes/3"));
  ASSERT_TRUE(fresh) << fresh.error().to_string();
  EXPECT_EQ(server_->stats().connections_accepted, 2u);
}

TEST_F(ServerControlsTest, DelayedFinalGoawayTightensWithoutASecondDrainingEvent) {
  auto options = test_server_options();
  options.final_goaway_delay = 200ms;
  start_server(options);
  server_->hold_streams_from(8);
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  std::vector<int> draining_heard_at_reply(4, -1);  // observer_.draining when each reply came
  for (int i = 0; i < 4; ++i) {  // streams 0, 4 | 8, 12
    connection_->request(get("/delay/1000"), [&, i, inner = replies.slot(i)](Result<Response> r) mutable {
      draining_heard_at_reply[i] = observer_.draining;
      inner(std::move(r));
    });
  }
  ASSERT_TRUE(wait_server(2, 2));
  server_->send_goaway();

  // The notice (GOAWAY with the maximum id) drains the client but refuses nothing; the final GOAWAY(8),
  // 200 ms later, refuses the held ones: their refusals come after the draining event, and name id 8.
  ASSERT_TRUE(run_until(io_, [&] { return have_replies(replies, 2, 4); })) << connection_->debug_string();
  expect_goaway_refusal(*replies.slots[2], 8, 8);
  expect_goaway_refusal(*replies.slots[3], 8, 12);
  EXPECT_EQ(draining_heard_at_reply[2], 1) << "refused before the notice was heard";
  EXPECT_EQ(draining_heard_at_reply[3], 1) << "refused before the notice was heard";
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received() && observer_.closed == 1; }));
  EXPECT_TRUE(*replies.slots[0]);
  EXPECT_TRUE(*replies.slots[1]);
  EXPECT_EQ(observer_.draining, 1);
}

TEST_F(ServerControlsTest, GoawayWithoutHeldStreamsLetsEveryRequestFinish) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  Replies replies;
  for (int i = 0; i < 3; ++i) connection_->request(get("/delay/500"), replies.slot(i));
  ASSERT_TRUE(wait_server(3));  // all three in flight at the server
  server_->send_goaway();
  server_->send_goaway();  // idempotent
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received() && observer_.closed == 1; }));
  for (auto& reply : replies.slots) EXPECT_TRUE(*reply) << reply->error().to_string();
  EXPECT_EQ(observer_.draining, 1);
}

// ---- refuse_new_streams -------------------------------------------------------------------------------

TEST_F(ServerControlsTest, RefusedStreamsAreRejectedAtOnceAndUnprocessed) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  server_->refuse_new_streams(true);
  auto asked = Clock::now();
  auto refused = fetch(get("/bytes/10"));
  // With a body too: the upload is stopped (STOP_SENDING), it does not hang.
  auto refused_upload = fetch(post("/echo", std::string(3 << 20, 'u')));
  EXPECT_LT(Clock::now() - asked, 2s);
  for (const auto* reply : {&refused, &refused_upload}) {
    ASSERT_FALSE(*reply);
    EXPECT_EQ(reply->error().kind(), ErrorKind::stream_reset) << reply->error().to_string();
    EXPECT_EQ(reply->error().h3_code, h3_code::request_rejected);
    EXPECT_TRUE(reply->error().unprocessed) << reply->error().to_string();
  }
  EXPECT_EQ(server_->stats().streams_refused, 2u);
  EXPECT_EQ(server_->stats().requests_started, 0u);

  server_->refuse_new_streams(false);
  auto accepted = fetch(get("/bytes/10"));
  ASSERT_TRUE(accepted) << accepted.error().to_string();
  EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
  EXPECT_EQ(server_->stats().requests_started, 1u);
  ASSERT_TRUE(run_until(io_, [&] { return access_log_.entries().size() == 1; }));
  EXPECT_EQ(access_log_.entries()[0].path, "/bytes/10");  // refused streams never reached a route
}

// ---- /slow-upload -------------------------------------------------------------------------------------

TEST_F(ServerControlsTest, SlowUploadReadsAtTheRequestedRate) {
  start_server();  // 1 MiB stream window: the first MiB may arrive at once
  connect();
  ASSERT_TRUE(wait_connected());
  const std::string body = deterministic_bytes(5, 2 << 20);
  auto started = Clock::now();
  auto response = fetch(post("/slow-upload?rate=4000000", body));
  auto elapsed = Clock::now() - started;
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, upload_answer(body.size(), fnv1a(body)));
  // 2 MiB read at 4 MB/s: ~520 ms, whatever the network could do.
  EXPECT_GE(elapsed, 450ms);
  EXPECT_LT(elapsed, 5s);

  auto empty = fetch(get("/slow-upload"));  // no body at all: answered at the end of the request
  ASSERT_TRUE(empty) << empty.error().to_string();
  EXPECT_EQ(empty->body, upload_answer(0, fnv1a("")));
}

TEST_F(ServerControlsTest, SlowUploadOfTwoHundredMegabytesAtAHundredMegabytesPerSecond) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  constexpr std::size_t kChunk = 1 << 20, kChunks = 200;
  const std::string chunk = deterministic_bytes(0, kChunk);  // 26 does not divide 1 MiB: offsets vary below
  std::size_t sent = 0;
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  auto producer = [&]() -> std::optional<std::string> {
    if (sent == kChunks) return std::nullopt;
    std::string next = chunk.substr(sent % 26) + chunk.substr(0, sent % 26);
    ++sent;
    hash = fnv1a(next, hash);
    return next;
  };
  auto started = Clock::now();
  std::optional<Result<Response>> reply;
  connection_->request(post("/slow-upload?rate=100000000", RequestBody::from_producer(producer)),
                       [&](Result<Response> r) { reply = std::move(r); });
  ASSERT_TRUE(run_until(io_, [&] { return reply.has_value(); }, 60s));
  auto elapsed = Clock::now() - started;
  ASSERT_TRUE(*reply) << reply->error().to_string();
  EXPECT_EQ(sent, kChunks);
  EXPECT_EQ((*reply)->body, upload_answer(kChunk * kChunks, hash));
  EXPECT_GE(elapsed, 1900ms);  // 209.7 MB at 100 MB/s
}

// ---- /status/CODE?early=1 -----------------------------------------------------------------------------

TEST_F(ServerControlsTest, EarlyResponseStopsTheUpload) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  std::size_t pulls = 0;
  auto endless = [&pulls]() -> std::optional<std::string> {  // never ends by itself
    ++pulls;
    return std::string(64 * 1024, 'e');
  };
  auto started = Clock::now();
  auto response = fetch(post("/status/413?early=1", RequestBody::from_producer(endless)));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->body, "status 413\n");

  // The upload stops and the stream closes (it would stay open for ever otherwise).
  ASSERT_TRUE(run_until(io_, [&] { return access_log_.entries().size() == 1; }));
  const auto entry = access_log_.entries()[0];
  EXPECT_EQ(entry.status, 413);
  EXPECT_EQ(entry.app_error_code, h3_code::no_error);
  idle(100ms);
  const auto pulls_after = pulls;
  idle(300ms);
  EXPECT_EQ(pulls, pulls_after) << "the producer is still being pulled";
  EXPECT_LT(pulls * 64 * 1024, 64u << 20);
  // The connection is unharmed.
  auto next = fetch(get("/bytes/5"));
  ASSERT_TRUE(next) << next.error().to_string();
  EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
}

TEST_F(ServerControlsTest, WithoutEarlyTheStatusRouteWaitsForTheWholeBody) {
  start_server();
  connect();
  std::size_t pulls = 0;
  auto finite = [&pulls]() -> std::optional<std::string> {
    if (pulls == 40) return std::nullopt;
    ++pulls;
    return std::string(64 * 1024, 'f');
  };
  auto response = fetch(post("/status/202", RequestBody::from_producer(finite)));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(pulls, 40u);
}

// ---- stats --------------------------------------------------------------------------------------------

TEST_F(ServerControlsTest, StatsCountConnectionsRequestsAndPeakStreams) {
  auto options = test_server_options();
  options.max_streams = 10;
  start_server(options);
  EXPECT_EQ(server_->stats().connections_accepted, 0u);
  connect();
  Replies replies;
  for (int i = 0; i < 30; ++i) connection_->request(get("/delay/50"), replies.slot(i));
  ASSERT_TRUE(run_until(io_, [&] { return replies.all_received(); }, 10s));
  for (auto& reply : replies.slots) ASSERT_TRUE(*reply) << reply->error().to_string();
  auto stats = server_->stats();
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.requests_started, 30u);
  EXPECT_EQ(stats.peak_concurrent_streams, 10u);  // the client used all its credit, never more

  connection_->close();
  connect();
  ASSERT_TRUE(fetch(get("/bytes/1")));
  stats = server_->stats();
  EXPECT_EQ(stats.connections_accepted, 2u);
  EXPECT_EQ(stats.requests_started, 31u);
  EXPECT_EQ(stats.peak_concurrent_streams, 10u);
  EXPECT_EQ(stats.streams_held, 0u);
  EXPECT_EQ(stats.streams_refused, 0u);
}

}  // namespace
}  // namespace quiver::test

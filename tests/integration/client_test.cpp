// The public Client against the project's server: every API style, the pool under load, GOAWAY under load.
// GCC 12 reports a false -Wmismatched-new-delete inside Asio's coroutine frame allocator.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 20s;  // waits for events: never reached when things work

// Waits until `done()` holds (polling); false if `limit` passed first.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = kBound) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class ClientTest : public ::testing::Test {
 protected:
  void start_server(server::ServerOptions options = test_server_options()) {
    options.access_log = access_log_.sink();
    server_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*server_);
  }

  ClientOptions client_options(std::size_t max_connections = 1) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.max_connections = max_connections;
    return options;
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
  }

  // Waits until the server has processed the headers of `count` requests in all.
  void wait_requests_started(std::uint64_t count) {
    ASSERT_TRUE(eventually([&] { return server_->stats().requests_started >= count; }))
        << "the server saw " << server_->stats().requests_started << " requests, not " << count;
  }

  // Runs `total` GETs with `concurrency` in flight through async_request; returns how many failed.
  int run_load(Client& client, int total, int concurrency, const std::function<std::string(int)>& target) {
    std::atomic<int> next{0}, failures{0}, done{0};
    std::promise<void> finished;
    std::function<void()> launch = [&] {
      int i = next++;
      if (i >= total) return;
      client.async_request(*get(url(target(i))).build(), [&](Result<Response> result) {
        if (!result || result->status != 200) {
          ++failures;
          ADD_FAILURE() << (result ? fmt::format("status {}", result->status) : result.error().to_string());
        }
        launch();  // before counting this one done: after the last count nothing may touch these locals
        if (++done == total) finished.set_value();
      });
    };
    for (int i = 0; i < concurrency; ++i) launch();
    EXPECT_EQ(finished.get_future().wait_for(60s), std::future_status::ready);
    return failures;
  }

  AccessLog access_log_;
  std::unique_ptr<server::Server> server_;
};

TEST_F(ClientTest, BlockingRequestWithTheBuilder) {
  start_server();
  Client client(client_options());
  auto response = client.request(post(url("/echo")).header("X-Test", "1").body("hello").timeout(5s));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello");
  EXPECT_EQ(response->headers.get("x-echo-x-test"), "1");
}

TEST_F(ClientTest, BadUrlIsAnInvalidUrlError) {
  Client client;
  auto response = client.request(get("http://example.com/"));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::invalid_url);
  EXPECT_EQ(response.error().error_class(), ErrorClass::invalid);
}

TEST_F(ClientTest, BlockingStreamReadsChunksAndTrailers) {
  start_server();
  Client client(client_options());
  auto stream = client.stream(*get(url("/stream/3?size=5000")).build());
  ASSERT_TRUE(stream) << stream.error().to_string();
  EXPECT_EQ(stream->status(), 200);
  std::string body;
  char buffer[4096];
  for (;;) {
    auto n = stream->read(buffer);
    ASSERT_TRUE(n) << n.error().to_string();
    if (*n == 0) break;
    body.append(buffer, *n);
  }
  EXPECT_EQ(body, deterministic_bytes(0, 15000));

  auto trailers = client.stream(*get(url("/trailers")).build());
  ASSERT_TRUE(trailers);
  EXPECT_EQ(*trailers->read_all(), "hello trailers");
  EXPECT_EQ(trailers->trailers().get("x-trailer-one"), "1");
}

TEST_F(ClientTest, CallbackCompletesOnTheHandlersExecutor) {
  start_server();
  Client client(client_options());
  asio::io_context mine;
  std::optional<Result<Response>> reply;
  std::thread::id ran_on;
  client.async_request(*get(url("/bytes/100")).build(),
                       asio::bind_executor(mine, [&](Result<Response> result) {
                         ran_on = std::this_thread::get_id();
                         reply = std::move(result);
                       }));
  mine.run_for(10s);  // returns once the handler ran: the work guard kept `mine` busy until then
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(*reply);
  EXPECT_TRUE(ran_on == std::this_thread::get_id());
  EXPECT_EQ((*reply)->body, deterministic_bytes(0, 100));
}

TEST_F(ClientTest, FutureToken) {
  start_server();
  Client client(client_options());
  std::future<Result<Response>> future = client.async_request(*get(url("/status/202")).build(), asio::use_future);
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto response = future.get();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
}

// docs/api.md: without a token, async_request and async_stream return a std::future (the default token
// compiles with every Asio the project supports, Debian 12's 1.22 included).
TEST_F(ClientTest, NoTokenMeansAFuture) {
  start_server();
  Client client(client_options());
  std::future<Result<Response>> response = client.async_request(*get(url("/status/202")).build());
  ASSERT_EQ(response.wait_for(kBound), std::future_status::ready);
  auto result = response.get();
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->status, 202);
  std::future<Result<ResponseStream>> stream = client.async_stream(*get(url("/bytes/5")).build());
  ASSERT_EQ(stream.wait_for(kBound), std::future_status::ready);
  auto opened = stream.get();
  ASSERT_TRUE(opened) << opened.error().to_string();
  EXPECT_EQ(*opened->read_all(), deterministic_bytes(0, 5));
}

// The async calls take the builder itself; a request it cannot make completes with its error, later (on
// the handler's executor), never inside the call.
TEST_F(ClientTest, AsyncCallsTakeTheBuilder) {
  start_server();
  Client client(client_options());
  auto response = client.async_request(get(url("/status/202")).header("x-test", "1")).get();
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 202);
  auto stream = client.async_stream(get(url("/bytes/5"))).get();
  ASSERT_TRUE(stream) << stream.error().to_string();
  EXPECT_EQ(*stream->read_all(), deterministic_bytes(0, 5));

  asio::io_context mine;
  std::optional<Result<Response>> reply;
  client.async_request(get("not a url"), asio::bind_executor(mine, [&](Result<Response> result) {
                         reply = std::move(result);
                       }));
  EXPECT_FALSE(reply.has_value()) << "completed inside the call";
  mine.run_for(10s);
  ASSERT_TRUE(reply.has_value());
  ASSERT_FALSE(*reply);
  EXPECT_EQ(reply->error().kind(), ErrorKind::invalid_url);
  auto bad_stream = client.async_stream(get(url("/x")).header("bad header", "v")).get();
  ASSERT_FALSE(bad_stream);
  EXPECT_EQ(bad_stream.error().kind(), ErrorKind::invalid_request);
}

TEST_F(ClientTest, CoroutineToken) {
  start_server();
  Client client(client_options());
  asio::io_context mine;
  std::string body;
  int status = 0;
  asio::co_spawn(
      mine,
      [&]() -> asio::awaitable<void> {
        auto response = co_await client.async_request(*get(url("/bytes/10")).build(), asio::use_awaitable);
        if (response) status = response->status;
        auto stream = co_await client.async_stream(*get(url("/stream/2?size=10")).build(), asio::use_awaitable);
        if (!stream) co_return;
        for (;;) {
          auto chunk = co_await stream->async_next_chunk(asio::use_awaitable);
          if (!chunk || !*chunk) break;
          body += **chunk;
        }
      },
      asio::detached);
  mine.run_for(10s);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, deterministic_bytes(0, 20));
}

TEST_F(ClientTest, AsyncReadSomeFillsTheCallersBuffer) {
  start_server();
  Client client(client_options());
  auto stream = client.async_stream(*get(url("/bytes/200000")).build(), asio::use_future).get();
  ASSERT_TRUE(stream) << stream.error().to_string();
  std::string body;
  std::array<char, 16384> buffer{};
  for (;;) {
    auto read = stream->async_read_some(buffer, asio::use_future);
    ASSERT_EQ(read.wait_for(10s), std::future_status::ready);
    auto n = read.get();
    ASSERT_TRUE(n) << n.error().to_string();
    if (*n == 0) break;
    body.append(buffer.data(), *n);
  }
  EXPECT_TRUE(body == deterministic_bytes(0, 200000));
}

TEST_F(ClientTest, CancellationSlotCancelsARequestInFlight) {
  start_server();
  Client client(client_options());
  ASSERT_TRUE(client.request(*get(url("/bytes/1")).build()));  // connected
  asio::cancellation_signal signal;
  std::promise<Result<Response>> reply;
  client.async_request(*get(url("/delay/5000")).build(),
                       asio::bind_cancellation_slot(signal.slot(), [&](Result<Response> result) {
                         reply.set_value(std::move(result));
                       }));
  wait_requests_started(2);  // on the wire
  auto cancelled_at = std::chrono::steady_clock::now();
  asio::post(client.executor(), [&] { signal.emit(asio::cancellation_type::terminal); });
  auto future = reply.get_future();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, 4s);  // not the 5 s the server takes
  auto result = future.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::cancelled);
}

TEST_F(ClientTest, BlockingCallOnAnIoThreadIsRefused) {
  start_server();
  Client client(client_options());
  std::promise<Result<Response>> inner;
  asio::post(client.executor(), [&] { inner.set_value(client.request(*get(url("/bytes/1")).build())); });
  auto future = inner.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto result = future.get();
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("deadlock"), std::string::npos);
}

// ---- on the caller's io_context ----------------------------------------------------------------------

// The completion runs on the thread running the caller's io_context; once the client is shut down,
// io.run() returns by itself: the client keeps no work of its own there.
TEST_F(ClientTest, RunsOnTheCallersIoContext) {
  start_server();
  asio::io_context io;
  Client client(io, client_options());
  std::optional<Result<Response>> reply;
  std::thread::id handler_thread;
  client.async_request(get(url("/bytes/16")), [&](Result<Response> result) {
    reply = std::move(result);
    handler_thread = std::this_thread::get_id();
    client.shutdown(1s);  // on the io_context: starts the drain, which io.run() then runs to its end
  });
  io.run_for(kBound);
  ASSERT_TRUE(io.stopped()) << "io.run() did not return: work left on the caller's io_context";
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(*reply) << reply->error().to_string();
  EXPECT_EQ((*reply)->body, deterministic_bytes(0, 16));
  EXPECT_EQ(handler_thread, std::this_thread::get_id());
}

// Two threads run the caller's io_context: each origin's pool is on a strand, so the load is safe (TSan
// runs this), a blocking call from a thread that does not run the context works, and one from a thread
// that does is refused, as on the client's own io threads.
TEST_F(ClientTest, CallersIoContextRunByTwoThreads) {
  start_server();
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&io] { io.run(); });
  {
    Client client(io, client_options(2));
    EXPECT_EQ(run_load(client, 400, 20, [](int i) { return fmt::format("/bytes/{}", 100 + i % 50); }), 0);
    auto blocking = client.request(get(url("/bytes/8")));
    ASSERT_TRUE(blocking) << blocking.error().to_string();
    EXPECT_EQ(blocking->body, deterministic_bytes(0, 8));
    std::promise<Result<Response>> on_io;
    asio::post(io, [&] { on_io.set_value(client.request(get(url("/bytes/8")))); });
    auto refused = on_io.get_future().get();
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind(), ErrorKind::invalid_request) << refused.error().to_string();
  }  // ~Client: the drain runs on the two threads
  work.reset();
  const bool ended = eventually([&] { return io.stopped(); });
  if (!ended) io.stop();
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(ended) << "the drain left work on the caller's io_context";
}

TEST_F(ClientTest, TwoThousandRequestsOnOneConnection) {
  start_server();
  Client client(client_options(1));
  EXPECT_EQ(run_load(client, 2000, 100, [](int i) { return fmt::format("/bytes/{}", 100 + i % 50); }), 0);
  auto stats = client.stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].connected, 1u);
  EXPECT_EQ(server_->connection_count(), 1u);
}

TEST_F(ClientTest, TwoThousandRequestsOnUpToFourConnections) {
  auto options = test_server_options();
  options.max_streams = 25;  // so that 100 callers need more than one connection
  start_server(options);
  Client client(client_options(4));
  EXPECT_EQ(run_load(client, 2000, 100, [](int i) { return fmt::format("/bytes/{}", 100 + i % 50); }), 0);
  auto stats = client.stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_GT(stats[0].connected, 1u);
  EXPECT_LE(stats[0].connected, 4u);
}

TEST_F(ClientTest, HundredCallersOnAServerAllowingTenStreams) {
  auto options = test_server_options();
  options.max_streams = 10;
  start_server(options);
  Client client(client_options(1));
  EXPECT_EQ(run_load(client, 1000, 100, [](int i) { return fmt::format("/delay/{}", i % 3); }), 0);
  auto stats = server_->stats();
  EXPECT_EQ(stats.requests_started, 1000u);
  EXPECT_EQ(stats.peak_concurrent_streams, 10u);  // the limit was used fully and never exceeded
  EXPECT_EQ(stats.streams_refused, 0u);
}

TEST_F(ClientTest, GoawayUnderLoadIsInvisibleToCallersAndNothingRunsTwice) {
  start_server();
  Client client(client_options(1));
  // Every 150th request makes the server send GOAWAY on its connection.
  int failures = run_load(client, 1500, 100, [](int i) {
    return i % 150 == 149 ? fmt::format("/goaway?n={}", i) : fmt::format("/bytes/64?n={}", i);
  });
  EXPECT_EQ(failures, 0);
  std::map<std::string, int> processed;
  auto deadline = std::chrono::steady_clock::now() + kBound;  // the server logs a stream when it closes
  do {
    processed.clear();
    for (auto& entry : access_log_.entries()) {
      if (entry.status != 0) ++processed[entry.path];
    }
  } while (processed.size() < 1500 && std::chrono::steady_clock::now() < deadline &&
           (std::this_thread::sleep_for(10ms), true));
  EXPECT_EQ(processed.size(), 1500u);
  for (auto& [path, count] : processed) EXPECT_EQ(count, 1) << path << " was processed twice";
}

// TLS tickets and 0-RTT under load on two io threads: two origins (two pools, on either thread) share the
// Client's session cache while GOAWAYs keep replacing their connections, so tickets are stored and taken
// from both threads at once (ThreadSanitizer runs this test). Nothing fails or runs twice; later
// connections resume and send early data.
TEST_F(ClientTest, ResumptionAndEarlyDataAcrossIoThreadsUnderGoaway) {
  start_server();
  class Handshakes final : public Telemetry {
   public:
    void on_connection_event(const ConnectionEvent& event) override {
      if (event.type != ConnectionEvent::Type::ready) return;
      ++ready;
      if (event.resumed) ++resumed;
      if (event.early_data_accepted) ++early;
    }
    std::atomic<int> ready{0}, resumed{0}, early{0};
  };
  auto handshakes = std::make_shared<Handshakes>();
  auto options = client_options(1);
  options.io_threads = 2;
  options.early_data = true;
  options.defaults.connection.telemetry = handshakes;
  Client client(options);
  const std::array<std::string, 2> hosts{"127.0.0.1", "localhost"};
  std::atomic<int> next{0}, failures{0}, done{0};
  constexpr int kTotal = 600;
  std::promise<void> finished;
  std::function<void()> launch = [&] {
    int i = next++;
    if (i >= kTotal) return;
    // Every 50th request of an origin makes the server send GOAWAY on its connection.
    std::string target = i % 100 >= 98 ? fmt::format("/goaway?n={}", i) : fmt::format("/bytes/64?n={}", i);
    auto request = get(fmt::format("https://{}:{}{}", hosts[i % 2], server_->port(), target)).build();
    client.async_request(*request, [&](Result<Response> result) {
      if (!result || result->status != 200) ++failures;
      launch();
      if (++done == kTotal) finished.set_value();
    });
  };
  for (int i = 0; i < 20; ++i) launch();
  ASSERT_EQ(finished.get_future().wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(handshakes->ready.load(), 4) << "GOAWAY replaced the connections";
  EXPECT_GE(handshakes->resumed.load(), 2) << "later connections resumed";
  EXPECT_GE(handshakes->early.load(), 1) << "and sent early data";
  std::map<std::string, int> processed;
  for (auto& entry : access_log_.entries()) ++processed[entry.path];
  for (auto& [path, count] : processed) EXPECT_LE(count, 1) << path << " was processed twice";
}

TEST_F(ClientTest, CheckoutTimeoutWhenNoStreamFrees) {
  auto options = test_server_options();
  options.max_streams = 1;
  start_server(options);
  auto client_opts = client_options(1);
  client_opts.defaults.checkout_timeout = 300ms;
  Client client(client_opts);
  // Connected first: a slow handshake (TSan) may outlast the 300 ms checkout timeout of a request
  // queued behind it, which then fails; the connection goes on and a later one succeeds.
  ASSERT_TRUE(eventually([&] { return client.request(*get(url("/bytes/1")).build()).has_value(); }));
  auto before = server_->stats().requests_started;
  auto slow = client.async_request(*get(url("/delay/2000")).build(), asio::use_future);
  wait_requests_started(before + 1);  // the slow request holds the only stream
  auto waiting = client.request(*get(url("/bytes/1")).build());
  ASSERT_FALSE(waiting);
  EXPECT_EQ(waiting.error().kind(), ErrorKind::checkout_timeout);
  // The order: the checkout timed out while the slow request still held the stream.
  EXPECT_NE(slow.wait_for(0s), std::future_status::ready);
  ASSERT_EQ(slow.wait_for(kBound), std::future_status::ready);
  EXPECT_TRUE(slow.get());
}

TEST_F(ClientTest, ShutdownDrainsAndLaterRequestsFail) {
  start_server();
  Client client(client_options());
  ASSERT_TRUE(client.request(*get(url("/bytes/1")).build()));  // connected: the next request goes out at once
  auto slow = client.async_request(*get(url("/delay/300")).build(), asio::use_future);
  wait_requests_started(2);  // on the wire
  client.shutdown(10s);
  ASSERT_EQ(slow.wait_for(kBound), std::future_status::ready);
  EXPECT_TRUE(slow.get());  // in flight: it finished during the drain
  auto late = client.request(*get(url("/bytes/1")).build());
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().kind(), ErrorKind::shut_down);
}

// After shutdown a request still completes exactly once, with shut_down, through its handler's executor,
// and never inside the call that made it.
TEST_F(ClientTest, AnAsyncRequestAfterShutdownCompletesLaterOnItsHandlersExecutor) {
  Client client(client_options());
  client.shutdown(1s);
  asio::io_context user_io;
  int completions = 0;
  bool returned = false;
  std::optional<Error> error;
  asio::post(user_io, [&] {
    client.async_request(*get("https://127.0.0.1:1/x").build(),
                         asio::bind_executor(user_io, [&](Result<Response> result) {
                           EXPECT_TRUE(returned) << "completed inside async_request";
                           ++completions;
                           if (!result) error = result.error();
                         }));
    returned = true;
  });
  user_io.run_for(kBound);  // returns once the completion ran (no work left)
  EXPECT_EQ(completions, 1);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind(), ErrorKind::shut_down);
}

}  // namespace
}  // namespace quiver::test

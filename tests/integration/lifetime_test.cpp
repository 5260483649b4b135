// The Client's lifetime and shutdown rules (docs/api.md, "Lifetime and shutdown"), one test per rule,
// against the project's server. Several of these were heap-use-after-free or hangs: they also run under
// ASan and TSan (scripts/sanitize.sh). Every wait is on an event, bounded generously.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>
#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kBound = 20s;  // never reached when things work

// Waits until `done()` holds, polling; false if `limit` passed first.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = kBound) {
  auto until = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class LifetimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = test_server_options();
    options.access_log = access_log_.sink();
    server_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*server_);
  }

  ClientOptions client_options() {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    return options;
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
  }
  Request request(const std::string& target) const { return *get(url(target)).build(); }

  // Waits until the server has processed the headers of `count` requests in all.
  void wait_requests_started(std::uint64_t count) {
    ASSERT_TRUE(eventually([&] { return server_->stats().requests_started >= count; }));
  }

  // The access log entry of `path`, once the server has closed its stream.
  std::optional<server::AccessLogEntry> logged(const std::string& path) {
    std::optional<server::AccessLogEntry> found;
    eventually([&] {
      for (auto& entry : access_log_.entries()) {
        if (entry.path == path) found = entry;
      }
      return found.has_value();
    });
    return found;
  }

  AccessLog access_log_;
  std::unique_ptr<server::Server> server_;
};

// ---- the destructor ------------------------------------------------------------------------------

// ~Client drains within ClientOptions::shutdown_deadline (it used a fixed 5 s): a request still running
// at the deadline is closed and fails.
TEST_F(LifetimeTest, DestructorKeepsTheShutdownDeadline) {
  auto options = client_options();
  options.shutdown_deadline = 200ms;
  auto client = std::make_unique<Client>(options);
  auto slow = client->async_request(request("/delay/10000"), asio::use_future);
  wait_requests_started(1);
  auto started = Clock::now();
  client.reset();
  EXPECT_LT(Clock::now() - started, 3s);
  ASSERT_EQ(slow.wait_for(kBound), std::future_status::ready);
  EXPECT_FALSE(slow.get());  // closed at the deadline: it had its one completion, an error
}

// On a caller's io_context, ~Client does not wait: a client destroyed before the context ever ran still
// gives its request its one completion when the caller runs the context, and leaves no work behind.
TEST_F(LifetimeTest, ClientOnACallersIoContextDestroyedBeforeTheContextRuns) {
  asio::io_context io;
  int completions = 0;
  auto client = std::make_unique<Client>(io, client_options());
  client->async_request(request("/bytes/4"), [&](Result<Response>) { ++completions; });
  auto started = Clock::now();
  client.reset();
  EXPECT_LT(Clock::now() - started, 1s) << "~Client waited for a context nobody runs";
  io.run_for(kBound);
  EXPECT_TRUE(io.stopped()) << "work left on the caller's io_context";
  EXPECT_EQ(completions, 1);
}

// Destroying the Client inside one of its own completion handlers (on its io thread) is allowed: the
// drain goes on in the background, and the other request in flight still gets its completion.
TEST_F(LifetimeTest, DestroyingTheClientInsideItsOwnHandler) {
  auto client = std::make_unique<Client>(client_options());
  ASSERT_TRUE(client->request(request("/bytes/1")));  // connected
  auto other = client->async_request(request("/delay/300"), asio::use_future);
  std::promise<bool> destroyed;
  client->async_request(request("/bytes/10"), [&](Result<Response> result) {
    client.reset();  // on the client's own io thread
    destroyed.set_value(result.has_value());
  });
  auto done = destroyed.get_future();
  ASSERT_EQ(done.wait_for(kBound), std::future_status::ready);
  EXPECT_TRUE(done.get());
  ASSERT_EQ(other.wait_for(kBound), std::future_status::ready);
  auto result = other.get();
  EXPECT_TRUE(result) << result.error().to_string();  // it finished during the background drain
}

// ---- shutdown() ----------------------------------------------------------------------------------

// Blocking requests made on other threads while shutdown() runs each return (answered, or refused with
// shut_down or a pool's goaway); none hangs. A request that found the pool just before the shutdown
// used to be lost when its hop to the io thread landed after the threads were stopped: the race is
// narrow, so it runs for several rounds.
TEST_F(LifetimeTest, RequestsRacingShutdownAreAllAnswered) {
  constexpr int kRounds = 12;
  constexpr int kThreads = 8;
  for (int round = 0; round < kRounds; ++round) {
    auto client = std::make_shared<Client>(client_options());
    ASSERT_TRUE(client->request(request("/bytes/1")));
    struct Shared {
      std::atomic<int> finished{0};
      std::atomic<int> unexpected{0};
      std::atomic<int> answered{0};
    };
    auto shared = std::make_shared<Shared>();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([client, shared, target = url("/bytes/10")] {
        for (;;) {  // until the client refuses
          auto result = client->request(*get(target).build());
          ++shared->answered;
          if (result) continue;
          auto kind = result.error().kind();
          if (kind != ErrorKind::shut_down && kind != ErrorKind::goaway) ++shared->unexpected;
          break;
        }
        ++shared->finished;
      });
    }
    ASSERT_TRUE(eventually([&] { return shared->answered >= 2 * kThreads; }));
    client->shutdown(5s);
    bool all_returned = eventually([&] { return shared->finished == kThreads; });
    EXPECT_TRUE(all_returned) << "round " << round << ": " << shared->finished << " of " << kThreads
                              << " threads returned";
    EXPECT_EQ(shared->unexpected, 0);
    for (auto& thread : threads) {
      if (all_returned) {
        thread.join();
      } else {
        thread.detach();  // a hung thread: the failure is reported; do not hang the suite as well
      }
    }
    if (!all_returned) return;
  }
}

// A request made while another thread runs shutdown(), whose hop to the io thread is queued behind a
// busy handler: shutdown() stops waiting for the drain at its deadline, and the request is still
// answered once the io thread gets to it (the io threads used to be stopped then, dropping it).
TEST_F(LifetimeTest, ARequestQueuedBehindABusyIoThreadDuringShutdownIsAnswered) {
  Client client(client_options());
  ASSERT_TRUE(client.request(request("/bytes/1")));
  std::promise<void> release;
  auto released = release.get_future().share();
  asio::post(client.executor(), [released] { released.wait_for(kBound); });  // the io thread is busy
  std::promise<Result<Response>> reply;
  client.async_request(request("/bytes/1"), [&](Result<Response> result) { reply.set_value(std::move(result)); });
  std::thread shutting_down([&] { client.shutdown(100ms); });
  std::this_thread::sleep_for(1500ms);  // shutdown() gives up on the drain after 100 + 500 ms
  release.set_value();
  shutting_down.join();
  auto future = reply.get_future();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  auto result = future.get();
  EXPECT_TRUE(result || result.error().kind() == ErrorKind::shut_down || result.error().kind() == ErrorKind::goaway)
      << result.error().to_string();
}

// After shutdown() a request fails with shut_down, and a plain callback (no executor of its own) is
// still called: the io threads run until the destructor.
TEST_F(LifetimeTest, AsyncRequestAfterShutdownCallsAPlainCallback) {
  Client client(client_options());
  client.shutdown(1s);
  std::promise<Result<Response>> reply;
  client.async_request(request("/bytes/1"), [&](Result<Response> result) { reply.set_value(std::move(result)); });
  auto future = reply.get_future();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  auto result = future.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::shut_down);
  EXPECT_EQ(result.error().error_class(), ErrorClass::unrecoverable);

  auto blocking = client.request(request("/bytes/1"));
  ASSERT_FALSE(blocking);
  EXPECT_EQ(blocking.error().kind(), ErrorKind::shut_down);
  auto streamed = client.stream(request("/bytes/1"));
  ASSERT_FALSE(streamed);
  EXPECT_EQ(streamed.error().kind(), ErrorKind::shut_down);
}

// shutdown() on an io thread only starts the drain: the loop goes on, and a request in flight finishes.
TEST_F(LifetimeTest, ShutdownOnAnIoThreadLetsTheRequestInFlightFinish) {
  Client client(client_options());
  ASSERT_TRUE(client.request(request("/bytes/1")));
  auto slow = client.async_request(request("/delay/200"), asio::use_future);
  wait_requests_started(2);
  std::promise<void> returned;
  asio::post(client.executor(), [&] {
    client.shutdown(5s);
    returned.set_value();
  });
  ASSERT_EQ(returned.get_future().wait_for(kBound), std::future_status::ready);
  ASSERT_EQ(slow.wait_for(kBound), std::future_status::ready);
  auto result = slow.get();
  EXPECT_TRUE(result) << result.error().to_string();
}

// stats() after shutdown() answers at once with the pools' final state (it waited 5 s per pool).
TEST_F(LifetimeTest, StatsAfterShutdownAnswerAtOnce) {
  Client client(client_options());
  ASSERT_TRUE(client.request(request("/bytes/1")));
  client.shutdown(2s);
  auto started = Clock::now();
  auto stats = client.stats();
  EXPECT_LT(Clock::now() - started, 2s);
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].connected, 0u);
}

// ---- ResponseStream ------------------------------------------------------------------------------

// A body read after shutdown() ends (its data, or the error of the connection closed at the deadline);
// it never hangs.
TEST_F(LifetimeTest, ReadingAStreamAfterShutdownEnds) {
  Client client(client_options());
  auto stream = client.stream(request("/stream/50?size=1000&delay_ms=100"));
  ASSERT_TRUE(stream) << stream.error().to_string();
  client.shutdown(200ms);  // the body needs 5 s: the connection is closed at the deadline
  auto body = std::async(std::launch::async, [&] { return stream->read_all(); });
  ASSERT_EQ(body.wait_for(kBound), std::future_status::ready);
  EXPECT_FALSE(body.get());
}

// A ResponseStream may outlive its Client: reads then complete with shut_down (blocking and async, on
// a plain callback), cancel() does nothing, and dropping it later is safe.
TEST_F(LifetimeTest, AStreamThatOutlivesItsClient) {
  std::optional<ResponseStream> stream;
  {
    auto options = client_options();
    options.shutdown_deadline = 200ms;
    Client client(options);
    auto opened = client.stream(request("/stream/50?size=1000&delay_ms=100"));
    ASSERT_TRUE(opened) << opened.error().to_string();
    stream.emplace(std::move(*opened));
  }
  auto chunk = stream->next_chunk();
  ASSERT_FALSE(chunk);
  EXPECT_EQ(chunk.error().kind(), ErrorKind::shut_down);

  std::promise<Result<std::optional<std::string>>> async_chunk;
  stream->async_next_chunk([&](Result<std::optional<std::string>> result) { async_chunk.set_value(std::move(result)); });
  auto future = async_chunk.get_future();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  auto result = future.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::shut_down);

  stream->cancel();
  EXPECT_TRUE(stream->trailers().empty());
  stream.reset();
}

// trailers() is empty until a read reported the end, then complete; reading it meanwhile from another
// thread is safe (it raced the io thread: TSan).
TEST_F(LifetimeTest, TrailersAreEmptyUntilTheEndThenComplete) {
  Client client(client_options());
  auto stream = client.stream(request("/trailers"));
  ASSERT_TRUE(stream) << stream.error().to_string();
  std::atomic<bool> reading{true};
  std::atomic<bool> saw_partial{false};
  std::thread watcher([&] {  // another thread looks at the trailers while the io thread receives them
    while (reading) {
      Headers seen = stream->trailers();
      if (!seen.empty() && seen.get("x-trailer-one") != "1") saw_partial = true;
    }
  });
  std::string body;
  for (;;) {
    auto chunk = stream->async_next_chunk(asio::use_future).get();
    ASSERT_TRUE(chunk) << chunk.error().to_string();
    if (!*chunk) break;
    body += **chunk;
  }
  reading = false;
  watcher.join();
  EXPECT_FALSE(saw_partial);
  EXPECT_EQ(body, "hello trailers");
  EXPECT_EQ(stream->trailers().get("x-trailer-one"), "1");
}

TEST_F(LifetimeTest, TrailersBeforeTheEndAreEmpty) {
  Client client(client_options());
  auto stream = client.stream(request("/trailers"));
  ASSERT_TRUE(stream) << stream.error().to_string();
  // The whole response (trailers included) is sent; they still show only once a read reported the end.
  ASSERT_TRUE(logged("/trailers").has_value());
  EXPECT_TRUE(stream->trailers().empty());
  EXPECT_EQ(*stream->read_all(), "hello trailers");
  EXPECT_EQ(stream->trailers().get("x-trailer-one"), "1");
}

// ResponseStream::cancel(): a pending read completes with cancelled, and the server sees the stream
// reset with H3_REQUEST_CANCELLED.
TEST_F(LifetimeTest, CancelEndsAPendingReadAndResetsTheStream) {
  Client client(client_options());
  const std::string path = "/stream/100?size=10&delay_ms=200";
  auto stream = client.stream(request(path));
  ASSERT_TRUE(stream) << stream.error().to_string();
  std::promise<Result<std::optional<std::string>>> read;
  // Reads until one has to wait (the server sends a chunk every 200 ms), then cancels it.
  std::function<void()> next = [&] {
    stream->async_next_chunk([&](Result<std::optional<std::string>> chunk) {
      if (chunk && *chunk) return next();
      read.set_value(std::move(chunk));
    });
  };
  next();
  std::this_thread::yield();
  stream->cancel();
  auto future = read.get_future();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  auto result = future.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::cancelled);
  auto entry = logged(path);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->app_error_code, h3_code::request_cancelled);
}

// A read's cancellation slot: emitting it completes the pending read with cancelled and resets the
// stream; the server sees H3_REQUEST_CANCELLED.
TEST_F(LifetimeTest, ReadCancellationSlotEndsThePendingRead) {
  Client client(client_options());
  const std::string path = "/stream/100?size=10&delay_ms=5000";
  auto stream = client.stream(request(path));
  ASSERT_TRUE(stream) << stream.error().to_string();
  auto first = stream->next_chunk();  // the first chunk comes at once; the next after 5 s
  ASSERT_TRUE(first && *first);
  asio::io_context mine;
  asio::cancellation_signal signal;
  std::optional<Result<std::optional<std::string>>> result;
  stream->async_next_chunk(asio::bind_cancellation_slot(
      signal.slot(), asio::bind_executor(mine, [&](Result<std::optional<std::string>> chunk) { result = std::move(chunk); })));
  asio::post(mine, [&] { signal.emit(asio::cancellation_type::terminal); });  // on the handler's executor
  ASSERT_TRUE(run_until(mine, [&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().kind(), ErrorKind::cancelled);
  auto entry = logged(path);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->app_error_code, h3_code::request_cancelled);
}

// ---- request bodies ------------------------------------------------------------------------------

// Chunks handed over by another thread with pauses in between: an asynchronous producer is asked once
// per chunk (plus the end) and the upload arrives whole.
TEST_F(LifetimeTest, AsyncProducerStreamsDataFromAnotherThread) {
  Client client(client_options());
  struct Feed {
    std::mutex mutex;
    std::condition_variable asked;
    std::deque<RequestBody::ChunkCallback> waiting;
    std::atomic<int> calls{0};
  };
  auto feed = std::make_shared<Feed>();
  auto body = RequestBody::from_async_producer([feed](RequestBody::ChunkCallback next) {
    ++feed->calls;
    std::lock_guard lock(feed->mutex);
    feed->waiting.push_back(std::move(next));
    feed->asked.notify_one();
  });
  constexpr int kChunks = 8;
  std::thread feeder([feed] {
    for (int i = 0; i <= kChunks; ++i) {
      RequestBody::ChunkCallback next;
      {
        std::unique_lock lock(feed->mutex);
        if (!feed->asked.wait_for(lock, kBound, [&] { return !feed->waiting.empty(); })) return;
        next = std::move(feed->waiting.front());
        feed->waiting.pop_front();
      }
      std::this_thread::sleep_for(30ms);  // the data is not there yet: nothing may spin meanwhile
      if (i < kChunks) {
        next(std::optional<std::string>(fmt::format("chunk {};", i)));
      } else {
        next(std::optional<std::string>());
      }
    }
  });
  Request upload = *post(url("/echo")).body(std::move(body)).timeout(20s).build();
  auto response = client.request(std::move(upload));
  feeder.join();
  ASSERT_TRUE(response) << response.error().to_string();
  std::string expected;
  for (int i = 0; i < kChunks; ++i) expected += fmt::format("chunk {};", i);
  EXPECT_EQ(response->body, expected);
  EXPECT_EQ(feed->calls.load(), kChunks + 1);  // one call per chunk and one for the end: no polling
}

// An asynchronous producer's error fails the request with body_failed carrying its message.
TEST_F(LifetimeTest, AsyncProducerErrorFailsTheRequest) {
  Client client(client_options());
  auto body = RequestBody::from_async_producer([](RequestBody::ChunkCallback next) {
    std::thread([next] { next(std::unexpected(Error(ErrorKind::io_error, "socket closed"))); }).detach();
  });
  auto response = client.request(*post(url("/echo")).body(std::move(body)).timeout(20s).build());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::body_failed);
  EXPECT_NE(response.error().message().find("socket closed"), std::string::npos) << response.error().message();
}

// A synchronous producer that has nothing yet (an empty string) is asked again after a pause, not in a
// loop: it busy-looped the io thread.
TEST_F(LifetimeTest, ProducerWithNothingYetDoesNotSpin) {
  Client client(client_options());
  std::atomic<int> calls{0};
  std::atomic<bool> ready{false};
  auto body = RequestBody::from_producer([&, sent = false]() mutable -> std::optional<std::string> {
    ++calls;
    if (sent) return std::nullopt;
    if (!ready) return std::string();  // nothing yet
    sent = true;
    return std::string("late data");
  });
  auto response = client.async_request(*post(url("/echo")).body(std::move(body)).timeout(20s).build(), asio::use_future);
  std::this_thread::sleep_for(500ms);  // the time the data takes to come (what is measured: the calls meanwhile)
  ready = true;
  ASSERT_EQ(response.wait_for(kBound), std::future_status::ready);
  auto result = response.get();
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->body, "late data");
  EXPECT_LT(calls.load(), 60);  // 500 ms of pauses growing to 64 ms: about 15 calls
}

}  // namespace
}  // namespace quiver::test

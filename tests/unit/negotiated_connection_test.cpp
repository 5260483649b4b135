// client::NegotiatedConnection with a scripted dial and fake workers: nothing is sent before the worker
// exists; afterwards every call and event is the worker's; the connect timeout aborts the dial (and the
// worker made for the failed dial reports it); close() while dialing makes no worker and reports its end
// from a posted step.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "client/negotiated_connection.hpp"
#include "fake_connection.hpp"
#include "quiver/request_builder.hpp"

namespace quiver::client {
namespace {

using namespace std::chrono_literals;
using pool::testing::FakeConnection;

// A dial the test finishes; abort() finishes it at once, as the real one does.
class ScriptedDial final : public NegotiatedConnection::Dial {
 public:
  struct Record {
    std::move_only_function<void()> on_done;
    std::vector<Error> aborts;
    std::vector<std::shared_ptr<FakeConnection>> workers;
  };
  ScriptedDial(asio::any_io_executor executor, Record& record) : executor_(std::move(executor)), record_(record) {}

  void start(std::move_only_function<void()> on_done) override { record_.on_done = std::move(on_done); }
  void abort(Error reason) override {
    record_.aborts.push_back(std::move(reason));
    if (auto done = std::move(record_.on_done)) done();
  }
  std::shared_ptr<http::Connection> make_worker(http::ConnectionObserver* observer) override {
    record_.workers.push_back(std::make_shared<FakeConnection>(executor_, Origin{"example.test", 443}, observer));
    return record_.workers.back();
  }

 private:
  asio::any_io_executor executor_;
  Record& record_;
};

class Observer final : public http::ConnectionObserver {
 public:
  void on_ready(http::Connection&, std::uint64_t max_streams) override { ready = max_streams; }
  void on_stream_done(http::Connection&) override { ++streams_done; }
  void on_stream_credit(http::Connection&) override {}
  void on_stream_open_failed(http::Connection&, const Error&) override {}
  void on_draining(http::Connection&) override { draining = true; }
  void on_closed(http::Connection&, const Error& reason) override { closed = reason; }

  std::optional<std::uint64_t> ready;
  int streams_done = 0;
  bool draining = false;
  std::optional<Error> closed;
};

class NegotiatedConnectionTest : public ::testing::Test {
 protected:
  std::shared_ptr<NegotiatedConnection> make(std::chrono::milliseconds connect_timeout = 5s) {
    ConnectionOptions options;
    options.connect_timeout = connect_timeout;
    return NegotiatedConnection::create(io_.get_executor(), Origin{"example.test", 443}, options, &observer_,
                                        std::make_unique<ScriptedDial>(io_.get_executor(), dial_));
  }
  Request request() { return *quiver::get("https://example.test/").build(); }
  // Runs what is ready (the io_context stops whenever it runs out of work).
  std::size_t poll() {
    io_.restart();
    return io_.poll();
  }

  asio::io_context io_;
  ScriptedDial::Record dial_;
  Observer observer_;
};

TEST_F(NegotiatedConnectionTest, AfterTheDialTheWorkerIsTheConnection) {
  auto connection = make();
  connection->start();
  EXPECT_EQ(connection->state(), http::ConnectionState::connecting);
  EXPECT_EQ(connection->max_streams(), 0u);
  std::optional<Result<Response>> early;
  connection->request(request(), [&](Result<Response> r) { early = std::move(r); }, {});
  poll();
  ASSERT_TRUE(early.has_value());
  ASSERT_FALSE(*early);
  EXPECT_TRUE(early->error().unprocessed) << "a request before the worker exists was not sent";
  EXPECT_TRUE(dial_.workers.empty());

  dial_.on_done();
  ASSERT_EQ(dial_.workers.size(), 1u);
  FakeConnection& worker = *dial_.workers[0];
  EXPECT_EQ(worker.start_calls, 1);
  worker.become_ready(5);
  poll();
  EXPECT_EQ(observer_.ready, 5u);
  EXPECT_EQ(connection->state(), http::ConnectionState::connected);
  EXPECT_EQ(connection->max_streams(), 5u);

  std::optional<Result<Response>> answer;
  connection->request(request(), [&](Result<Response> r) { answer = std::move(r); }, {});
  ASSERT_EQ(worker.handed.size(), 1u);
  worker.respond(0, 204);
  poll();
  ASSERT_TRUE(answer.has_value() && *answer);
  EXPECT_EQ((*answer)->status, 204);
  EXPECT_EQ(observer_.streams_done, 1);

  worker.begin_draining();
  worker.close_with(Error(ErrorKind::goaway, "server went away"));
  poll();
  EXPECT_TRUE(observer_.draining);
  ASSERT_TRUE(observer_.closed.has_value());
  EXPECT_EQ(observer_.closed->kind(), ErrorKind::goaway);
  EXPECT_EQ(connection->state(), http::ConnectionState::closed);
}

TEST_F(NegotiatedConnectionTest, TheConnectTimeoutAbortsTheDialAndTheWorkerReportsIt) {
  auto connection = make(20ms);
  connection->start();
  io_.run_for(2s);  // ends when nothing is left: the timer fired and the dial was aborted
  ASSERT_EQ(dial_.aborts.size(), 1u);
  EXPECT_EQ(dial_.aborts[0].kind(), ErrorKind::handshake_failed);
  EXPECT_EQ(dial_.aborts[0].handshake_failure, HandshakeFailure::timeout);
  EXPECT_NE(dial_.aborts[0].message().find("within 20 ms"), std::string::npos) << dial_.aborts[0].message();
  ASSERT_EQ(dial_.workers.size(), 1u) << "the failed dial gets a worker, which reports it";
  dial_.workers[0]->close_with(dial_.aborts[0]);
  poll();
  ASSERT_TRUE(observer_.closed.has_value());
  EXPECT_EQ(observer_.closed->handshake_failure, HandshakeFailure::timeout);
}

TEST_F(NegotiatedConnectionTest, CloseWhileDialingMakesNoWorkerAndReportsFromAPostedStep) {
  auto connection = make();
  connection->start();
  connection->close();
  EXPECT_FALSE(observer_.closed.has_value()) << "on_closed inside close()";
  ASSERT_EQ(dial_.aborts.size(), 1u);
  poll();
  EXPECT_TRUE(dial_.workers.empty());
  ASSERT_TRUE(observer_.closed.has_value());
  EXPECT_EQ(connection->state(), http::ConnectionState::closed);
  connection.reset();  // the self-hold went with the posted step: nothing is left to run
  EXPECT_EQ(poll(), 0u);
}

}  // namespace
}  // namespace quiver::client

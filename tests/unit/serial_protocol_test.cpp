// A second protocol behind the same OriginPool: a fake with HTTP/1.1's shape (one request at a time on a
// connection; `Connection: close` from the peer drains it). Shows that the neutral contract
// (src/http/connection.hpp) fits that shape: the pool serializes requests on such a connection, moves on
// to a new connection after a drain, and loses nothing. No wire, no real time.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <gtest/gtest.h>

#include "http/connection.hpp"
#include "pool/connection_factory.hpp"
#include "pool/origin_pool.hpp"
#include "unit/manual_clock.hpp"

namespace quiver::pool {
namespace {

using namespace std::chrono_literals;
using testing::ManualClock;

// One request at a time: max_streams() is 1 while connected and idle, 0 while a request is in flight.
// The test plays the peer (connect, respond, `Connection: close`). Replies and observer calls are posted.
class SerialConnection final : public http::Connection {
 public:
  SerialConnection(asio::any_io_executor executor, Origin origin, http::ConnectionObserver* observer)
      : executor_(std::move(executor)), origin_(std::move(origin)), observer_(observer) {}

  // ---- http::Connection ----
  void start() override { ++start_calls; }
  void request(Request request, http::ResponseHandler on_done, asio::cancellation_slot cancel) override {
    if (state_ != http::ConnectionState::connected || current_) ++handed_while_busy;
    targets.push_back(request.url.target());
    std::uint64_t number = next_number_++;
    current_ = Current{number, std::move(on_done)};
    if (cancel.is_connected()) {
      cancel.assign([weak = weak_from_this(), number](asio::cancellation_type) {
        if (auto self = std::static_pointer_cast<SerialConnection>(weak.lock())) self->cancel(number);
      });
    }
  }
  void stream(Request, http::StreamHandler on_headers, asio::cancellation_slot) override {
    ++handed_while_busy;  // not used by these tests
    post([on_headers = std::move(on_headers)]() mutable {
      on_headers(std::unexpected(Error(ErrorKind::invalid_request, "serial fake: no streaming")));
    });
  }
  void drain() override {
    if (state_ == http::ConnectionState::closed) return;
    begin_draining();
    if (!current_) close_with(drained());
  }
  void close() override {
    if (current_) finish_current(std::unexpected(Error(ErrorKind::transport_error, "closed by the client")));
    close_with(Error(ErrorKind::transport_error, "closed by the client"));
  }
  http::ConnectionState state() const noexcept override { return state_; }
  std::uint64_t max_streams() const noexcept override {
    return state_ == http::ConnectionState::connected && !current_ ? 1 : 0;
  }
  std::size_t requests_in_flight() const noexcept override { return current_ ? 1 : 0; }
  std::string debug_string() const override { return "serial " + origin_.to_string(); }
  const Origin& origin() const noexcept override { return origin_; }
  void set_observer(http::ConnectionObserver* observer) noexcept override { observer_ = observer; }

  // ---- the peer, played by the test ----
  void connect() {
    state_ = http::ConnectionState::connected;
    notify([](http::ConnectionObserver& o, http::Connection& c) { o.on_ready(c, 1); });
  }
  bool busy() const { return current_.has_value(); }
  // Answers the request in flight; `connection_close`: the response carried `Connection: close`, so the
  // connection drains and, the exchange being over, closes.
  void respond(int status = 200, bool connection_close = false) {
    ASSERT_TRUE(current_) << "no request in flight";
    if (connection_close) begin_draining();
    finish_current(Response{status, {}, "body of " + targets.back(), {}});
    if (state_ == http::ConnectionState::draining) close_with(drained());
  }

  std::vector<std::string> targets;  // every request handed over, in order
  int start_calls = 0;
  int handed_while_busy = 0;  // a broken promise of the pool: more than one request at a time

 private:
  struct Current {
    std::uint64_t number = 0;  // which request this is on the connection (its key; never handed out)
    http::ResponseHandler on_done;
  };

  // HTTP/1.1 cannot abandon a request and keep the connection: the request fails, the connection closes.
  // A cancellation of an exchange that is over changes nothing.
  void cancel(std::uint64_t number) {
    if (!current_ || current_->number != number) return;
    finish_current(std::unexpected(Error(ErrorKind::cancelled, "cancelled by the caller")));
    close_with(Error(ErrorKind::cancelled, ErrorClass::transient, "closed: a request was cancelled"));
  }

  Error drained() const {
    return Error(ErrorKind::goaway, ErrorClass::transient, "connection to " + origin_.to_string() + " closed");
  }
  void begin_draining() {
    if (state_ != http::ConnectionState::connected && state_ != http::ConnectionState::connecting) return;
    state_ = http::ConnectionState::draining;
    notify([](http::ConnectionObserver& o, http::Connection& c) { o.on_draining(c); });
  }
  void finish_current(Result<Response> result) {
    post([on_done = std::move(current_->on_done), result = std::move(result)]() mutable {
      on_done(std::move(result));
    });
    current_.reset();
    notify([](http::ConnectionObserver& o, http::Connection& c) { o.on_stream_done(c); });
  }
  void close_with(const Error& reason) {
    if (state_ == http::ConnectionState::closed) return;
    state_ = http::ConnectionState::closed;
    notify([reason](http::ConnectionObserver& o, http::Connection& c) { o.on_closed(c, reason); });
  }
  template <class Fn>
  void post(Fn fn) {
    asio::post(executor_, std::move(fn));
  }
  template <class Fn>
  void notify(Fn fn) {
    asio::post(executor_, [self = shared_from_this(), fn = std::move(fn)] {
      auto* connection = static_cast<SerialConnection*>(self.get());
      if (connection->observer_ != nullptr) fn(*connection->observer_, *connection);
    });
  }

  asio::any_io_executor executor_;
  Origin origin_;
  http::ConnectionObserver* observer_;  // borrowed
  http::ConnectionState state_ = http::ConnectionState::connecting;
  std::optional<Current> current_;
  std::uint64_t next_number_ = 1;
};

class SerialConnectionFactory final : public ConnectionFactory {
 public:
  std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const Origin& origin,
                                           const ConnectionOptions&, http::ConnectionObserver* observer) override {
    auto connection = std::make_shared<SerialConnection>(std::move(executor), origin, observer);
    created.push_back(connection);
    return connection;
  }
  std::vector<std::shared_ptr<SerialConnection>> created;
};

struct Outcome {
  int calls = 0;
  std::optional<Result<Response>> result;
  asio::cancellation_signal cancel;  // its slot goes with the request
  bool ok() const { return calls == 1 && result && result->has_value(); }
};

class SerialProtocolPoolTest : public ::testing::Test {
 protected:
  SerialProtocolPoolTest() {
    options.checkout_timeout = 5s;
    options.idle_close = 0ms;
    options.max_connections = 1;
  }
  void TearDown() override {
    for (const auto& connection : factory->created) {
      EXPECT_EQ(connection->handed_while_busy, 0) << "the pool overlapped requests on a serial connection";
    }
  }

  OriginPool& pool() {
    if (!pool_) pool_ = OriginPool::create(io.get_executor(), Origin{"example.test", 443}, options, factory, clock);
    return *pool_;
  }
  void settle() {
    io.restart();
    io.poll();
  }
  std::shared_ptr<Outcome> send(const std::string& target) {
    Request request;
    request.url = Url::parse("https://example.test" + target).value();
    auto outcome = std::make_shared<Outcome>();
    pool().request(
        std::move(request),
        [outcome](Result<Response> result) {
          ++outcome->calls;
          outcome->result = std::move(result);
        },
        outcome->cancel.slot());
    return outcome;
  }
  SerialConnection& connection(std::size_t index) { return *factory->created.at(index); }

  asio::io_context io;
  std::shared_ptr<SerialConnectionFactory> factory = std::make_shared<SerialConnectionFactory>();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  PoolOptions options;

 private:
  std::shared_ptr<OriginPool> pool_;
};

TEST_F(SerialProtocolPoolTest, RequestsAreSerializedOnOneConnection) {
  auto first = send("/1");
  auto second = send("/2");
  auto third = send("/3");
  settle();
  ASSERT_EQ(factory->created.size(), 1u);
  connection(0).connect();
  settle();
  ASSERT_EQ(connection(0).targets, (std::vector<std::string>{"/1"}));  // one at a time: credit 1

  connection(0).respond();
  settle();
  EXPECT_TRUE(first->ok());
  ASSERT_EQ(connection(0).targets, (std::vector<std::string>{"/1", "/2"}));  // the freed slot, in order
  EXPECT_FALSE(second->ok());

  connection(0).respond();
  settle();
  connection(0).respond();
  settle();
  EXPECT_TRUE(second->ok());
  EXPECT_TRUE(third->ok());
  EXPECT_EQ(connection(0).targets, (std::vector<std::string>{"/1", "/2", "/3"}));
  EXPECT_EQ(factory->created.size(), 1u);
  EXPECT_EQ(third->result->value().body, "body of /3");
}

TEST_F(SerialProtocolPoolTest, ConnectionCloseSendsTheNextRequestToANewConnection) {
  auto first = send("/1");
  auto second = send("/2");
  settle();
  connection(0).connect();
  settle();
  connection(0).respond(200, /*connection_close=*/true);  // drains the connection, which then closes
  settle();
  EXPECT_TRUE(first->ok());
  EXPECT_EQ(connection(0).state(), http::ConnectionState::closed);
  EXPECT_EQ(connection(0).targets, (std::vector<std::string>{"/1"}));  // nothing sent after the close

  ASSERT_EQ(factory->created.size(), 2u) << "the waiting request needs a new connection";
  EXPECT_EQ(connection(1).start_calls, 1);
  connection(1).connect();
  settle();
  ASSERT_EQ(connection(1).targets, (std::vector<std::string>{"/2"}));
  connection(1).respond();
  settle();
  EXPECT_TRUE(second->ok());

  auto third = send("/3");  // later requests reuse the live connection
  settle();
  ASSERT_EQ(connection(1).targets, (std::vector<std::string>{"/2", "/3"}));
  connection(1).respond();
  settle();
  EXPECT_TRUE(third->ok());
  EXPECT_EQ(factory->created.size(), 2u);
}

TEST_F(SerialProtocolPoolTest, NothingIsLostAcrossRepeatedDrains) {
  options.max_connections = 2;
  constexpr int kRequests = 9;
  std::vector<std::shared_ptr<Outcome>> outcomes;
  for (int i = 0; i < kRequests; ++i) outcomes.push_back(send("/" + std::to_string(i)));
  settle();
  // The peer closes every connection after its second response; the pool keeps opening new ones.
  std::vector<int> answered_on(64, 0);
  for (int round = 0; round < 100; ++round) {
    bool progressed = false;
    for (std::size_t i = 0; i < factory->created.size(); ++i) {
      SerialConnection& c = connection(i);
      if (c.state() == http::ConnectionState::connecting) {
        c.connect();
        progressed = true;
      } else if (c.busy()) {
        c.respond(200, /*connection_close=*/++answered_on.at(i) == 2);
        progressed = true;
      }
    }
    settle();
    if (!progressed) break;
  }
  std::vector<std::string> sent;
  for (const auto& c : factory->created) sent.insert(sent.end(), c->targets.begin(), c->targets.end());
  EXPECT_EQ(sent.size(), static_cast<std::size_t>(kRequests)) << "each request sent exactly once";
  for (int i = 0; i < kRequests; ++i) EXPECT_TRUE(outcomes[i]->ok()) << "request /" << i;
  for (const auto& c : factory->created) EXPECT_LE(c->targets.size(), 2u);
  EXPECT_LE(factory->created.size(), 64u);
}

TEST_F(SerialProtocolPoolTest, CancellingTheRequestInFlightClosesItsConnectionOnly) {
  auto first = send("/1");
  auto second = send("/2");
  settle();
  connection(0).connect();
  settle();
  first->cancel.emit(asio::cancellation_type::terminal);
  settle();
  ASSERT_EQ(first->calls, 1);
  EXPECT_EQ(first->result->error().kind(), ErrorKind::cancelled);
  EXPECT_EQ(connection(0).state(), http::ConnectionState::closed);

  ASSERT_EQ(factory->created.size(), 2u);
  connection(1).connect();
  settle();
  ASSERT_EQ(connection(1).targets, (std::vector<std::string>{"/2"}));
  connection(1).respond();
  settle();
  EXPECT_TRUE(second->ok());
}

}  // namespace
}  // namespace quiver::pool

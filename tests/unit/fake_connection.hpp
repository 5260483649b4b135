#pragma once
// A scripted http::Connection for the pool's unit tests. The test decides its state, its stream credit and
// every reply; the fake records what the pool handed it. Like the real worker, it posts every reply and
// every observer call to the executor, and counts one stream of credit per request it is handed. Like the
// real worker, it listens for cancellation on the slot handed with a request (weakly: the handler is
// harmless once the fake is gone) and records each cancellation that reaches it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

#include "http/connection.hpp"
#include "pool/connection_factory.hpp"

namespace quiver::pool::testing {

class FakeConnection final : public http::Connection {
 public:
  // One request the pool handed over.
  struct Handed {
    Request request;
    std::variant<http::ResponseHandler, http::StreamHandler> handler;
    bool answered = false;  // its handler has been used
    bool done = false;      // its stream is over (no longer in flight)
    bool cancellable = false;  // it came with a connected cancellation slot
  };

  FakeConnection(asio::any_io_executor executor, quiver::Origin origin, http::ConnectionObserver* observer)
      : executor_(std::move(executor)), origin_(std::move(origin)), observer_(observer) {}

  // ---- http::Connection ----
  void start() override { ++start_calls; }
  void request(Request request, http::ResponseHandler on_done, asio::cancellation_slot cancel) override {
    hand(std::move(request), std::move(on_done), cancel);
  }
  void stream(Request request, http::StreamHandler on_headers, asio::cancellation_slot cancel) override {
    hand(std::move(request), std::move(on_headers), cancel);
  }
  void drain() override { ++drain_calls; }
  void close() override {
    ++close_calls;
    close_with(Error(ErrorKind::transport_error, "connection closed by the client"));
  }
  http::ConnectionState state() const noexcept override { return state_; }
  std::uint64_t max_streams() const noexcept override {
    return state_ == http::ConnectionState::connected || stale_credit_ ? credit_ : 0;
  }
  std::size_t requests_in_flight() const noexcept override {
    std::size_t count = 0;
    for (const auto& request : handed) count += request.done ? 0 : 1;
    return count;
  }
  std::string debug_string() const override { return "fake " + origin_.to_string(); }
  const quiver::Origin& origin() const noexcept override { return origin_; }
  void set_observer(http::ConnectionObserver* observer) noexcept override { observer_ = observer; }

  // ---- driven by the test ----
  http::ConnectionObserver* observer() const { return observer_; }
  const std::string& target(std::size_t index) const { return handed.at(index).request.url.target(); }

  void become_ready(std::uint64_t credit) {
    state_ = http::ConnectionState::connected;
    credit_ = credit;
    notify([credit](http::ConnectionObserver& o, http::Connection& c) { o.on_ready(c, credit); });
  }
  // Answers request `index` with `status` and ends its stream. `credit_back`: the peer's MAX_STREAMS
  // arrived with the stream's end, so the pool only hears on_stream_done.
  void respond(std::size_t index, int status = 200, bool credit_back = false) {
    if (credit_back) ++credit_;
    Handed& request = handed.at(index);
    if (!request.answered) {
      request.answered = true;
      if (auto* on_done = std::get_if<http::ResponseHandler>(&request.handler)) {
        post_reply(*on_done, Result<Response>(Response{status, {}, "body", {}}));
      } else {
        auto& on_headers = std::get<http::StreamHandler>(request.handler);
        post_reply(on_headers, Result<http::StreamingResponse>(http::StreamingResponse{status, {}, nullptr}));
      }
    }
    end_stream(index);
  }
  // Answers request `index` with `error` and ends its stream.
  void fail(std::size_t index, const Error& error) { finish(index, error); }
  void grant_credit(std::uint64_t streams) {
    credit_ += streams;
    notify([](http::ConnectionObserver& o, http::Connection& c) { o.on_stream_credit(c); });
  }
  void begin_draining() {
    state_ = http::ConnectionState::draining;
    notify([](http::ConnectionObserver& o, http::Connection& c) { o.on_draining(c); });
  }
  // Ends the connection: unanswered requests fail with `reason`, then on_closed, as the worker does.
  void close_with(const Error& reason) {
    if (ended_) return;
    ended_ = true;
    state_ = http::ConnectionState::closed;
    for (std::size_t i = 0; i < handed.size(); ++i) finish(i, reason);
    notify([reason](http::ConnectionObserver& o, http::Connection& c) { o.on_closed(c, reason); });
  }
  // Changes state() without telling the observer yet (its event is "still on the way"), and leaves
  // max_streams() showing the old credit, so only a check of state() keeps the pool away.
  void set_state_silently(http::ConnectionState state) {
    state_ = state;
    stale_credit_ = true;
  }

  std::vector<Handed> handed;
  std::vector<std::size_t> cancelled;  // indexes into `handed`, each time a cancellation reached one
  int start_calls = 0;
  int drain_calls = 0;
  int close_calls = 0;
  // Broken promises of the pool, checked by every test: a request beyond the stream credit, or handed
  // to a connection that is not connected.
  int handed_beyond_credit = 0;
  int handed_while_not_connected = 0;

 private:
  template <class Handler>
  void hand(Request request, Handler handler, asio::cancellation_slot cancel) {
    if (state_ != http::ConnectionState::connected) ++handed_while_not_connected;
    if (credit_ == 0) {
      ++handed_beyond_credit;
    } else {
      --credit_;
    }
    std::size_t index = handed.size();
    handed.push_back(Handed{std::move(request), std::move(handler), false, false, cancel.is_connected()});
    if (!cancel.is_connected()) return;
    cancel.assign([weak = weak_from_this(), index](asio::cancellation_type) {
      auto self = std::static_pointer_cast<FakeConnection>(weak.lock());
      if (!self) return;
      self->cancelled.push_back(index);
      self->finish(index, Error(ErrorKind::cancelled, "cancelled by the caller"));
    });
  }

  void finish(std::size_t index, const Error& error) {
    Handed& request = handed.at(index);
    if (!request.answered) {
      request.answered = true;
      std::visit([&](auto& handler) { post_reply(handler, std::unexpected(error)); }, request.handler);
    }
    end_stream(index);
  }

  void end_stream(std::size_t index) {
    Handed& request = handed.at(index);
    if (request.done) return;
    request.done = true;
    notify([](http::ConnectionObserver& o, http::Connection& c) { o.on_stream_done(c); });
  }

  template <class Handler, class Value>
  void post_reply(Handler& handler, Value value) {
    asio::post(executor_, [handler = std::move(handler), value = std::move(value)]() mutable {
      handler(std::move(value));
    });
    handler = nullptr;
  }

  template <class Fn>
  void notify(Fn fn) {
    asio::post(executor_, [self = shared_from_this(), fn = std::move(fn)] {
      auto* fake = static_cast<FakeConnection*>(self.get());
      if (fake->observer_ != nullptr) fn(*fake->observer_, *fake);
    });
  }

  asio::any_io_executor executor_;
  quiver::Origin origin_;
  http::ConnectionObserver* observer_;  // borrowed
  http::ConnectionState state_ = http::ConnectionState::connecting;
  std::uint64_t credit_ = 0;
  bool ended_ = false;  // close_with ran: on_closed was sent
  bool stale_credit_ = false;
};

// Makes FakeConnections and keeps them for the test to drive.
class FakeConnectionFactory final : public ConnectionFactory {
 public:
  std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const quiver::Origin& origin,
                                         const ConnectionOptions&, http::ConnectionObserver* observer) override {
    auto connection = std::make_shared<FakeConnection>(std::move(executor), origin, observer);
    created.push_back(connection);
    return connection;
  }
  std::vector<std::shared_ptr<FakeConnection>> created;
};

}  // namespace quiver::pool::testing

// The worker's implementation: the state machine connecting -> connected -> (draining) -> closed,
// requests by stream id, and the single path by which a request gets its one reply.
#include "h3/connection.hpp"

#include <algorithm>
#include <deque>
#include <unordered_map>

#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "h3/h3_session.hpp"
#include "h3/request_fields.hpp"
#include "quic/quic_transport.hpp"
#include "tls/tls_context.hpp"

namespace quiver::h3 {

std::string_view to_string(ConnectionState state) noexcept {
  switch (state) {
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::connected: return "connected";
    case ConnectionState::draining: return "draining";
    case ConnectionState::closed: return "closed";
  }
  return "unknown";
}

std::string Origin::to_string() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return ipv6 ? fmt::format("https://[{}]:{}", host, port) : fmt::format("https://{}:{}", host, port);
}

namespace {

class ConnectionImpl final : public Connection,
                             private quic::TransportEvents,
                             private SessionEvents {
 public:
  ConnectionImpl(asio::any_io_executor executor, Origin origin, ConnectionOptions options,
                 ConnectionObserver* observer)
      : executor_(executor),
        origin_(std::move(origin)),
        options_(std::move(options)),
        observer_(observer),
        resolver_(executor),
        connect_timer_(executor) {}

  ~ConnectionImpl() override {
    if (transport_) transport_->detach();
  }

  void start() override;
  void request(Request request, ResponseHandler on_done) override;
  void close() override;

  ConnectionState state() const noexcept override { return state_; }
  std::uint64_t max_streams() const noexcept override;
  std::size_t requests_in_flight() const noexcept override { return in_flight_.size() + waiting_.size(); }
  std::string debug_string() const override;
  const Origin& origin() const noexcept override { return origin_; }
  void set_observer(ConnectionObserver* observer) noexcept override { observer_ = observer; }

 private:
  // A request accepted but not yet on a stream (connecting, or no stream credit yet).
  struct Waiting {
    std::uint64_t id;
    std::vector<Header> fields;
    std::string body;
    ResponseHandler on_done;
    std::unique_ptr<asio::steady_timer> deadline;  // the request's timeout, if it has one
  };
  // A request on a stream. Erased when the stream closes; `replied` once its handler has been used.
  struct InFlight {
    std::uint64_t id;
    ResponseHandler on_done;
    std::unique_ptr<asio::steady_timer> deadline;
    Response response;
    bool replied = false;
  };

  // quic::TransportEvents
  void on_handshake_completed() override;
  void on_stream_credit() override;
  void on_transport_closed(Error reason) override;
  // SessionEvents (called inside library callbacks: record and defer, never call user code here)
  void on_response_headers(std::int64_t stream_id, int status, Headers headers) override;
  void on_response_data(std::int64_t stream_id, std::span<const std::uint8_t> data) override;
  void on_response_trailers(std::int64_t stream_id, Headers trailers) override;
  void on_response_end(std::int64_t stream_id) override;
  void on_stream_reset(std::int64_t stream_id, std::uint64_t h3_code) override;
  void on_stream_stop_sending(std::int64_t stream_id, std::uint64_t h3_code) override;
  void on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t> h3_code) override;
  void on_goaway(std::int64_t id) override;

  void on_resolved(const asio::ip::udp::resolver::results_type& endpoints);
  void on_connect_timeout();
  void transition(ConnectionState next);
  void send_waiting();
  void send(Waiting waiting);
  std::unique_ptr<asio::steady_timer> arm_deadline(std::uint64_t id, std::chrono::milliseconds timeout);
  void abandon(std::uint64_t id, const Error& error);
  void reply(ResponseHandler& on_done, Result<Response> result);
  void reply_in_flight(std::int64_t stream_id, Result<Response> result);
  void fail_everything(const Error& reason);
  Error handshake_error(const Error& cause) const;
  template <class Fn>
  void notify_observer(Fn fn);

  asio::any_io_executor executor_;
  Origin origin_;
  ConnectionOptions options_;
  ConnectionObserver* observer_;  // borrowed
  asio::ip::udp::resolver resolver_;
  asio::steady_timer connect_timer_;
  std::shared_ptr<quic::QuicTransport> transport_;
  std::unique_ptr<H3Session> session_;  // created with the transport, before the handshake

  ConnectionState state_ = ConnectionState::connecting;
  bool started_ = false;
  std::optional<std::int64_t> goaway_id_;
  std::uint64_t next_request_id_ = 1;
  std::deque<Waiting> waiting_;                          // in arrival order
  std::unordered_map<std::int64_t, InFlight> in_flight_;
};

// ---- entry points --------------------------------------------------------------------------------

void ConnectionImpl::start() {
  if (started_) return;
  started_ = true;
  auto self = std::static_pointer_cast<ConnectionImpl>(shared_from_this());
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([self](std::error_code ec) {
    if (!ec) self->on_connect_timeout();
  });
  resolver_.async_resolve(origin_.host, std::to_string(origin_.port),
                          [self](std::error_code ec, asio::ip::udp::resolver::results_type results) {
                            if (self->state_ != ConnectionState::connecting) return;
                            if (ec || results.empty()) {
                              Error error(ErrorKind::resolve_failed, ErrorClass::transient,
                                          fmt::format("cannot resolve host '{}': {}", self->origin_.host,
                                                      ec ? ec.message() : "no address"));
                              self->fail_everything(error);
                              return;
                            }
                            self->on_resolved(results);
                          });
}

void ConnectionImpl::on_resolved(const asio::ip::udp::resolver::results_type& endpoints) {
  auto tls_context = tls::ClientTlsContext::create(options_.tls);
  if (!tls_context) {
    fail_everything(tls_context.error());
    return;
  }
  transport_ = std::make_shared<quic::QuicTransport>(
      executor_, quic::TransportConfig{origin_.host, options_}, static_cast<quic::TransportEvents*>(this));
  session_ = std::make_unique<H3Session>(*transport_, static_cast<SessionEvents&>(*this), options_);
  if (auto started = session_->start(); !started) {
    fail_everything(handshake_error(started.error()));
    return;
  }
  transport_->set_application(session_.get());
  auto connected = transport_->connect(endpoints.begin()->endpoint(), std::move(*tls_context),
                                       shared_from_this());
  if (!connected) fail_everything(handshake_error(connected.error()));
}

void ConnectionImpl::request(Request request, ResponseHandler on_done) {
  auto fields = build_request_fields(request);
  if (!fields) {
    reply(on_done, std::unexpected(fields.error()));
    return;
  }
  switch (state_) {
    case ConnectionState::closed:
      reply(on_done, std::unexpected(Error(ErrorKind::transport_error, ErrorClass::transient,
                                           fmt::format("connection to {} is closed", origin_.to_string()))));
      return;
    case ConnectionState::draining: {
      Error error(ErrorKind::goaway, ErrorClass::transient,
                  fmt::format("connection to {} is draining; request not sent", origin_.to_string()));
      error.unprocessed = true;
      if (goaway_id_) error.goaway_id = static_cast<std::uint64_t>(*goaway_id_);
      reply(on_done, std::unexpected(error));
      notify_observer([error](ConnectionObserver& o, Connection& c) { o.on_stream_open_failed(c, error); });
      return;
    }
    case ConnectionState::connecting:
    case ConnectionState::connected: {
      std::uint64_t id = next_request_id_++;
      auto deadline = request.timeout ? arm_deadline(id, *request.timeout) : nullptr;
      waiting_.push_back({id, std::move(*fields), std::move(request.body), std::move(on_done), std::move(deadline)});
      if (state_ == ConnectionState::connected) send_waiting();
      return;
    }
  }
}

std::unique_ptr<asio::steady_timer> ConnectionImpl::arm_deadline(std::uint64_t id,
                                                                 std::chrono::milliseconds timeout) {
  auto timer = std::make_unique<asio::steady_timer>(executor_, timeout);
  std::weak_ptr<Connection> weak = shared_from_this();
  timer->async_wait([weak, id, timeout](std::error_code ec) {
    auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock());
    if (ec || !self) return;
    self->abandon(id, Error(ErrorKind::request_timeout, ErrorClass::unrecoverable,
                            fmt::format("request to {} took longer than its {} ms timeout",
                                        self->origin_.to_string(), timeout.count())));
  });
  return timer;
}

// Gives up on one request: a waiting one is dropped; one on a stream gets its stream reset with
// H3_REQUEST_CANCELLED (its slot is released when the stream closes). Either way it is answered now.
void ConnectionImpl::abandon(std::uint64_t id, const Error& error) {
  auto waiting = std::find_if(waiting_.begin(), waiting_.end(), [id](const Waiting& w) { return w.id == id; });
  if (waiting != waiting_.end()) {
    reply(waiting->on_done, std::unexpected(error));
    waiting_.erase(waiting);
    return;
  }
  for (auto& [stream_id, request] : in_flight_) {
    if (request.id != id || request.replied) continue;
    Error failed = error;
    failed.stream_id = static_cast<std::uint64_t>(stream_id);
    reply_in_flight(stream_id, std::unexpected(failed));
    session_->reset_stream(stream_id, h3_code::request_cancelled);
    return;
  }
}

void ConnectionImpl::close() {
  if (state_ == ConnectionState::closed) return;
  Error reason(ErrorKind::transport_error, ErrorClass::unrecoverable,
               fmt::format("connection to {} closed by the client", origin_.to_string()));
  if (transport_) {
    transport_->close(h3_code::no_error, reason);  // -> on_transport_closed
  }
  if (state_ != ConnectionState::closed) fail_everything(reason);
}

std::uint64_t ConnectionImpl::max_streams() const noexcept {
  if (state_ != ConnectionState::connected || !transport_) return 0;
  return transport_->bidi_streams_left();
}

std::string ConnectionImpl::debug_string() const {
  return fmt::format("{} state={} in_flight={} waiting={} max_streams={} goaway={}", origin_.to_string(),
                     to_string(state_), in_flight_.size(), waiting_.size(), max_streams(),
                     goaway_id_ ? std::to_string(*goaway_id_) : "none");
}

// ---- state machine -------------------------------------------------------------------------------

void ConnectionImpl::transition(ConnectionState next) {
  auto legal = [&] {
    switch (state_) {
      case ConnectionState::connecting: return next != ConnectionState::connecting;
      case ConnectionState::connected: return next == ConnectionState::draining || next == ConnectionState::closed;
      case ConnectionState::draining: return next == ConnectionState::closed;
      case ConnectionState::closed: return false;
    }
    return false;
  }();
  if (!legal) {
    throw std::logic_error(fmt::format("illegal connection transition {} -> {}", to_string(state_),
                                       to_string(next)));
  }
  state_ = next;
}

void ConnectionImpl::on_connect_timeout() {
  if (state_ != ConnectionState::connecting) return;
  Error error(ErrorKind::handshake_failed, ErrorClass::transient,
              fmt::format("no QUIC handshake with {} within {} ms (nothing answering?)", origin_.to_string(),
                          options_.connect_timeout.count()));
  error.handshake_failure = HandshakeFailure::timeout;
  resolver_.cancel();
  if (transport_) {
    transport_->close(h3_code::no_error, error);  // -> on_transport_closed -> fail_everything
  } else {
    fail_everything(error);
  }
}

void ConnectionImpl::on_handshake_completed() {
  if (state_ != ConnectionState::connecting) return;
  if (!transport_->tls()->negotiated_h3()) {
    Error error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                fmt::format("{} did not agree to HTTP/3 (ALPN h3)", origin_.to_string()));
    error.handshake_failure = HandshakeFailure::alpn;
    transport_->close(h3_code::no_error, error);
    return;
  }
  if (auto opened = session_->open_control_streams(); !opened) {
    transport_->close(h3_code::internal_error, handshake_error(opened.error()));
    return;
  }
  connect_timer_.cancel();
  transition(ConnectionState::connected);
  std::uint64_t streams = max_streams();
  notify_observer([streams](ConnectionObserver& o, Connection& c) { o.on_ready(c, streams); });
  send_waiting();
}

void ConnectionImpl::on_stream_credit() {
  if (state_ == ConnectionState::connected) send_waiting();
}

void ConnectionImpl::on_transport_closed(Error reason) {
  if (state_ == ConnectionState::connecting) reason = handshake_error(reason);
  fail_everything(reason);
}

// Sends waiting requests in arrival order while the peer gives us stream credit.
void ConnectionImpl::send_waiting() {
  while (!waiting_.empty() && state_ == ConnectionState::connected && transport_->bidi_streams_left() > 0) {
    Waiting next = std::move(waiting_.front());
    waiting_.pop_front();
    send(std::move(next));
  }
}

void ConnectionImpl::send(Waiting waiting) {
  auto stream_id = session_->submit_request(waiting.fields, std::move(waiting.body));
  if (!stream_id) {
    reply(waiting.on_done, std::unexpected(stream_id.error()));
    Error error = stream_id.error();
    notify_observer([error](ConnectionObserver& o, Connection& c) { o.on_stream_open_failed(c, error); });
    return;
  }
  in_flight_.emplace(*stream_id, InFlight{waiting.id, std::move(waiting.on_done), std::move(waiting.deadline), {}, false});
}

// The one place a reply leaves the worker: posted, so it never runs inside a library callback.
void ConnectionImpl::reply(ResponseHandler& on_done, Result<Response> result) {
  if (!on_done) return;
  asio::post(executor_, [handler = std::move(on_done), result = std::move(result)]() mutable {
    handler(std::move(result));
  });
  on_done = nullptr;
}

void ConnectionImpl::reply_in_flight(std::int64_t stream_id, Result<Response> result) {
  auto it = in_flight_.find(stream_id);
  if (it == in_flight_.end() || it->second.replied) return;
  it->second.replied = true;
  reply(it->second.on_done, std::move(result));
}

// The connection is over: every request still waiting or in flight fails with `reason`, once.
void ConnectionImpl::fail_everything(const Error& reason) {
  if (state_ == ConnectionState::closed) return;
  bool never_connected = state_ == ConnectionState::connecting;
  transition(ConnectionState::closed);
  connect_timer_.cancel();
  resolver_.cancel();
  Error error = never_connected && reason.kind() == ErrorKind::transport_error ? handshake_error(reason) : reason;
  for (auto& waiting : waiting_) reply(waiting.on_done, std::unexpected(error));
  waiting_.clear();
  for (auto& [stream_id, request] : in_flight_) {
    if (request.replied) continue;
    Error failed = error;
    failed.stream_id = static_cast<std::uint64_t>(stream_id);
    reply(request.on_done, std::unexpected(failed));
  }
  in_flight_.clear();
  notify_observer([error](ConnectionObserver& o, Connection& c) { o.on_closed(c, error); });
}

Error ConnectionImpl::handshake_error(const Error& cause) const {
  if (cause.kind() == ErrorKind::handshake_failed || cause.kind() == ErrorKind::resolve_failed) {
    if (cause.message().find(origin_.to_string()) != std::string::npos) return cause;
  }
  ErrorClass error_class = cause.handshake_failure == HandshakeFailure::certificate ||
                                   cause.handshake_failure == HandshakeFailure::alpn
                               ? ErrorClass::unrecoverable
                               : ErrorClass::transient;
  Error error(ErrorKind::handshake_failed, error_class,
              fmt::format("handshake with {} failed: {}", origin_.to_string(), cause.message()));
  error.handshake_failure = cause.handshake_failure.value_or(HandshakeFailure::transport);
  error.transport_code = cause.transport_code;
  error.h3_code = cause.h3_code;
  return error;
}

template <class Fn>
void ConnectionImpl::notify_observer(Fn fn) {
  if (observer_ == nullptr) return;
  asio::post(executor_, [self = shared_from_this(), fn = std::move(fn)] {
    auto* impl = static_cast<ConnectionImpl*>(self.get());
    if (impl->observer_ != nullptr) fn(*impl->observer_, *impl);
  });
}

// ---- session events ------------------------------------------------------------------------------

void ConnectionImpl::on_response_headers(std::int64_t stream_id, int status, Headers headers) {
  auto it = in_flight_.find(stream_id);
  if (it == in_flight_.end()) return;
  it->second.response.status = status;
  it->second.response.headers = std::move(headers);
}

void ConnectionImpl::on_response_data(std::int64_t stream_id, std::span<const std::uint8_t> data) {
  auto it = in_flight_.find(stream_id);
  if (it != in_flight_.end() && !it->second.replied) {
    it->second.response.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  session_->consume(stream_id, data.size());  // buffered: held in the response, credit back at once
}

void ConnectionImpl::on_response_trailers(std::int64_t stream_id, Headers trailers) {
  auto it = in_flight_.find(stream_id);
  if (it != in_flight_.end()) it->second.response.trailers = std::move(trailers);
}

void ConnectionImpl::on_response_end(std::int64_t stream_id) {
  auto it = in_flight_.find(stream_id);
  if (it == in_flight_.end()) return;
  reply_in_flight(stream_id, std::move(it->second.response));
}

void ConnectionImpl::on_stream_reset(std::int64_t stream_id, std::uint64_t code) {
  bool rejected = code == h3_code::request_rejected;
  Error error(ErrorKind::stream_reset, rejected ? ErrorClass::transient : ErrorClass::unrecoverable,
              fmt::format("server reset stream {} with {}", stream_id, h3_error_name(code)));
  error.stream_id = static_cast<std::uint64_t>(stream_id);
  error.h3_code = code;
  error.unprocessed = rejected;
  reply_in_flight(stream_id, std::unexpected(error));
}

void ConnectionImpl::on_stream_stop_sending(std::int64_t, std::uint64_t) {
  // The server stopped reading our body; its response (or a reset) still decides the outcome.
}

void ConnectionImpl::on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t> code) {
  auto it = in_flight_.find(stream_id);
  if (it == in_flight_.end()) return;
  if (!it->second.replied) {
    on_stream_reset(stream_id, code.value_or(h3_code::request_incomplete));
  }
  in_flight_.erase(it);
  notify_observer([](ConnectionObserver& o, Connection& c) { o.on_stream_done(c); });
}

void ConnectionImpl::on_goaway(std::int64_t id) {
  goaway_id_ = goaway_id_ ? std::min(*goaway_id_, id) : id;
}

}  // namespace

std::shared_ptr<Connection> Connection::create(asio::any_io_executor executor, Origin origin,
                                               ConnectionOptions options, ConnectionObserver* observer) {
  return std::make_shared<ConnectionImpl>(std::move(executor), std::move(origin), std::move(options),
                                          observer);
}

}  // namespace quiver::h3

// The worker's lifecycle: connecting -> connected -> draining -> closed, and the one way out.
#include "h3/connection_impl.hpp"

#include <algorithm>

#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>

namespace quiver::h3 {

std::shared_ptr<Connection> Connection::create(asio::any_io_executor executor, Origin origin,
                                               ConnectionOptions options, ConnectionObserver* observer,
                                               quic::DialShared shared) {
  return std::make_shared<ConnectionImpl>(std::move(executor), std::move(origin), std::move(options),
                                          observer, std::move(shared));
}

// The options are sliced once, here: QUIC and dial (quic::dial_config), HTTP/3 (session_options); the
// worker keeps the whole set for its own timers, limits and telemetry.
ConnectionImpl::ConnectionImpl(asio::any_io_executor executor, Origin origin, ConnectionOptions options,
                               ConnectionObserver* observer, quic::DialShared shared)
    : executor_(executor),
      origin_(std::move(origin)),
      options_(std::move(options)),
      observer_(observer),
      connect_timer_(executor),
      drain_timer_(executor),
      held_until_closed_(executor),
      dialer_(executor, quic::dial_config(origin_.host, origin_.port, options_, std::move(shared)),
              static_cast<quic::DialTarget&>(*this)),
      session_options_(session_options(options_)) {}

ConnectionImpl::~ConnectionImpl() {
  if (transport_) transport_->detach();
}

void ConnectionImpl::start() {
  if (started_) return;
  started_ = true;
  started_at_ = std::chrono::steady_clock::now();
  emit(connection_event(ConnectionEvent::Type::start));
  hold_self_until_closed();
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock());
    if (!ec && self) self->on_connect_timeout();
  });
  dialer_.dial(weak_from_this());  // guards the dialer's own posted work (it is a member of ours)
}

// The worker holds itself through its own pending work: a wait that ends only when it closes
// (fail_everything cancels it). Its handler runs posted, so the worker is never released inside the call
// that closed it (the transport's finish, the dialer, a caller's close()); and if the executor's context
// is destroyed first, the handler goes with it and so does the worker (no cycle outlives the context).
void ConnectionImpl::hold_self_until_closed() {
  if (state_ == ConnectionState::closed) return;
  held_until_closed_.expires_at(asio::steady_timer::time_point::max());
  held_until_closed_.async_wait([self = shared_from_this()](std::error_code) {});
}

// Each attempt's transport gets a fresh session (stream data can come with the handshake's end).
Result<void> ConnectionImpl::on_transport_created(std::shared_ptr<quic::QuicTransport> transport) {
  session_.reset();  // the previous attempt's session refers to its transport
  transport_ = std::move(transport);
  session_ = std::make_unique<H3Session>(*transport_, static_cast<SessionEvents&>(*this), session_options_);
  if (auto started = session_->start(); !started) return std::unexpected(handshake_error(started.error()));
  transport_->set_application(session_.get());
  answers_->hold_writes_of(transport_->write_holds());
  return {};
}

void ConnectionImpl::on_dial_failed(Error reason) {
  if (state_ == ConnectionState::connecting) fail_everything(reason);
}

void ConnectionImpl::on_connect_timeout() {
  if (state_ != ConnectionState::connecting) return;
  Error error(ErrorKind::handshake_failed, ErrorClass::transient,
              fmt::format("no QUIC handshake with {} within {} ms (nothing answering?)", origin_.to_string(),
                          options_.connect_timeout.count()));
  error.handshake_failure = HandshakeFailure::timeout;
  dialer_.abort(h3_code::no_error, error);  // -> on_transport_closed -> fail_everything
}

void ConnectionImpl::on_handshake_completed() {
  if (state_ != ConnectionState::connecting) return;
  if (dialer_.negotiated_alpn() != "h3") {
    Error error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                fmt::format("{} did not agree to HTTP/3 (ALPN h3)", origin_.to_string()));
    error.handshake_failure = HandshakeFailure::alpn;
    transport_->close(h3_code::no_error, error);
    return;
  }
  if (auto problem = dialer_.pinned_key_problem()) {
    transport_->close(h3_code::no_error, handshake_error(*problem));
    return;
  }
  if (!control_streams_open_) {  // opened already for 0-RTT, unless the server rejected the early data
    if (auto opened = session_->open_control_streams(); !opened) {
      transport_->close(h3_code::internal_error, handshake_error(opened.error()));
      return;
    }
    control_streams_open_ = true;
  }
  early_ready_ = false;
  if (!streams_.empty()) transport_->set_keep_alive(true);  // early requests: the transport ignored it before
  connect_timer_.cancel();
  handshake_at_ = std::chrono::steady_clock::now();
  transition(ConnectionState::connected);
  // A GOAWAY that came with the handshake's end (recorded while connecting) leaves no credit to use.
  std::uint64_t streams = goaway_id_ ? 0 : transport_->bidi_streams_left();
  ConnectionEvent connected = connection_event(ConnectionEvent::Type::ready);
  connected.max_streams = streams;
  connected.resumed = dialer_.session_resumed();
  if (options_.telemetry) connected.handshake = dialer_.handshake_details();
  connected.early_data_offered = transport_->early_data_offered();
  connected.early_data_accepted = connected.early_data_offered && !transport_->early_data_rejected();
  connected.early_requests = early_requests_;
  emit(std::move(connected));
  notify_observer([streams](ConnectionObserver& o, Connection& c) { o.on_ready(c, streams); });
  if (goaway_id_) {
    apply_goaway();  // its posted apply_goaway may have run while connecting, when it could do nothing
    return;
  }
  send_waiting();
}

// 0-RTT (a resumed connection, before its first packet): our control streams and the eligible waiting
// requests go in the first flight; the pool may hand over more eligible ones (on_early_data_ready).
void ConnectionImpl::on_early_data_ready() {
  if (state_ != ConnectionState::connecting) return;
  if (auto opened = session_->open_control_streams(); !opened) return;  // no early requests; the handshake goes on
  control_streams_open_ = true;
  early_ready_ = true;
  send_early();
  notify_observer([](ConnectionObserver& o, Connection& c) { o.on_early_data_ready(c); });
}

void ConnectionImpl::on_stream_credit() {
  if (state_ != ConnectionState::connected) return;
  send_waiting();
  notify_observer([](ConnectionObserver& o, Connection& c) { o.on_stream_credit(c); });
}

void ConnectionImpl::on_transport_closed(Error reason) {
  if (state_ == ConnectionState::connecting) reason = handshake_error(reason);
  fail_everything(reason);
}

void ConnectionImpl::drain() {
  switch (state_) {
    case ConnectionState::draining:
    case ConnectionState::closed:
      return;
    case ConnectionState::connecting:
      // Nothing was sent yet: the waiting requests can go elsewhere.
      fail_everything(Error(ErrorKind::goaway, ErrorClass::transient,
                            fmt::format("connection to {} drained before it was ready", origin_.to_string())));
      dialer_.abort(h3_code::no_error, Error(ErrorKind::goaway, "drained"));
      return;
    case ConnectionState::connected:
      session_->submit_goaway();
      enter_draining();
      return;
  }
}

void ConnectionImpl::close() {
  if (state_ == ConnectionState::closed) return;
  Error reason(ErrorKind::transport_error, ErrorClass::unrecoverable,
               fmt::format("connection to {} closed by the client", origin_.to_string()));
  dialer_.abort(h3_code::no_error, reason);  // -> on_transport_closed
  fail_everything(reason);  // no-op if the transport already ended it
}

std::uint64_t ConnectionImpl::max_streams() const noexcept {
  if (state_ != ConnectionState::connected || !transport_ || goaway_id_) return 0;
  std::uint64_t left = transport_->bidi_streams_left();
  return left > waiting_.size() ? left - waiting_.size() : 0;
}

std::size_t ConnectionImpl::early_waiting() const {
  return static_cast<std::size_t>(std::ranges::count_if(waiting_, [this](RequestId id) { return calls_.at(id).early_eligible; }));
}

std::uint64_t ConnectionImpl::early_streams() const noexcept {
  if (state_ != ConnectionState::connecting || !early_ready_ || !transport_) return 0;
  std::uint64_t left = transport_->bidi_streams_left();
  std::size_t queued = early_waiting();
  return left > queued ? left - queued : 0;
}

std::string ConnectionImpl::debug_string() const {
  return fmt::format("{} state={} in_flight={} waiting={} max_streams={} goaway={}", origin_.to_string(),
                     to_string(state_), streams_.size(), waiting_.size(), max_streams(),
                     goaway_id_ ? std::to_string(*goaway_id_) : "none");
}

void ConnectionImpl::transition(ConnectionState next) {
  bool legal = false;
  switch (state_) {
    case ConnectionState::connecting: legal = next != ConnectionState::connecting; break;
    case ConnectionState::connected: legal = next == ConnectionState::draining || next == ConnectionState::closed; break;
    case ConnectionState::draining: legal = next == ConnectionState::closed; break;
    case ConnectionState::closed: legal = false; break;
  }
  if (!legal) {
    throw std::logic_error(fmt::format("illegal connection transition {} -> {}", to_string(state_),
                                       to_string(next)));
  }
  state_ = next;
}

// Connected -> draining: no new requests; waiting ones (never sent) fail as unprocessed; the rest finish
// within the drain timeout.
void ConnectionImpl::enter_draining() {
  if (state_ != ConnectionState::connected) return;
  transition(ConnectionState::draining);
  Error refused(ErrorKind::goaway, ErrorClass::transient,
                fmt::format("connection to {} is draining; request not sent", origin_.to_string()));
  refused.unprocessed = true;
  if (goaway_id_) refused.goaway_id = static_cast<std::uint64_t>(*goaway_id_);
  while (!waiting_.empty()) abandon(waiting_.front(), refused);
  ConnectionEvent draining = connection_event(ConnectionEvent::Type::draining);
  draining.goaway_id = refused.goaway_id;
  emit(std::move(draining));
  notify_observer([](ConnectionObserver& o, Connection& c) { o.on_draining(c); });
  drain_timer_.expires_after(options_.drain_timeout);
  drain_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock());
    if (ec || !self || self->state_ == ConnectionState::closed) return;
    // The server may or may not have processed what is still open: not safe to retry blindly.
    Error late(ErrorKind::goaway, ErrorClass::unrecoverable,
               fmt::format("connection to {} did not drain within {} ms; processing of the request is unknown",
                           self->origin_.to_string(), self->options_.drain_timeout.count()));
    self->transport_->close(h3_code::no_error, late);
  });
  close_if_drained();
}

// Runs from stream-close callbacks too, so the close itself is posted: a connection is never closed (and
// its owner possibly released) inside an ngtcp2/nghttp3 call.
void ConnectionImpl::close_if_drained() {
  if (state_ != ConnectionState::draining || !streams_.empty()) return;
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this())] {
    if (self->state_ != ConnectionState::draining || !self->streams_.empty()) return;
    Error drained(ErrorKind::goaway, ErrorClass::transient,
                  fmt::format("connection to {} drained and closed", self->origin_.to_string()));
    self->transport_->close(h3_code::no_error, drained);  // -> on_transport_closed -> fail_everything
  });
}

// The connection is over: every request still waiting or in flight fails with `reason`, once; the
// observer hears on_closed last.
void ConnectionImpl::fail_everything(const Error& reason) {
  if (state_ == ConnectionState::closed) return;
  bool never_connected = state_ == ConnectionState::connecting;
  transition(ConnectionState::closed);
  connect_timer_.cancel();
  drain_timer_.cancel();
  dialer_.stop();
  Error error = never_connected && reason.kind() == ErrorKind::transport_error ? handshake_error(reason) : reason;
  for (auto& [id, call] : calls_) {
    Error failed = error;
    if (call.stream_id) failed.stream_id = static_cast<std::uint64_t>(*call.stream_id);
    fail(call, peer_failure(call, failed));
  }
  calls_.clear();
  waiting_.clear();
  streams_.clear();
  ConnectionEvent ended = connection_event(never_connected ? ConnectionEvent::Type::exception
                                                          : ConnectionEvent::Type::closed);
  ended.error = error;
  emit(std::move(ended));
  notify_observer([error](ConnectionObserver& o, Connection& c) { o.on_closed(c, error); });
  held_until_closed_.cancel();  // the worker stops holding itself (see hold_self_until_closed)
}

Error ConnectionImpl::handshake_error(const Error& cause) const {
  if (cause.kind() == ErrorKind::connection_refused) return cause;  // its own kind: the CLI's exit 7, retry later
  if ((cause.kind() == ErrorKind::handshake_failed || cause.kind() == ErrorKind::resolve_failed) &&
      cause.message().find(origin_.to_string()) != std::string::npos) {
    return cause;
  }
  ErrorClass error_class = ErrorClass::transient;
  if (cause.error_class() == ErrorClass::invalid) {
    error_class = ErrorClass::invalid;  // e.g. an unreadable CA file: the caller must fix the options
  } else if (cause.handshake_failure == HandshakeFailure::certificate ||
             cause.handshake_failure == HandshakeFailure::alpn) {
    error_class = ErrorClass::unrecoverable;
  }
  Error error(ErrorKind::handshake_failed, error_class,
              fmt::format("handshake with {} failed: {}", origin_.to_string(), cause.message()));
  error.handshake_failure = cause.handshake_failure.value_or(HandshakeFailure::transport);
  error.transport_code = cause.transport_code;
  error.h3_code = cause.h3_code;
  return error;
}

// Posted as an answer: the pool's reply (a request handed over on ready or on new credit) is queued
// before the transport's next flush, so it rides in that packet.
void ConnectionImpl::notify_observer(std::function<void(ConnectionObserver&, Connection&)> notify) {
  if (observer_ == nullptr) return;
  answers_->post(executor_, [self = shared_from_this(), notify = std::move(notify)] {
    auto* impl = static_cast<ConnectionImpl*>(self.get());
    if (impl->observer_ != nullptr) notify(*impl->observer_, *impl);
  });
}

ConnectionEvent ConnectionImpl::connection_event(ConnectionEvent::Type type) const {
  ConnectionEvent event;
  event.type = type;
  event.origin = origin_.to_string();
  event.duration = std::chrono::steady_clock::now() - started_at_;
  return event;
}

// What a response tells of its exchange (Response::transfer): the peer, the protocol, reuse, and when
// this connection's phases ended (only for the request that opened it: a reused connection's phases
// are not this request's) and when the final headers arrived.
void ConnectionImpl::note_transfer(Call& call) const {
  TransferInfo& transfer = call.response.transfer;
  transfer.http_version = "3";
  transfer.peer_address = dialer_.peer().address().to_string();
  transfer.peer_port = dialer_.peer().port();
  transfer.connection_reused = call.reused;
  if (!call.reused) {
    transfer.instants.name_lookup = dialer_.resolved_at();
    transfer.instants.connect = handshake_at_;  // QUIC: connected once the handshake completes
    transfer.instants.tls = handshake_at_;
  }
  transfer.instants.first_byte = std::chrono::steady_clock::now();
}

void ConnectionImpl::emit(ConnectionEvent event) {
  if (!options_.telemetry) return;
  asio::post(executor_, [sink = options_.telemetry, event = std::move(event)] { sink->on_connection_event(event); });
}

void ConnectionImpl::emit(const Call& call, RequestEvent::Type type, const Error* error) {
  if (!options_.telemetry) return;
  RequestEvent event;
  event.type = type;
  event.origin = origin_.to_string();
  event.method = call.fields.at(0).value;  // :method (build_request_fields' order)
  event.target = call.fields.at(3).value;  // :path
  if (call.stream_id) event.stream_id = static_cast<std::uint64_t>(*call.stream_id);
  event.status = call.response.status;
  event.bytes = call.bytes_received;
  event.duration = std::chrono::steady_clock::now() - call.started;
  if (error) event.error = *error;
  asio::post(executor_, [sink = options_.telemetry, event = std::move(event)] { sink->on_request_event(event); });
}

}  // namespace quiver::h3

// The worker's lifecycle: connecting -> connected -> draining -> closed, the bytes in (into the response
// parser) and out (the TLS stream), and the one way out.
#include "h1/connection_impl.hpp"

#include <algorithm>
#include <stdexcept>

#include <asio/post.hpp>
#include <fmt/format.h>

namespace quiver::h1 {

// Its own dial offers only http/1.1 (otherwise the options are sliced as for HTTP/2: tcp::dial_config).
std::shared_ptr<Connection> Connection::create(asio::any_io_executor executor, Origin origin,
                                               ConnectionOptions options, ConnectionObserver* observer,
                                               tcp::DialShared shared) {
  tcp::DialConfig config = tcp::dial_config(origin.host, origin.port, options, std::move(shared));
  config.alpn = {"http/1.1"};
  config.report_attempt.http_version = 1;
  auto dialer = std::make_shared<tcp::Dialer>(executor, std::move(config));
  return create(std::move(executor), std::move(origin), std::move(options), observer, std::move(dialer));
}

std::shared_ptr<Connection> Connection::create(asio::any_io_executor executor, Origin origin,
                                               ConnectionOptions options, ConnectionObserver* observer,
                                               std::shared_ptr<tcp::StreamSource> source) {
  return std::make_shared<ConnectionImpl>(std::move(executor), std::move(origin), std::move(options), observer,
                                          std::move(source));
}

ConnectionImpl::ConnectionImpl(asio::any_io_executor executor, Origin origin, ConnectionOptions options,
                               ConnectionObserver* observer, std::shared_ptr<tcp::StreamSource> source)
    : executor_(executor),
      origin_(std::move(origin)),
      options_(std::move(options)),
      observer_(observer),
      connect_timer_(executor),
      drain_timer_(executor),
      idle_timer_(executor),
      source_(std::move(source)),
      parser_(static_cast<ResponseEvents&>(*this), options_.max_response_header_bytes) {}

ConnectionImpl::~ConnectionImpl() {
  if (stream_) {
    stream_->detach();
    stream_->close(Error(ErrorKind::transport_error, "connection released"));
  }
}

void ConnectionImpl::start() {
  if (started_) return;
  started_ = true;
  self_ = shared_from_this();
  // A dial that already ran (the server's ALPN chose this worker) counts from its own start.
  started_at_ = source_->started_at() == std::chrono::steady_clock::time_point() ? std::chrono::steady_clock::now()
                                                                                  : source_->started_at();
  emit(connection_event(ConnectionEvent::Type::start));
  connect_timer_.expires_at(started_at_ + options_.connect_timeout);
  connect_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    if (auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock()); self && !ec) self->on_connect_timeout();
  });
  source_->dial([weak = weak_from_this()](Result<std::shared_ptr<tcp::TlsStream>> dialed) {
    if (auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock())) self->on_dialed(std::move(dialed));
  });
}

// TLS is up: HTTP/1.1 if the server chose it or chose nothing (a server without ALPN speaks HTTP/1.1).
void ConnectionImpl::on_dialed(Result<std::shared_ptr<tcp::TlsStream>> dialed) {
  if (state_ != ConnectionState::connecting) {
    if (dialed) (*dialed)->close(Error(ErrorKind::transport_error, "connection no longer wanted"));
    return;
  }
  if (!dialed) return fail_everything(handshake_error(dialed.error()));
  stream_ = std::move(*dialed);
  dialed_ = stream_->instants();
  peer_ = stream_->peer();
  if (std::string alpn = stream_->negotiated_alpn(); !alpn.empty() && alpn != "http/1.1") {
    Error error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                fmt::format("{} did not agree to HTTP/1.1 (ALPN http/1.1; it chose '{}')", origin_.to_string(), alpn));
    error.handshake_failure = HandshakeFailure::alpn;
    return finish(error);
  }
  last_activity_ = std::chrono::steady_clock::now();
  stream_->start(static_cast<tcp::StreamEvents*>(this));
  become_connected();
}

// What a response tells of its exchange (Response::transfer), as the HTTP/2 worker does.
void ConnectionImpl::note_transfer(Call& call) const {
  TransferInfo& transfer = call.response.transfer;
  transfer.http_version = "1.1";
  transfer.peer_address = peer_.address().to_string();
  transfer.peer_port = peer_.port();
  transfer.connection_reused = call.reused;
  if (!call.reused) {
    transfer.instants.name_lookup = dialed_.resolved;
    transfer.instants.connect = dialed_.connected;
    transfer.instants.tls = dialed_.handshaken;
  }
  transfer.instants.first_byte = std::chrono::steady_clock::now();
}

void ConnectionImpl::on_connect_timeout() {
  if (state_ != ConnectionState::connecting) return;
  Error error(ErrorKind::handshake_failed, ErrorClass::transient,
              fmt::format("no HTTP/1.1 connection to {} within {} ms (TCP and TLS; nothing answering?)",
                          origin_.to_string(), options_.connect_timeout.count()));
  error.handshake_failure = HandshakeFailure::timeout;
  finish(error);
}

// ---- bytes in and out ----------------------------------------------------------------------------

// Bytes from the server go to the response parser, which stops at the end of the response: anything
// after it, or anything while no response is due, breaks HTTP/1.1 (a body longer than its
// content-length, a response to no request) and ends the connection.
void ConnectionImpl::on_stream_data(std::span<const std::uint8_t> data) {
  last_activity_ = std::chrono::steady_clock::now();
  if (state_ == ConnectionState::closed) return;
  Call* call = current_call();
  if (call == nullptr || call->response_ended || !parser_.expecting()) {
    Error error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
                fmt::format("{} sent {} bytes with no request outstanding on its HTTP/1.1 connection (a response to "
                            "no request, or a body longer than its content-length)",
                            origin_.to_string(), data.size()));
    if (call != nullptr) fail(*call, error);
    return finish(error);
  }
  auto progress = parser_.receive(data);
  if (!progress) {
    Error error = progress.error();
    fail(*call, error);
    return finish(error.restated(error.kind(), ErrorClass::unrecoverable,
                                 fmt::format("HTTP/1.1 connection to {} closed: {}", origin_.to_string(),
                                             error.message())));
  }
  if (!progress->complete) {
    if (call->streaming && unread_ >= options_.stream_window && !reading_paused_) {
      reading_paused_ = true;  // TCP pushes back until the consumer reads (on_body_consumed)
      stream_->pause_reading();
    }
    return;
  }
  if (progress->consumed < data.size()) {
    Error error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
                fmt::format("{} sent {} bytes after the end of its response (a body longer than its content-length, or "
                            "a response to no request)",
                            origin_.to_string(), data.size() - progress->consumed));
    fail(*call, error);
    return finish(error);
  }
  on_response_complete(progress->keep_alive);
}

void ConnectionImpl::on_stream_writable() {
  last_activity_ = std::chrono::steady_clock::now();
  pump_upload();
}

// The stream ended. A body delimited by the close ends here; a call on a reused connection that saw no
// response byte met the stale keep-alive race (stale_failure); the rest fail with the reason.
void ConnectionImpl::on_stream_closed(Error reason) {
  bool peer_closed = stream_ && stream_->peer_closed();
  stream_.reset();
  if (state_ == ConnectionState::connecting) return fail_everything(handshake_error(reason));
  if (Call* call = current_call(); call != nullptr && !call->response_ended) {
    if (peer_closed && parser_.started()) {
      auto progress = parser_.receive_eof();
      if (progress && progress->complete) {
        on_response_complete(false);
      } else if (!progress) {
        fail(*call, progress.error());
      }
    } else {
      fail(*call, stale_failure(*call, reason));
    }
  }
  fail_everything(reason);
}

Result<void> ConnectionImpl::write(std::string_view bytes) {
  if (!stream_) return std::unexpected(Error(ErrorKind::transport_error, "connection closed"));
  last_activity_ = std::chrono::steady_clock::now();
  return stream_->write({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

// The connection ends now with `reason`: the stream closes (best effort close_notify) and every request
// still open fails.
void ConnectionImpl::finish(Error reason) {
  Error error = state_ == ConnectionState::connecting ? handshake_error(reason) : std::move(reason);
  if (stream_) {
    stream_->detach();
    stream_->close(error);
    stream_.reset();
  }
  source_->abort(error);
  fail_everything(error);
}

// The exchange on the wire cannot be finished cleanly (cancelled, abandoned, timed out, upload failed):
// HTTP/1.1 cannot skip the rest of a message, so the connection closes; waiting calls fail unprocessed.
void ConnectionImpl::close_unusable(const std::string& why) {
  finish(Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
               fmt::format("HTTP/1.1 connection to {} closed: {}", origin_.to_string(), why)));
}

// One timer, checking every quarter of the idle timeout: silence (nothing received or written) for the
// whole idle timeout ends the connection. While reading is paused for a slow consumer the silence is
// ours and does not count (the reader's own stream_idle_timeout covers that consumer).
void ConnectionImpl::arm_idle_timer() {
  if (options_.idle_timeout.count() <= 0) return;
  idle_timer_.expires_after(std::max(options_.idle_timeout / 4, std::chrono::milliseconds(1)));
  idle_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    if (auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock()); self && !ec) self->on_idle_check();
  });
}

void ConnectionImpl::on_idle_check() {
  if (state_ == ConnectionState::closed) return;
  auto now = std::chrono::steady_clock::now();
  if (reading_paused_) last_activity_ = now;
  if (now - last_activity_ >= options_.idle_timeout) {
    return finish(Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                        fmt::format("HTTP/1.1 connection to {} idle for {} ms (idle timeout)", origin_.to_string(),
                                    options_.idle_timeout.count())));
  }
  arm_idle_timer();
}

// ---- lifecycle -----------------------------------------------------------------------------------

void ConnectionImpl::become_connected() {
  connect_timer_.cancel();
  transition(ConnectionState::connected);
  arm_idle_timer();
  ConnectionEvent connected = connection_event(ConnectionEvent::Type::ready);
  connected.max_streams = 1;
  emit(std::move(connected));
  notify_observer([](ConnectionObserver& o, Connection& c) { o.on_ready(c, 1); });
  send_next();
}

void ConnectionImpl::drain() {
  switch (state_) {
    case ConnectionState::draining:
    case ConnectionState::closed:
      return;
    case ConnectionState::connecting:
    {
      Error drained(ErrorKind::goaway, ErrorClass::transient,
                    fmt::format("connection to {} drained before it was ready", origin_.to_string()));
      drained.unprocessed = true;
      finish(drained);
      return;
    }
    case ConnectionState::connected:
      enter_draining(fmt::format("connection to {} is draining; request not sent", origin_.to_string()));
      return;
  }
}

void ConnectionImpl::close() {
  if (state_ == ConnectionState::closed) return;
  finish(Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
               fmt::format("connection to {} closed by the client", origin_.to_string())));
}

// One exchange at a time: 1 while nothing is on the wire or waiting, 0 otherwise (and while connecting,
// draining or closed).
std::uint64_t ConnectionImpl::max_streams() const noexcept {
  if (state_ != ConnectionState::connected || !reusable_ || current_ || !waiting_.empty()) return 0;
  return 1;
}

std::string ConnectionImpl::debug_string() const {
  return fmt::format("{} h1 state={} in_flight={} waiting={} max_streams={} exchanges={}", origin_.to_string(),
                     to_string(state_), current_ ? 1 : 0, waiting_.size(), max_streams(), exchanges_);
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

// Connected -> draining: no new requests; waiting ones (never sent) fail unprocessed; the exchange on the
// wire finishes within the drain timeout, then the connection closes.
void ConnectionImpl::enter_draining(const std::string& why) {
  if (state_ != ConnectionState::connected) return;
  transition(ConnectionState::draining);
  Error refused(ErrorKind::goaway, ErrorClass::transient, why);
  refused.unprocessed = true;
  while (!waiting_.empty()) abandon(waiting_.front(), refused);
  emit(connection_event(ConnectionEvent::Type::draining));
  notify_observer([](ConnectionObserver& o, Connection& c) { o.on_draining(c); });
  drain_timer_.expires_after(options_.drain_timeout);
  drain_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock());
    if (ec || !self || self->state_ == ConnectionState::closed) return;
    self->finish(Error(ErrorKind::goaway, ErrorClass::unrecoverable,
                       fmt::format("connection to {} did not drain within {} ms; processing of the request is "
                                   "unknown",
                                   self->origin_.to_string(), self->options_.drain_timeout.count())));
  });
  close_if_drained();
}

// Posted: a connection is never closed (and its owner possibly released) inside one of its own calls.
void ConnectionImpl::close_if_drained() {
  if (state_ != ConnectionState::draining || current_) return;
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this())] {
    if (self->state_ != ConnectionState::draining || self->current_) return;
    self->finish(Error(ErrorKind::goaway, ErrorClass::transient,
                       fmt::format("connection to {} drained and closed", self->origin_.to_string())));
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
  idle_timer_.cancel();
  for (auto& [id, call] : calls_) fail(call, call.sent ? reason : unsent_failure(reason));
  calls_.clear();
  waiting_.clear();
  current_.reset();
  ConnectionEvent ended = connection_event(never_connected ? ConnectionEvent::Type::exception
                                                          : ConnectionEvent::Type::closed);
  ended.error = reason;
  emit(std::move(ended));
  notify_observer([reason](ConnectionObserver& o, Connection& c) { o.on_closed(c, reason); });
  asio::post(executor_, [self = std::move(self_)] {});
}

Error ConnectionImpl::handshake_error(const Error& cause) const {
  if (cause.kind() == ErrorKind::connection_refused) return cause;
  if ((cause.kind() == ErrorKind::handshake_failed || cause.kind() == ErrorKind::resolve_failed) &&
      cause.message().find(origin_.to_string()) != std::string::npos) {
    return cause;
  }
  ErrorClass error_class = ErrorClass::transient;
  if (cause.error_class() == ErrorClass::invalid) {
    error_class = ErrorClass::invalid;
  } else if (cause.handshake_failure == HandshakeFailure::certificate ||
             cause.handshake_failure == HandshakeFailure::alpn) {
    error_class = ErrorClass::unrecoverable;
  }
  ErrorKind kind = cause.kind() == ErrorKind::resolve_failed ? ErrorKind::resolve_failed : ErrorKind::handshake_failed;
  Error error = cause.restated(kind, error_class,
                               fmt::format("handshake with {} failed: {}", origin_.to_string(), cause.message()));
  error.handshake_failure = cause.handshake_failure.value_or(HandshakeFailure::transport);
  return error;
}

// Posted as an answer: the pool's reply (a request handed over on ready or on new credit) is queued
// before the next flush, so it rides in that write.
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
  event.http_version = 1;
  event.duration = std::chrono::steady_clock::now() - started_at_;
  return event;
}

void ConnectionImpl::emit(ConnectionEvent event) {
  if (!options_.telemetry) return;
  asio::post(executor_, [sink = options_.telemetry, event = std::move(event)] { sink->on_connection_event(event); });
}

void ConnectionImpl::emit(const Call& call, RequestEvent::Type type, const Error* error) {
  if (!options_.telemetry || call.fields.size() < 4) return;
  RequestEvent event;
  event.type = type;
  event.origin = origin_.to_string();
  event.method = call.fields[0].value;
  event.target = call.fields[3].value;
  event.status = call.response.status;
  event.bytes = call.bytes_received;
  event.duration = std::chrono::steady_clock::now() - call.started;
  if (error) event.error = *error;
  asio::post(executor_, [sink = options_.telemetry, event = std::move(event)] { sink->on_request_event(event); });
}

}  // namespace quiver::h1

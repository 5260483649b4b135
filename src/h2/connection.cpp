// The worker's lifecycle: connecting -> connected -> draining -> closed, the byte pump between the TLS
// stream and nghttp2, and the one way out.
#include "h2/connection_impl.hpp"

#include <algorithm>
#include <stdexcept>

#include <asio/post.hpp>
#include <fmt/format.h>

namespace quiver::h2 {

namespace {

// The pump stops producing frames while this much ciphertext waits for the socket (backpressure: the
// rest stays in nghttp2 and in the request bodies' bounded buffers).
constexpr std::size_t kHighWater = 256 * 1024;
// Most hops a posted pump waits while answers hold it (as the QUIC transport's bound).
constexpr std::size_t kMaxPumpDeferrals = 4;

}  // namespace

// The options are sliced once: TCP and dial (tcp::dial_config, here), HTTP/2 (session_options, in the
// constructor); the worker keeps the whole set for its own timers, limits and telemetry.
std::shared_ptr<Connection> Connection::create(asio::any_io_executor executor, Origin origin,
                                               ConnectionOptions options, ConnectionObserver* observer,
                                               tcp::DialShared shared) {
  auto dialer = std::make_shared<tcp::Dialer>(
      executor, tcp::dial_config(origin.host, origin.port, options, std::move(shared)));
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
      session_(static_cast<SessionEvents&>(*this), session_options(options_)) {
  answers_->hold_writes_of(write_holds_);
}

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

// TLS is up: HTTP/2 only if the server agreed to h2. The connection preface goes out now; the
// connection is ready when the server's SETTINGS arrive (on_settings).
void ConnectionImpl::on_dialed(Result<std::shared_ptr<tcp::TlsStream>> dialed) {
  if (state_ != ConnectionState::connecting) {
    if (dialed) (*dialed)->close(Error(ErrorKind::transport_error, "connection no longer wanted"));
    return;
  }
  if (!dialed) return fail_everything(handshake_error(dialed.error()));
  stream_ = std::move(*dialed);
  dialed_ = stream_->instants();
  peer_ = stream_->peer();
  if (std::string alpn = stream_->negotiated_alpn(); alpn != "h2") {
    Error error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                fmt::format("{} did not agree to HTTP/2 (ALPN h2; it chose {})", origin_.to_string(),
                            alpn.empty() ? "none" : "'" + alpn + "'"));
    error.handshake_failure = HandshakeFailure::alpn;
    return finish(error);
  }
  if (auto started = session_.start(); !started) return finish(handshake_error(started.error()));
  last_received_ = std::chrono::steady_clock::now();
  stream_->start(static_cast<tcp::StreamEvents*>(this));
  pump();
}

// What a response tells of its exchange (Response::transfer): the peer, the protocol, reuse, and when
// this connection's phases ended (only for the request that opened it) and when the final headers arrived.
void ConnectionImpl::note_transfer(Call& call) const {
  TransferInfo& transfer = call.response.transfer;
  transfer.http_version = "2";
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
              fmt::format("no HTTP/2 connection to {} within {} ms (TCP, TLS and the server's SETTINGS; nothing "
                          "answering?)",
                          origin_.to_string(), options_.connect_timeout.count()));
  error.handshake_failure = HandshakeFailure::timeout;
  finish(error);
}

// ---- the byte pump -------------------------------------------------------------------------------

// Runs pump() soon, once however many events ask; behind the answers being delivered (write holds).
void ConnectionImpl::schedule_pump() {
  if (pump_scheduled_ || !stream_) return;
  pump_scheduled_ = true;
  write_holds_.post_flush(executor_, kMaxPumpDeferrals, [weak = weak_from_this()] {
    auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock());
    if (!self) return;
    self->pump_scheduled_ = false;
    self->pump();
  });
}

// Moves nghttp2's frames into the TLS stream until nothing is due or the socket is behind; ends the
// connection when nghttp2 has nothing more to do (after a GOAWAY exchange or a connection error).
void ConnectionImpl::pump() {
  if (!stream_ || state_ == ConnectionState::closed) return;
  while (stream_->queued_bytes() < kHighWater) {
    auto output = session_.next_output();
    if (!output) return finish(output.error());
    if (output->empty()) break;
    if (auto written = stream_->write(*output); !written) return;  // the stream reports its close
  }
  if (!session_.alive()) {
    std::string why = session_.fatal_text();
    Error error = why.empty() ? Error(ErrorKind::goaway, ErrorClass::transient,
                                      fmt::format("HTTP/2 connection to {} ended (GOAWAY)", origin_.to_string()))
                              : Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                                      fmt::format("HTTP/2 connection error with {}: {}", origin_.to_string(), why));
    finish(error);
  }
}

void ConnectionImpl::on_stream_data(std::span<const std::uint8_t> data) {
  last_received_ = std::chrono::steady_clock::now();
  if (auto received = session_.receive(data); !received) return finish(received.error());
  schedule_pump();  // acknowledgements, WINDOW_UPDATEs, and what the events queued
}

void ConnectionImpl::on_stream_writable() { pump(); }

void ConnectionImpl::on_stream_closed(Error reason) {
  stream_.reset();
  fail_everything(state_ == ConnectionState::connecting ? handshake_error(reason) : reason);
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
  source_->abort(error);  // a dial still running reports it to on_dialed, which fails everything with it
  fail_everything(error);
}

// One timer for both, checking every quarter of the idle timeout: silence for idle_timeout ends the
// connection; with requests in flight, silence for half of it sends a PING (its answer is traffic and
// resets the count), so the PING goes out a quarter of the timeout before the close at the latest.
void ConnectionImpl::arm_idle_timer() {
  if (options_.idle_timeout.count() <= 0) return;
  idle_timer_.expires_after(std::max(options_.idle_timeout / 4, std::chrono::milliseconds(1)));
  idle_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    if (auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock()); self && !ec) self->on_idle_check();
  });
}

void ConnectionImpl::on_idle_check() {
  if (state_ == ConnectionState::closed) return;
  auto silent = std::chrono::steady_clock::now() - last_received_;
  if (silent >= options_.idle_timeout) {
    Error error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                fmt::format("HTTP/2 connection to {} idle for {} ms (idle timeout)", origin_.to_string(),
                            options_.idle_timeout.count()));
    return finish(error);
  }
  if (!streams_.empty() && silent >= options_.idle_timeout / 2) {
    session_.submit_ping();
    pump();
  }
  arm_idle_timer();
}

// ---- lifecycle -----------------------------------------------------------------------------------

// The server's SETTINGS: the first one makes the connection ready; any later one may change the credit.
void ConnectionImpl::on_settings() {
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this())] {
    if (self->state_ == ConnectionState::connecting) return self->become_connected();
    if (self->state_ != ConnectionState::connected) return;
    self->send_waiting();
    self->notify_observer([](ConnectionObserver& o, Connection& c) { o.on_stream_credit(c); });
  });
}

void ConnectionImpl::become_connected() {
  connect_timer_.cancel();
  transition(ConnectionState::connected);
  arm_idle_timer();
  // A GOAWAY that came with the SETTINGS leaves no credit to use.
  std::uint64_t streams = goaway_last_id_ ? 0 : session_.max_concurrent_streams();
  ConnectionEvent connected = connection_event(ConnectionEvent::Type::ready);
  connected.max_streams = streams;
  connected.resumed = stream_ && stream_->resumed();
  if (stream_ && options_.telemetry) connected.handshake = stream_->handshake_details();
  emit(std::move(connected));
  notify_observer([streams](ConnectionObserver& o, Connection& c) { o.on_ready(c, streams); });
  if (goaway_last_id_) return apply_goaway();
  send_waiting();
}

void ConnectionImpl::drain() {
  switch (state_) {
    case ConnectionState::draining:
    case ConnectionState::closed:
      return;
    case ConnectionState::connecting:
    {
      // Nothing was sent yet: the waiting requests can go elsewhere.
      Error drained(ErrorKind::goaway, ErrorClass::transient,
                    fmt::format("connection to {} drained before it was ready", origin_.to_string()));
      fail_everything(drained);
      finish(drained);
      return;
    }
    case ConnectionState::connected:
      session_.submit_goaway();
      pump();
      enter_draining();
      return;
  }
}

void ConnectionImpl::close() {
  if (state_ == ConnectionState::closed) return;
  finish(Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
               fmt::format("connection to {} closed by the client", origin_.to_string())));
}

std::uint64_t ConnectionImpl::max_streams() const noexcept {
  if (state_ != ConnectionState::connected || goaway_last_id_) return 0;
  std::uint64_t limit = session_.max_concurrent_streams();
  std::uint64_t used = streams_.size() + waiting_.size();
  return limit > used ? limit - used : 0;
}

std::string ConnectionImpl::debug_string() const {
  return fmt::format("{} h2 state={} in_flight={} waiting={} max_streams={} goaway={}", origin_.to_string(),
                     to_string(state_), streams_.size(), waiting_.size(), max_streams(),
                     goaway_last_id_ ? std::to_string(*goaway_last_id_) : "none");
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
  if (goaway_last_id_) refused.goaway_id = static_cast<std::uint64_t>(*goaway_last_id_);
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
    self->finish(Error(ErrorKind::goaway, ErrorClass::unrecoverable,
                       fmt::format("connection to {} did not drain within {} ms; processing of the request is "
                                   "unknown",
                                   self->origin_.to_string(), self->options_.drain_timeout.count())));
  });
  close_if_drained();
}

// Runs from stream-close callbacks too, so the close itself is posted: a connection is never closed (and
// its owner possibly released) inside an nghttp2 call.
void ConnectionImpl::close_if_drained() {
  if (state_ != ConnectionState::draining || !streams_.empty()) return;
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this())] {
    if (self->state_ != ConnectionState::draining || !self->streams_.empty()) return;
    self->pump();  // our GOAWAY (if the drain is ours) goes out before the close
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
  for (auto& [id, call] : calls_) {
    Error failed = reason;
    if (call.stream_id) failed.stream_id = static_cast<std::uint64_t>(*call.stream_id);
    fail(call, peer_failure(call, failed));
  }
  calls_.clear();
  waiting_.clear();
  streams_.clear();
  ConnectionEvent ended = connection_event(never_connected ? ConnectionEvent::Type::exception
                                                          : ConnectionEvent::Type::closed);
  ended.error = reason;
  emit(std::move(ended));
  notify_observer([reason](ConnectionObserver& o, Connection& c) { o.on_closed(c, reason); });
  // Released after everything posted so far: never destroyed inside one of our own calls.
  asio::post(executor_, [self = std::move(self_)] {});
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
  event.http_version = 2;
  event.duration = std::chrono::steady_clock::now() - started_at_;
  return event;
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

}  // namespace quiver::h2

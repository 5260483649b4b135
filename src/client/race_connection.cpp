#include "client/race_connection.hpp"

#include <asio/post.hpp>
#include <fmt/format.h>

namespace quiver::client {

namespace {

// The QUIC handshake reached the peer's identity and one side refused it (the server's certificate or
// pinned key, or our client certificate). The same server's TCP side presents the same identity, so TCP
// is not tried: a fallback would only hide the real error (and must never get round a failed check).
bool rejected_identity(const Error& reason) {
  return reason.handshake_failure == HandshakeFailure::certificate ||
         reason.handshake_failure == HandshakeFailure::client_certificate;
}

}  // namespace

std::shared_ptr<RaceConnection> RaceConnection::create(asio::any_io_executor executor, Origin origin,
                                                       const ConnectionOptions& options,
                                                       http::ConnectionObserver* observer,
                                                       std::shared_ptr<ProtocolMemory> memory, RacePlan plan,
                                                       MakeAttempt make) {
  return std::make_shared<RaceConnection>(PrivateTag{}, std::move(executor), std::move(origin), options, observer,
                                          std::move(memory), std::move(plan), std::move(make));
}

RaceConnection::RaceConnection(PrivateTag, asio::any_io_executor executor, Origin origin,
                               const ConnectionOptions& options, http::ConnectionObserver* observer,
                               std::shared_ptr<ProtocolMemory> memory, RacePlan plan, MakeAttempt make)
    : ForwardingConnection(std::move(executor), std::move(origin), observer),
      race_delay_(options.http3_race_delay),
      broken_time_(options.http3_broken_time),
      memory_(std::move(memory)),
      plan_(std::move(plan)),
      make_(std::move(make)) {}

RaceConnection::~RaceConnection() {
  drop(http3_, true);
  drop(tcp_, true);
}

// ---- the race ------------------------------------------------------------------------------------

void RaceConnection::start() {
  hold_self();
  if (!plan_.http3) return start_tcp(plan_.reason);
  start_http3();
  race_timer_.emplace(executor_, race_delay_);
  race_timer_->async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = std::static_pointer_cast<RaceConnection>(weak.lock());
    if (!ec && self) self->on_race_delay();
  });
}

void RaceConnection::start_http3() {
  http3_ = make_(Attempt::http3, fmt::format("tried first: {}", plan_.reason), this);
  http3_->start();
}

void RaceConnection::start_tcp(const std::string& reason) {
  if (tcp_ || target_ || closed_) return;
  race_timer_.reset();
  choice_ = reason;  // what TCP's win will be put down to
  tcp_ = make_(Attempt::tcp, reason, this);
  tcp_->start();
}

void RaceConnection::on_race_delay() {
  race_timer_.reset();
  start_tcp(fmt::format("QUIC not connected after {} ms", race_delay_.count()));
}

// The race is decided: `attempt` carries every request from now on. A TCP attempt that lost is closed; a
// QUIC attempt that lost goes on alone to learn whether HTTP/3 works (see the header).
void RaceConnection::win(http::Connection& attempt, std::string choice) {
  race_timer_.reset();
  target_ = &attempt;
  choice_ = std::move(choice);
  if (&attempt == http3_.get()) drop(tcp_, true);
}

void RaceConnection::on_http3_failed(const Error& reason) {
  http3_error_ = reason;
  drop(http3_, false);
  if (tcp_ready_) {
    memory_->mark_broken(quic_authority(), broken_time_);
    return;
  }
  if (rejected_identity(reason)) {
    drop(tcp_, true);
    return finish(reason);
  }
  if (!tcp_ && !target_) return start_tcp(fmt::format("QUIC failed: {}", reason.message()));
}

// A TCP attempt that failed before the race was decided ends it only if QUIC failed too.
void RaceConnection::on_tcp_failed(const Error& reason) {
  drop(tcp_, false);
  if (http3_) return;  // QUIC may still win
  std::string note = http3_error_ ? fmt::format("; HTTP/3 failed first: {}", http3_error_->message()) : std::string();
  finish(reason.restated(reason.kind(), reason.error_class(),
                         fmt::format("{} (over TCP{})", reason.message(), note)));
}

// The QUIC attempt that lost to TCP, if it still runs, ends with the race's connection. Still connecting
// after all the TCP connection's life (a network that drops UDP answers nothing; only its connect timeout
// would end it), it counts as failed: later connections go straight to TCP.
void RaceConnection::drop_background_quic() {
  if (!http3_ || target_ == http3_.get()) return;
  if (tcp_ready_) memory_->mark_broken(quic_authority(), broken_time_);
  drop(http3_, true);
}

// The end: tells the observer (from a posted observer call or a posted step, never inside a caller's
// call), and lets go of itself one step later.
void RaceConnection::finish(const Error& reason) {
  if (closed_) return;
  race_timer_.reset();
  drop_background_quic();
  report_closed(reason);
}

// ---- the attempts' events ------------------------------------------------------------------------

void RaceConnection::on_ready(http::Connection& attempt, std::uint64_t max_streams) {
  bool is_http3 = &attempt == http3_.get();
  if (is_http3) memory_->confirm_http3(quic_authority());
  if (target_ && !is_target(attempt)) {  // the QUIC attempt that lost to TCP: HTTP/3 works after all
    drop(http3_, true);
    return;
  }
  if (!target_) {
    if (is_http3) {
      win(attempt, fmt::format("HTTP/3 won the race ({})", plan_.reason));
    } else {
      tcp_ready_ = true;
      win(attempt, plan_.http3 ? fmt::format("TCP won the race ({})", choice_) : fmt::format("TCP only: {}", choice_));
      if (http3_error_) memory_->mark_broken(quic_authority(), broken_time_);
    }
  }
  if (observer_) observer_->on_ready(*this, max_streams);
}

void RaceConnection::on_early_data_ready(http::Connection& attempt) {
  if (target_ || &attempt != http3_.get()) return;
  win(attempt, fmt::format("HTTP/3 with 0-RTT ({})", plan_.reason));
  if (observer_) observer_->on_early_data_ready(*this);
}

void RaceConnection::on_draining(http::Connection& attempt) {
  if (!is_target(attempt)) return;
  drop_background_quic();  // a draining connection learns nothing more
  if (observer_) observer_->on_draining(*this);
}

void RaceConnection::on_closed(http::Connection& attempt, const Error& reason) {
  if (is_target(attempt)) return finish(reason);
  if (&attempt == http3_.get()) return on_http3_failed(reason);
  if (&attempt == tcp_.get()) return on_tcp_failed(reason);
}

// ---- requests ------------------------------------------------------------------------------------

// The response's way back: its Alt-Svc fields go to the memory, and it says why its protocol was used.
template <class Value>
std::move_only_function<void(Result<Value>)> RaceConnection::observe(std::move_only_function<void(Result<Value>)> handler) {
  return [memory = memory_, origin = origin_, choice = choice_, handler = std::move(handler)](Result<Value> result) mutable {
    if (result) {
      memory->on_response_fields(origin, result->headers);
      result->transfer.protocol_choice = choice;
    }
    handler(std::move(result));
  };
}

std::string RaceConnection::not_ready_reason() const {
  return fmt::format("the connection to {} is still racing QUIC against TCP; not sent", origin_.to_string());
}

void RaceConnection::drain() {
  if (!target_) return close();
  drop_background_quic();
  target_->drain();
}

// With a winner, its own close() ends it and its on_closed comes back through on_closed(). Without one,
// both attempts are dropped and the observer hears of it in a posted step.
void RaceConnection::close() {
  if (closed_) return;
  if (target_) {
    drop_background_quic();
    target_->close();
    return;
  }
  drop(http3_, true);
  drop(tcp_, true);
  race_timer_.reset();
  asio::post(executor_, [self = std::static_pointer_cast<RaceConnection>(shared_from_this())] {
    self->finish(Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                       fmt::format("connection to {} closed by the client while racing", self->origin_.to_string())));
  });
}

// ---- state ---------------------------------------------------------------------------------------

std::string RaceConnection::debug_string() const {
  if (target_) return fmt::format("{} ({})", target_->debug_string(), choice_);
  return fmt::format("{} state={} racing: quic={} tcp={}", origin_.to_string(), to_string(state()),
                     http3_ ? "on" : "off", tcp_ ? "on" : "off");
}

}  // namespace quiver::client

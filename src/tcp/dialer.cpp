#include "tcp/dialer.hpp"

#include <algorithm>

#include <asio/connect.hpp>
#include <asio/error.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/origin.hpp"
#include "tls/session_cache.hpp"
#include "tls/tls_context.hpp"

namespace quiver::tcp {

DialConfig dial_config(std::string host, std::uint16_t port, const ConnectionOptions& options, DialShared shared) {
  DialConfig config;
  Origin target = connect_target(host, port, options.connect_to);
  config.host = std::move(host);
  config.port = port;
  config.connect_host = std::move(target.host);
  config.connect_port = target.port;
  config.tls = options.tls;
  config.shared = std::move(shared);
  config.happy_eyeballs_delay = options.happy_eyeballs_delay;
  config.report_attempt = AttemptReport{options.telemetry, Origin{config.host, port}.to_string(), 2};
  return config;
}

std::vector<asio::ip::tcp::endpoint> happy_eyeballs_order(std::vector<asio::ip::tcp::endpoint> endpoints) {
  std::vector<asio::ip::tcp::endpoint> v6, v4, ordered;
  for (const auto& endpoint : endpoints) (endpoint.address().is_v6() ? v6 : v4).push_back(endpoint);
  for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
    if (i < v6.size()) ordered.push_back(v6[i]);
    if (i < v4.size()) ordered.push_back(v4[i]);
  }
  return ordered;
}

Dialer::Dialer(asio::any_io_executor executor, DialConfig config)
    : executor_(executor), config_(std::move(config)), resolver_(executor), delay_timer_(executor) {}

void Dialer::dial(Handler on_done) {
  on_done_ = std::move(on_done);
  instants_.started = std::chrono::steady_clock::now();
  std::error_code not_literal;
  if (auto address = asio::ip::make_address(config_.connect_host, not_literal); !not_literal) {
    // An IP literal needs no lookup (Asio's resolver would start a thread for it).
    asio::post(executor_, [self = shared_from_this(), peer = asio::ip::tcp::endpoint(address, config_.connect_port)] {
      if (!self->finished_) self->race({peer});
    });
    return;
  }
  resolver_.async_resolve(config_.connect_host, std::to_string(config_.connect_port),
                          [self = shared_from_this()](std::error_code ec, asio::ip::tcp::resolver::results_type results) {
                            if (self->finished_) return;
                            if (ec || results.empty()) {
                              self->finish(std::unexpected(Error(
                                  ErrorKind::resolve_failed, ErrorClass::transient,
                                  fmt::format("cannot resolve host '{}': {}", self->config_.connect_host,
                                              ec ? ec.message() : "no address"))));
                              return;
                            }
                            std::vector<asio::ip::tcp::endpoint> endpoints;
                            for (const auto& entry : results) endpoints.push_back(entry.endpoint());
                            self->race(happy_eyeballs_order(std::move(endpoints)));
                          });
}

void Dialer::dial(std::vector<asio::ip::tcp::endpoint> endpoints, Handler on_done) {
  on_done_ = std::move(on_done);
  instants_.started = std::chrono::steady_clock::now();
  asio::post(executor_, [self = shared_from_this(), endpoints = std::move(endpoints)]() mutable {
    if (!self->finished_) self->race(std::move(endpoints));
  });
}

void Dialer::race(std::vector<asio::ip::tcp::endpoint> endpoints) {
  instants_.resolved = std::chrono::steady_clock::now();
  if (endpoints.empty()) {
    finish(std::unexpected(Error(ErrorKind::resolve_failed, ErrorClass::transient,
                                 fmt::format("no address to connect to for '{}'", config_.host))));
    return;
  }
  // The TLS context first: credentials that cannot be loaded (a CA file, the client certificate) fail
  // the dial before any connection is made.
  auto context = tls::ClientTlsContext::shared(config_.tls);
  if (!context) return finish(std::unexpected(context.error()));
  tls_context_ = std::move(*context);
  endpoints_ = std::move(endpoints);
  start_next_attempt();
}

// Starts the next address's connection and arms the delay after which the one after it starts.
void Dialer::start_next_attempt() {
  if (finished_ || peer_ != asio::ip::tcp::endpoint() || attempts_.size() >= endpoints_.size()) return;
  const std::size_t index = attempts_.size();
  attempts_.push_back(std::make_unique<Attempt>(Attempt{asio::ip::tcp::socket(executor_), endpoints_[index]}));
  config_.report_attempt(executor_, endpoints_[index]);
  attempts_.back()->socket.async_connect(endpoints_[index], [self = shared_from_this(), index](std::error_code ec) {
    self->on_attempt_done(index, ec);
  });
  if (attempts_.size() == endpoints_.size()) return;
  delay_timer_.expires_after(config_.happy_eyeballs_delay);
  delay_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (!ec) self->start_next_attempt();
  });
}

void Dialer::on_attempt_done(std::size_t index, std::error_code ec) {
  if (finished_ || ec == asio::error::operation_aborted) return;
  Attempt& attempt = *attempts_[index];
  if (!ec) return on_connected(index);
  ++failed_;
  last_error_ = connect_error(ec, attempt.endpoint);
  std::error_code ignored;
  attempt.socket.close(ignored);
  if (failed_ == endpoints_.size()) return finish(std::unexpected(*last_error_));
  // RFC 8305 §5: a failed attempt starts the next one at once.
  if (attempts_.size() < endpoints_.size() && failed_ == attempts_.size()) {
    delay_timer_.cancel();
    start_next_attempt();
  }
}

// The first connected socket wins; the other attempts close, and TLS starts on the winner.
void Dialer::on_connected(std::size_t index) {
  peer_ = attempts_[index]->endpoint;
  instants_.connected = std::chrono::steady_clock::now();
  asio::ip::tcp::socket socket = std::move(attempts_[index]->socket);
  delay_timer_.cancel();
  close_attempts();
  // Keyed by the ALPN list offered: an HTTP/1.1-only connection never takes an HTTP/2 connection's ticket.
  tls::Resumption resumption{config_.shared.sessions,
                             tls::session_key(fmt::format("{}", fmt::join(config_.alpn, ",")), config_.host,
                                              config_.port, config_.tls),
                             false};
  auto session = tls::ClientTlsSession::create_for_tcp(tls_context_, config_.host, config_.alpn,
                                                       std::move(resumption));
  if (!session) return finish(std::unexpected(session.error()));
  handshaking_ = std::make_shared<TlsStream>(std::move(socket), std::move(*session), config_.host);
  handshaking_->async_handshake([self = shared_from_this()](Result<void> done) {
    if (self->finished_) return;
    auto stream = std::move(self->handshaking_);
    if (!done) return self->finish(std::unexpected(done.error()));
    if (auto problem = tls::pinned_key_problem(&stream->tls(), self->config_.tls.pinned_public_keys)) {
      stream->close(*problem);
      return self->finish(std::unexpected(*problem));
    }
    self->instants_.handshaken = std::chrono::steady_clock::now();
    stream->set_instants(self->instants_);
    self->finish(std::move(stream));
  });
}

void Dialer::close_attempts() {
  for (auto& attempt : attempts_) {
    std::error_code ignored;
    attempt->socket.close(ignored);
  }
}

void Dialer::abort(Error reason) {
  if (finished_) return;
  resolver_.cancel();
  delay_timer_.cancel();
  close_attempts();
  if (handshaking_) handshaking_->close(reason);
  handshaking_.reset();
  finish(std::unexpected(std::move(reason)));
}

void Dialer::finish(Result<std::shared_ptr<TlsStream>> result) {
  if (finished_) return;
  finished_ = true;
  delay_timer_.cancel();
  if (auto done = std::move(on_done_)) done(std::move(result));
}

Error Dialer::connect_error(std::error_code ec, const asio::ip::tcp::endpoint& endpoint) const {
  std::string where = fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
  if (ec == asio::error::connection_refused) {
    Error error(ErrorKind::connection_refused, ErrorClass::transient,
                fmt::format("nothing listens at {} for '{}' (TCP connection refused)", where, config_.host));
    error.handshake_failure = HandshakeFailure::refused;
    return error;
  }
  Error error(ErrorKind::handshake_failed, ErrorClass::transient,
              fmt::format("cannot connect to {} for '{}': {}", where, config_.host, ec.message()));
  error.handshake_failure = HandshakeFailure::transport;
  return error;
}

}  // namespace quiver::tcp

#include "quic/dialer.hpp"

#include <algorithm>
#include <cstdlib>

#include <asio/error.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>

#include "core/origin.hpp"
#include "tls/session_cache.hpp"
#include "tls/tls_context.hpp"

namespace quiver::quic {

namespace {
// The largest DATAGRAM frame we accept when datagrams are on: any that fits a UDP datagram.
constexpr std::uint64_t kMaxDatagramFrame = 65535;
}  // namespace

DialConfig dial_config(std::string host, std::uint16_t port, const ConnectionOptions& options, DialShared shared) {
  TransportOptions transport{.idle_timeout = options.idle_timeout,
                             .connection_window = options.connection_window,
                             .stream_window = options.stream_window,
                             .max_udp_payload = options.max_udp_payload,
                             .congestion_control = options.congestion_control,
                             .qlog_dir = options.qlog_dir,
                             .max_datagram_frame_size = options.http_datagrams ? kMaxDatagramFrame : 0};
  if (transport.qlog_dir.empty()) {
    if (const char* dir = std::getenv("QLOGDIR"); dir != nullptr) transport.qlog_dir = dir;
  }
  Origin target = connect_target(host, port, options.connect_to);
  AttemptReport report_attempt{options.telemetry, Origin{host, port}.to_string(), 3};
  return DialConfig{std::move(host), port, std::move(target.host), target.port, transport, options.tls,
                    std::move(shared), std::move(report_attempt)};
}

Dialer::Dialer(asio::any_io_executor executor, DialConfig config, DialTarget& target)
    : executor_(executor), config_(std::move(config)), target_(target), resolver_(executor) {}

Dialer::~Dialer() {
  resolver_.cancel();
  if (transport_) transport_->detach();
}

void Dialer::dial(std::weak_ptr<void> owner) {
  owner_ = std::move(owner);
  std::error_code not_literal;
  if (auto address = asio::ip::make_address(config_.connect_host, not_literal); !not_literal) {
    // An IP literal needs no lookup (Asio's resolver would start a thread for it).
    asio::post(executor_, [this, owner = owner_, peer = asio::ip::udp::endpoint(address, config_.connect_port)] {
      if (auto keep = owner.lock(); keep && !done_) on_resolved({peer});
    });
    return;
  }
  resolver_.async_resolve(config_.connect_host, std::to_string(config_.connect_port),
                          [this, owner = owner_](std::error_code ec,
                                                 asio::ip::udp::resolver::results_type results) {
                            auto keep = owner.lock();  // the owner owns this dialer
                            if (!keep || ec == asio::error::operation_aborted || done_) return;
                            if (ec || results.empty()) {
                              done_ = true;
                              target_.on_dial_failed(Error(
                                  ErrorKind::resolve_failed, ErrorClass::transient,
                                  fmt::format("cannot resolve host '{}': {}", config_.connect_host,
                                              ec ? ec.message() : "no address")));
                              return;
                            }
                            std::vector<asio::ip::udp::endpoint> endpoints;
                            for (const auto& entry : results) endpoints.push_back(entry.endpoint());
                            on_resolved(std::move(endpoints));
                          });
}

void Dialer::dial(std::weak_ptr<void> owner, std::vector<asio::ip::udp::endpoint> endpoints) {
  owner_ = std::move(owner);
  asio::post(executor_, [this, owner = owner_, endpoints = std::move(endpoints)]() mutable {
    if (auto keep = owner.lock(); keep && !done_) on_resolved(std::move(endpoints));
  });
}

void Dialer::on_resolved(std::vector<asio::ip::udp::endpoint> endpoints) {
  resolved_at_ = std::chrono::steady_clock::now();
  auto tls_context = tls::ClientTlsContext::shared(config_.tls);
  if (!tls_context) {
    done_ = true;
    target_.on_dial_failed(tls_context.error());
    return;
  }
  tls_context_ = std::move(*tls_context);
  endpoints_ = std::move(endpoints);
  attempt(0);
}

// Tries endpoints_[index]; a set-up failure moves on to the next address, the last one's is reported.
void Dialer::attempt(std::size_t index) {
  if (done_) return;
  next_ = index + 1;
  peer_ = endpoints_[index];
  config_.report_attempt(executor_, peer_);
  if (transport_) transport_->detach();
  tls::Resumption resumption{config_.shared.sessions,
                             tls::session_key("h3", config_.host, config_.port, config_.tls),
                             config_.shared.early_data};
  transport_ = std::make_shared<QuicTransport>(executor_, TransportConfig{config_.host, config_.transport, resumption},
                                               static_cast<TransportEvents*>(this));
  if (auto created = target_.on_transport_created(transport_); !created) {
    done_ = true;
    target_.on_dial_failed(created.error());
    return;
  }
  auto connected = transport_->connect(peer_, tls_context_);
  if (connected) {
    transport_live_ = true;
    return;
  }
  if (next_ < endpoints_.size()) return attempt(next_);
  done_ = true;
  target_.on_transport_closed(connected.error());
}

// Refused before the handshake (nothing listens at that address): the next address may answer.
bool Dialer::try_next_after(const Error& reason) const {
  return !handshake_completed_ && reason.kind() == ErrorKind::connection_refused && next_ < endpoints_.size();
}

void Dialer::abort(std::uint64_t app_error_code, Error reason) {
  resolver_.cancel();
  if (transport_live_) {
    transport_->close(app_error_code, std::move(reason));  // -> on_transport_closed
    return;
  }
  if (done_) return;
  done_ = true;
  target_.on_transport_closed(std::move(reason));
}

void Dialer::stop() {
  resolver_.cancel();
  if (!transport_live_) done_ = true;
}

std::string Dialer::negotiated_alpn() const {
  if (!transport_ || !handshake_completed_ || transport_->tls() == nullptr) return {};
  return transport_->tls()->negotiated_alpn();
}

bool Dialer::session_resumed() const {
  return transport_ && handshake_completed_ && transport_->tls() != nullptr && transport_->tls()->resumed();
}

std::optional<Error> Dialer::pinned_key_problem() const {
  return tls::pinned_key_problem(transport_ ? transport_->tls() : nullptr, config_.tls.pinned_public_keys);
}

HandshakeDetails Dialer::handshake_details() const {
  if (!transport_ || transport_->tls() == nullptr) return {};
  HandshakeDetails details = transport_->tls()->handshake_details();
  details.quic_version = transport_->negotiated_version();
  details.rtt = transport_->smoothed_rtt();
  return details;
}

void Dialer::on_handshake_completed() {
  handshake_completed_ = true;
  target_.on_handshake_completed();
}

void Dialer::on_stream_credit() { target_.on_stream_credit(); }

void Dialer::on_transport_closed(Error reason) {
  transport_live_ = false;
  if (!done_ && try_next_after(reason)) {
    // Not from inside the closing transport: the next attempt starts on a clean stack.
    asio::post(executor_, [this, owner = owner_] {
      if (auto keep = owner.lock(); keep && !done_) attempt(next_);
    });
    return;
  }
  done_ = true;
  target_.on_transport_closed(std::move(reason));
}

}  // namespace quiver::quic

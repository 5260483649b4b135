// The composition root: the one file above the protocol folders that names their implementations, and
// the one that builds what a Client's connections share below the workers (the TLS session cache, for
// every protocol: keys differ by ALPN, so a ticket never crosses protocols) and above them (the protocol
// memory: Alt-Svc cache and broken-HTTP/3 marks). The connection options choose: HTTP/3 (src/h3), HTTP/2
// or HTTP/1.1 as the server's ALPN picks (src/h2, src/h1: client/negotiated_connection.hpp), HTTP/1.1 alone
// (src/h1), or HTTP/3 raced against TCP (HttpVersion::http3, client/race_connection.hpp).
#include "client/connection_factory.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "client/negotiated_connection.hpp"
#include "client/protocol_memory.hpp"
#include "client/race_connection.hpp"
#include "h1/connection.hpp"
#include "h2/connection.hpp"
#include "h3/connection.hpp"
#include "tcp/dialer.hpp"
#include "tls/session_cache.hpp"

namespace quiver::client {
namespace {

// Adds why an attempt of a race was made to its connection events (ConnectionEvent::reason).
class ReasonTelemetry final : public Telemetry {
 public:
  ReasonTelemetry(std::shared_ptr<Telemetry> sink, std::string reason)
      : sink_(std::move(sink)), reason_(std::move(reason)) {}
  void on_connection_event(const ConnectionEvent& event) override {
    ConnectionEvent with_reason = event;
    with_reason.reason = reason_;
    sink_->on_connection_event(with_reason);
  }
  void on_request_event(const RequestEvent& event) override { sink_->on_request_event(event); }

 private:
  std::shared_ptr<Telemetry> sink_;
  std::string reason_;
};

// QUIC to the origin's Alt-Svc port: an override ahead of the caller's, keeping where the caller's first
// matching override sends the origin's packets (its host), with the alternative's port.
void connect_to_alternative(ConnectionOptions& options, const Origin& origin, std::uint16_t port) {
  ConnectOverride alternative{origin.host, origin.port, "", port};
  for (const auto& rule : options.connect_to) {
    if (!rule.host.empty() && rule.host != "*" && rule.host != origin.host) continue;
    if (rule.port != 0 && rule.port != origin.port) continue;
    alternative.connect_host = rule.connect_host;
    break;
  }
  options.connect_to.insert(options.connect_to.begin(), std::move(alternative));
}

// The TCP dial of a connection that offers ALPN h2 and http/1.1: the server's choice makes the worker, on
// the dialed stream (no ALPN: HTTP/1.1; a failed dial: the HTTP/2 worker, which reports it).
class TcpDial final : public NegotiatedConnection::Dial {
 public:
  TcpDial(asio::any_io_executor executor, Origin origin, ConnectionOptions options, tcp::DialShared shared)
      : executor_(executor),
        origin_(std::move(origin)),
        options_(std::move(options)),
        dialer_(std::make_shared<tcp::Dialer>(executor,
                                              tcp::dial_config(origin_.host, origin_.port, options_, std::move(shared)))) {}
  // A dial still running is ended; its handler (which borrows this object) runs inside abort().
  ~TcpDial() override { dialer_->abort(Error(ErrorKind::transport_error, "connection released")); }

  void start(std::move_only_function<void()> on_done) override {
    dialer_->dial([this, on_done = std::move(on_done)](Result<std::shared_ptr<tcp::TlsStream>> outcome) mutable {
      outcome_ = std::move(outcome);
      on_done();
    });
  }

  void abort(Error reason) override { dialer_->abort(std::move(reason)); }

  std::shared_ptr<http::Connection> make_worker(http::ConnectionObserver* observer) override {
    const bool speaks_http1 = outcome_ && (*outcome_)->negotiated_alpn() != "h2";
    auto source = std::make_shared<tcp::DialedStream>(executor_, std::move(outcome_), dialer_->started_at());
    if (speaks_http1) {
      options_.http_version = HttpVersion::http1_1;
      return h1::Connection::create(executor_, origin_, options_, observer, std::move(source));
    }
    return h2::Connection::create(executor_, origin_, options_, observer, std::move(source));
  }

 private:
  asio::any_io_executor executor_;
  Origin origin_;
  ConnectionOptions options_;
  std::shared_ptr<tcp::Dialer> dialer_;
  Result<std::shared_ptr<tcp::TlsStream>> outcome_ = std::unexpected(Error(ErrorKind::transport_error, "not dialed"));
};

// HTTP/2 or HTTP/1.1, as the server's ALPN says.
std::shared_ptr<http::Connection> tcp_connection(asio::any_io_executor executor, const Origin& origin,
                                                 const ConnectionOptions& options, http::ConnectionObserver* observer,
                                                 tcp::DialShared shared) {
  auto dial = std::make_unique<TcpDial>(executor, origin, options, std::move(shared));
  return NegotiatedConnection::create(std::move(executor), origin, options, observer, std::move(dial));
}

class RealConnectionFactory final : public pool::ConnectionFactory {
 public:
  RealConnectionFactory(quic::DialShared shared, std::shared_ptr<ProtocolMemory> memory)
      : shared_(std::move(shared)), tcp_shared_{shared_.sessions}, memory_(std::move(memory)) {}

  std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const Origin& origin,
                                           const ConnectionOptions& options,
                                           http::ConnectionObserver* observer) override {
    switch (options.http_version) {
      case HttpVersion::http2:
        return tcp_connection(std::move(executor), origin, options, observer, tcp_shared_);
      case HttpVersion::http1_1:
        return h1::Connection::create(std::move(executor), origin, options, observer, tcp_shared_);
      case HttpVersion::http3:
        return race(std::move(executor), origin, options, observer);
      case HttpVersion::http3_only:
        break;
    }
    return h3::Connection::create(std::move(executor), origin, options, observer, shared_);
  }

 private:
  std::shared_ptr<http::Connection> race(asio::any_io_executor executor, const Origin& origin,
                                         const ConnectionOptions& options, http::ConnectionObserver* observer) {
    RacePlan plan = memory_->plan(origin);
    auto make = [executor, origin, options, shared = shared_, tcp_shared = tcp_shared_, http3_port = plan.http3_port](
                    RaceConnection::Attempt attempt, const std::string& reason,
                    http::ConnectionObserver* attempt_observer) -> std::shared_ptr<http::Connection> {
      ConnectionOptions attempt_options = options;
      if (options.telemetry) attempt_options.telemetry = std::make_shared<ReasonTelemetry>(options.telemetry, reason);
      if (attempt == RaceConnection::Attempt::tcp) {
        attempt_options.http_version = HttpVersion::http2;
        return tcp_connection(executor, origin, attempt_options, attempt_observer, tcp_shared);
      }
      attempt_options.http_version = HttpVersion::http3_only;
      if (http3_port != origin.port) connect_to_alternative(attempt_options, origin, http3_port);
      return h3::Connection::create(executor, origin, attempt_options, attempt_observer, shared);
    };
    return RaceConnection::create(std::move(executor), origin, options, observer, memory_, std::move(plan),
                                  std::move(make));
  }

  quic::DialShared shared_;                 // the same for every HTTP/3 connection of the Client
  tcp::DialShared tcp_shared_;              // and every TCP one: the same session cache (no TCP early data)
  std::shared_ptr<ProtocolMemory> memory_;  // Alt-Svc and broken-HTTP/3 marks, for every race
};

void warn(const ClientOptions& options, const std::string& message) {
  if (options.on_warning) {
    options.on_warning(message);
  } else {
    fmt::print(stderr, "quiver: warning: {}\n", message);
  }
}

}  // namespace

std::shared_ptr<pool::ConnectionFactory> real_connection_factory(const ClientOptions& options) {
  auto sessions = std::make_shared<tls::SessionCache>(options.session_cache_size, options.session_file);
  if (auto loaded = sessions->load_file(); !loaded) warn(options, loaded.error().message());
  auto memory = std::make_shared<ProtocolMemory>(options.alt_svc_cache_size, options.alt_svc_file);
  if (auto loaded = memory->alt_svc().load_file(); !loaded) warn(options, loaded.error().message());
  quic::DialShared shared{std::move(sessions), options.early_data, std::make_shared<quic::GroKeyKeeper>()};
  return std::make_shared<RealConnectionFactory>(std::move(shared), std::move(memory));
}

}  // namespace quiver::client

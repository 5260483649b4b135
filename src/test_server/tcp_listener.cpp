// TcpListener: accept, TLS handshake, ALPN, one session per connection (see the header).
#include "test_server/tcp_listener.hpp"

#include <cstdio>

#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>

#include "test_server/h1_session.hpp"
#include "test_server/h2_session.hpp"
#include "test_server/test_controls.hpp"

namespace quiver::server {
namespace {
constexpr auto kHandshakeLimit = std::chrono::seconds(10);
}

TcpListener::TcpListener(asio::io_context& io, const ServerOptions& options, ServerShared& shared,
                         std::function<void(const AccessLogEntry&)> log)
    : io_(io), options_(options), shared_(shared), log_(std::move(log)), acceptor_(io) {}

TcpListener::~TcpListener() = default;

Result<void> TcpListener::bind(const asio::ip::tcp::endpoint& endpoint) {
  asio::error_code ec;
  auto fail = [&](std::string_view what) -> Result<void> {
    auto message = fmt::format("cannot {} TCP socket on {}:{}: {}", what, endpoint.address().to_string(),
                               endpoint.port(), ec.message());
    asio::error_code ignored;
    acceptor_.close(ignored);
    return std::unexpected(Error(ErrorKind::io_error, std::move(message)));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  if (endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  return {};
}

std::uint16_t TcpListener::port() const {
  asio::error_code ec;
  auto local = acceptor_.local_endpoint(ec);
  return ec ? 0 : local.port();
}

void TcpListener::start(const TlsServerContext& tls, std::string alt_svc) {
  tls_ = &tls;
  alt_svc_ = std::move(alt_svc);
  accept();
}

void TcpListener::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping_ || !acceptor_.is_open()) return;
    if (!ec) on_accepted(std::move(socket));
    accept();
  });
}

void TcpListener::on_accepted(asio::ip::tcp::socket socket) {
  auto session = tls_->new_tcp_session();
  if (!session) {
    std::fprintf(stderr, "quiver server: cannot accept TCP connection: %s\n", session.error().message().c_str());
    return;
  }
  auto stream = std::make_shared<TcpTlsStream>(std::move(socket), std::move(*session));
  handshaking_.insert(stream);
  ++shared_.tcp_connections_accepted;
  update_count();
  stream->async_handshake(kHandshakeLimit, [this, stream](bool ok) {
    // Posted: the handshake may end inside the stream's own call.
    asio::post(io_, [this, stream, ok] { on_handshake(stream, ok); });
  });
}

// ALPN "h2": HTTP/2; "http/1.1", or none at all: HTTP/1.1.
void TcpListener::on_handshake(const std::shared_ptr<TcpTlsStream>& stream, bool ok) {
  if (handshaking_.erase(stream) == 0 || stopping_) return;  // close_all() took it
  update_count();
  if (!ok) return;
  std::shared_ptr<TcpSession> session;
  if (stream->alpn() == "h2") {
    auto created = H2Session::create(*this, stream, options_, make_test_controls(options_, shared_), alt_svc_);
    if (!created) {
      std::fprintf(stderr, "quiver server: %s\n", created.error().message().c_str());
      stream->close();
      return;
    }
    session = std::move(*created);
  } else {
    session = H1Session::create(*this, stream, options_, make_test_controls(options_, shared_), alt_svc_);
  }
  sessions_.emplace(session.get(), session);
  update_count();
  session->start();
}

void TcpListener::close_all() {
  stopping_ = true;
  asio::error_code ignored;
  acceptor_.close(ignored);
  for (auto& stream : handshaking_) stream->close();
  handshaking_.clear();
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [raw, session] : sessions) session->close_now();
  update_count();
}

void TcpListener::shutdown_gracefully() {
  asio::error_code ignored;
  acceptor_.close(ignored);  // new connections are refused
  std::vector<std::shared_ptr<TcpSession>> all;
  for (auto& [raw, session] : sessions_) all.push_back(session);
  for (auto& session : all) session->shutdown_gracefully();
}

void TcpListener::send_goaway(std::chrono::milliseconds final_delay) {
  std::vector<std::shared_ptr<TcpSession>> all;
  for (auto& [raw, session] : sessions_) all.push_back(session);
  for (auto& session : all) session->send_goaways(final_delay);
}

void TcpListener::log_access(const AccessLogEntry& entry) {
  if (!log_) return;
  try {
    log_(entry);
  } catch (...) {
    // The log is the caller's; its failure must not take the connection down.
  }
}

void TcpListener::session_finished(TcpSession& session) {
  if (stopping_) return;
  asio::post(io_, [this, raw = &session] {
    sessions_.erase(raw);
    update_count();
  });
}

}  // namespace quiver::server

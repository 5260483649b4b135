#pragma once
// TcpListener — the server's TCP side: the listening socket (same address and port as the UDP one),
// the TLS handshakes, and one session per connection chosen by ALPN ("h2": H2Session; "http/1.1" or
// none: H1Session). It is the sessions' TcpHost. Io thread only, except connection_count() (atomic).

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "quiver/error.hpp"
#include "test_server/server.hpp"
#include "test_server/server_shared.hpp"
#include "test_server/tcp_session.hpp"
#include "test_server/tcp_tls_stream.hpp"
#include "test_server/tls_server_context.hpp"

namespace quiver::server {

class TcpListener final : private TcpHost {
 public:
  // Borrows all of them; the Server keeps them alive longer than the listener. `log` is the server's
  // access log (may be empty).
  TcpListener(asio::io_context& io, const ServerOptions& options, ServerShared& shared,
              std::function<void(const AccessLogEntry&)> log);
  ~TcpListener();

  // Binds and listens on `endpoint` (port 0: ephemeral). The error names the address (io_error).
  Result<void> bind(const asio::ip::tcp::endpoint& endpoint);
  std::uint16_t port() const;
  // Starts accepting; responses carry `alt_svc` ("" for none).
  void start(const TlsServerContext& tls, std::string alt_svc);

  void close_all();            // Server::stop: stop listening, close every connection now
  void shutdown_gracefully();  // stop listening (new connections are refused), GOAWAY, close when idle
  void send_goaway(std::chrono::milliseconds final_delay);
  std::size_t connection_count() const noexcept { return count_.load(); }

 private:
  void accept();
  void on_accepted(asio::ip::tcp::socket socket);
  void on_handshake(const std::shared_ptr<TcpTlsStream>& stream, bool ok);
  void update_count() { count_ = handshaking_.size() + sessions_.size(); }

  // ---- TcpHost ----
  void log_access(const AccessLogEntry& entry) override;
  ServerShared& shared() override { return shared_; }
  void session_finished(TcpSession& session) override;

  asio::io_context& io_;
  const ServerOptions& options_;
  ServerShared& shared_;
  std::function<void(const AccessLogEntry&)> log_;
  const TlsServerContext* tls_ = nullptr;
  std::string alt_svc_;
  asio::ip::tcp::acceptor acceptor_;
  std::set<std::shared_ptr<TcpTlsStream>> handshaking_;
  std::unordered_map<TcpSession*, std::shared_ptr<TcpSession>> sessions_;  // owns them
  std::atomic<std::size_t> count_{0};
  bool stopping_ = false;
};

}  // namespace quiver::server

// Server: the UDP socket, the io thread and the connection map. Protocol work is in quic_transport.cpp
// (QUIC) and server_connection.cpp (HTTP/3), routes in routes.cpp.

#include "test_server/server.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>
#include <fmt/format.h>
#include <gnutls/crypto.h>

#include "test_server/server_connection.hpp"
#include "test_server/tcp_listener.hpp"
#include "test_server/test_controls.hpp"
#include "test_server/tls_server_context.hpp"
#include "test_server/udp_proxy.hpp"

namespace quiver::server {

namespace {
// What one option needs of others: CONNECT-UDP needs HTTP datagrams and extended CONNECT.
ServerOptions with_implied(ServerOptions options) {
  if (options.connect_udp) options.datagrams = options.extended_connect = true;
  return options;
}
}  // namespace

// Owns the io_context, socket, TLS context and every connection. All members except the lifecycle
// ones (mutex_, started_, stopped_, thread_, port_, connection_count_) are touched on the io thread
// only, after start() handed them over.
class Server::Impl final : public ConnectionHost {
 public:
  explicit Impl(ServerOptions options) : options_(with_implied(std::move(options))) {}
  ~Impl() override { stop(); }

  Result<void> start();
  void stop();
  void shutdown_gracefully();
  void send_goaway();
  void hold_streams_from(std::uint64_t stream_id) { shared_.hold_from = stream_id; }
  void refuse_new_streams(bool on) { shared_.refuse_new_streams = on; }
  // The TLS switches (usable once started; tls_ is set before start() returns and kept until ~Impl).
  void issue_session_tickets(bool on) {
    std::lock_guard lock(mutex_);
    if (tls_) tls_->issue_tickets(on);
  }
  void accept_early_data(bool on) {
    std::lock_guard lock(mutex_);
    if (tls_) tls_->accept_early_data(on);
  }
  ServerStats stats() const;
  std::uint16_t port() const { return port_.load(); }
  std::size_t connection_count() const { return connection_count_.load() + tcp_.connection_count(); }

  // ---- ConnectionHost ----
  void send_packet(const Endpoint& to, std::span<const std::uint8_t> packet) override;
  void add_cid(const std::string& cid, ServerConnection& connection) override;
  void remove_cid(const std::string& cid) override { by_cid_.erase(cid); }
  void connection_finished(ServerConnection& connection) override;
  void log_access(const AccessLogEntry& entry) override;
  std::span<const std::uint8_t> reset_secret() const override { return reset_secret_; }
  ServerShared& shared() override { return shared_; }

 private:
  Result<void> bind();
  Result<void> bind_udp(const asio::ip::address& address, std::uint16_t port);
  void run();
  void receive();
  void on_datagram(std::span<const std::uint8_t> data, const Endpoint& from);
  void accept(std::span<const std::uint8_t> data, const Endpoint& from);
  void refuse(const ngtcp2_pkt_hd& initial, const Endpoint& from);
  void send_version_negotiation(const ngtcp2_version_cid& vc, std::size_t size, const Endpoint& from);
  void send_stateless_reset(const ngtcp2_version_cid& vc, std::size_t size, const Endpoint& from);
  void remove(ServerConnection& connection);
  void stop_on_io_thread();
  void for_each_connection(const std::function<void(ServerConnection&)>& action);

  const ServerOptions options_;  // connections borrow it
  ServerShared shared_;          // thread-safe; connections borrow it
  asio::io_context io_{1};       // declared before everything that uses it: destroyed last
  asio::ip::udp::socket socket_{io_};
  std::unique_ptr<TlsServerContext> tls_;  // connections borrow it
  Endpoint local_;
  std::array<std::uint8_t, 32> reset_secret_{};
  TcpListener tcp_{io_, options_, shared_, options_.access_log};  // the TCP side (HTTP/2)

  // Every datagram is routed by its destination connection id; several ids map to one connection.
  std::unordered_map<std::string, std::shared_ptr<ServerConnection>> by_cid_;
  std::unordered_map<ServerConnection*, std::shared_ptr<ServerConnection>> connections_;  // owns them
  std::array<std::uint8_t, 65536> receive_buffer_{};
  Endpoint receive_from_;
  bool draining_ = false;  // graceful shutdown: new connections are refused
  bool stopping_ = false;

  std::mutex mutex_;  // guards start/stop transitions
  bool started_ = false, stopped_ = false;
  std::thread thread_;
  std::atomic<std::uint16_t> port_{0};
  std::atomic<std::size_t> connection_count_{0};
};

// ==== lifecycle (any thread) ==========================================================================

Result<void> Server::Impl::start() {
  std::lock_guard lock(mutex_);
  if (started_)
    return std::unexpected(Error(ErrorKind::io_error, ErrorClass::invalid, "quiver::server::Server::start called twice"));
  if (auto bad = invalid_network(options_.connect_udp_allow)) {
    return std::unexpected(Error(ErrorKind::io_error, ErrorClass::invalid,
                                 fmt::format("connect-udp allow list: {} is no network (ADDRESS/PREFIX)", *bad)));
  }
  auto tls = TlsServerContext::load(options_.cert_file, options_.key_file, options_.client_ca_file);
  if (!tls) return std::unexpected(tls.error());
  tls_ = std::move(*tls);
  tls_->issue_tickets(options_.session_tickets);
  tls_->accept_early_data(options_.early_data);
  if (auto bound = bind(); !bound) return bound;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, reset_secret_.data(), reset_secret_.size()) != 0)
    return std::unexpected(Error(ErrorKind::io_error, "gnutls_rnd failed"));
  if (options_.http3) receive();
  if (options_.tcp) {
    std::string own = options_.http3 ? fmt::format("h3=\":{}\"; ma=86400", port_.load()) : "";
    tcp_.start(*tls_, options_.alt_svc.value_or(std::move(own)));
  }
  started_ = true;
  thread_ = std::thread([this] { run(); });
  return {};
}

// The UDP socket and the TCP listener share one port. With an ephemeral port, the one the UDP socket got
// may be taken for TCP: then both are tried again with a new one.
Result<void> Server::Impl::bind() {
  if (!options_.http3 && !options_.tcp)
    return std::unexpected(Error(ErrorKind::io_error, ErrorClass::invalid, "server with both HTTP/3 and TCP switched off"));
  asio::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec)
    return std::unexpected(Error(ErrorKind::io_error, ErrorClass::invalid,
                                 fmt::format("invalid server host '{}': {}", options_.host, ec.message())));
  constexpr int kEphemeralAttempts = 20;
  for (int attempt = 1;; ++attempt) {
    std::uint16_t port = options_.port;
    if (options_.http3) {
      if (auto bound = bind_udp(address, port); !bound) return bound;
      port = port_;
    }
    if (!options_.tcp) return {};
    auto listening = tcp_.bind({address, port});
    if (listening) {
      port_ = tcp_.port();
      return {};
    }
    if (options_.port != 0 || !options_.http3 || attempt == kEphemeralAttempts) {
      socket_.close(ec);
      return listening;
    }
    socket_.close(ec);  // that ephemeral UDP port is taken over TCP: another one
  }
}

Result<void> Server::Impl::bind_udp(const asio::ip::address& address, std::uint16_t port) {
  asio::error_code ec;
  Endpoint endpoint(address, port);
  auto fail = [&](std::string_view what) -> Result<void> {
    auto message = fmt::format("cannot {} UDP socket on {}:{}: {}", what, options_.host, port, ec.message());
    asio::error_code ignored;
    socket_.close(ignored);
    return std::unexpected(Error(ErrorKind::io_error, std::move(message)));
  };
  socket_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  if (address.is_v6()) socket_.set_option(asio::ip::v6_only(true), ec);
  socket_.bind(endpoint, ec);
  if (ec) return fail("bind");
  socket_.non_blocking(true, ec);  // a full send buffer drops packets, never blocks the loop
  if (ec) return fail("configure");
  socket_.set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);  // best effort
  socket_.set_option(asio::socket_base::send_buffer_size(4 << 20), ec);
  local_ = socket_.local_endpoint(ec);
  if (ec) return fail("query");
  port_ = local_.port();
  return {};
}

// The io thread. A handler that throws is logged and the loop goes on.
void Server::Impl::run() {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "quiver server: unexpected error: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "quiver server: unexpected error\n");
    }
  }
}

void Server::Impl::stop() {
  std::lock_guard lock(mutex_);
  if (!started_ || stopped_) return;
  if (std::this_thread::get_id() == thread_.get_id())
    throw std::logic_error("quiver::server::Server::stop called on the server's own io thread");
  stopped_ = true;
  asio::post(io_, [this] { stop_on_io_thread(); });
  thread_.join();
}

void Server::Impl::shutdown_gracefully() {
  std::lock_guard lock(mutex_);
  if (!started_ || stopped_) return;
  asio::post(io_, [this] {
    draining_ = true;
    for_each_connection([](ServerConnection& connection) { connection.shutdown_gracefully(); });
    tcp_.shutdown_gracefully();
  });
}

// Unlike shutdown_gracefully, new connections are still accepted.
void Server::Impl::send_goaway() {
  std::lock_guard lock(mutex_);
  if (!started_ || stopped_) return;
  asio::post(io_, [this] {
    for_each_connection([this](ServerConnection& connection) { connection.send_goaways(options_.final_goaway_delay); });
    tcp_.send_goaway(options_.final_goaway_delay);
  });
}

ServerStats Server::Impl::stats() const {
  ServerStats stats;
  stats.connections_accepted = shared_.connections_accepted.load();
  stats.requests_started = shared_.requests_started.load();
  stats.peak_concurrent_streams = shared_.peak_concurrent_streams.load();
  stats.streams_held = shared_.streams_held.load();
  stats.streams_refused = shared_.streams_refused.load();
  stats.requests_rejected = shared_.requests_rejected.load();
  stats.streams_over_limit = shared_.streams_over_limit.load();
  stats.goaways_sent = shared_.goaways_sent.load();
  stats.handshakes_resumed = shared_.handshakes_resumed.load();
  stats.early_data_accepted = shared_.early_data_accepted.load();
  stats.early_requests = shared_.early_requests.load();
  stats.tcp_connections_accepted = shared_.tcp_connections_accepted.load();
  return stats;
}

// ==== io thread =======================================================================================

// Over a snapshot: an action may end a connection, which then leaves connections_ (later, posted).
void Server::Impl::for_each_connection(const std::function<void(ServerConnection&)>& action) {
  std::vector<std::shared_ptr<ServerConnection>> all;
  for (auto& [raw, connection] : connections_) all.push_back(connection);
  for (auto& connection : all) action(*connection);
}

void Server::Impl::stop_on_io_thread() {
  stopping_ = true;
  for_each_connection([](ServerConnection& connection) { connection.close_now(); });
  by_cid_.clear();
  connections_.clear();
  connection_count_ = 0;
  tcp_.close_all();
  asio::error_code ignored;
  socket_.close(ignored);
  io_.stop();
}

void Server::Impl::receive() {
  socket_.async_receive_from(asio::buffer(receive_buffer_), receive_from_,
                             [this](const asio::error_code& ec, std::size_t size) {
                               if (ec == asio::error::operation_aborted || stopping_) return;
                               if (!ec) on_datagram({receive_buffer_.data(), size}, receive_from_);
                               receive();
                             });
}

void Server::Impl::on_datagram(std::span<const std::uint8_t> data, const Endpoint& from) {
  if (data.empty()) return;  // ngtcp2_pkt_decode_version_cid requires at least one byte
  ngtcp2_version_cid vc;
  switch (ngtcp2_pkt_decode_version_cid(&vc, data.data(), data.size(), kCidLength)) {
    case 0:
      break;
    case NGTCP2_ERR_VERSION_NEGOTIATION:
      send_version_negotiation(vc, data.size(), from);
      return;
    default:
      return;  // garbage
  }
  std::string dcid(reinterpret_cast<const char*>(vc.dcid), vc.dcidlen);
  if (auto it = by_cid_.find(dcid); it != by_cid_.end()) {
    auto connection = it->second;  // keeps it alive for the call
    connection->on_datagram(data, from);
  } else if (vc.version == 0) {
    send_stateless_reset(vc, data.size(), from);  // short header for a connection we do not know
  } else {
    accept(data, from);
  }
}

void Server::Impl::accept(std::span<const std::uint8_t> data, const Endpoint& from) {
  ngtcp2_pkt_hd initial;
  if (ngtcp2_accept(&initial, data.data(), data.size()) != 0 || initial.type != NGTCP2_PKT_INITIAL) return;
  if (draining_) {
    refuse(initial, from);
    return;
  }
  auto created = ServerConnection::create(io_.get_executor(), *this, *tls_, options_,
                                          make_test_controls(options_, shared_), initial, local_, from);
  if (!created) {
    std::fprintf(stderr, "quiver server: cannot accept connection: %s\n", created.error().message().c_str());
    return;
  }
  auto connection = std::move(*created);
  connections_.emplace(connection.get(), connection);
  connection_count_ = connections_.size();
  ++shared_.connections_accepted;
  connection->on_datagram(data, from);
}

// CONNECTION_CLOSE(CONNECTION_REFUSED) in an Initial packet, without creating any state.
void Server::Impl::refuse(const ngtcp2_pkt_hd& initial, const Endpoint& from) {
  std::array<std::uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> packet;
  auto n = ngtcp2_crypto_write_connection_close(packet.data(), packet.size(), initial.version, &initial.scid,
                                                &initial.dcid, NGTCP2_CONNECTION_REFUSED, nullptr, 0);
  if (n > 0) send_packet(from, {packet.data(), static_cast<std::size_t>(n)});
}

void Server::Impl::send_version_negotiation(const ngtcp2_version_cid& vc, std::size_t size, const Endpoint& from) {
  if (size < NGTCP2_MAX_UDP_PAYLOAD_SIZE) return;  // only for full-size Initials (anti-amplification)
  const std::array<std::uint32_t, 2> versions{NGTCP2_PROTO_VER_V1, NGTCP2_PROTO_VER_V2};
  std::uint8_t unused = 0;
  (void)gnutls_rnd(GNUTLS_RND_NONCE, &unused, 1);
  std::array<std::uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> packet;
  auto n = ngtcp2_pkt_write_version_negotiation(packet.data(), packet.size(), unused, vc.scid, vc.scidlen, vc.dcid,
                                                vc.dcidlen, versions.data(), versions.size());
  if (n > 0) send_packet(from, {packet.data(), static_cast<std::size_t>(n)});
}

// A stateless reset is always smaller than the packet that triggered it, so two servers can't loop.
void Server::Impl::send_stateless_reset(const ngtcp2_version_cid& vc, std::size_t size, const Endpoint& from) {
  constexpr std::size_t kRandomLength = 26;  // 1 + 26 + 16 (token) = 43 bytes on the wire
  constexpr std::size_t kResetLength = 1 + kRandomLength + NGTCP2_STATELESS_RESET_TOKENLEN;
  if (size <= kResetLength || vc.dcidlen != kCidLength) return;
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, vc.dcid, vc.dcidlen);
  std::array<std::uint8_t, NGTCP2_STATELESS_RESET_TOKENLEN> token;
  if (ngtcp2_crypto_generate_stateless_reset_token(token.data(), reset_secret_.data(), reset_secret_.size(), &cid) != 0)
    return;
  std::array<std::uint8_t, kRandomLength> random;
  if (gnutls_rnd(GNUTLS_RND_NONCE, random.data(), random.size()) != 0) return;
  std::array<std::uint8_t, kResetLength> packet;
  auto n = ngtcp2_pkt_write_stateless_reset(packet.data(), packet.size(), token.data(), random.data(), random.size());
  if (n > 0) send_packet(from, {packet.data(), static_cast<std::size_t>(n)});
}

void Server::Impl::send_packet(const Endpoint& to, std::span<const std::uint8_t> packet) {
  asio::error_code ec;  // errors (e.g. a full send buffer) drop the packet; QUIC recovers
  socket_.send_to(asio::buffer(packet.data(), packet.size()), to, 0, ec);
}

void Server::Impl::add_cid(const std::string& cid, ServerConnection& connection) {
  by_cid_[cid] = connection.shared_from_this();
}

// Called from inside the connection: drop it later, once its call stack has unwound.
void Server::Impl::connection_finished(ServerConnection& connection) {
  if (stopping_) return;  // stop_on_io_thread drops everything itself
  asio::post(io_, [this, weak = connection.weak_from_this()] {
    if (auto connection = weak.lock()) remove(*connection);
  });
}

void Server::Impl::remove(ServerConnection& connection) {
  for (const auto& cid : connection.cids()) {
    if (auto it = by_cid_.find(cid); it != by_cid_.end() && it->second.get() == &connection) by_cid_.erase(it);
  }
  connections_.erase(&connection);
  connection_count_ = connections_.size();
}

void Server::Impl::log_access(const AccessLogEntry& entry) {
  if (!options_.access_log) return;
  try {
    options_.access_log(entry);
  } catch (...) {
    // The log is the caller's; its failure must not take the connection down.
  }
}

// ==== Server ==========================================================================================

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Server::~Server() = default;  // Impl's destructor stops
Result<void> Server::start() { return impl_->start(); }
std::uint16_t Server::port() const { return impl_->port(); }
void Server::stop() { impl_->stop(); }
void Server::shutdown_gracefully() { impl_->shutdown_gracefully(); }
std::size_t Server::connection_count() const { return impl_->connection_count(); }
void Server::hold_streams_from(std::uint64_t stream_id) { impl_->hold_streams_from(stream_id); }
void Server::send_goaway() { impl_->send_goaway(); }
void Server::refuse_new_streams(bool on) { impl_->refuse_new_streams(on); }
void Server::issue_session_tickets(bool on) { impl_->issue_session_tickets(on); }
void Server::accept_early_data(bool on) { impl_->accept_early_data(on); }
ServerStats Server::stats() const { return impl_->stats(); }

}  // namespace quiver::server

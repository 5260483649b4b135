// TcpTlsStream: GnuTLS on a non-blocking Asio TCP socket (see the header).
#include "test_server/tcp_tls_stream.hpp"

#include <algorithm>
#include <array>

#include <asio/post.hpp>

namespace quiver::server {
namespace {
constexpr std::size_t kRecordPlaintext = 16 * 1024;  // one TLS record's worth per gnutls_record_send
constexpr auto kCloseFlushLimit = std::chrono::seconds(1);
// How long a graceful close keeps reading (and discarding) after its last byte: closing a socket with
// unread input sends a TCP RST, which can destroy the GOAWAY or response still in the peer's buffer.
constexpr auto kLingerLimit = std::chrono::seconds(1);
}  // namespace

TcpTlsStream::TcpTlsStream(asio::ip::tcp::socket socket, util::GnutlsSessionPtr session)
    : socket_(std::move(socket)), session_(std::move(session)), timer_(socket_.get_executor()) {
  asio::error_code ec;
  peer_ = socket_.remote_endpoint(ec);
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  gnutls_transport_set_int(session_.get(), socket_.native_handle());
}

TcpTlsStream::~TcpTlsStream() = default;

void TcpTlsStream::async_handshake(std::chrono::milliseconds limit, std::function<void(bool)> on_done) {
  on_handshake_ = std::move(on_done);
  timer_.expires_after(limit);
  timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->finish_handshake(false);
  });
  continue_handshake();
}

void TcpTlsStream::continue_handshake() {
  if (!on_handshake_) return;  // over already (the limit passed)
  int rv = gnutls_handshake(session_.get());
  if (rv == GNUTLS_E_SUCCESS) {
    finish_handshake(true);
    return;
  }
  if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED || gnutls_error_is_fatal(rv) == 0) {
    auto wait = gnutls_record_get_direction(session_.get()) == 1 ? asio::socket_base::wait_write
                                                                 : asio::socket_base::wait_read;
    socket_.async_wait(wait, [self = shared_from_this()](const asio::error_code& ec) {
      if (ec) {
        self->finish_handshake(false);
        return;
      }
      self->continue_handshake();
    });
    return;
  }
  finish_handshake(false);
}

void TcpTlsStream::finish_handshake(bool ok) {
  auto on_done = std::exchange(on_handshake_, nullptr);
  if (!on_done) return;
  timer_.cancel();
  if (!ok) {
    asio::error_code ignored;
    closed_ = true;
    socket_.close(ignored);
  }
  on_done(ok);
}

std::string TcpTlsStream::alpn() const {
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session_.get(), &selected) != 0) return {};
  return {reinterpret_cast<const char*>(selected.data), selected.size};
}

void TcpTlsStream::start(Events* events) {
  events_ = events;
  // Application data may have come with the handshake's last flight: GnuTLS may hold it already.
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_readable(); });
}

void TcpTlsStream::pause_reading(bool paused) {
  if (reading_paused_ == paused) return;
  reading_paused_ = paused;
  // GnuTLS may hold decrypted records already: read from a posted step, never inside the caller's call.
  if (!paused && !closed_) asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_readable(); });
}

void TcpTlsStream::wait_readable() {
  if (read_waiting_) return;
  read_waiting_ = true;
  socket_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const asio::error_code& ec) {
    self->read_waiting_ = false;
    if (self->closed_) return;
    if (ec) {
      self->close();
      return;
    }
    self->on_readable();
  });
}

void TcpTlsStream::on_readable() {
  if (closed_ || reading_paused_) return;
  std::array<std::uint8_t, 16384> buffer;
  for (;;) {
    auto n = gnutls_record_recv(session_.get(), buffer.data(), buffer.size());
    if (n > 0) {
      if (events_) events_->on_data({buffer.data(), static_cast<std::size_t>(n)});
      if (closed_ || reading_paused_) return;
      continue;
    }
    if (n == GNUTLS_E_AGAIN) break;
    if (n == GNUTLS_E_INTERRUPTED || (n < 0 && gnutls_error_is_fatal(static_cast<int>(n)) == 0)) continue;
    close();  // 0: the peer's close_notify; or a fatal TLS/socket error
    return;
  }
  wait_readable();
}

void TcpTlsStream::write(std::span<const std::uint8_t> data) {
  if (closed_ || close_when_flushed_) return;
  outbound_.append(reinterpret_cast<const char*>(data.data()), data.size());
  if (!write_waiting_) flush();
}

// Sends until the socket is full (then waits for it) or the queue is empty.
void TcpTlsStream::flush() {
  while (!closed_ && queued_bytes() > 0) {
    ssize_t n = 0;
    if (retry_size_ > 0) {
      n = gnutls_record_send(session_.get(), nullptr, 0);  // the record GnuTLS could not send before
    } else {
      n = gnutls_record_send(session_.get(), outbound_.data() + sent_, std::min(queued_bytes(), kRecordPlaintext));
    }
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
      if (retry_size_ == 0) retry_size_ = std::min(queued_bytes(), kRecordPlaintext);
      write_waiting_ = true;
      socket_.async_wait(asio::socket_base::wait_write, [self = shared_from_this()](const asio::error_code& ec) {
        self->write_waiting_ = false;
        if (self->closed_) return;
        if (ec) {
          self->close();
          return;
        }
        self->flush();
        if (!self->closed_ && self->queued_bytes() == 0 && self->events_ && !self->close_when_flushed_)
          self->events_->on_writable();
      });
      return;
    }
    if (n < 0) {
      close();
      return;
    }
    retry_size_ = 0;
    sent_ += static_cast<std::size_t>(n);
  }
  if (queued_bytes() == 0) {
    outbound_.clear();
    sent_ = 0;
    if (close_when_flushed_) close_gracefully();
  }
}

void TcpTlsStream::close_after_flush() {
  if (closed_ || close_when_flushed_) return;
  close_when_flushed_ = true;
  if (queued_bytes() == 0) {
    close_gracefully();
    return;
  }
  timer_.expires_after(kCloseFlushLimit);
  timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->close();
  });
}

void TcpTlsStream::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  (void)gnutls_bye(session_.get(), GNUTLS_SHUT_WR);  // best effort: non-blocking, once
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  report_closed();
}

// Everything was sent: close_notify and FIN now, then read and discard what the peer still sends until
// it closes too (or kLingerLimit), so the kernel never answers late input with a RST (lingering close).
void TcpTlsStream::close_gracefully() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  (void)gnutls_bye(session_.get(), GNUTLS_SHUT_WR);
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  report_closed();
  timer_.expires_after(kLingerLimit);
  timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    asio::error_code ignored;
    if (!ec) self->socket_.close(ignored);
  });
  discard_until_peer_closes();
}

void TcpTlsStream::discard_until_peer_closes() {
  socket_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const asio::error_code& ec) {
    std::array<std::uint8_t, 16384> buffer;
    asio::error_code read_error = ec;
    while (!read_error && self->socket_.is_open()) {
      self->socket_.non_blocking(true, read_error);
      if (!read_error) self->socket_.read_some(asio::buffer(buffer), read_error);
    }
    if (read_error == asio::error::would_block) return self->discard_until_peer_closes();
    asio::error_code ignored;
    self->timer_.cancel();
    self->socket_.close(ignored);
  });
}

// Posted: close() may run inside the events' own calls.
void TcpTlsStream::report_closed() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (auto* events = std::exchange(self->events_, nullptr)) events->on_closed();
  });
}

}  // namespace quiver::server

#include "tcp/tls_stream.hpp"

#include <algorithm>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <cstring>
#include <utility>

#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

namespace quiver::tcp {

namespace {

constexpr std::size_t kInboundBytes = 64 * 1024;  // the inbound buffer: the most one socket read brings
constexpr std::size_t kRecordBytes = 16 * 1024;  // one TLS record's plaintext at most
constexpr std::chrono::seconds kLinger{1};        // a closed stream's last write may take this long

}  // namespace

// GnuTLS's transport: memory buffers this class fills and drains with Asio. Thin and noexcept.
struct TlsStream::Callbacks {
  static ssize_t push(gnutls_transport_ptr_t ptr, const void* data, std::size_t size) noexcept {
    auto& self = *static_cast<TlsStream*>(ptr);
    try {
      const auto* bytes = static_cast<const std::uint8_t*>(data);
      self.outbound_.insert(self.outbound_.end(), bytes, bytes + size);
    } catch (...) {
      gnutls_transport_set_errno(self.session_->native_handle(), ENOMEM);
      return -1;
    }
    return static_cast<ssize_t>(size);
  }
  static ssize_t pull(gnutls_transport_ptr_t ptr, void* data, std::size_t size) noexcept {
    auto& self = *static_cast<TlsStream*>(ptr);
    const std::size_t available = self.inbound_end_ - self.inbound_begin_;
    if (available == 0) {
      if (self.peer_eof_) return 0;
      gnutls_transport_set_errno(self.session_->native_handle(), EAGAIN);
      return -1;
    }
    const std::size_t n = std::min(size, available);
    std::memcpy(data, self.inbound_.get() + self.inbound_begin_, n);
    self.inbound_begin_ += n;
    if (self.inbound_begin_ == self.inbound_end_) self.inbound_begin_ = self.inbound_end_ = 0;
    return static_cast<ssize_t>(n);
  }
  // GnuTLS asks whether bytes are there without waiting (the default would select() on a descriptor).
  static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int) noexcept {
    auto& self = *static_cast<TlsStream*>(ptr);
    return self.has_inbound() || self.peer_eof_ ? 1 : 0;
  }
};

TlsStream::TlsStream(asio::ip::tcp::socket socket, std::unique_ptr<tls::ClientTlsSession> session, std::string host)
    : socket_(std::move(socket)),
      linger_timer_(socket_.get_executor()),
      session_(std::move(session)),
      host_(std::move(host)),
      inbound_(std::make_unique_for_overwrite<std::uint8_t[]>(kInboundBytes)) {
  std::error_code ignored;
  peer_ = socket_.remote_endpoint(ignored);
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  gnutls_session_t raw = session_->native_handle();
  gnutls_transport_set_ptr(raw, this);
  gnutls_transport_set_push_function(raw, Callbacks::push);
  gnutls_transport_set_pull_function(raw, Callbacks::pull);
  gnutls_transport_set_pull_timeout_function(raw, Callbacks::pull_timeout);
}

TlsStream::~TlsStream() = default;

// ---- handshake -----------------------------------------------------------------------------------

void TlsStream::async_handshake(HandshakeHandler on_done) {
  on_handshake_ = std::move(on_done);
  continue_handshake();
}

// Steps the handshake as far as the bytes at hand allow; reads more when GnuTLS needs them.
void TlsStream::continue_handshake() {
  if (closed_) return;
  int rv = 0;
  bool buffered = false;
  do {
    rv = gnutls_handshake(session_->native_handle());
    buffered = has_inbound();  // as in on_read: AGAIN with records still here
  } while (rv < 0 && (rv != GNUTLS_E_AGAIN || buffered) && gnutls_error_is_fatal(rv) == 0);
  flush();
  if (rv == GNUTLS_E_AGAIN && !peer_eof_) {
    read_more([this] { continue_handshake(); });
    return;
  }
  auto done = std::move(on_handshake_);
  if (rv == 0) {
    store_arrived_ticket();  // TLS 1.2 sends its ticket inside the handshake
    if (done) done({});
    return;
  }
  Error error = handshake_failure(rv == GNUTLS_E_AGAIN ? GNUTLS_E_PREMATURE_TERMINATION : rv);
  fail(error);
  if (done) done(std::unexpected(error));
}

Error TlsStream::handshake_failure(int gnutls_error) const {
  if (auto problem = session_->certificate_problem(); problem && gnutls_error == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
    Error error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                fmt::format("certificate verification failed: {}", *problem));
    error.handshake_failure = HandshakeFailure::certificate;
    return error;
  }
  bool closed = gnutls_error == GNUTLS_E_PREMATURE_TERMINATION;
  Error error(ErrorKind::handshake_failed, ErrorClass::transient,
              closed ? fmt::format("{} closed the TCP connection during the TLS handshake", host_)
                     : fmt::format("TLS handshake with {}: {}", host_, gnutls_strerror(gnutls_error)));
  error.handshake_failure = closed ? HandshakeFailure::closed : HandshakeFailure::transport;
  if (gnutls_error == GNUTLS_E_FATAL_ALERT_RECEIVED) {
    error.handshake_failure = HandshakeFailure::certificate;  // the peer refused us (as QUIC's TLS alerts)
  }
  return error;
}

std::string TlsStream::negotiated_alpn() const { return session_->negotiated_alpn(); }

HandshakeDetails TlsStream::handshake_details() const {
  HandshakeDetails details = session_->handshake_details();
  tcp_info info{};
  socklen_t length = sizeof info;
  if (socket_.is_open() &&
      ::getsockopt(const_cast<asio::ip::tcp::socket&>(socket_).native_handle(), IPPROTO_TCP, TCP_INFO, &info,
                   &length) == 0) {
    details.rtt = std::chrono::microseconds(info.tcpi_rtt);
  }
  return details;
}

// ---- reading -------------------------------------------------------------------------------------

void TlsStream::start(StreamEvents* events) {
  events_ = events;
  // Records that came with the handshake's last flight are already here.
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_read(); });
}

// One socket read into `inbound_`, behind the unread bytes (moved to the front first when they sit at
// the end), then `then` (unless the stream closed meanwhile).
void TlsStream::read_more(std::function<void()> then) {
  if (inbound_begin_ > 0 && kInboundBytes - inbound_end_ < kRecordBytes) {
    std::memmove(inbound_.get(), inbound_.get() + inbound_begin_, inbound_end_ - inbound_begin_);
    inbound_end_ -= inbound_begin_;
    inbound_begin_ = 0;
  }
  socket_.async_read_some(asio::buffer(inbound_.get() + inbound_end_, kInboundBytes - inbound_end_),
                          [self = shared_from_this(), then = std::move(then)](std::error_code ec, std::size_t n) {
                            if (self->closed_) return;
                            if (ec == asio::error::eof) {
                              self->peer_eof_ = true;
                            } else if (ec) {
                              self->fail(self->stream_error(ec.message()));
                              if (self->on_handshake_) {
                                auto done = std::move(self->on_handshake_);
                                Error error(ErrorKind::handshake_failed, ErrorClass::transient,
                                            fmt::format("TLS handshake with {}: {}", self->host_, ec.message()));
                                error.handshake_failure = HandshakeFailure::closed;
                                done(std::unexpected(error));
                              }
                              return;
                            }
                            self->inbound_end_ += n;
                            then();
                          });
}

// Decrypts everything buffered, handing each record's plaintext to the events where GnuTLS decrypted
// it (no copy), and reads on.
void TlsStream::on_read() {
  if (closed_) return;
  bool clean_end = false;
  for (;;) {
    if (paused_) {
      held_ = true;  // what is left stays in GnuTLS and inbound_ until resume_reading()
      return;
    }
    gnutls_packet_t packet = nullptr;
    ssize_t n = gnutls_record_recv_packet(session_->native_handle(), &packet);
    if (n > 0) {
      hand_over(packet);
      if (closed_) return;
      continue;
    }
    if (n == 0) {
      clean_end = true;
      break;
    }
    // GnuTLS answers AGAIN after a record without application data (a TLS 1.3 NewSessionTicket) even
    // when more records are buffered: only an empty inbound buffer means "read the socket".
    if (n == GNUTLS_E_AGAIN && has_inbound()) continue;
    if (n == GNUTLS_E_AGAIN) break;
    if (gnutls_error_is_fatal(static_cast<int>(n)) == 0) continue;  // a warning alert, a TLS 1.2 HelloRequest
    flush();
    fail(stream_error(gnutls_strerror(static_cast<int>(n))));
    return;
  }
  flush();  // GnuTLS may answer something itself (key update)
  store_arrived_ticket();
  if (clean_end || peer_eof_) {
    peer_closed_ = true;
    fail(stream_error(clean_end ? "closed by the peer" : "closed by the peer (without TLS close_notify)"));
    return;
  }
  read_more([this] { on_read(); });
}

// The events see the record's plaintext in GnuTLS's own buffer, which is released when they return.
void TlsStream::hand_over(gnutls_packet_t packet) {
  const util::GnutlsPacketPtr owned(packet);
  gnutls_datum_t data{};
  gnutls_packet_get(packet, &data, nullptr);
  if (data.size > 0 && events_) events_->on_stream_data({data.data, data.size});
}

void TlsStream::resume_reading() {
  paused_ = false;
  if (!std::exchange(held_, false) || closed_) return;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_read(); });
}

void TlsStream::store_arrived_ticket() {
  if (session_->take_ticket_arrival()) session_->store_ticket({});
}

// ---- writing -------------------------------------------------------------------------------------

Result<void> TlsStream::write(std::span<const std::uint8_t> data) {
  if (closed_) return std::unexpected(stream_error("write after close"));
  while (!data.empty()) {
    ssize_t n = gnutls_record_send(session_->native_handle(), data.data(), data.size());
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) continue;  // the push never blocks; retry the record
    if (n < 0) {
      Error error = stream_error(fmt::format("TLS write: {}", gnutls_strerror(static_cast<int>(n))));
      fail(error);
      return std::unexpected(error);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  flush();
  return {};
}

// Gives the queued ciphertext to the socket, one write at a time.
void TlsStream::flush() {
  if (!writing_.empty() || outbound_.empty() || !socket_.is_open()) return;
  std::swap(writing_, outbound_);
  asio::async_write(socket_, asio::buffer(writing_), [self = shared_from_this()](std::error_code ec, std::size_t) {
    self->writing_.clear();
    if (self->closed_) {
      if (self->lingering_) self->finish_linger();
      return;
    }
    if (ec) {
      self->fail(self->stream_error(ec.message()));
      return;
    }
    self->flush();
    if (self->events_) self->events_->on_stream_writable();
  });
}

// ---- closing -------------------------------------------------------------------------------------

void TlsStream::close(Error reason) {
  if (closed_) return;
  gnutls_bye(session_->native_handle(), GNUTLS_SHUT_WR);  // close_notify, queued behind everything else
  if (writing_.empty() || !socket_.is_open()) {
    write_outbound_now();
    fail(std::move(reason));
    return;
  }
  // A write is in flight (often the GOAWAY that ends a drain): it finishes, close_notify follows, then
  // the socket closes; a peer that does not read keeps it at most kLinger. The close is reported now.
  closed_ = true;
  lingering_ = true;
  linger_timer_.expires_after(kLinger);
  linger_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (!ec) self->finish_linger();
  });
  report_closed(std::move(reason));
}

// Best effort, never blocking: what fits into the socket's buffer now.
void TlsStream::write_outbound_now() {
  if (outbound_.empty() || !socket_.is_open()) return;
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
  socket_.write_some(asio::buffer(outbound_), ignored);
  outbound_.clear();
}

void TlsStream::finish_linger() {
  if (!lingering_) return;
  lingering_ = false;
  linger_timer_.cancel();
  if (writing_.empty()) write_outbound_now();
  std::error_code ignored;
  socket_.close(ignored);
}

// The stream is over: the socket closes (a pending read or write completes aborted) and the events
// hear on_stream_closed, posted, once.
void TlsStream::fail(Error reason) {
  if (closed_) return;
  closed_ = true;
  std::error_code ignored;
  socket_.close(ignored);
  report_closed(std::move(reason));
}

void TlsStream::report_closed(Error reason) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), reason = std::move(reason)]() mutable {
    if (auto* events = std::exchange(self->events_, nullptr)) events->on_stream_closed(std::move(reason));
  });
}

Error TlsStream::stream_error(const std::string& what) const {
  return Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
               fmt::format("TLS connection to {}: {}", host_, what));
}

}  // namespace quiver::tcp

#pragma once
// TlsStream: one TLS session over one connected TCP socket (GnuTLS over Asio), the byte stream the HTTP/2
// worker runs on.
//
// GnuTLS never touches the socket: its push function appends records to `outbound_`, its pull function
// takes them from `inbound_`; this class moves the bytes with Asio. So every GnuTLS call returns at once,
// and the events below are made from Asio completions (or posted), never inside a GnuTLS call.
//
// Backpressure: write() encrypts and queues; queued_bytes() says how much ciphertext waits for the
// socket. A writer stops producing above its own mark and goes on at on_stream_writable(), which comes
// each time the socket has taken everything queued. Reading goes on as long as the stream is open: the
// protocol above bounds what the peer may send (HTTP/2 flow control).
//
// Resumption: a session made with a ticket cache stores each NewSessionTicket after the read that brought
// it (TLS 1.3 sends them after the handshake; never inside a GnuTLS call).
//
// Created connected by tcp::Dialer, which runs the handshake; the worker then start()s it. Used on one
// executor. Asynchronous operations keep the stream alive; the events object is borrowed until
// on_stream_closed or detach().

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "quiver/error.hpp"
#include "tls/tls_session.hpp"

namespace quiver::tcp {

class StreamEvents {
 public:
  virtual ~StreamEvents() = default;
  // Decrypted bytes from the peer, in order (one TLS record's plaintext; valid during the call).
  virtual void on_stream_data(std::span<const std::uint8_t> data) = 0;
  // The socket took all queued bytes: a writer that paused may go on.
  virtual void on_stream_writable() = 0;
  // The stream ended: peer closed, socket or TLS failure, or close(). Once; nothing follows.
  virtual void on_stream_closed(Error reason) = 0;
};

// When the dial that made a stream reached each step (curl's namelookup, connect and appconnect).
struct DialInstants {
  std::chrono::steady_clock::time_point started;    // dial() was called
  std::chrono::steady_clock::time_point resolved;   // the addresses were known
  std::chrono::steady_clock::time_point connected;  // the winning TCP connection was established
  std::chrono::steady_clock::time_point handshaken; // TLS was done (and the pins checked)
};

class TlsStream : public std::enable_shared_from_this<TlsStream> {
 public:
  // `host` names the peer in messages (and was used for SNI and verification by `session`).
  TlsStream(asio::ip::tcp::socket socket, std::unique_ptr<tls::ClientTlsSession> session, std::string host);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Runs the TLS handshake; `on_done` gets the outcome once (handshake_failed: certificate problem in
  // words, or what ended it), from an Asio completion.
  using HandshakeHandler = std::move_only_function<void(Result<void>)>;
  void async_handshake(HandshakeHandler on_done);
  // The ALPN protocol the handshake agreed on ("" if none).
  std::string negotiated_alpn() const;
  // After the handshake: it resumed a cached session (no certificate exchanged).
  bool resumed() const { return session_->resumed(); }
  // After the handshake: TLS version, cipher, ALPN, the server's certificate, and the kernel's RTT estimate.
  HandshakeDetails handshake_details() const;
  // The TLS session (its dialer checks pins on it after the handshake).
  const tls::ClientTlsSession& tls() const noexcept { return *session_; }
  const asio::ip::tcp::endpoint& peer() const noexcept { return peer_; }
  // Set by the dialer that made the stream, before it hands it over.
  const DialInstants& instants() const noexcept { return instants_; }
  void set_instants(const DialInstants& instants) noexcept { instants_ = instants; }

  // Starts reading, reporting to `events` (borrowed until on_stream_closed or detach()).
  void start(StreamEvents* events);
  void detach() noexcept { events_ = nullptr; }
  // Stops handing over data after the current hand-over (bytes stay in GnuTLS and the socket, so TCP
  // pushes back on the peer); resume_reading() goes on, from a posted step.
  void pause_reading() noexcept { paused_ = true; }
  void resume_reading();
  // The stream ended because the peer closed it (TLS close_notify or TCP end of stream), not on an error
  // or our close(): what ends an HTTP/1.1 body delimited by the connection's close.
  bool peer_closed() const noexcept { return peer_closed_; }

  // Encrypts `data` and queues it for the socket (all of it: the caller watches queued_bytes()).
  // Fails once the stream is closed.
  Result<void> write(std::span<const std::uint8_t> data);
  std::size_t queued_bytes() const noexcept { return outbound_.size() + writing_.size(); }
  bool is_open() const noexcept { return !closed_; }

  // Sends close_notify after what is queued (a write in flight finishes first, for at most a second),
  // closes the socket, and reports `reason` to on_stream_closed (posted, at once). Idempotent: only the
  // first reason is reported.
  void close(Error reason);

 private:
  struct Callbacks;  // GnuTLS transport functions
  friend struct Callbacks;

  void continue_handshake();
  void read_more(std::function<void()> then);
  bool has_inbound() const noexcept { return inbound_begin_ < inbound_end_; }
  void on_read();
  void hand_over(gnutls_packet_t packet);
  void store_arrived_ticket();
  void flush();
  void fail(Error reason);
  void report_closed(Error reason);
  void write_outbound_now();
  void finish_linger();
  Error handshake_failure(int gnutls_error) const;
  Error stream_error(const std::string& what) const;

  asio::ip::tcp::socket socket_;
  asio::steady_timer linger_timer_;  // bounds the last write of a closed stream
  std::unique_ptr<tls::ClientTlsSession> session_;
  std::string host_;
  asio::ip::tcp::endpoint peer_;
  DialInstants instants_;
  StreamEvents* events_ = nullptr;  // borrowed
  HandshakeHandler on_handshake_;

  // Ciphertext read and not yet taken by GnuTLS: [inbound_begin_, inbound_end_) of a fixed buffer the
  // socket reads straight into (behind the unread bytes). GnuTLS is asked to receive only after a read
  // completed, never while one is pending, so the buffer is never moved under a read.
  std::unique_ptr<std::uint8_t[]> inbound_;
  std::size_t inbound_begin_ = 0;
  std::size_t inbound_end_ = 0;
  bool peer_eof_ = false;               // the socket reported end of stream
  std::vector<std::uint8_t> outbound_;  // ciphertext queued by GnuTLS, not yet given to the socket
  std::vector<std::uint8_t> writing_;   // ciphertext the socket is writing now
  bool closed_ = false;
  bool lingering_ = false;  // closed, waiting for the write in flight before closing the socket
  bool paused_ = false;     // pause_reading(): hand nothing over
  bool held_ = false;       // on_read stopped because of the pause; resume_reading() runs it again
  bool peer_closed_ = false;
};

}  // namespace quiver::tcp

#pragma once
// TcpTlsStream — the server's side of one TLS-over-TCP connection: a GnuTLS session straight on a
// non-blocking Asio TCP socket (gnutls_transport_set_int), driven by Asio readiness waits.
//
// Reading: once started, every readable event decrypts all that is there and hands it to the events in
// order. Writing: write() queues plaintext and sends what the socket takes now; the rest goes when the
// socket is writable again, and on_writable() is called each time the queue has emptied after such a
// wait (never inside write(), so a writer that paused on queued_bytes() is not re-entered).
//
// Owned through shared_ptr: its waits keep it alive. The events object is borrowed until on_closed or
// detach(). Io thread only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "util/c_handles.hpp"

namespace quiver::server {

class TcpTlsStream : public std::enable_shared_from_this<TcpTlsStream> {
 public:
  class Events {
   public:
    virtual void on_data(std::span<const std::uint8_t> data) = 0;  // decrypted bytes, in order
    virtual void on_writable() = 0;  // the queue emptied after the socket had been full
    virtual void on_closed() = 0;    // peer closed, TLS/socket failure, or close(): once
   protected:
    ~Events() = default;
  };

  TcpTlsStream(asio::ip::tcp::socket socket, util::GnutlsSessionPtr session);
  ~TcpTlsStream();
  TcpTlsStream(const TcpTlsStream&) = delete;
  TcpTlsStream& operator=(const TcpTlsStream&) = delete;

  // Runs the handshake (at most `limit`); `on_done(true)` once it completed, false if it failed (the
  // socket is closed then).
  void async_handshake(std::chrono::milliseconds limit, std::function<void(bool)> on_done);
  std::string alpn() const;  // "" if the client offered none
  const asio::ip::tcp::endpoint& peer() const noexcept { return peer_; }
  asio::any_io_executor get_executor() { return socket_.get_executor(); }

  void start(Events* events);  // begins reading
  void detach() noexcept { events_ = nullptr; }
  // Stops (true) or resumes (false) reading: while paused nothing is read from the socket, so TCP flow
  // control holds the peer back (HTTP/1.1's only backpressure). Data already handed over stays handed.
  void pause_reading(bool paused);
  void write(std::span<const std::uint8_t> data);
  std::size_t queued_bytes() const noexcept { return outbound_.size() - sent_; }
  bool is_open() const noexcept { return !closed_; }

  // Sends what is queued (for at most a second), then close_notify, then closes. close() closes now.
  void close_after_flush();
  void close();

 private:
  void continue_handshake();
  void finish_handshake(bool ok);
  void wait_readable();
  void on_readable();
  void flush();
  void report_closed();
  void close_gracefully();  // lingering close: FIN, then discard input until the peer's FIN
  void discard_until_peer_closes();

  asio::ip::tcp::socket socket_;
  util::GnutlsSessionPtr session_;
  asio::ip::tcp::endpoint peer_;
  asio::steady_timer timer_;  // handshake limit, then the close_after_flush limit
  std::function<void(bool)> on_handshake_;
  Events* events_ = nullptr;
  std::string outbound_;     // plaintext queued; [0, sent_) is already sent
  std::size_t sent_ = 0;
  std::size_t retry_size_ = 0;  // a record_send returned EAGAIN for this many bytes: retried with (NULL, 0)
  bool write_waiting_ = false;
  bool read_waiting_ = false;  // a readiness wait for reading is outstanding
  bool reading_paused_ = false;
  bool close_when_flushed_ = false;
  bool closed_ = false;
};

}  // namespace quiver::server

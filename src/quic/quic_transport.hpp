#pragma once
// QuicTransport owns one client ngtcp2_conn with its UDP socket, TLS session and expiry timer.
//
// It drives the read/write loop and tells two borrowed parties what happens:
//  - a StreamApplication (the HTTP/3 session): stream data in, stream data out, stream lifecycle.
//    Those calls are made from inside ngtcp2 callbacks; the application must not re-enter the
//    transport's write path or close it from there.
//  - TransportEvents (the worker): handshake done, new stream credit, closed. Those are made outside any
//    ngtcp2 call, after the packet or timer that caused them was processed.
// All methods run on the executor given at construction.
//
// Lifetime: the transport keeps only itself alive (its pending reads, writes and timer hold
// shared_from_this()), never its owner: `events` and the application are borrowed, and whoever owns them
// must outlive the transport's use of them or detach() it first (the worker holds itself until the
// transport has reported on_transport_closed, and detaches the transport in its destructor).

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "quic/stream_transport.hpp"
#include "quic/udp_socket.hpp"
#include "util/write_hold.hpp"
#include "quiver/error.hpp"
#include "quiver/options.hpp"
#include "tls/tls_session.hpp"
#include "util/c_handles.hpp"

namespace quiver::quic {

// Stream bytes the application wants sent next. `stream_id == -1` means nothing to send.
struct OutgoingData {
  std::int64_t stream_id = -1;
  bool fin = false;
  std::span<const ngtcp2_vec> chunks;
};

class StreamApplication {
 public:
  virtual ~StreamApplication() = default;
  // Each returns false on a connection-level error (recorded by the application, see fatal_error()).
  virtual bool on_stream_data(std::int64_t stream_id, std::span<const std::uint8_t> data, bool fin) = 0;
  virtual bool on_stream_data_acked(std::int64_t stream_id, std::uint64_t length) = 0;
  virtual bool on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t> app_error_code) = 0;
  virtual bool on_stream_reset(std::int64_t stream_id, std::uint64_t app_error_code) = 0;
  virtual bool on_stream_stop_sending(std::int64_t stream_id, std::uint64_t app_error_code) = 0;
  virtual bool on_stream_send_credit(std::int64_t stream_id) = 0;

  // Write path, driven by the transport's write loop.
  virtual bool next_outgoing(OutgoingData& out) = 0;
  virtual bool on_outgoing_accepted(std::int64_t stream_id, std::size_t bytes) = 0;
  virtual void on_stream_blocked(std::int64_t stream_id) = 0;    // peer's stream window is full
  virtual void on_stream_write_shut(std::int64_t stream_id) = 0; // our send side is closed

  // The server rejected our 0-RTT early data: ngtcp2 has discarded every stream we opened (inside the
  // handshake's last callback; the server's streams of the same packets follow). The application starts
  // afresh on this transport; its early requests were not processed.
  virtual bool on_early_data_rejected() { return true; }

  // A QUIC DATAGRAM frame's payload (RFC 9221), when we offered max_datagram_frame_size. Inside ngtcp2:
  // record and forward only. Returns false on a connection-level error.
  virtual bool on_datagram(std::span<const std::uint8_t>) { return true; }

  // After a `false`: the application error code to close the connection with, and the whole message of
  // the resulting Error (the application names its own codes; the transport knows none of them).
  virtual std::pair<std::uint64_t, std::string> fatal_error() const = 0;
  // The name of an application error code (the peer's CONNECTION_CLOSE), for messages.
  virtual std::string error_name(std::uint64_t app_error_code) const = 0;
};

class TransportEvents {
 public:
  virtual ~TransportEvents() = default;
  virtual void on_handshake_completed() = 0;
  // A resumed connection may send 0-RTT early data: streams can be opened now (within the remembered
  // limits) and what is written goes out with the first flight. Called once, from connect(), before the
  // first packet is written.
  virtual void on_early_data_ready() {}
  virtual void on_stream_credit() = 0;  // the peer raised our bidi stream limit
  // The connection is gone (closed by either side, failed, timed out). Called once; last call.
  virtual void on_transport_closed(Error reason) = 0;
};

// The QUIC slice of the connection options (sliced once where the connection is built).
struct TransportOptions {
  std::chrono::milliseconds idle_timeout{};
  std::uint64_t connection_window = 0;  // receive windows (auto-tuned up to these)
  std::uint64_t stream_window = 0;
  std::uint64_t max_udp_payload = 0;
  CongestionControl congestion_control = CongestionControl::cubic;
  std::string qlog_dir;  // a qlog file per connection goes here ("" none)
  // QUIC DATAGRAM frames (RFC 9221): the largest frame we accept; 0 does not offer the extension.
  std::uint64_t max_datagram_frame_size = 0;
};

struct TransportConfig {
  std::string host;  // SNI and name to verify
  TransportOptions options;
  tls::Resumption resumption;  // where tickets come from and go to (optional)
};

class QuicTransport : public std::enable_shared_from_this<QuicTransport>, public StreamTransport {
 public:
  // `events` borrows and must stay valid until on_transport_closed or detach().
  QuicTransport(asio::any_io_executor executor, TransportConfig config, TransportEvents* events);
  ~QuicTransport() override;
  QuicTransport(const QuicTransport&) = delete;
  QuicTransport& operator=(const QuicTransport&) = delete;

  // Opens the socket, creates the QUIC connection and sends the first Initial.
  Result<void> connect(const asio::ip::udp::endpoint& peer,
                       std::shared_ptr<tls::ClientTlsContext> tls_context);

  // The stream layer; borrowed. Set before connect(): stream data can come with the handshake's end.
  void set_application(StreamApplication* application) noexcept { application_ = application; }

  // quic::StreamTransport
  Result<std::int64_t> open_bidi_stream() override;
  Result<std::int64_t> open_uni_stream() override;
  std::uint64_t bidi_streams_left() const noexcept;
  // Returns `bytes` of flow-control credit on the stream and the connection (they were consumed).
  void extend_stream_credit(std::int64_t stream_id, std::uint64_t bytes) override;
  // Resets our send side and asks the peer to stop sending (RESET_STREAM + STOP_SENDING).
  void shutdown_stream(std::int64_t stream_id, std::uint64_t app_error_code) override;
  void shutdown_stream_read(std::int64_t stream_id, std::uint64_t app_error_code) override;   // STOP_SENDING
  void shutdown_stream_write(std::int64_t stream_id, std::uint64_t app_error_code) override;  // RESET_STREAM

  // QUIC DATAGRAM frames. max_datagram_payload(): the largest payload one DATAGRAM frame may carry now,
  // bounded by the peer's max_datagram_frame_size and the current path's packet size (0: the peer did not
  // offer DATAGRAM, or the handshake is not done). queue_datagram() copies `payload` for the next write
  // (false: more than kMaxQueuedDatagrams wait already, the congestion controller holds them back).
  // A datagram is unreliable: one the path no longer fits is dropped when its turn comes.
  static constexpr std::size_t kMaxQueuedDatagrams = 256;
  std::size_t max_datagram_payload() const noexcept override;
  bool queue_datagram(std::span<const std::uint8_t> prefix, std::span<const std::uint8_t> payload) override;
  std::size_t queued_datagrams() const noexcept { return datagrams_.size(); }

  // While on, a quiet connection sends PINGs at half the effective idle timeout so it stays open (use it
  // while requests are in flight); off lets an unused connection idle out.
  void set_keep_alive(bool on);

  // Coalesces writes: one write loop runs soon on the executor for any number of calls. It waits a few
  // hops while more than one write hold is alive (util/write_hold.hpp).
  void schedule_write() override;

  // Holds on the scheduled write: one per answer the worker posts, released when it has run.
  util::WriteHold hold_writes() const { return write_holds_.take(); }
  const util::WriteHolds& write_holds() const noexcept { return write_holds_; }

  // Sends CONNECTION_CLOSE with an application error and closes; events->on_transport_closed(reason).
  void close(std::uint64_t app_error_code, Error reason);
  // Forgets `events` and the application and closes silently (the owner is going away).
  void detach() noexcept;

  bool handshake_completed() const noexcept { return handshake_completed_; }
  // 0-RTT: early data was attempted (streams opened before the handshake), and, after the handshake,
  // whether the server rejected it.
  bool early_data_offered() const noexcept { return early_data_offered_; }
  bool early_data_rejected() const noexcept { return early_data_rejected_; }
  const tls::ClientTlsSession* tls() const noexcept { return tls_.get(); }
  // The QUIC version in use (after the handshake; 0 before) and ngtcp2's smoothed RTT estimate.
  std::uint32_t negotiated_version() const noexcept;
  std::chrono::nanoseconds smoothed_rtt() const noexcept;

 private:
  struct Callbacks;  // the ngtcp2 trampolines
  friend struct Callbacks;

  void start_reading();
  void on_readable();
  bool read_datagram(std::span<const std::uint8_t> datagram, std::uint64_t now);
  void write_packets();
  ngtcp2_ssize write_one_packet(std::uint8_t* dest, std::size_t capacity, std::uint64_t now);
  ngtcp2_ssize write_datagram_packet(std::uint8_t* dest, std::size_t capacity, std::uint64_t now);
  bool flush_batch(std::size_t& bytes, std::size_t segment);
  void send_connection_close();
  void arm_expiry_timer();
  void on_expiry();
  void after_io();
  void deliver_events();
  void store_ticket();
  void open_qlog(const ngtcp2_cid& scid, ngtcp2_settings& settings);
  int on_handshake_completed_inside();
  void fail(int ngtcp2_error);
  bool refuses_handshake(const std::error_code& ec) const noexcept;
  Error refused_error() const;
  void finish(Error reason);
  Error error_from_peer_close() const;
  Error error_from_local_failure(int ngtcp2_error) const;
  ngtcp2_path path() noexcept;

  asio::any_io_executor executor_;
  TransportConfig config_;
  TransportEvents* events_;                      // borrowed
  StreamApplication* application_ = nullptr;     // borrowed
  util::WriteHolds write_holds_;                 // shared with the holders

  UdpSocket socket_;
  asio::steady_timer expiry_timer_;
  asio::ip::udp::endpoint local_endpoint_, remote_endpoint_;
  ngtcp2_crypto_conn_ref conn_ref_{};
  util::FilePtr qlog_;                          // TransportOptions::qlog_dir's file; outlives conn_
  std::unique_ptr<tls::ClientTlsSession> tls_;   // must outlive conn_ (ngtcp2 reads it)
  util::NgtcpConnPtr conn_;
  ngtcp2_ccerr last_error_{};

  std::deque<std::vector<std::uint8_t>> datagrams_;  // DATAGRAM payloads waiting for the write loop
  std::vector<std::uint8_t> blocked_;            // packets the kernel refused with EAGAIN, in order
  std::size_t blocked_segment_ = 0;
  std::uint64_t armed_expiry_ = UINT64_MAX;      // when the expiry timer fires; UINT64_MAX: not armed
  bool handshake_completed_ = false;
  bool early_data_offered_ = false;    // 0-RTT transport parameters set; streams may open before the handshake
  bool early_data_rejected_ = false;
  bool handshake_event_pending_ = false;
  bool stream_credit_event_pending_ = false;
  bool write_scheduled_ = false;
  bool closed_ = false;
};

}  // namespace quiver::quic

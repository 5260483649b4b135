#pragma once
// QuicTransport — the QUIC half of one server connection: the ngtcp2_conn and its GnuTLS session, the
// connection ids, the packet write loop, ngtcp2's expiry timer and the closing/draining period.
//
// Owns: the ngtcp2_conn, the GnuTLS session, the expiry/end timer, the raw stream writes.
// Borrows: the ConnectionHost (socket, CID map), the TransportEvents above it (the HTTP/3 session) and
// `owner`, which it names to the host's CID map; the owner keeps all of them alive longer than this.
//
// Invariants:
//  - Every member runs on the io thread.
//  - ngtcp2 calls in only through the noexcept trampolines in connection_callbacks.cpp; stream events
//    go straight on to TransportEvents (inside the ngtcp2 call: the session only records work).
//  - The transport never calls up while a TransportEvents call is on the stack, except through
//    ngtcp2's callbacks.
//  - Once state() is not active nothing more is read or written; finished() is reported once.

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

#include "quiver/error.hpp"
#include "test_server/server.hpp"
#include "test_server/tls_server_context.hpp"
#include "util/c_handles.hpp"

namespace quiver::server {

class ServerConnection;
struct ServerShared;
using Endpoint = asio::ip::udp::endpoint;

// Length of the connection ids the server issues (short-header packets are parsed with it).
inline constexpr std::size_t kCidLength = 18;

// What a connection needs from the server that owns it. Called on the io thread only.
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  virtual void send_packet(const Endpoint& to, std::span<const std::uint8_t> packet) = 0;
  // Route datagrams whose destination connection id is `cid` to `connection` (or stop doing so).
  virtual void add_cid(const std::string& cid, ServerConnection& connection) = 0;
  virtual void remove_cid(const std::string& cid) = 0;
  // The connection is over; the host drops it later (never inside this call).
  virtual void connection_finished(ServerConnection& connection) = 0;
  virtual void log_access(const AccessLogEntry& entry) = 0;
  // Secret for stateless reset tokens (same for every connection of this server).
  virtual std::span<const std::uint8_t> reset_secret() const = 0;
  virtual ServerShared& shared() = 0;
};

// What the transport tells the layer above (the HTTP/3 session). The stream callbacks run inside
// ngtcp2 calls and return 0 or an NGTCP2_ERR_*; the others run outside any library call.
class TransportEvents {
 public:
  virtual ~TransportEvents() = default;
  virtual int on_stream_open(std::int64_t stream_id) = 0;
  virtual int on_recv_stream_data(std::uint32_t flags, std::int64_t stream_id,
                                  std::span<const std::uint8_t> data) = 0;
  virtual int on_acked_stream_data_offset(std::int64_t stream_id, std::uint64_t offset, std::uint64_t datalen) = 0;
  virtual int on_stream_close(std::uint32_t flags, std::int64_t stream_id, std::uint64_t app_error_code) = 0;
  virtual int on_stream_reset(std::int64_t stream_id) = 0;  // RESET_STREAM or STOP_SENDING from the peer
  virtual int on_extend_max_stream_data(std::int64_t stream_id) = 0;
  virtual int on_handshake_keys() = 0;  // the server's 1-RTT keys exist: the application may start
  virtual int on_datagram(std::span<const std::uint8_t>) { return 0; }  // a QUIC DATAGRAM frame's payload

  // The write loop. pull_stream_data: the next application stream data (stream_id -1: none); a
  // negative result means the session failed the connection. The others report what ngtcp2 did with
  // it; on_stream_written returns false when the session failed the connection.
  virtual std::ptrdiff_t pull_stream_data(std::int64_t& stream_id, int& fin, std::span<ngtcp2_vec> vec) = 0;
  virtual bool on_stream_written(std::int64_t stream_id, std::size_t bytes) = 0;
  virtual void on_stream_blocked(std::int64_t stream_id) = 0;  // flow control
  virtual void on_stream_shut_write(std::int64_t stream_id) = 0;

  // After a datagram or a timer: run the work recorded inside callbacks (process_pending) and, when
  // the connection is still active, write (drive).
  virtual void process_pending() = 0;
  virtual void drive() = 0;
  // The closing or draining period began (or the connection ended without one): open streams end
  // with `code`.
  virtual void on_closing(std::uint64_t code) = 0;
  virtual void on_finished() = 0;  // the connection is over (once)
};

class QuicTransport {
 public:
  enum class State { active, closing, draining, finished };

  // `life` guards the timer callbacks (they do nothing once it has expired).
  QuicTransport(const asio::any_io_executor& executor, ConnectionHost& host, ServerConnection& owner,
                TransportEvents& events, std::weak_ptr<void> life, const ServerOptions& options,
                const Endpoint& local, const Endpoint& remote);
  ~QuicTransport();
  QuicTransport(const QuicTransport&) = delete;
  QuicTransport& operator=(const QuicTransport&) = delete;

  // Creates the ngtcp2 server connection for a client's first Initial and registers its ids.
  Result<void> accept(const TlsServerContext& tls, const ngtcp2_pkt_hd& initial);

  void on_datagram(std::span<const std::uint8_t> data, const Endpoint& remote);
  const Endpoint& remote() const noexcept { return remote_; }  // the client's address at the first Initial
  // Writes packets until ngtcp2 has nothing more or a burst is full; true when cut short by the burst
  // limit (more may be written right away).
  bool write();
  // Re-arms the timer for ngtcp2's next expiry (at most 1 ms away after a cut burst).
  void arm_timer(bool more_to_write);

  // CONNECTION_CLOSE with `error`, then the closing period (3 PTO), then finished.
  void close_with(const ngtcp2_ccerr& error);
  void close_application(std::uint64_t h3_code);
  void finish();  // forget the connection now: state finished, TransportEvents::on_finished
  // A callback failed the connection: the close reports this instead of the library error.
  void fail_callback(const ngtcp2_ccerr& error) { callback_error_ = error; }

  // QUIC DATAGRAM frames: queued (copied) for the next write(); false when too many wait. Written one per
  // packet ahead of stream data; one that does not fit is dropped (datagrams are unreliable).
  bool queue_datagram(std::vector<std::uint8_t> datagram);

  // Bytes written on a QUIC stream by the transport itself, before the session's data (/misbehave).
  // ngtcp2 may retransmit them, so they are kept for the connection's life.
  void write_raw(std::int64_t stream_id, std::vector<std::uint8_t> bytes, bool fin);

  State state() const noexcept { return state_; }
  bool active() const noexcept { return state_ == State::active; }
  ngtcp2_conn* conn() const noexcept { return quic_.get(); }
  std::chrono::nanoseconds pto() const noexcept;
  // Connection ids currently registered with the host for this connection.
  const std::vector<std::string>& cids() const noexcept { return cids_; }

 private:
  friend struct Trampolines;  // connection_callbacks.cpp

  struct RawWrite {
    std::int64_t stream_id;
    std::vector<std::uint8_t> bytes;
    bool fin;                 // end the stream with the last byte
    std::size_t offset = 0;   // bytes ngtcp2 accepted so far
    bool done = false;        // all accepted (FIN included), or the stream can no longer be written
  };

  ngtcp2_settings quic_settings() const;
  Result<ngtcp2_transport_params> transport_params(const ngtcp2_pkt_hd& initial, const ngtcp2_cid& scid) const;
  void add_cid(const ngtcp2_cid& cid);
  bool recover_write_error(ngtcp2_ssize error, std::int64_t stream_id, ngtcp2_ssize datalen);
  void on_timer();
  void send(const ngtcp2_path& path, std::span<const std::uint8_t> packet);
  void handle_read_error(int liberr);
  void close_with_liberr(int liberr);
  void enter_draining();
  void start_end_timer();  // closing/draining last 3 PTO, then finish()
  bool write_raw(ngtcp2_path_storage& ps, std::size_t max_udp, ngtcp2_tstamp ts);  // false: connection closed
  bool write_raw_packet(RawWrite& raw, ngtcp2_path_storage& ps, std::size_t max_udp, ngtcp2_tstamp ts,
                        bool& stalled);

  // ngtcp2 callbacks that are the transport's own (the stream ones go to events_ directly).
  int on_new_connection_id(ngtcp2_cid* cid, std::uint8_t* token, std::size_t cidlen);
  int on_remove_connection_id(const ngtcp2_cid* cid);
  int on_handshake_completed();  // counts resumption and early data, sends a session ticket

  asio::any_io_executor executor_;
  ConnectionHost& host_;
  ServerConnection& owner_;
  TransportEvents& events_;
  std::weak_ptr<void> life_;
  const ServerOptions& options_;
  Endpoint local_, remote_;

  ngtcp2_crypto_conn_ref conn_ref_{};  // GnuTLS session pointer -> this; lives as long as tls_
  const TlsServerContext* tls_context_ = nullptr;  // borrowed from the Server (set by accept)
  // Destroyed in reverse order: quic_, then the TLS session it used.
  util::GnutlsSessionPtr tls_;
  util::NgtcpConnPtr quic_;

  State state_ = State::active;
  std::optional<ngtcp2_ccerr> callback_error_;  // why a callback failed the connection, if it said
  std::uint64_t close_code_ = 0;                // the code we closed with (for the access log)
  std::vector<std::uint8_t> close_packet_;      // resent for datagrams that arrive while closing
  asio::steady_timer timer_;                    // ngtcp2 expiry, or the end of closing/draining
  ngtcp2_tstamp armed_expiry_ = UINT64_MAX;
  std::vector<std::string> cids_;
  std::vector<std::uint8_t> send_buffer_;

  std::deque<std::vector<std::uint8_t>> datagrams_;  // waiting for write()
  bool write_datagrams(ngtcp2_path_storage& ps, std::size_t max_udp, ngtcp2_tstamp ts, std::size_t& packets,
                       std::size_t max_packets);
  std::vector<RawWrite> raw_writes_;                 // pending raw writes, in order
  std::vector<std::vector<std::uint8_t>> raw_sent_;  // written raw bytes ngtcp2 may still retransmit
};

// Current time as ngtcp2 timestamps it (steady clock, nanoseconds).
ngtcp2_tstamp timestamp_now() noexcept;
// A CONNECTION_CLOSE error with an HTTP/3 application error code.
ngtcp2_ccerr application_error(std::uint64_t code);

}  // namespace quiver::server

#pragma once
// ServerConnection — the HTTP/3 session of one server connection, on top of its QuicTransport.
// Its members live in three files: server_connection.cpp (event loop, closing/GOAWAY, nghttp3 and QUIC
// stream events), route_runner.cpp (carrying out a route's ResponsePlan) and stream_control.cpp (request
// stream roles, and the ConnectionControl it gives its hooks).
//
// It knows no specific misbehaviour: it asks its ConnectionHooks (connection_hooks.hpp) at its decision
// points — HTTP/3 started, a request stream opened, a request's headers in, a plan about to be carried
// out, a request stream closed — and carries out what they ask through ConnectionControl. The test
// controls (test_controls.cpp) are the only hooks.
//
// Owns: the QuicTransport (ngtcp2, TLS, packets, timers of the QUIC layer), the nghttp3_conn, the
// request streams, the session's timers and its hooks. Borrows: the ConnectionHost (socket, CID map,
// access log, ServerShared), the TlsServerContext and the ServerOptions; the Server keeps all three
// alive longer than any connection.
//
// Invariants:
//  - Every member runs on the io thread.
//  - The C libraries call in only through the noexcept trampolines in connection_callbacks.cpp (ngtcp2's
//    stream events through the transport's TransportEvents), which call the on_* members below; no
//    exception crosses a C frame.
//  - Inside a C callback nothing is destroyed except a closed stream's state, no user code runs and
//    no ngtcp2 read/write is started: callbacks record work in pending_* and process_pending() does it
//    after the library call returned.
//  - After every datagram, timer or app event: process_pending(), write, then re-arm the expiry timer
//    (see drive()).
//  - streams_ holds each request stream from its first HEADERS until nghttp3 reports it closed; timers
//    and deferred work refer to streams by id, never by pointer.
//  - request_slots_ holds every client request stream open at the QUIC level, from ngtcp2's
//    stream_open to its stream_close, with the role its hooks gave it at open. Only `served` streams
//    ever reach nghttp3, so nghttp3's highest-stream-seen (hence its GOAWAY id) ignores held ones.
//  - ConnectionControl's queued calls are recorded in pending_* like the callbacks' own work.
//  - nghttp3_conn_submit_shutdown_notice only before nghttp3_conn_shutdown, and each at most once
//    (nghttp3 asserts that a GOAWAY id never grows).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "test_server/connection_hooks.hpp"
#include "test_server/quic_transport.hpp"
#include "test_server/routes.hpp"
#include "test_server/server.hpp"
#include "test_server/server_shared.hpp"
#include "test_server/tls_server_context.hpp"
#include "test_server/udp_proxy.hpp"
#include "util/c_handles.hpp"

namespace quiver::server {

// Server-side state of one request stream.
struct RequestStream {
  RequestStream(std::int64_t id, const asio::any_io_executor& executor) : id(id), timer(executor) {}

  // A response that stays open until the request ends (/datagram-echo, CONNECT-UDP): its body is the
  // tunnel's (read_tunnel), and the request's end ends it.
  bool kept_open() const noexcept { return plan.tunnel || plan.connect_udp.has_value(); }

  std::int64_t id;
  Clock::time_point started = Clock::now();
  RouteRequest request;
  RouteTraits traits;                 // known at the end of the headers
  bool dispatched = false;            // routed already (at the headers or at the end of the request)
  ResponsePlan plan;                  // set when the request is dispatched
  bool response_submitted = false;
  bool reset_sent = false;
  bool planned = false;               // `plan` holds the route's plan (at the headers or at the end)
  bool request_ended = false;         // the request's END_STREAM arrived
  bool logged = false;                // its access-log entry is out
  std::uint64_t body_bytes_sent = 0;  // handed to nghttp3
  std::uint64_t body_bytes_acked = 0;
  std::uint64_t stream_bytes_acked = 0;  // QUIC stream offset acknowledged (headers included)
  // /slow-upload (plan.upload): body bytes received and written to the sink but not yet credited back
  // to the client, and the token bucket that paces the credit.
  std::uint64_t upload_unread = 0;
  double upload_allowance = 0;
  Clock::time_point upload_last_tick{};
  // A kept-open response's stream data (/datagram-echo's echo, CONNECT-UDP's capsule answers) not yet
  // handed to nghttp3, then the bytes handed over (kept for the stream's life: nghttp3 may resend them).
  std::deque<std::string> tunnel_unsent, tunnel_sent;
  // CONNECT-UDP (plan.connect_udp), once its target was allowed: the UDP socket to the target.
  std::unique_ptr<UdpRelay> udp_relay;
  asio::steady_timer timer;           // /delay, chunk pacing, upload ticks; handlers look the stream up by id
};

struct RequestSlot {
  StreamRole role = StreamRole::served;
  bool qpack_cancelled = false;  // held: QPACK Stream Cancellation sent (its HEADERS are never decoded)
};

class ServerConnection final : public std::enable_shared_from_this<ServerConnection>,
                               private TransportEvents,
                               private ConnectionControl {
 public:
  // Creates the connection for a client's first Initial packet (`initial`, from ngtcp2_accept) that
  // arrived at `local` from `remote`, with its own `hooks` (never null). Registers its connection ids
  // with the host. Fails (io_error) if the ngtcp2/GnuTLS set-up fails.
  static Result<std::shared_ptr<ServerConnection>> create(const asio::any_io_executor& executor, ConnectionHost& host,
                                                          const TlsServerContext& tls, const ServerOptions& options,
                                                          std::unique_ptr<ConnectionHooks> hooks,
                                                          const ngtcp2_pkt_hd& initial, const Endpoint& local,
                                                          const Endpoint& remote);
  ~ServerConnection() override;
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  // A datagram for this connection.
  void on_datagram(std::span<const std::uint8_t> data, const Endpoint& remote) { transport_->on_datagram(data, remote); }
  // Server stop: CONNECTION_CLOSE (H3_NO_ERROR) now; the connection is finished afterwards.
  void close_now();
  // Server graceful shutdown: GOAWAY now, close (H3_NO_ERROR) once no request is in flight.
  void shutdown_gracefully();
  // Server::send_goaway: GOAWAY(max id) now, the final GOAWAY after `final_delay`, then close
  // (H3_NO_ERROR) once no request is in flight. Does nothing while handshaking or if already asked.
  void send_goaways(std::chrono::milliseconds final_delay);
  // Connection ids currently registered with the host for this connection.
  const std::vector<std::string>& cids() const noexcept { return transport_->cids(); }

 private:
  friend struct Trampolines;  // connection_callbacks.cpp

  ServerConnection(const asio::any_io_executor& executor, ConnectionHost& host, const ServerOptions& options,
                   std::unique_ptr<ConnectionHooks> hooks);
  bool active() const noexcept { return transport_->active(); }
  ngtcp2_conn* quic() const noexcept { return transport_->conn(); }

  // ---- TransportEvents (the event loop and the QUIC stream events) ----
  void drive() override;  // process_pending(), write, re-arm the transport's timer
  void process_pending() override;
  void on_closing(std::uint64_t code) override;
  void on_finished() override;
  std::ptrdiff_t pull_stream_data(std::int64_t& stream_id, int& fin, std::span<ngtcp2_vec> vec) override;
  bool on_stream_written(std::int64_t stream_id, std::size_t bytes) override;
  void on_stream_blocked(std::int64_t stream_id) override;
  void on_stream_shut_write(std::int64_t stream_id) override;
  int on_stream_open(std::int64_t stream_id) override;
  int on_recv_stream_data(std::uint32_t flags, std::int64_t stream_id, std::span<const std::uint8_t> data) override;
  int on_acked_stream_data_offset(std::int64_t stream_id, std::uint64_t offset, std::uint64_t datalen) override;
  int on_stream_close(std::uint32_t flags, std::int64_t stream_id, std::uint64_t app_error_code) override;
  int on_stream_reset(std::int64_t stream_id) override;
  int on_extend_max_stream_data(std::int64_t stream_id) override;
  int on_handshake_keys() override;
  int on_datagram(std::span<const std::uint8_t> datagram) override;

  // ---- closing and GOAWAY (server_connection.cpp) ----
  void close_application(std::uint64_t h3_code) { transport_->close_application(h3_code); }
  void fail_h3(int liberr);  // fatal nghttp3 error: close with the matching H3 code
  void close_when_idle();  // from now on, close once no request is left (after a short grace period)
  void maybe_close_when_idle();
  bool serving_requests() const;
  void send_goaway();        // the final GOAWAY (nghttp3 picks the id), at most once
  void final_goaway();       // send_goaway(), then close_when_idle() if close_after_goaway_
  void schedule_goaway(std::chrono::milliseconds delay);
  void log_open_streams(std::uint64_t app_error_code);  // the connection is ending: each open stream once

  // ---- HTTP/3 set-up and streams (server_connection.cpp) ----
  int setup_h3();
  RequestStream* find_stream(std::int64_t stream_id);
  void consume(std::int64_t stream_id, std::size_t bytes);  // returns flow-control credit

  // ---- the route runner: a request's ResponsePlan carried out (route_runner.cpp) ----
  void plan(RequestStream& stream);  // routes it once; pure (no library calls): fine inside callbacks
  void dispatch(std::int64_t stream_id);
  void carry_out(RequestStream& stream);
  void submit_response(RequestStream& stream);
  void stop_reading_later(std::int64_t stream_id);  // STOP_SENDING(H3_NO_ERROR) once the response is out
  void start_stream_timer(RequestStream& stream, Clock::time_point when);
  void on_stream_timer(std::int64_t stream_id);
  void reset_stream(RequestStream& stream, std::uint64_t code);
  void arm_upload_tick(RequestStream& stream);
  void on_upload_tick(std::int64_t stream_id);
  void finish_upload(RequestStream& stream);
  void check_reset_after(RequestStream& stream);
  int end_body(RequestStream& stream, std::uint32_t* pflags);
  nghttp3_ssize read_tunnel(RequestStream& stream, nghttp3_vec* vec, std::size_t veccnt, std::uint32_t* pflags);
  void start_udp_relay(RequestStream& stream);  // CONNECT-UDP: the relay, or a refusal in place of the plan
  void relay_to_client(std::int64_t stream_id, std::span<const std::uint8_t> payload);  // from the target
  void relay_to_target(RequestStream& stream, std::span<const std::uint8_t> context_and_payload);
  void log_stream(RequestStream& stream, std::uint64_t app_error_code);  // once per stream

  // ---- request stream roles, resets of unanswered streams, ConnectionControl (stream_control.cpp) ----
  bool is_request_stream(std::int64_t stream_id) const;
  RequestSlot& slot_for(std::int64_t stream_id);  // the open stream's slot, opening it if new
  RequestSlot& open_request_stream(std::int64_t stream_id);  // its role asked of the hooks
  void close_request_stream(std::int64_t stream_id);  // at the QUIC stream's close: the hooks hear it
  bool refuse_request(RequestStream& stream);  // at its headers: true if the hooks refused it (reset queued)
  void drop_unserved_data(std::size_t bytes);
  void reset_unanswered(std::int64_t stream_id, std::uint64_t code);  // a held or refused stream
  int cancel_qpack(std::int64_t stream_id, RequestSlot& slot);  // 0 or an nghttp3 error
  void start_final_goaway(std::uint64_t idle_close_code);  // GOAWAY now, close when idle with that code

  // ConnectionControl, for the hooks
  void reset_request_stream(std::int64_t stream_id, std::uint64_t code) override;
  void goaway_and_close_when_idle(std::uint64_t idle_close_code) override;
  void close_after_next_write(std::uint64_t code) override;
  void write_raw(std::int64_t stream_id, std::vector<std::uint8_t> bytes, bool fin) override;
  std::optional<std::int64_t> open_uni_stream() override;
  std::int64_t control_stream() const override { return control_stream_; }
  std::int64_t qpack_encoder_stream() const override { return qpack_encoder_stream_; }
  void reset_stream_write(std::int64_t stream_id, std::uint64_t code) override;

  // ---- nghttp3 callback entry points (via Trampolines) ----
  int on_h3_acked_data(std::int64_t stream_id, std::uint64_t datalen);
  int on_h3_stream_close(std::int64_t stream_id, std::uint64_t app_error_code);
  int on_h3_recv_data(std::int64_t stream_id, std::span<const std::uint8_t> data);
  int on_h3_deferred_consume(std::int64_t stream_id, std::size_t consumed);
  int on_h3_begin_headers(std::int64_t stream_id);
  int on_h3_recv_header(std::int64_t stream_id, std::string name, std::string value);
  int on_h3_end_headers(std::int64_t stream_id);
  int on_h3_end_stream(std::int64_t stream_id);
  int on_h3_stop_sending(std::int64_t stream_id, std::uint64_t app_error_code);
  int on_h3_reset_stream(std::int64_t stream_id, std::uint64_t app_error_code);
  nghttp3_ssize on_h3_read_body(std::int64_t stream_id, nghttp3_vec* vec, std::size_t veccnt,
                                std::uint32_t* pflags);

  asio::any_io_executor executor_;
  ConnectionHost& host_;
  const ServerOptions& options_;
  std::unique_ptr<ConnectionHooks> hooks_;  // never null

  // Destroyed in reverse order: streams_ (body views), h3_, then the transport (ngtcp2, TLS).
  std::unique_ptr<QuicTransport> transport_;
  util::Nghttp3ConnPtr h3_;
  std::unordered_map<std::int64_t, std::unique_ptr<RequestStream>> streams_;
  std::unordered_map<std::int64_t, RequestSlot> request_slots_;  // open client request streams

  asio::steady_timer goaway_timer_;             // /goaway?delay_ms
  asio::steady_timer grace_timer_;              // graceful shutdown: earliest idle close
  Clock::time_point grace_deadline_{};

  // Work recorded inside C callbacks, done by process_pending() once the library call returned.
  std::vector<std::int64_t> pending_dispatch_;      // requests ready to route (see RouteTraits)
  std::vector<std::int64_t> pending_resumes_;       // /datagram-echo streams with bytes to echo
  std::vector<std::int64_t> pending_reset_checks_;  // /reset?after= streams that had data acked
  std::vector<AccessLogEntry> pending_log_;
  std::optional<std::uint64_t> pending_close_;      // /close: an H3 code to close the connection with
  // The hooks' queued ConnectionControl calls, carried out in this order.
  std::optional<std::uint64_t> pending_goaway_;     // goaway_and_close_when_idle: the idle close code
  std::optional<std::uint64_t> pending_close_after_write_;  // close_after_next_write: the code
  std::vector<std::pair<std::int64_t, std::uint64_t>> pending_resets_;  // reset_request_stream: id, code
  std::optional<std::uint64_t> close_after_write_;  // drive() closes with it once its write is done

  bool notice_sent_ = false;        // GOAWAY(max id) sent; only before goaway_sent_
  bool goaway_sent_ = false;        // the final GOAWAY sent
  bool close_after_goaway_ = false;  // close_when_idle() once the final GOAWAY is out
  bool close_when_idle_ = false;
  std::uint64_t idle_close_code_ = NGHTTP3_H3_NO_ERROR;  // what close_when_idle closes with

  std::int64_t control_stream_ = -1, qpack_encoder_stream_ = -1;  // the server's, bound in setup_h3
  std::vector<std::int64_t> raw_streams_;       // streams with raw bytes: their acks never reach nghttp3
};

}  // namespace quiver::server

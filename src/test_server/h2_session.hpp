#pragma once
// H2Session — the HTTP/2 session of one TCP+TLS server connection (nghttp2, ALPN "h2"), serving the same
// routes (routes.hpp) with the same test controls (ConnectionHooks) as the HTTP/3 ServerConnection.
// Its members live in two files: h2_session.cpp (event loop, closing/GOAWAY, nghttp2 callbacks, the
// ConnectionControl it gives its hooks) and h2_route_runner.cpp (carrying out a route's ResponsePlan).
//
// The hooks speak HTTP/3: they see request streams by their HTTP/3 equivalent (the n-th client request
// stream, n = 0, 1, ..., is HTTP/2 stream 2n+1 and HTTP/3 stream 4n) and ask for HTTP/3 error codes,
// which the session maps to HTTP/2's (h2_code()). So hold_streams_from, goaway_after_requests,
// refuse_new_streams and reject_first_per_path mean the same on both protocols. Raw frames
// (/misbehave) are HTTP/3's only: over HTTP/2 that route answers 501.
//
// Owns: the nghttp2 session, the request streams, its timers and hooks; shares the TcpTlsStream (whose
// waits hold it too). Borrows the TcpHost and the ServerOptions (the Server keeps both alive longer).
//
// Invariants:
//  - Io thread only. nghttp2 calls in through noexcept trampolines (h2_session.cpp) calling one member.
//  - Inside an nghttp2 callback nothing is destroyed except a closed stream's state and no nghttp2
//    send/receive starts: work is recorded in pending_* and process_pending() does it afterwards.
//  - After every read, timer or event: drive() = process_pending(), then nghttp2's frames to the
//    stream while it has room (kHighWater), then close the socket if nghttp2 wants neither to read
//    nor to write (a GOAWAY with an error, or the peer's).
//  - streams_ holds every client stream from its HEADERS until nghttp2 closes it; timers and deferred
//    work name streams by id.
//  - A held stream is never routed nor counted; only its connection-level credit is given back.
//  - The final GOAWAY is sent at most once; its last-stream-id is the highest served stream.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/steady_timer.hpp>
#include <nghttp2/nghttp2.h>

#include "test_server/connection_hooks.hpp"
#include "test_server/routes.hpp"
#include "test_server/tcp_session.hpp"
#include "test_server/tcp_tls_stream.hpp"
#include "util/c_handles.hpp"

namespace quiver::server {

// HTTP/3 error code (as routes and hooks use them) -> HTTP/2's counterpart (RFC 9114 §8.1 / RFC 9113
// §7): H3_NO_ERROR -> NO_ERROR, H3_REQUEST_REJECTED -> REFUSED_STREAM, H3_REQUEST_CANCELLED -> CANCEL,
// H3_EXCESSIVE_LOAD -> ENHANCE_YOUR_CALM, ...; a code already in HTTP/2's range (0..0xd) is kept; any
// other -> INTERNAL_ERROR.
std::uint32_t h2_code(std::uint64_t h3_code) noexcept;
// The other way, for the access log (AccessLogEntry::app_error_code is in HTTP/3's space).
std::uint64_t h3_code_of(std::uint32_t h2_code) noexcept;

struct H2Stream {
  H2Stream(std::int32_t id, const asio::any_io_executor& executor) : id(id), timer(executor) {}

  std::int32_t id;
  StreamRole role = StreamRole::served;
  Clock::time_point started = Clock::now();
  RouteRequest request;
  RouteTraits traits;
  ResponsePlan plan;
  bool refused = false;               // the hooks refused it at its headers: reset, never routed
  bool planned = false, dispatched = false, response_submitted = false, reset_sent = false;
  bool request_ended = false, logged = false, response_ended = false;
  std::uint64_t body_bytes_sent = 0;  // handed to nghttp2
  std::uint64_t body_bytes_written = 0;  // in DATA frames written to the socket
  std::uint64_t upload_unread = 0;    // /slow-upload: received, not yet credited back
  double upload_allowance = 0;
  Clock::time_point upload_last_tick{};
  asio::steady_timer timer;           // /delay, chunk pacing, upload ticks
};

class H2Session final : public TcpSession,
                        public std::enable_shared_from_this<H2Session>,
                        private TcpTlsStream::Events,
                        private ConnectionControl {
 public:
  // `alt_svc`: the alt-svc field value every response carries ("" for none).
  static Result<std::shared_ptr<H2Session>> create(TcpHost& host, std::shared_ptr<TcpTlsStream> stream,
                                                   const ServerOptions& options,
                                                   std::unique_ptr<ConnectionHooks> hooks, std::string alt_svc);
  ~H2Session() override;

  void start() override;
  void close_now() override;
  void shutdown_gracefully() override;
  void send_goaways(std::chrono::milliseconds final_delay) override;

 private:
  friend struct H2Trampolines;

  H2Session(TcpHost& host, std::shared_ptr<TcpTlsStream> stream, const ServerOptions& options,
            std::unique_ptr<ConnectionHooks> hooks, std::string alt_svc);
  nghttp2_session* h2() const noexcept { return h2_.get(); }
  bool active() const noexcept { return stream_->is_open() && !finished_; }

  // ---- TcpTlsStream::Events ----
  void on_data(std::span<const std::uint8_t> data) override;
  void on_writable() override { drive(); }
  void on_closed() override;

  // ---- event loop, closing, GOAWAY (h2_session.cpp) ----
  void drive();
  void process_pending();
  bool has_pending() const;
  void fail(int liberr);  // fatal nghttp2 error: GOAWAY(INTERNAL_ERROR) and close
  void terminate(std::uint32_t code);  // GOAWAY with `code` (if not sent), then close once written
  void close_when_idle();
  void maybe_close_when_idle();
  bool serving_requests() const;
  void send_final_goaway();  // GOAWAY(highest served stream), at most once
  void final_goaway();
  void schedule_goaway(std::chrono::milliseconds delay);
  void arm_idle_timer();
  H2Stream* find_stream(std::int32_t stream_id);
  void consume(std::int32_t stream_id, std::size_t bytes);  // stream and connection credit back
  void flush_access_log();
  void log_stream(H2Stream& stream, std::uint64_t h3_app_error_code);

  // ---- the route runner (h2_route_runner.cpp) ----
  void plan(H2Stream& stream);
  void dispatch(std::int32_t stream_id);
  void carry_out(H2Stream& stream);
  void submit_response(H2Stream& stream);
  void start_stream_timer(H2Stream& stream, Clock::time_point when);
  void on_stream_timer(std::int32_t stream_id);
  void reset_stream(H2Stream& stream, std::uint64_t h3_code);
  void arm_upload_tick(H2Stream& stream);
  void on_upload_tick(std::int32_t stream_id);
  void finish_upload(H2Stream& stream);
  void check_reset_after(H2Stream& stream);
  void end_body(H2Stream& stream, std::uint32_t* data_flags);
  ssize_t read_body(std::int32_t stream_id, std::uint8_t* buf, std::size_t length, std::uint32_t* data_flags);

  // ---- nghttp2 callback entry points ----
  int on_begin_headers(std::int32_t stream_id);
  int on_header(std::int32_t stream_id, std::string name, std::string value);
  int on_frame_recv(const nghttp2_frame& frame);
  int on_frame_send(const nghttp2_frame& frame);
  int on_data_chunk(std::int32_t stream_id, std::span<const std::uint8_t> data);
  int on_stream_close(std::int32_t stream_id, std::uint32_t error_code);
  void on_end_headers(H2Stream& stream);

  // ---- ConnectionControl, for the hooks (HTTP/3 ids and codes, see above) ----
  void reset_request_stream(std::int64_t h3_stream_id, std::uint64_t code) override;
  void goaway_and_close_when_idle(std::uint64_t idle_close_code) override { pending_goaway_ = idle_close_code; }
  void close_after_next_write(std::uint64_t code) override { pending_close_after_write_ = code; }
  void write_raw(std::int64_t, std::vector<std::uint8_t>, bool) override {}
  std::optional<std::int64_t> open_uni_stream() override { return std::nullopt; }
  std::int64_t control_stream() const override { return -1; }
  std::int64_t qpack_encoder_stream() const override { return -1; }
  void reset_stream_write(std::int64_t, std::uint64_t) override {}

  TcpHost& host_;
  std::shared_ptr<TcpTlsStream> stream_;
  const ServerOptions& options_;
  std::unique_ptr<ConnectionHooks> hooks_;  // never null
  const std::string alt_svc_;

  // Destroyed in reverse order: streams_ (bodies nghttp2 reads through read_body), then the session.
  util::Nghttp2SessionPtr h2_;
  std::unordered_map<std::int32_t, std::unique_ptr<H2Stream>> streams_;

  asio::steady_timer goaway_timer_, grace_timer_, idle_timer_;
  Clock::time_point grace_deadline_{};

  // Work recorded inside nghttp2 callbacks, done by process_pending().
  std::vector<std::int32_t> pending_dispatch_;
  std::vector<std::int32_t> pending_reset_checks_;
  std::vector<std::int32_t> pending_stop_reading_;
  std::vector<std::pair<std::int32_t, std::uint64_t>> pending_resets_;  // h2 stream id, HTTP/3 code
  std::vector<AccessLogEntry> pending_log_;
  std::optional<std::uint64_t> pending_close_;              // /close: an HTTP/3 code
  std::optional<std::uint64_t> pending_goaway_;             // hooks: the idle close code
  std::optional<std::uint64_t> pending_close_after_write_;  // hooks: the code

  std::int32_t last_served_ = 0;   // highest served stream id: the final GOAWAY's last-stream-id
  bool notice_sent_ = false, goaway_sent_ = false, terminated_ = false;
  bool close_after_goaway_ = false, close_when_idle_ = false;
  std::uint64_t idle_close_code_ = 0x100;  // HTTP/3 code close_when_idle closes with (H3_NO_ERROR)
  bool terminated_read_ = false;  // the client broke the protocol: nothing more is read
  bool finished_ = false;
  bool driving_ = false;
};

}  // namespace quiver::server

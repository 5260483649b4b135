#pragma once
// H1Session — the HTTP/1.1 session of one TCP+TLS server connection (ALPN "http/1.1", or none), serving
// the same routes (routes.hpp) with the same test controls (ConnectionHooks) as HTTP/3 and HTTP/2.
// Requests are parsed by http-parser (HTTP_REQUEST mode). Its members live in two files: h1_session.cpp
// (set-up, the parser's trampolines, reading, closing, the ConnectionControl for its hooks) and
// h1_route_runner.cpp (carrying out a route's ResponsePlan as an HTTP/1.1 response).
//
// One request at a time: the parser pauses at the end of each request, and the socket is not read while
// bytes received are left unparsed, so a pipelined request waits (in at most one read's worth of memory,
// then in TCP) until the response before it is done. Request bodies are kept only for routes that keep
// them (at most kMaxKeptBody), otherwise dropped as they arrive.
//
// What has no HTTP/1.1 meaning is mapped: the n-th request on the connection is, for the hooks, HTTP/3
// request stream 4n (as H2Session's stream 2n+1); a stream reset (the /reset route, or the hooks resetting
// a held or refused request) closes the connection; a final GOAWAY (shutdown, Server::send_goaway, the
// hooks, /goaway) becomes `connection: close` on the response in progress (if its head is not out yet)
// and a close once no request is in progress; trailers make the body chunked; /misbehave answers 501.
//
// Owns: the parser, the exchange in progress, its timers and hooks; shares the TcpTlsStream (whose waits
// hold it too). Borrows the TcpHost and the ServerOptions (the Server keeps both alive longer).
//
// Invariants:
//  - Io thread only. http-parser calls in through noexcept trampolines (h1_session.cpp) calling one
//    member; nothing is written nor closed inside them: work is recorded in pending_* and done by
//    process_pending() after http_parser_execute returned.
//  - exchange_ is the request being read or answered, from its first byte until both its request and
//    its response ended (or the connection closed); at most one.
//  - The socket is not read while input_ holds the next request's bytes (exchange_'s request has ended)
//    nor while an upload is being paced.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <asio/steady_timer.hpp>
#include <http_parser.h>

#include "test_server/connection_hooks.hpp"
#include "test_server/routes.hpp"
#include "test_server/tcp_session.hpp"
#include "test_server/tcp_tls_stream.hpp"

namespace quiver::server {

struct H1Exchange {
  H1Exchange(std::uint64_t index, const asio::any_io_executor& executor) : index(index), timer(executor) {}

  std::int64_t h3_id() const noexcept { return static_cast<std::int64_t>(4 * index); }

  std::uint64_t index;  // the n-th request on this connection, n = 0, 1, ...
  StreamRole role = StreamRole::served;
  Clock::time_point started = Clock::now();
  RouteRequest request;
  RouteTraits traits;
  ResponsePlan plan;
  bool headers_in = false;        // the request's head is parsed (later fields are trailers: dropped)
  bool expects_continue = false;  // `expect: 100-continue`
  bool refused = false;           // the hooks refused it at its headers: never routed
  bool planned = false, dispatched = false;
  bool head_written = false;      // the response's status line and fields are queued
  bool chunked = false;           // the response body is chunked
  bool close_delimited = false;   // HTTP/1.0 without a length: the body ends with the connection
  bool request_ended = false, response_ended = false, logged = false;
  std::uint64_t body_bytes_sent = 0;  // response body bytes queued on the stream
  std::uint64_t upload_unread = 0;    // /slow-upload: received, not yet let through by the pacing
  double upload_allowance = 0;
  Clock::time_point upload_last_tick{};
  asio::steady_timer timer;           // /delay, chunk pacing, upload ticks
};

class H1Session final : public TcpSession,
                        public std::enable_shared_from_this<H1Session>,
                        private TcpTlsStream::Events,
                        private ConnectionControl {
 public:
  // `alt_svc`: the alt-svc field value every response carries ("" for none).
  static std::shared_ptr<H1Session> create(TcpHost& host, std::shared_ptr<TcpTlsStream> stream,
                                           const ServerOptions& options, std::unique_ptr<ConnectionHooks> hooks,
                                           std::string alt_svc);
  ~H1Session() override;

  void start() override;
  void close_now() override;
  void shutdown_gracefully() override;
  void send_goaways(std::chrono::milliseconds final_delay) override;

 private:
  friend struct H1Trampolines;

  H1Session(TcpHost& host, std::shared_ptr<TcpTlsStream> stream, const ServerOptions& options,
            std::unique_ptr<ConnectionHooks> hooks, std::string alt_svc);
  // False once a close began: nothing more is parsed, routed or written (the stream flushes what it has).
  bool active() const noexcept { return stream_->is_open() && !finished_ && !closing_connection_; }

  // ---- TcpTlsStream::Events ----
  void on_data(std::span<const std::uint8_t> data) override;
  void on_writable() override;
  void on_closed() override;

  // ---- reading, closing (h1_session.cpp) ----
  void parse_input();
  bool take_extension_method();
  void update_reading();
  void on_parse_error();
  void process_pending();
  void finish_exchange_if_done();
  void next_exchange();
  void begin_closing(std::chrono::milliseconds grace);  // a final GOAWAY's equivalent, at most once
  void close_after_flush(std::uint64_t h3_code);
  void arm_idle_timer();
  void log_exchange(H1Exchange& exchange, std::uint64_t h3_app_error_code);

  // ---- the route runner (h1_route_runner.cpp) ----
  void plan(H1Exchange& exchange);
  void dispatch();
  void carry_out(H1Exchange& exchange);
  void submit_response(H1Exchange& exchange);
  void write_body(H1Exchange& exchange);
  void end_body(H1Exchange& exchange);
  void start_exchange_timer(H1Exchange& exchange, Clock::time_point when);
  void on_exchange_timer();
  void reset_exchange(H1Exchange& exchange, std::uint64_t h3_code);
  void arm_upload_tick(H1Exchange& exchange);
  void on_upload_tick();
  void finish_upload(H1Exchange& exchange);
  void write(std::string_view bytes);

  // ---- http-parser callback entry points ----
  int on_message_begin();
  int on_url(std::string_view piece);
  int on_header_field(std::string_view piece);
  int on_header_value(std::string_view piece);
  int on_headers_complete();
  int on_body(std::span<const std::uint8_t> data);
  int on_message_complete();
  void add_field();

  // ---- ConnectionControl, for the hooks (HTTP/3 ids and codes, see above) ----
  void reset_request_stream(std::int64_t h3_stream_id, std::uint64_t code) override;
  void goaway_and_close_when_idle(std::uint64_t idle_close_code) override { pending_goaway_ = idle_close_code; }
  void close_after_next_write(std::uint64_t code) override { pending_close_ = code; }
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

  http_parser parser_{};
  http_parser_settings settings_{};
  std::string input_;               // received, not yet parsed (at most one read while a response is out)
  std::string extension_method_;    // the request's method when http-parser does not know it
  std::string field_name_, field_value_;
  bool in_value_ = false;
  bool keep_alive_ = true;          // the request in progress lets the connection live on
  std::unique_ptr<H1Exchange> exchange_;
  std::uint64_t requests_seen_ = 0;

  asio::steady_timer goaway_timer_, grace_timer_, idle_timer_;

  // Work recorded inside http-parser callbacks (or by the hooks), done by process_pending().
  bool pending_dispatch_ = false;
  bool pending_continue_ = false;                 // 100 Continue to write
  std::optional<std::uint64_t> pending_reset_;    // the exchange's request: close with this HTTP/3 code
  std::optional<std::uint64_t> pending_goaway_;   // hooks: close when idle
  std::optional<std::uint64_t> pending_close_;    // hooks: close right after what is queued

  bool closing_ = false;    // no request after the one in progress: `connection: close`, then close
  bool parse_failed_ = false;
  bool closing_connection_ = false;  // close_after_flush was asked
  bool finished_ = false;
};

}  // namespace quiver::server

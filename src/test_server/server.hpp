#pragma once
// quiver::server::Server — the project's own test server: HTTP/3 (ngtcp2 + nghttp3) and, on the same
// port over TCP, HTTP/2 (nghttp2) and HTTP/1.1 (http-parser), with GnuTLS and Asio.
//
// It serves a fixed set of scriptable routes (see routes.hpp: /bytes, /echo, /status[?early=1],
// /headers, /delay, /trailers, /reset, /close, /stream, /goaway, /slow-upload, /misbehave) for the integration
// tests, `quiver serve` and the demo.
//
// Controls, for scripting misbehaviour from a test while requests are in flight (all thread-safe):
//   hold_streams_from(id)    request streams with id >= `id` are held: never processed, never credited
//   send_goaway()            GOAWAY(max id) then GOAWAY(id) on every connection; each one closes when
//                            its last processed request is done; new connections are still accepted
//   refuse_new_streams(on)   every new request stream is reset at once with H3_REQUEST_REJECTED
//   issue_session_tickets(on), accept_early_data(on)   TLS resumption tickets and 0-RTT acceptance
// and, fixed at start() through ServerOptions (see there):
//   goaway_in_first_flight   GOAWAY(0) in the packets that complete the handshake; every request refused
//   reject_first_per_path    the first K requests for each :path are reset with H3_REQUEST_REJECTED
//   goaway_after_requests    nginx's keepalive_requests: GOAWAY once N requests reached a connection,
//                            then close (gracefully, or H3_INTERNAL_ERROR resets + H3_EXCESSIVE_LOAD)
//   shutdown_gracefully()    GOAWAY everywhere, close when idle, refuse new connections
//   stats()                  connections accepted, requests started, peak streams open at once, ...
//
// Threading: start() spawns one io thread; every connection, stream and timer lives on it. The public
// methods may be called from any thread except that io thread (stop() joins it); connection_count()
// and stats() are lock-free. The access_log callback runs on the io thread and must not call
// stop()/~Server.
//
// Debugging: QUIVER_SERVER_TRACE=1 in the environment prints ngtcp2's packet/frame log to stderr.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "quiver/error.hpp"

namespace quiver::server {

// One finished request stream (completed, reset or aborted), reported to ServerOptions::access_log.
struct AccessLogEntry {
  std::string method;                 // :method ("" if the request never got that far)
  std::string path;                   // :path as sent, query included
  int status = 0;                     // response status; 0 if no response headers were sent
  std::uint64_t bytes_sent = 0;       // response body bytes handed to the transport
  std::chrono::microseconds duration{0};  // from the request's HEADERS to the stream's close
  std::uint64_t app_error_code = 0;   // the stream's close code (0x100 H3_NO_ERROR when clean); over
                                      // HTTP/2 its RST_STREAM code mapped to HTTP/3's (CANCEL ->
                                      // H3_REQUEST_CANCELLED, ...); over HTTP/1.1 a reset's or a
                                      // close's code, H3_REQUEST_CANCELLED if the client left first
  std::string protocol = "h3";        // "h3", "h2" or "http/1.1"
};

// What a connection does once ServerOptions::goaway_after_requests requests reached it.
enum class GoawayAfterRequests {
  // GOAWAY(4N); the N requests below it run to completion; the connection closes (H3_NO_ERROR) when idle.
  // Streams at or above the id are held unseen (see Server::hold_streams_from) until the client cancels them.
  graceful,
  // GOAWAY(4N); every stream at or above it (open now or opened later) is reset with H3_INTERNAL_ERROR
  // without being processed; once the requests below the id are done the connection is closed with
  // H3_EXCESSIVE_LOAD (a real server's way of shedding a connection).
  reset_above,
  // As reset_above, but the connection is closed with H3_EXCESSIVE_LOAD at once, in the same packets as
  // the GOAWAY and the resets: requests below the id still in flight die with it (maybe processed).
  reset_above_and_close_now,
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // a literal IPv4 or IPv6 address ("::1"); no name resolution
  std::uint16_t port = 0;          // 0 = ephemeral; see Server::port()
  std::string cert_file, key_file;  // PEM; required
  // Mutual TLS: when set, every client must present a certificate signed by a CA of this PEM file, or
  // its handshake fails (TLS alert certificate_required, or bad_certificate for an untrusted one).
  std::string client_ca_file;
  // initial_max_streams_bidi; extended by 1 each time a request stream closes (MAX_STREAMS grows).
  std::uint64_t max_streams = 100;
  std::chrono::milliseconds idle_timeout{30000};
  // Flow-control windows granted to the client (per request stream, whole connection). Credit is
  // returned as the server consumes request bytes.
  std::uint64_t stream_window = 1 << 20, connection_window = 16 << 20;
  // Optional; called on the io thread once per request stream when it closes.
  std::function<void(const AccessLogEntry&)> access_log;
  // Server::send_goaway(): time between the shutdown notice (GOAWAY with the maximum id) and the
  // final GOAWAY. 0 sends both at once (back to back on the control stream).
  std::chrono::milliseconds final_goaway_delay{0};

  // Sends the final GOAWAY with id 0 as soon as HTTP/3 starts (the control stream opens with the server's
  // 1-RTT keys), so it travels in the packets that complete the handshake. Every request is refused by it
  // (unprocessed); the connection closes (H3_NO_ERROR) when idle.
  bool goaway_in_first_flight = false;

  // If K > 0: the first K requests for each :path (query included), counted server-wide across
  // connections, are reset with H3_REQUEST_REJECTED (RESET_STREAM + STOP_SENDING) once their headers
  // arrive, without being processed (not in requests_started; counted in requests_rejected). Request
  // K+1 for that path is served. Shows that a request refused several times in a row is retried.
  std::uint32_t reject_first_per_path = 0;

  // If N > 0, as nginx's keepalive_requests: a connection serves client request streams 0 .. 4(N-1)
  // (the first N) only. Once all N reached it (headers received, or the stream ended before them), it
  // sends the final GOAWAY, whose id 4N is the first request it will not process, and ends as
  // `goaway_after_requests_mode` says. Streams with id >= 4N are never processed.
  std::uint64_t goaway_after_requests = 0;
  GoawayAfterRequests goaway_after_requests_mode = GoawayAfterRequests::graceful;

  // TLS 1.3 resumption and 0-RTT. Every connection accepts session tickets (the ticket key is made at
  // start, so tickets are good for this server's life); while `session_tickets` is on each handshake is
  // followed by one new ticket. While `early_data` is on, 0-RTT is accepted from a resuming client, once
  // per ClientHello (anti-replay: GnuTLS's time window plus a record of every ClientHello seen); off, the
  // early data is rejected (the handshake goes on; the client must resend). Both can be switched while
  // running: Server::issue_session_tickets, Server::accept_early_data.
  bool session_tickets = true;
  bool early_data = true;

  // The two sides, on the same address and port: HTTP/3 over QUIC (UDP), and HTTP/2 and HTTP/1.1 over TLS
  // over TCP (ALPN "h2"; "http/1.1" or none). Every route and test control works on HTTP/2 too (see
  // h2_session.hpp for how the controls' HTTP/3 stream ids and codes map to HTTP/2's); every route on
  // HTTP/1.1, with the controls that map to it (h1_session.hpp). While both are on, every TCP response carries
  // `alt-svc: h3=":PORT"; ma=86400`. At least one must be on.
  bool http3 = true;
  bool tcp = true;
  // What TCP responses announce in `alt-svc` instead (e.g. `h3=":PORT"` for HTTP/3 served elsewhere: a
  // TCP-only front of another server); "" announces nothing. Unset: as above.
  std::optional<std::string> alt_svc;
  // HTTP datagrams (RFC 9297: SETTINGS_H3_DATAGRAM and QUIC max_datagram_frame_size) and extended CONNECT
  // (RFC 9220: SETTINGS_ENABLE_CONNECT_PROTOCOL), for /datagram-echo (`quiver serve --datagrams`).
  bool datagrams = false;
  bool extended_connect = false;
  // MASQUE UDP proxying (RFC 9298, `quiver serve --connect-udp`; udp_proxy.hpp): /.well-known/masque/udp/
  // relays UDP to targets inside `connect_udp_allow` (CIDR networks; loopback by default, so the server is
  // no open relay). Turns on `datagrams` and `extended_connect`.
  bool connect_udp = false;
  std::vector<std::string> connect_udp_allow{"127.0.0.0/8", "::1/128"};
};

// Counters since start(); a snapshot from Server::stats().
struct ServerStats {
  std::uint64_t connections_accepted = 0;     // connections created for a client's first Initial
  std::uint64_t requests_started = 0;         // request streams whose request headers were processed
                                              // (routed: each is a request the server processed)
  std::uint64_t peak_concurrent_streams = 0;  // most request streams open at once on one connection
                                              // (held and refused ones included: they use credit)
  std::uint64_t streams_held = 0;             // request streams held by hold_streams_from()
  std::uint64_t streams_refused = 0;          // request streams reset by refuse_new_streams(true)
  std::uint64_t requests_rejected = 0;        // requests reset by ServerOptions::reject_first_per_path
  std::uint64_t streams_over_limit = 0;       // streams >= the goaway_after_requests id (never processed)
  std::uint64_t goaways_sent = 0;             // final GOAWAYs sent (all causes)
  std::uint64_t handshakes_resumed = 0;       // handshakes that resumed a session from a ticket
  std::uint64_t early_data_accepted = 0;      // handshakes whose 0-RTT early data was accepted
  std::uint64_t early_requests = 0;           // requests whose headers arrived before the handshake
                                              // completed (in 0-RTT early data); in requests_started too
  std::uint64_t tcp_connections_accepted = 0;  // TCP connections accepted (not in connections_accepted)
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // stop()s if running; never hangs
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the certificate, binds the UDP socket and the TCP listener (as ServerOptions::http3 / tcp say)
  // and starts the io thread. On failure the error
  // (ErrorKind::io_error) names the problem: unreadable/invalid cert or key file, bad host (class
  // invalid), port in use; both sides off, or the server started already (class invalid). After it succeeds,
  // port() is the bound port.
  [[nodiscard]] Result<void> start();
  std::uint16_t port() const;  // 0 before start()

  // Immediate stop: every connection is closed with CONNECTION_CLOSE (H3_NO_ERROR), the socket is
  // closed and the io thread joined. Idempotent; the server cannot be restarted.
  void stop();

  // Non-blocking. Sends GOAWAY on every connection; in-flight requests finish, new streams are
  // rejected with H3_REQUEST_REJECTED, each connection is closed (H3_NO_ERROR) once its requests are
  // done, and new connections are refused (CONNECTION_REFUSED). Poll connection_count() to see the
  // drain end; stop() still has to be called (or the destructor) to join the thread.
  void shutdown_gracefully();

  // From now on, on every connection (existing and new), a client request stream whose id is
  // >= `stream_id` is held when it opens: its data never reaches HTTP/3 (nothing of it is processed)
  // and it gets no stream flow-control credit. nghttp3 never sees it, so a later send_goaway() sends
  // exactly GOAWAY(stream_id) once every lower stream has arrived (its id is the highest request
  // stream seen + 4). Held streams stay held until the client cancels them (as it should after the
  // GOAWAY) or the connection ends. Takes effect for streams opened after the call returns; a new
  // call replaces the threshold (UINT64_MAX holds nothing).
  void hold_streams_from(std::uint64_t stream_id);

  // Non-blocking. On every connection past its handshake (once per connection): GOAWAY with the
  // maximum id (a shutdown notice), then, ServerOptions::final_goaway_delay later, the final GOAWAY
  // whose id is the highest request stream seen + 4 (see hold_streams_from). Requests below it run to
  // completion; each connection then closes (H3_NO_ERROR) once it has no request left (held streams
  // do not keep it open). Unlike shutdown_gracefully(), new connections are still accepted (and get
  // no GOAWAY). Does nothing before start() or after stop().
  void send_goaway();

  // While on, every new request stream is reset at once with H3_REQUEST_REJECTED (RESET_STREAM and
  // STOP_SENDING) without being processed. Takes effect for streams opened after the call returns.
  void refuse_new_streams(bool on);

  // Resumption and 0-RTT switches (ServerOptions::session_tickets / early_data) for connections whose
  // handshake completes (tickets) or starts (early data) after the call. Thread-safe; no-op before start().
  void issue_session_tickets(bool on);
  void accept_early_data(bool on);

  // Counters since start(). Thread-safe; each counter is read atomically (not all at one instant).
  ServerStats stats() const;

  // Live connections: handshaking, open, or in their closing/draining period (3 PTO, tens of ms on
  // loopback) after a CONNECTION_CLOSE; and TCP connections (handshaking or open). Thread-safe.
  std::size_t connection_count() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver::server

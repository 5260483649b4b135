#pragma once
// quiver::server::Server — the project's own HTTP/3 test server (ngtcp2 + nghttp3 + GnuTLS + Asio).
//
// It serves a fixed set of scriptable routes (see routes.hpp: /bytes, /echo, /status, /headers,
// /delay, /trailers, /reset, /close, /stream, /goaway) for the integration tests, `quiver serve` and
// the demo.
//
// Threading: start() spawns one io thread; every connection, stream and timer lives on it. The public
// methods may be called from any thread except that io thread (stop() joins it); connection_count()
// is lock-free. The access_log callback runs on the io thread and must not call stop()/~Server.
//
// Debugging: QUIVER_SERVER_TRACE=1 in the environment prints ngtcp2's packet/frame log to stderr.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace quiver::server {

// One finished request stream (completed, reset or aborted), reported to ServerOptions::access_log.
struct AccessLogEntry {
  std::string method;                 // :method ("" if the request never got that far)
  std::string path;                   // :path as sent, query included
  int status = 0;                     // response status; 0 if no response headers were sent
  std::uint64_t bytes_sent = 0;       // response body bytes handed to the transport
  std::chrono::microseconds duration{0};  // from the request's HEADERS to the stream's close
  std::uint64_t app_error_code = 0;   // the stream's close code (0x100 H3_NO_ERROR when clean)
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // a literal IPv4 or IPv6 address ("::1"); no name resolution
  std::uint16_t port = 0;          // 0 = ephemeral; see Server::port()
  std::string cert_file, key_file;  // PEM; required
  // initial_max_streams_bidi; extended by 1 each time a request stream closes (MAX_STREAMS grows).
  std::uint64_t max_streams = 100;
  std::chrono::milliseconds idle_timeout{30000};
  // Flow-control windows granted to the client (per request stream, whole connection). Credit is
  // returned as the server consumes request bytes.
  std::uint64_t stream_window = 1 << 20, connection_window = 16 << 20;
  // Optional; called on the io thread once per request stream when it closes.
  std::function<void(const AccessLogEntry&)> access_log;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // stop()s if running; never hangs
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the certificate, binds the UDP socket and starts the io thread. Throws std::runtime_error
  // naming the problem (unreadable/invalid cert or key file, bad host, port in use); throws
  // std::logic_error if already started. After it returns, port() is the bound port.
  void start();
  std::uint16_t port() const;  // 0 before start()

  // Immediate stop: every connection is closed with CONNECTION_CLOSE (H3_NO_ERROR), the socket is
  // closed and the io thread joined. Idempotent; the server cannot be restarted.
  void stop();

  // Non-blocking. Sends GOAWAY on every connection; in-flight requests finish, new streams are
  // rejected with H3_REQUEST_REJECTED, each connection is closed (H3_NO_ERROR) once its requests are
  // done, and new connections are refused (CONNECTION_REFUSED). Poll connection_count() to see the
  // drain end; stop() still has to be called (or the destructor) to join the thread.
  void shutdown_gracefully();

  // Live connections: handshaking, open, or in their closing/draining period (3 PTO, tens of ms on
  // loopback) after a CONNECTION_CLOSE. Thread-safe.
  std::size_t connection_count() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver::server

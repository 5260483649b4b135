#pragma once
// The TCP side's seams: what a session over TCP+TLS (HTTP/2, HTTP/1.1) needs from the listener that owns
// it (TcpHost), and what the listener asks of every session (TcpSession). Io thread only.

#include <chrono>

#include "test_server/server.hpp"
#include "test_server/server_shared.hpp"

namespace quiver::server {

class TcpSession;

class TcpHost {
 public:
  virtual void log_access(const AccessLogEntry& entry) = 0;
  virtual ServerShared& shared() = 0;
  // The session is over (its socket is closed); the host drops it later, never inside this call.
  virtual void session_finished(TcpSession& session) = 0;

 protected:
  ~TcpHost() = default;
};

class TcpSession {
 public:
  virtual ~TcpSession() = default;
  virtual void start() = 0;  // the TLS handshake is done: serve
  // Server::stop: close now (HTTP/2: GOAWAY(NO_ERROR) first, best effort).
  virtual void close_now() = 0;
  // Server::shutdown_gracefully: final GOAWAY now (HTTP/1.1: `connection: close` on what is left), close
  // once no request is in flight.
  virtual void shutdown_gracefully() = 0;
  // Server::send_goaway: shutdown notice now, the final GOAWAY `final_delay` later, close when idle.
  virtual void send_goaways(std::chrono::milliseconds final_delay) = 0;
};

}  // namespace quiver::server

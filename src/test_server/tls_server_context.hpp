#pragma once
// TlsServerContext — the server's certificate, key and TLS 1.3 priorities, shared by all connections.
//
// Owns the GnuTLS certificate credentials and priority cache, the session ticket key (made at load: tickets
// are good for this server's life) and the 0-RTT anti-replay state. Sessions made by new_session() borrow
// all of them, so the context must outlive every session (the Server keeps it for its whole life).
//
// Resumption and 0-RTT (TLS 1.3): every session accepts tickets; a ticket is sent after each handshake
// while issue_tickets() is on. Early data is accepted while accept_early_data() is on, and then at most
// once per ClientHello: GnuTLS's anti-replay window check plus a record of every ClientHello seen (a
// replayed one is refused early data; the handshake goes on).

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <ngtcp2/ngtcp2_crypto.h>

#include "quiver/error.hpp"
#include "util/c_handles.hpp"

namespace quiver::server {

class TlsServerContext {
 public:
  // Loads the PEM certificate (chain) and private key, and with `client_ca_file` the CAs a client's
  // certificate must be signed by (then every session requires one). The error (ErrorKind::io_error,
  // class invalid) names the file when one cannot be read or they cannot be loaded together.
  static Result<std::unique_ptr<TlsServerContext>> load(const std::string& cert_file, const std::string& key_file,
                                                        const std::string& client_ca_file = {});
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A server session for one QUIC connection: ngtcp2_crypto_gnutls hooks installed, ALPN "h3"
  // required, `conn_ref` set as the session pointer (borrowed; must outlive the session).
  Result<util::GnutlsSessionPtr> new_session(ngtcp2_crypto_conn_ref* conn_ref) const;
  // A server session for one TCP connection (non-blocking; the caller sets its transport): TLS 1.3 or
  // 1.2, ALPN "h2" or "http/1.1" (the client's choice, h2 preferred; no ALPN at all is accepted too and
  // means HTTP/1.1), session tickets as for QUIC, no early data.
  Result<util::GnutlsSessionPtr> new_tcp_session() const;
  ~TlsServerContext();

  // After a session's handshake: sends it a session ticket if tickets are on (inside ngtcp2's callback;
  // GnuTLS hands the message to ngtcp2 to send).
  void after_handshake(gnutls_session_t session) const;

  // Switches, from any thread; they apply to sessions created (tickets: handshakes completed) afterwards.
  void issue_tickets(bool on) noexcept { issue_tickets_ = on; }
  void accept_early_data(bool on) noexcept { accept_early_data_ = on; }

 private:
  TlsServerContext() = default;
  static int remember_client_hello(void* context, time_t expires, const gnutls_datum_t* key,
                                   const gnutls_datum_t* data) noexcept;

  util::GnutlsCredentialsPtr credentials_;
  util::GnutlsPriorityPtr priority_;
  util::GnutlsPriorityPtr tcp_priority_;
  gnutls_datum_t ticket_key_{};
  gnutls_anti_replay_t anti_replay_ = nullptr;
  bool require_client_certificate_ = false;
  std::atomic<bool> issue_tickets_{true};
  std::atomic<bool> accept_early_data_{true};
  mutable std::mutex seen_mutex_;
  std::set<std::string> seen_client_hellos_;  // anti-replay record (a test server's life is short)
};

}  // namespace quiver::server

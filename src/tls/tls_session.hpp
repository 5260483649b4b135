#pragma once
// One client TLS session: TLS 1.3 driven by ngtcp2 (QUIC carries the handshake; GnuTLS never touches a
// socket), or TLS over TCP (tcp::TlsStream moves the records). Both verify the same way (TlsOptions).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ngtcp2/ngtcp2_crypto.h>

#include "quiver/error.hpp"
#include "tls/session_cache.hpp"
#include "tls/tls_context.hpp"
#include "util/c_handles.hpp"

namespace quiver::tls {

// Where a session finds a ticket to resume with and stores the tickets it receives (all optional).
struct Resumption {
  std::shared_ptr<SessionCache> cache;  // shared by every connection of a Client; null: no resumption
  std::string key;                      // session_key(...) of this connection
  bool early_data = false;              // offer 0-RTT when the ticket allows it (and transport params exist)
};

class ClientTlsSession {
 public:
  // `conn_ref` borrows: ngtcp2's crypto helpers reach the ngtcp2_conn through it; it must outlive the
  // session. `host` is the SNI (omitted for IP literals) and the name verified against the certificate.
  // `resumption`: a ticket is taken from its cache (single use) and offered in the ClientHello.
  static Result<std::unique_ptr<ClientTlsSession>> create(std::shared_ptr<ClientTlsContext> context,
                                                          const std::string& host,
                                                          ngtcp2_crypto_conn_ref* conn_ref,
                                                          Resumption resumption = {});
  // A session for TLS over TCP (TLS 1.2 or 1.3) offering `alpn` in order (e.g. {"h2", "http/1.1"}); the
  // caller sets the transport functions that move its records. `resumption` as for QUIC, without early
  // data (never offered over TCP): the caller stores arriving tickets (take_ticket_arrival, store_ticket
  // with no transport parameters) after the record that brought them.
  static Result<std::unique_ptr<ClientTlsSession>> create_for_tcp(std::shared_ptr<ClientTlsContext> context,
                                                                  const std::string& host,
                                                                  const std::vector<std::string>& alpn,
                                                                  Resumption resumption = {});
  ~ClientTlsSession();
  ClientTlsSession(const ClientTlsSession&) = delete;
  ClientTlsSession& operator=(const ClientTlsSession&) = delete;

  gnutls_session_t native_handle() const noexcept { return session_.get(); }

  // After a failed handshake: the certificate problem in words ("certificate signer unknown, ..."),
  // or nothing when the certificate was not the cause.
  std::optional<std::string> certificate_problem() const;
  // After the handshake: whether the server agreed to "h3".
  bool negotiated_h3() const;
  std::string negotiated_alpn() const;  // "" if none was agreed
  // After the handshake: the server's public key as curl's --pinnedpubkey writes it, "sha256//" and the
  // base64 SHA-256 of its SubjectPublicKeyInfo; "" if the server sent no certificate.
  std::string peer_public_key_pin() const;
  // After the handshake: TLS version, cipher suite, ALPN and the server certificate's names and validity
  // (the QUIC and RTT fields are the transport's to fill).
  HandshakeDetails handshake_details() const;

  // Resumption. A ticket was offered (taken from the cache) / the handshake resumed it (after the
  // handshake; no certificate was exchanged: the ticket came from a verified connection with the same key).
  bool offered_ticket() const noexcept { return offered_ticket_; }
  bool resumed() const;
  // 0-RTT: the ClientHello offers early data (GnuTLS installs the 0-RTT keys); the server accepted it
  // (after the handshake).
  bool offers_early_data() const noexcept { return offers_early_data_; }
  bool early_data_accepted() const;
  // The server's transport parameters remembered with the offered ticket (empty if none).
  const std::vector<std::uint8_t>& remembered_transport_params() const noexcept { return remembered_params_; }

  // Whether a NewSessionTicket arrived since the last call (set inside GnuTLS; read after the packet).
  bool take_ticket_arrival() noexcept { return std::exchange(ticket_arrived_, false); }
  // Stores the session's current ticket in the cache with the server's 0-RTT transport parameters.
  void store_ticket(std::vector<std::uint8_t> transport_params);

 private:
  // What the GnuTLS session pointer points at: ngtcp2's conn_ref first (ngtcp2's crypto helpers cast the
  // pointer to ngtcp2_crypto_conn_ref*; unused over TCP), then this session for the ticket hook.
  struct Link {
    ngtcp2_crypto_conn_ref conn_ref;
    ClientTlsSession* self;
  };
  void use_ticket(gnutls_session_t raw, std::optional<StoredSession> ticket, bool early);
  void verify_during_handshake(const std::string& host);
  static int verify_certificate(gnutls_session_t session) noexcept;
  static int on_handshake_message(gnutls_session_t session, unsigned type, unsigned when, unsigned incoming,
                                  const gnutls_datum_t* message) noexcept;

  ClientTlsSession(std::shared_ptr<ClientTlsContext> context, Resumption resumption)
      : context_(std::move(context)), resumption_(std::move(resumption)) {}

  std::shared_ptr<ClientTlsContext> context_;  // keeps the credentials and priorities alive for the session
  Resumption resumption_;
  Link link_{};
  util::GnutlsSessionPtr session_;
  std::vector<std::uint8_t> remembered_params_;
  bool offered_ticket_ = false;
  bool offers_early_data_ = false;
  bool ticket_arrived_ = false;
  std::optional<std::uint32_t> ticket_lifetime_s_;  // of the last NewSessionTicket, when the hook could read it
  std::string host_;            // the name the certificate is verified for (when verifying)
  unsigned verify_status_ = 0;  // GnuTLS's status bits of the last chain check (0: passed, or none ran)
};

// After the handshake: why the server's public key is none of `pins` (TlsOptions::pinned_public_keys) —
// handshake_failed, HandshakeFailure::certificate, unrecoverable — or nothing when `pins` is empty or the
// key is one of them. `session` null (no session) fails any pin. Both dialers (QUIC, TCP) check this.
std::optional<Error> pinned_key_problem(const ClientTlsSession* session, const std::vector<std::string>& pins);

}  // namespace quiver::tls

#pragma once
// One client TLS 1.3 session driven by ngtcp2 (QUIC carries the handshake; GnuTLS never touches a socket).

#include <memory>
#include <optional>
#include <string>

#include <ngtcp2/ngtcp2_crypto.h>

#include "quiver/error.hpp"
#include "tls/tls_context.hpp"
#include "util/c_handles.hpp"

namespace quiver::tls {

class ClientTlsSession {
 public:
  // `conn_ref` borrows: ngtcp2's crypto helpers reach the ngtcp2_conn through it; it must outlive the
  // session. `host` is the SNI (omitted for IP literals) and the name verified against the certificate.
  static Result<std::unique_ptr<ClientTlsSession>> create(std::shared_ptr<ClientTlsContext> context,
                                                          const std::string& host,
                                                          ngtcp2_crypto_conn_ref* conn_ref);

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

 private:
  ClientTlsSession(std::shared_ptr<ClientTlsContext> context, util::GnutlsSessionPtr session)
      : context_(std::move(context)), session_(std::move(session)) {}

  std::shared_ptr<ClientTlsContext> context_;  // keeps the credentials and priorities alive for the session
  util::GnutlsSessionPtr session_;
};

}  // namespace quiver::tls

#pragma once
// One client TLS session: TLS 1.3 driven by ngtcp2 (QUIC carries the handshake; GnuTLS never touches a
// socket), or TLS over TCP (tcp::TlsStream moves the records). Both verify the same way (TlsOptions).

#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  // A session for TLS over TCP (TLS 1.2 or 1.3) offering `alpn` in order (e.g. {"h2", "http/1.1"}); the
  // caller sets the transport functions that move its records.
  static Result<std::unique_ptr<ClientTlsSession>> create_for_tcp(std::shared_ptr<ClientTlsContext> context,
                                                                  const std::string& host,
                                                                  const std::vector<std::string>& alpn);

  gnutls_session_t native_handle() const noexcept { return session_.get(); }

  // After a failed handshake: the certificate problem in words ("certificate signer unknown, ..."),
  // or nothing when the certificate was not the cause.
  std::optional<std::string> certificate_problem() const;
  // After the handshake: whether the server agreed to "h3".
  bool negotiated_h3() const;
  std::string negotiated_alpn() const;  // "" if none was agreed

 private:
  ClientTlsSession(std::shared_ptr<ClientTlsContext> context, util::GnutlsSessionPtr session)
      : context_(std::move(context)), session_(std::move(session)) {}

  std::shared_ptr<ClientTlsContext> context_;  // keeps the credentials and priorities alive for the session
  util::GnutlsSessionPtr session_;
};

}  // namespace quiver::tls

#pragma once
// TlsServerContext — the server's certificate, key and TLS 1.3 priorities, shared by all connections.
//
// Owns the GnuTLS certificate credentials and priority cache. Sessions made by new_session() borrow
// both, so the context must outlive every session (the Server keeps it for its whole life).

#include <memory>
#include <string>
#include <type_traits>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

namespace quiver::server {

struct GnutlsSessionDeleter {
  void operator()(gnutls_session_t session) const noexcept { gnutls_deinit(session); }
};
using GnutlsSession = std::unique_ptr<std::remove_pointer_t<gnutls_session_t>, GnutlsSessionDeleter>;

class TlsServerContext {
 public:
  // Loads the PEM certificate (chain) and private key. Throws std::runtime_error naming the file
  // when one cannot be read or they cannot be loaded together.
  TlsServerContext(const std::string& cert_file, const std::string& key_file);
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A server session for one QUIC connection: ngtcp2_crypto_gnutls hooks installed, ALPN "h3"
  // required, `conn_ref` set as the session pointer (borrowed; must outlive the session).
  // Throws std::runtime_error on failure.
  GnutlsSession new_session(ngtcp2_crypto_conn_ref* conn_ref) const;

 private:
  struct CredentialsDeleter {
    void operator()(gnutls_certificate_credentials_t c) const noexcept { gnutls_certificate_free_credentials(c); }
  };
  struct PriorityDeleter {
    void operator()(gnutls_priority_t p) const noexcept { gnutls_priority_deinit(p); }
  };
  std::unique_ptr<std::remove_pointer_t<gnutls_certificate_credentials_t>, CredentialsDeleter> credentials_;
  std::unique_ptr<std::remove_pointer_t<gnutls_priority_t>, PriorityDeleter> priority_;
};

}  // namespace quiver::server

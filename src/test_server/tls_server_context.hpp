#pragma once
// TlsServerContext — the server's certificate, key and TLS 1.3 priorities, shared by all connections.
//
// Owns the GnuTLS certificate credentials and priority cache. Sessions made by new_session() borrow
// both, so the context must outlive every session (the Server keeps it for its whole life).

#include <memory>
#include <string>

#include <ngtcp2/ngtcp2_crypto.h>

#include "quiver/error.hpp"
#include "util/c_handles.hpp"

namespace quiver::server {

class TlsServerContext {
 public:
  // Loads the PEM certificate (chain) and private key. The error (ErrorKind::io_error, class invalid)
  // names the file when one cannot be read or they cannot be loaded together.
  static Result<std::unique_ptr<TlsServerContext>> load(const std::string& cert_file, const std::string& key_file);
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A server session for one QUIC connection: ngtcp2_crypto_gnutls hooks installed, ALPN "h3"
  // required, `conn_ref` set as the session pointer (borrowed; must outlive the session).
  Result<util::GnutlsSessionPtr> new_session(ngtcp2_crypto_conn_ref* conn_ref) const;

 private:
  TlsServerContext() = default;

  util::GnutlsCredentialsPtr credentials_;
  util::GnutlsPriorityPtr priority_;
};

}  // namespace quiver::server

#pragma once
// Client TLS credentials: the trust anchors every connection of an origin verifies against, the client
// certificate it presents when asked (mTLS), and the cipher-suite priorities (parsed once; sessions share
// them).

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "quiver/error.hpp"
#include "quiver/options.hpp"
#include "tls/verified_chains.hpp"
#include "util/c_handles.hpp"

namespace quiver::tls {

// A certificate from its DER encoding; null when it does not parse.
util::GnutlsCertificatePtr parse_certificate(const gnutls_datum_t& der);

class ClientTlsContext {
 public:
  // Loads the system trust store (when verifying and system_trust is on) plus options.ca_file / ca_path,
  // and the client certificate and key. Fails with an invalid-class handshake_failed error naming the
  // file when one cannot be read, or when verification would have no trust anchor at all.
  static Result<std::shared_ptr<ClientTlsContext>> create(const TlsOptions& options);
  // Like create(), but shares one context among all users of the same options: loading the system
  // trust store costs milliseconds, and every connection of every pool would otherwise pay it. A context
  // is shared while any connection holds it, and kept for kReuseUnheld after it was loaded even when
  // none does (so connections made one after another, or by a new Client, do not each load it again).
  // A CA file, CA directory, client certificate or key replaced or edited on disk (its inode, size or
  // modification time changed) makes a new context at once; the system store is read again after
  // kReuseUnheld.
  static Result<std::shared_ptr<ClientTlsContext>> shared(const TlsOptions& options);
  static constexpr std::chrono::minutes kReuseUnheld{5};

  // What telemetry reports of a server certificate (HandshakeDetails), from its DER encoding. Parsed once
  // per distinct certificate and remembered (the last one): every connection to a server presents the same
  // certificate, and parsing it costs as much as a resumed handshake's own crypto. Thread-safe.
  struct CertificateFacts {
    std::string subject;
    std::string issuer;
    std::optional<std::chrono::system_clock::time_point> not_before;
    std::optional<std::chrono::system_clock::time_point> not_after;
  };
  CertificateFacts certificate_facts(std::span<const unsigned char> der) const;

  gnutls_certificate_credentials_t credentials() const noexcept { return credentials_.get(); }
  // TLS 1.3 only (QUIC).
  gnutls_priority_t priority() const noexcept { return priority_.get(); }
  // TLS 1.3 or 1.2 (TLS over TCP: servers without TLS 1.3 remain reachable).
  gnutls_priority_t tcp_priority() const noexcept { return tcp_priority_.get(); }
  bool verify_peer() const noexcept { return verify_peer_; }
  // Chains these trust anchors verified lately (tls/verified_chains.hpp); sessions consult and fill it.
  VerifiedChains& verified_chains() const noexcept { return verified_chains_; }

 private:
  ClientTlsContext(util::GnutlsCredentialsPtr credentials, util::GnutlsPriorityPtr priority,
                   util::GnutlsPriorityPtr tcp_priority, bool verify_peer)
      : credentials_(std::move(credentials)),
        priority_(std::move(priority)),
        tcp_priority_(std::move(tcp_priority)),
        verify_peer_(verify_peer) {}

  util::GnutlsCredentialsPtr credentials_;
  util::GnutlsPriorityPtr priority_;
  util::GnutlsPriorityPtr tcp_priority_;
  bool verify_peer_;

  mutable VerifiedChains verified_chains_;
  mutable std::mutex facts_mutex_;  // guards the two below
  mutable std::vector<unsigned char> facts_der_;
  mutable CertificateFacts facts_;
};

}  // namespace quiver::tls

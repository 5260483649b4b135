#include "tls/tls_context.hpp"

#include <map>
#include <tuple>
#include <mutex>

#include <fmt/format.h>

namespace quiver::tls {

namespace {

// TLS 1.3 only (QUIC), AES-128-GCM first (the cheapest to run with AES instructions).
constexpr const char* kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"
    "%DISABLE_TLS13_COMPAT_MODE";
// TLS over TCP: TLS 1.3 or 1.2 with GnuTLS's normal (secure) choice of ciphers.
constexpr const char* kTcpPriority = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

Error ca_error(const std::string& what) {
  Error error(ErrorKind::handshake_failed, ErrorClass::invalid, what);
  error.handshake_failure = HandshakeFailure::certificate;
  return error;
}

Error client_certificate_error(const std::string& what) {
  Error error(ErrorKind::handshake_failed, ErrorClass::invalid, what);
  error.handshake_failure = HandshakeFailure::client_certificate;
  return error;
}

// mTLS: the certificate (chain) and key the session sends when a server asks (GnuTLS picks it from the
// credentials).
Result<void> load_client_certificate(gnutls_certificate_credentials_t credentials, const TlsOptions& options) {
  if (options.client_certificate.empty()) {
    if (options.client_key.empty()) return {};
    return std::unexpected(client_certificate_error(
        fmt::format("a client key ('{}') without a client certificate (TlsOptions::client_certificate)",
                    options.client_key)));
  }
  const std::string& key = options.client_key.empty() ? options.client_certificate : options.client_key;
  if (int rv = gnutls_certificate_set_x509_key_file(credentials, options.client_certificate.c_str(), key.c_str(),
                                                    GNUTLS_X509_FMT_PEM);
      rv < 0) {
    return std::unexpected(client_certificate_error(fmt::format(
        "cannot load client certificate '{}' with private key '{}': {}", options.client_certificate, key,
        gnutls_strerror(rv))));
  }
  return {};
}

}  // namespace

Result<std::shared_ptr<ClientTlsContext>> ClientTlsContext::create(const TlsOptions& options) {
  if (options.verify_peer && !options.system_trust && options.ca_file.empty() && options.ca_path.empty()) {
    return std::unexpected(
        ca_error("no trust anchors: TlsOptions::system_trust is off and no ca_file or ca_path is given"));
  }
  gnutls_certificate_credentials_t raw = nullptr;
  if (int rv = gnutls_certificate_allocate_credentials(&raw); rv != 0) {
    return std::unexpected(ca_error(fmt::format("TLS credentials: {}", gnutls_strerror(rv))));
  }
  util::GnutlsCredentialsPtr credentials(raw);
  if (options.verify_peer && options.system_trust) {
    // A missing system store is not fatal by itself: a CA file may supply every anchor needed.
    gnutls_certificate_set_x509_system_trust(raw);
  }
  if (!options.ca_file.empty()) {
    int loaded = gnutls_certificate_set_x509_trust_file(raw, options.ca_file.c_str(),
                                                        GNUTLS_X509_FMT_PEM);
    if (loaded <= 0) {
      std::string why = loaded < 0 ? gnutls_strerror(loaded) : "no certificate in it";
      return std::unexpected(
          ca_error(fmt::format("cannot load CA file '{}': {}", options.ca_file, why)));
    }
  }
  if (!options.ca_path.empty()) {
    int loaded = gnutls_certificate_set_x509_trust_dir(raw, options.ca_path.c_str(), GNUTLS_X509_FMT_PEM);
    if (loaded <= 0) {
      std::string why = loaded < 0 ? gnutls_strerror(loaded) : "no certificate in its files";
      return std::unexpected(ca_error(fmt::format("cannot load CA directory '{}': {}", options.ca_path, why)));
    }
  }
  if (auto loaded = load_client_certificate(raw, options); !loaded) return std::unexpected(loaded.error());
  gnutls_priority_t priority = nullptr;
  if (int rv = gnutls_priority_init(&priority, kPriority, nullptr); rv != 0) {
    return std::unexpected(Error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                                 fmt::format("TLS priorities: {}", gnutls_strerror(rv))));
  }
  util::GnutlsPriorityPtr quic_priority(priority);
  gnutls_priority_t tcp_priority = nullptr;
  if (int rv = gnutls_priority_init(&tcp_priority, kTcpPriority, nullptr); rv != 0) {
    return std::unexpected(Error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                                 fmt::format("TLS priorities (TCP): {}", gnutls_strerror(rv))));
  }
  return std::shared_ptr<ClientTlsContext>(new ClientTlsContext(std::move(credentials), std::move(quic_priority),
                                                                util::GnutlsPriorityPtr(tcp_priority),
                                                                options.verify_peer));
}

Result<std::shared_ptr<ClientTlsContext>> ClientTlsContext::shared(const TlsOptions& options) {
  static std::mutex mutex;
  using Key = std::tuple<bool, bool, std::string, std::string, std::string, std::string>;
  static std::map<Key, std::weak_ptr<ClientTlsContext>> contexts;
  std::lock_guard lock(mutex);
  auto& slot = contexts[Key{options.verify_peer, options.system_trust, options.ca_file, options.ca_path,
                            options.client_certificate, options.client_key}];
  if (auto existing = slot.lock()) return existing;
  auto created = create(options);
  if (created) slot = *created;
  return created;
}

}  // namespace quiver::tls

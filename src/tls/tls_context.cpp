#include "tls/tls_context.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include <fmt/format.h>
#include <gnutls/x509.h>

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

namespace {

// Which version of a file a context was loaded from; nullopt for no file (or one that cannot be read,
// which create() reports).
struct FileStamp {
  dev_t device;
  ino_t inode;
  off_t size;
  std::int64_t modified_ns;
  bool operator==(const FileStamp&) const = default;
};

std::optional<FileStamp> stamp_of(const std::string& path) {
  struct stat info {};
  if (path.empty() || ::stat(path.c_str(), &info) != 0) return std::nullopt;
  return FileStamp{info.st_dev, info.st_ino, info.st_size,
                   std::int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec};
}

using FileStamps = std::array<std::optional<FileStamp>, 4>;

FileStamps stamps_of(const TlsOptions& options) {
  return {stamp_of(options.ca_file), stamp_of(options.ca_path), stamp_of(options.client_certificate),
          stamp_of(options.client_key)};
}

// One TLS setting's context: `held` while connections hold it, `kept` (strongly) until kReuseUnheld
// after `loaded_at`.
struct CachedContext {
  std::weak_ptr<ClientTlsContext> held;
  std::shared_ptr<ClientTlsContext> kept;
  std::chrono::steady_clock::time_point loaded_at;
  FileStamps stamps;
};

}  // namespace

Result<std::shared_ptr<ClientTlsContext>> ClientTlsContext::shared(const TlsOptions& options) {
  static std::mutex mutex;
  using Key = std::tuple<bool, bool, std::string, std::string, std::string, std::string>;
  static std::map<Key, CachedContext> contexts;
  const auto now = std::chrono::steady_clock::now();
  FileStamps stamps = stamps_of(options);
  std::lock_guard lock(mutex);
  // Past their time, kept contexts go; entries nobody holds any more go with them (the map stays small).
  for (auto it = contexts.begin(); it != contexts.end();) {
    CachedContext& cached = it->second;
    if (cached.kept && now - cached.loaded_at >= kReuseUnheld) cached.kept.reset();
    it = !cached.kept && cached.held.expired() ? contexts.erase(it) : std::next(it);
  }
  auto& cached = contexts[Key{options.verify_peer, options.system_trust, options.ca_file, options.ca_path,
                              options.client_certificate, options.client_key}];
  if (cached.stamps == stamps) {
    if (cached.kept) return cached.kept;
    if (auto held = cached.held.lock()) return held;
  }
  auto created = create(options);
  if (created) cached = CachedContext{*created, *created, now, stamps};
  return created;
}

namespace {

// A distinguished name as RFC 4514 writes it ("CN=localhost,O=Quiver test").
std::string dn_text(gnutls_x509_crt_t crt, bool issuer) {
  gnutls_datum_t dn{};
  if ((issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) : gnutls_x509_crt_get_dn3(crt, &dn, 0)) != 0) return {};
  std::string text(reinterpret_cast<const char*>(dn.data), dn.size);
  gnutls_free(dn.data);
  return text;
}

std::optional<std::chrono::system_clock::time_point> time_of(time_t seconds) {
  if (seconds == static_cast<time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(seconds);
}

}  // namespace

util::GnutlsCertificatePtr parse_certificate(const gnutls_datum_t& der) {
  gnutls_x509_crt_t raw = nullptr;
  if (gnutls_x509_crt_init(&raw) != 0) return nullptr;
  util::GnutlsCertificatePtr certificate(raw);
  if (gnutls_x509_crt_import(raw, &der, GNUTLS_X509_FMT_DER) != 0) return nullptr;
  return certificate;
}

ClientTlsContext::CertificateFacts ClientTlsContext::certificate_facts(std::span<const unsigned char> der) const {
  std::lock_guard lock(facts_mutex_);
  if (std::ranges::equal(der, facts_der_)) return facts_;
  CertificateFacts facts;
  const gnutls_datum_t datum{const_cast<unsigned char*>(der.data()), static_cast<unsigned>(der.size())};
  if (auto crt = parse_certificate(datum)) {
    facts.subject = dn_text(crt.get(), false);
    facts.issuer = dn_text(crt.get(), true);
    facts.not_before = time_of(gnutls_x509_crt_get_activation_time(crt.get()));
    facts.not_after = time_of(gnutls_x509_crt_get_expiration_time(crt.get()));
    facts_der_.assign(der.begin(), der.end());
    facts_ = facts;
  }
  return facts;
}

}  // namespace quiver::tls

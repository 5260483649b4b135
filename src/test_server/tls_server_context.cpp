#include "test_server/tls_server_context.hpp"

#include <array>
#include <fstream>
#include <string_view>

#include <fmt/format.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

namespace quiver::server {
namespace {

// TLS 1.3 only (QUIC requires it), the AEADs QUIC defines, no middlebox compatibility mode.
constexpr const char* kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"
    "%DISABLE_TLS13_COMPAT_MODE";

// TCP: TLS 1.3 or 1.2 (a TCP client may not speak 1.3), GnuTLS's usual ciphers.
constexpr const char* kTcpPriority = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

constexpr std::string_view kAlpnH3 = "h3";
constexpr std::string_view kAlpnH2 = "h2";
constexpr std::string_view kAlpnHttp11 = "http/1.1";

gnutls_datum_t alpn_datum(std::string_view protocol) {
  return {const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(protocol.data())),
          static_cast<unsigned>(protocol.size())};
}

Error failure(std::string message) { return Error(ErrorKind::io_error, ErrorClass::invalid, std::move(message)); }

Result<void> require_readable(const std::string& path, std::string_view what) {
  if (path.empty()) return std::unexpected(failure(fmt::format("no {} file given", what)));
  std::ifstream file(path, std::ios::binary);
  if (!file || file.peek() == std::ifstream::traits_type::eof())
    return std::unexpected(failure(fmt::format("cannot read {} file '{}'", what, path)));
  return {};
}

Result<void> check(int rv, std::string_view what) {
  if (rv < 0) return std::unexpected(failure(fmt::format("{}: {}", what, gnutls_strerror(rv))));
  return {};
}

// After the ClientHello: insist that "h3" was negotiated (a client offering no ALPN at all would
// otherwise be accepted).
int require_h3(gnutls_session_t session, unsigned, unsigned, unsigned, const gnutls_datum_t*) noexcept {
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session, &selected) != 0 ||
      std::string_view(reinterpret_cast<const char*>(selected.data), selected.size) != kAlpnH3) {
    return GNUTLS_E_NO_APPLICATION_PROTOCOL;
  }
  return 0;
}

}  // namespace

Result<std::unique_ptr<TlsServerContext>> TlsServerContext::load(const std::string& cert_file,
                                                                const std::string& key_file,
                                                                const std::string& client_ca_file) {
  if (auto readable = require_readable(cert_file, "certificate"); !readable) return std::unexpected(readable.error());
  if (auto readable = require_readable(key_file, "private key"); !readable) return std::unexpected(readable.error());

  std::unique_ptr<TlsServerContext> context(new TlsServerContext());
  gnutls_certificate_credentials_t credentials = nullptr;
  if (auto ok = check(gnutls_certificate_allocate_credentials(&credentials), "gnutls_certificate_allocate_credentials");
      !ok)
    return std::unexpected(ok.error());
  context->credentials_.reset(credentials);
  if (auto rv = gnutls_certificate_set_x509_key_file(credentials, cert_file.c_str(), key_file.c_str(),
                                                     GNUTLS_X509_FMT_PEM);
      rv < 0) {
    return std::unexpected(failure(fmt::format("cannot load certificate file '{}' with private key file '{}': {}",
                                               cert_file, key_file, gnutls_strerror(rv))));
  }
  if (!client_ca_file.empty()) {
    if (int loaded = gnutls_certificate_set_x509_trust_file(credentials, client_ca_file.c_str(), GNUTLS_X509_FMT_PEM);
        loaded <= 0) {
      return std::unexpected(failure(fmt::format("cannot load client CA file '{}': {}", client_ca_file,
                                                 loaded < 0 ? gnutls_strerror(loaded) : "no certificate in it")));
    }
    context->require_client_certificate_ = true;
  }

  gnutls_priority_t priority = nullptr;
  if (auto ok = check(gnutls_priority_init(&priority, kPriority, nullptr), "gnutls_priority_init"); !ok)
    return std::unexpected(ok.error());
  context->priority_.reset(priority);
  gnutls_priority_t tcp_priority = nullptr;
  if (auto ok = check(gnutls_priority_init(&tcp_priority, kTcpPriority, nullptr), "gnutls_priority_init (TCP)"); !ok)
    return std::unexpected(ok.error());
  context->tcp_priority_.reset(tcp_priority);
  if (auto ok = check(gnutls_session_ticket_key_generate(&context->ticket_key_), "gnutls_session_ticket_key_generate");
      !ok)
    return std::unexpected(ok.error());
  if (auto ok = check(gnutls_anti_replay_init(&context->anti_replay_), "gnutls_anti_replay_init"); !ok)
    return std::unexpected(ok.error());
  gnutls_anti_replay_set_add_function(context->anti_replay_, remember_client_hello);
  gnutls_anti_replay_set_ptr(context->anti_replay_, context.get());
  return context;
}

TlsServerContext::~TlsServerContext() {
  if (anti_replay_ != nullptr) gnutls_anti_replay_deinit(anti_replay_);
  if (ticket_key_.data != nullptr) {
    gnutls_memset(ticket_key_.data, 0, ticket_key_.size);
    gnutls_free(ticket_key_.data);
  }
}

// GnuTLS's anti-replay database: a ClientHello seen before gets no early data.
int TlsServerContext::remember_client_hello(void* context, time_t, const gnutls_datum_t* key,
                                            const gnutls_datum_t*) noexcept {
  try {
    auto& self = *static_cast<TlsServerContext*>(context);
    std::lock_guard lock(self.seen_mutex_);
    bool fresh = self.seen_client_hellos_.emplace(reinterpret_cast<const char*>(key->data), key->size).second;
    return fresh ? 0 : GNUTLS_E_DB_ENTRY_EXISTS;
  } catch (...) {
    return GNUTLS_E_MEMORY_ERROR;
  }
}

void TlsServerContext::after_handshake(gnutls_session_t session) const {
  if (issue_tickets_) (void)gnutls_session_ticket_send(session, 1, 0);  // best effort: resumption is optional
}

Result<util::GnutlsSessionPtr> TlsServerContext::new_session(ngtcp2_crypto_conn_ref* conn_ref) const {
  gnutls_session_t raw = nullptr;
  const bool early_data = accept_early_data_;
  unsigned flags = GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET | GNUTLS_NO_END_OF_EARLY_DATA;
  if (early_data) flags |= GNUTLS_ENABLE_EARLY_DATA;
  if (auto ok = check(gnutls_init(&raw, flags), "gnutls_init"); !ok) return std::unexpected(ok.error());
  util::GnutlsSessionPtr session(raw);

  gnutls_datum_t alpn = alpn_datum(kAlpnH3);
  auto configured = check(gnutls_priority_set(raw, priority_.get()), "gnutls_priority_set");
  if (configured && ngtcp2_crypto_gnutls_configure_server_session(raw) != 0)
    configured = std::unexpected(failure("ngtcp2_crypto_gnutls_configure_server_session failed"));
  if (configured) {
    gnutls_session_set_ptr(raw, conn_ref);
    configured = check(gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, credentials_.get()), "gnutls_credentials_set");
  }
  if (configured)
    configured = check(gnutls_alpn_set_protocols(raw, &alpn, 1, GNUTLS_ALPN_MANDATORY), "gnutls_alpn_set_protocols");
  if (configured)
    configured = check(gnutls_session_ticket_enable_server(raw, &ticket_key_), "gnutls_session_ticket_enable_server");
  if (configured && early_data) {
    gnutls_anti_replay_enable(raw, anti_replay_);
    configured = check(gnutls_record_set_max_early_data_size(raw, 0xffffffffU), "gnutls_record_set_max_early_data_size");
  }
  if (configured && require_client_certificate_) {
    gnutls_certificate_server_set_request(raw, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(raw, nullptr, 0);  // the chain, against client_ca_file
  }
  if (!configured) return std::unexpected(configured.error());
  gnutls_handshake_set_hook_function(raw, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST, require_h3);
  return session;
}

Result<util::GnutlsSessionPtr> TlsServerContext::new_tcp_session() const {
  gnutls_session_t raw = nullptr;
  // GNUTLS_NO_SIGNAL: GnuTLS writes to the socket itself here; a peer that already closed must give
  // EPIPE, not a SIGPIPE that kills the whole process (the test server runs inside test binaries).
  if (auto ok = check(gnutls_init(&raw, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL), "gnutls_init"); !ok)
    return std::unexpected(ok.error());
  util::GnutlsSessionPtr session(raw);
  const std::array<gnutls_datum_t, 2> alpn{alpn_datum(kAlpnH2), alpn_datum(kAlpnHttp11)};
  auto configured = check(gnutls_priority_set(raw, tcp_priority_.get()), "gnutls_priority_set");
  if (configured)
    configured = check(gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, credentials_.get()), "gnutls_credentials_set");
  if (configured)
    configured = check(gnutls_alpn_set_protocols(raw, alpn.data(), alpn.size(), GNUTLS_ALPN_SERVER_PRECEDENCE),
                       "gnutls_alpn_set_protocols");
  if (configured)
    configured = check(gnutls_session_ticket_enable_server(raw, &ticket_key_), "gnutls_session_ticket_enable_server");
  if (!configured) return std::unexpected(configured.error());
  return session;
}

}  // namespace quiver::server

#include "tls/tls_session.hpp"

#include <array>
#include <cstring>

#include <gnutls/x509.h>

#include <asio/ip/address.hpp>
#include <fmt/format.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

namespace quiver::tls {

namespace {

constexpr char kAlpnH3[] = "h3";

bool is_ip_literal(const std::string& host) {
  std::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

Error setup_error(const char* step, int rv) {
  return Error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
               fmt::format("TLS set-up ({}): {}", step, gnutls_strerror(rv)));
}

}  // namespace

Result<std::unique_ptr<ClientTlsSession>> ClientTlsSession::create(
    std::shared_ptr<ClientTlsContext> context, const std::string& host,
    ngtcp2_crypto_conn_ref* conn_ref) {
  gnutls_session_t raw = nullptr;
  if (int rv = gnutls_init(&raw, GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA);
      rv != 0) {
    return std::unexpected(setup_error("init", rv));
  }
  util::GnutlsSessionPtr session(raw);
  if (int rv = ngtcp2_crypto_gnutls_configure_client_session(raw); rv != 0) {
    return std::unexpected(setup_error("QUIC", rv));
  }
  if (int rv = gnutls_priority_set(raw, context->priority()); rv != 0) {
    return std::unexpected(setup_error("priority", rv));
  }
  if (int rv = gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, context->credentials()); rv != 0) {
    return std::unexpected(setup_error("credentials", rv));
  }
  gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(kAlpnH3)),
                      static_cast<unsigned>(std::strlen(kAlpnH3))};
  if (int rv = gnutls_alpn_set_protocols(raw, &alpn, 1, GNUTLS_ALPN_MANDATORY); rv != 0) {
    return std::unexpected(setup_error("ALPN", rv));
  }
  if (!is_ip_literal(host)) {
    gnutls_server_name_set(raw, GNUTLS_NAME_DNS, host.data(), host.size());
  }
  if (context->verify_peer()) {
    // GnuTLS verifies chain and name (DNS name or IP address SAN) during the handshake.
    gnutls_session_set_verify_cert(raw, host.c_str(), 0);
  }
  gnutls_session_set_ptr(raw, conn_ref);
  return std::unique_ptr<ClientTlsSession>(new ClientTlsSession(std::move(context), std::move(session)));
}

std::optional<std::string> ClientTlsSession::certificate_problem() const {
  unsigned status = gnutls_session_get_verify_cert_status(session_.get());
  if (status == 0) return std::nullopt;
  // The common causes in plain words first; GnuTLS's own wording follows for the rest.
  static constexpr std::pair<unsigned, const char*> kCauses[] = {
      {GNUTLS_CERT_UNEXPECTED_OWNER, "host name mismatch (the certificate is for another host)"},
      {GNUTLS_CERT_SIGNER_NOT_FOUND, "unknown issuer (not signed by a trusted CA)"},
      {GNUTLS_CERT_EXPIRED, "certificate expired"},
      {GNUTLS_CERT_NOT_ACTIVATED, "certificate not yet valid"},
      {GNUTLS_CERT_REVOKED, "certificate revoked"},
      {GNUTLS_CERT_SIGNER_NOT_CA, "issuer is not a CA"},
      {GNUTLS_CERT_INSECURE_ALGORITHM, "insecure signature algorithm"},
  };
  std::string causes;
  for (auto [bit, text] : kCauses) {
    if (status & bit) causes += causes.empty() ? text : std::string("; ") + text;
  }
  gnutls_datum_t text{};
  std::string detail;
  if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
    detail.assign(reinterpret_cast<const char*>(text.data), text.size);
    gnutls_free(text.data);
    while (!detail.empty() && (detail.back() == ' ' || detail.back() == '\0')) detail.pop_back();
  }
  if (causes.empty()) return detail.empty() ? fmt::format("status 0x{:x}", status) : detail;
  return detail.empty() ? causes : fmt::format("{} ({})", causes, detail);
}

std::string ClientTlsSession::peer_public_key_pin() const {
  unsigned count = 0;
  const gnutls_datum_t* chain = gnutls_certificate_get_peers(session_.get(), &count);
  if (chain == nullptr || count == 0) return {};
  gnutls_x509_crt_t leaf = nullptr;
  if (gnutls_x509_crt_init(&leaf) != 0) return {};
  std::array<unsigned char, 32> digest{};
  std::size_t size = digest.size();
  const bool ok = gnutls_x509_crt_import(leaf, &chain[0], GNUTLS_X509_FMT_DER) == 0 &&
                  gnutls_x509_crt_get_key_id(leaf, GNUTLS_KEYID_USE_SHA256, digest.data(), &size) == 0;
  gnutls_x509_crt_deinit(leaf);
  if (!ok) return {};
  gnutls_datum_t raw{digest.data(), static_cast<unsigned>(size)};
  gnutls_datum_t encoded{};
  if (gnutls_base64_encode2(&raw, &encoded) != 0) return {};
  std::string pin = "sha256//" + std::string(reinterpret_cast<const char*>(encoded.data), encoded.size);
  gnutls_free(encoded.data);
  return pin;
}

std::string ClientTlsSession::negotiated_alpn() const {
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session_.get(), &selected) != 0) return {};
  return std::string(reinterpret_cast<const char*>(selected.data), selected.size);
}

bool ClientTlsSession::negotiated_h3() const {
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session_.get(), &selected) != 0) {
    return false;
  }
  return selected.size == 2 && std::memcmp(selected.data, kAlpnH3, 2) == 0;
}

}  // namespace quiver::tls

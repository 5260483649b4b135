#include "tls/tls_session.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <ctime>
#include <span>
#include <vector>

#include <gnutls/x509.h>

#include <asio/ip/address.hpp>
#include <fmt/format.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

namespace quiver::tls {

namespace {

constexpr char kAlpnH3[] = "h3";
// One key share in the ClientHello, for the first group of the priorities (X25519): the second one
// GnuTLS makes by default is a P-256 key pair the server almost never uses (about 2 % of a full
// handshake's CPU, docs/benchmarks.md). A server that wants another group asks for it
// (HelloRetryRequest: one round trip more).
constexpr unsigned kInitFlags = GNUTLS_CLIENT | GNUTLS_KEY_SHARE_TOP;

bool is_ip_literal(const std::string& host) {
  std::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

Error setup_error(const char* step, int rv) {
  return Error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
               fmt::format("TLS set-up ({}): {}", step, gnutls_strerror(rv)));
}

// What every client session shares: priorities, credentials, ALPN and SNI (not for IP literals). The
// certificate check is the session's (verify_during_handshake).
Result<void> configure(gnutls_session_t raw, const ClientTlsContext& context, gnutls_priority_t priority,
                       const std::string& host, const std::vector<std::string>& alpn, unsigned alpn_flags) {
  if (int rv = gnutls_priority_set(raw, priority); rv != 0) {
    return std::unexpected(setup_error("priority", rv));
  }
  if (int rv = gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, context.credentials()); rv != 0) {
    return std::unexpected(setup_error("credentials", rv));
  }
  std::vector<gnutls_datum_t> protocols;
  for (const std::string& name : alpn) {
    protocols.push_back({reinterpret_cast<unsigned char*>(const_cast<char*>(name.data())),
                         static_cast<unsigned>(name.size())});
  }
  if (int rv = gnutls_alpn_set_protocols(raw, protocols.data(), static_cast<unsigned>(protocols.size()),
                                         alpn_flags);
      rv != 0) {
    return std::unexpected(setup_error("ALPN", rv));
  }
  if (!is_ip_literal(host)) {
    gnutls_server_name_set(raw, GNUTLS_NAME_DNS, host.data(), host.size());
  }
  return {};
}

// The earliest expiry of the chain's certificates (the chain verified, so each one parses).
std::chrono::system_clock::time_point chain_expiry(std::span<const gnutls_datum_t> chain) {
  auto expiry = std::chrono::system_clock::time_point::max();
  for (const gnutls_datum_t& der : chain) {
    auto crt = parse_certificate(der);
    const time_t expires = crt ? gnutls_x509_crt_get_expiration_time(crt.get()) : static_cast<time_t>(-1);
    if (expires == static_cast<time_t>(-1)) return std::chrono::system_clock::time_point::min();
    expiry = std::min(expiry, std::chrono::system_clock::from_time_t(expires));
  }
  return expiry;
}

}  // namespace

Result<std::unique_ptr<ClientTlsSession>> ClientTlsSession::create(
    std::shared_ptr<ClientTlsContext> context, const std::string& host,
    ngtcp2_crypto_conn_ref* conn_ref, Resumption resumption) {
  std::unique_ptr<ClientTlsSession> self(new ClientTlsSession(std::move(context), std::move(resumption)));
  // 0-RTT needs the server's remembered transport parameters as well as the ticket (known before init,
  // which must say whether early data is enabled).
  std::optional<StoredSession> ticket;
  if (self->resumption_.cache) ticket = self->resumption_.cache->take(self->resumption_.key);
  const bool early = self->resumption_.early_data && ticket && !ticket->transport_params.empty();

  gnutls_session_t raw = nullptr;
  if (int rv = gnutls_init(&raw, kInitFlags | GNUTLS_NO_END_OF_EARLY_DATA | (early ? GNUTLS_ENABLE_EARLY_DATA : 0));
      rv != 0) {
    return std::unexpected(setup_error("init", rv));
  }
  self->session_.reset(raw);
  const ClientTlsContext& tls = *self->context_;
  if (int rv = ngtcp2_crypto_gnutls_configure_client_session(raw); rv != 0) {
    return std::unexpected(setup_error("QUIC", rv));
  }
  // A resumed handshake exchanges no certificate: its ticket came from a verified handshake under the
  // same cache key.
  if (auto configured = configure(raw, tls, tls.priority(), host, {kAlpnH3}, GNUTLS_ALPN_MANDATORY); !configured) {
    return std::unexpected(configured.error());
  }
  self->verify_during_handshake(host);
  self->use_ticket(raw, std::move(ticket), early);
  self->link_ = Link{*conn_ref, self.get()};
  gnutls_session_set_ptr(raw, &self->link_);
  return self;
}

// Offers `ticket` (if GnuTLS can use it: a damaged one, or another version's format, just means a full
// handshake) and, with a cache, records the tickets that arrive (on_handshake_message).
void ClientTlsSession::use_ticket(gnutls_session_t raw, std::optional<StoredSession> ticket, bool early) {
  if (ticket && gnutls_session_set_data(raw, ticket->tls_data.data(), ticket->tls_data.size()) == 0) {
    offered_ticket_ = true;
    offers_early_data_ = early;
    remembered_params_ = std::move(ticket->transport_params);
  }
  if (resumption_.cache) {
    gnutls_handshake_set_hook_function(raw, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET, GNUTLS_HOOK_POST,
                                       on_handshake_message);
  }
}

ClientTlsSession::~ClientTlsSession() = default;

void ClientTlsSession::verify_during_handshake(const std::string& host) {
  if (!context_->verify_peer()) return;
  host_ = host;
  gnutls_session_set_verify_function(session_.get(), verify_certificate);
}

// Inside GnuTLS's handshake, once the server's Certificate arrived: what gnutls_session_set_verify_cert
// checks (the chain against the trust anchors, the host name or IP address, the server-auth key purpose,
// stapled OCSP), unless the context verified the very same chain for this host a moment ago.
int ClientTlsSession::verify_certificate(gnutls_session_t session) noexcept {
  auto* link = static_cast<Link*>(gnutls_session_get_ptr(session));
  if (link == nullptr || link->self == nullptr) return GNUTLS_E_CERTIFICATE_ERROR;
  ClientTlsSession& self = *link->self;
  try {
    unsigned count = 0;
    const gnutls_datum_t* peers = gnutls_certificate_get_peers(session, &count);
    std::span<const gnutls_datum_t> chain(peers, peers == nullptr ? 0 : count);
    std::vector<gnutls_datum_t> stapled;
    for (unsigned i = 0;; ++i) {
      gnutls_datum_t response{};
      if (gnutls_ocsp_status_request_get2(session, i, &response) != 0) break;
      stapled.push_back(response);
    }
    std::string key = VerifiedChains::key(self.host_, chain, stapled);
    VerifiedChains& verified = self.context_->verified_chains();
    if (!chain.empty() && verified.contains(key)) return 0;

    gnutls_typed_vdata_st checks[2] = {
        {GNUTLS_DT_KEY_PURPOSE_OID, reinterpret_cast<unsigned char*>(const_cast<char*>(GNUTLS_KP_TLS_WWW_SERVER)), 0},
        {GNUTLS_DT_DNS_HOSTNAME, reinterpret_cast<unsigned char*>(self.host_.data()), 0},
    };
    unsigned status = 0;
    if (gnutls_certificate_verify_peers(session, checks, self.host_.empty() ? 1 : 2, &status) < 0) {
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
    self.verify_status_ = status;
    if (status != 0) return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
    verified.remember(std::move(key), chain_expiry(chain));
    return 0;
  } catch (...) {
    return GNUTLS_E_MEMORY_ERROR;
  }
}

// Inside GnuTLS (inside ngtcp2's packet processing): only records; the transport stores the ticket after
// the packet (store_ticket). A NewSessionTicket body starts with its lifetime in seconds (RFC 8446 4.6.1).
// GnuTLS 3.7 hands the hook the whole body on the QUIC path but a 2-byte stub on the TCP record path;
// then the lifetime is left unknown and store_ticket reads the expiry from the session data instead.
int ClientTlsSession::on_handshake_message(gnutls_session_t session, unsigned type, unsigned, unsigned incoming,
                                           const gnutls_datum_t* message) noexcept {
  if (type != GNUTLS_HANDSHAKE_NEW_SESSION_TICKET || !incoming) return 0;
  auto* link = static_cast<Link*>(gnutls_session_get_ptr(session));
  if (link == nullptr || link->self == nullptr) return 0;
  std::optional<std::uint32_t> lifetime;
  if (message != nullptr && message->size >= 4) {
    lifetime = 0;
    for (int i = 0; i < 4; ++i) *lifetime = *lifetime << 8 | message->data[i];
  }
  link->self->ticket_lifetime_s_ = lifetime;
  link->self->ticket_arrived_ = true;
  return 0;
}

void ClientTlsSession::store_ticket(std::vector<std::uint8_t> transport_params) {
  // A lifetime of 0 means "do not use this ticket" (RFC 8446 4.6.1).
  if (!resumption_.cache || ticket_lifetime_s_ == 0u) return;
  gnutls_datum_t data{};
  if (gnutls_session_get_data2(session_.get(), &data) != 0) return;
  const auto now = std::chrono::system_clock::now();
  auto lifetime = SessionCache::kMaxLifetime;
  if (ticket_lifetime_s_) {
    lifetime = std::min<std::chrono::seconds>(std::chrono::seconds(*ticket_lifetime_s_), lifetime);
  } else if (std::time_t expires = gnutls_db_check_entry_expire_time(&data); expires != 0) {
    lifetime = std::min(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::from_time_t(expires) - now),
                        lifetime);
  }
  StoredSession stored;
  stored.tls_data.assign(data.data, data.data + data.size);
  gnutls_free(data.data);
  if (lifetime <= std::chrono::seconds::zero()) return;
  stored.transport_params = std::move(transport_params);
  stored.expires = now + lifetime;
  resumption_.cache->put(resumption_.key, std::move(stored));
}

bool ClientTlsSession::resumed() const { return gnutls_session_is_resumed(session_.get()) != 0; }

bool ClientTlsSession::early_data_accepted() const {
  return offers_early_data_ && (gnutls_session_get_flags(session_.get()) & GNUTLS_SFLAGS_EARLY_DATA) != 0;
}

Result<std::unique_ptr<ClientTlsSession>> ClientTlsSession::create_for_tcp(std::shared_ptr<ClientTlsContext> context,
                                                                           const std::string& host,
                                                                           const std::vector<std::string>& alpn,
                                                                           Resumption resumption) {
  resumption.early_data = false;  // no early data over TCP
  std::unique_ptr<ClientTlsSession> self(new ClientTlsSession(std::move(context), std::move(resumption)));
  gnutls_session_t raw = nullptr;
  if (int rv = gnutls_init(&raw, kInitFlags | GNUTLS_NONBLOCK); rv != 0) {
    return std::unexpected(setup_error("init", rv));
  }
  self->session_.reset(raw);
  const ClientTlsContext& tls = *self->context_;
  if (auto configured = configure(raw, tls, tls.tcp_priority(), host, alpn, 0); !configured) {
    return std::unexpected(configured.error());
  }
  self->verify_during_handshake(host);
  std::optional<StoredSession> ticket;
  if (self->resumption_.cache) ticket = self->resumption_.cache->take(self->resumption_.key);
  self->use_ticket(raw, std::move(ticket), false);
  self->link_ = Link{{}, self.get()};  // no ngtcp2 here: only the ticket hook reads the pointer
  gnutls_session_set_ptr(raw, &self->link_);
  return self;
}

std::optional<std::string> ClientTlsSession::certificate_problem() const {
  const unsigned status = verify_status_;
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
  auto leaf = parse_certificate(chain[0]);
  std::array<unsigned char, 32> digest{};
  std::size_t size = digest.size();
  if (!leaf || gnutls_x509_crt_get_key_id(leaf.get(), GNUTLS_KEYID_USE_SHA256, digest.data(), &size) != 0) return {};
  gnutls_datum_t raw{digest.data(), static_cast<unsigned>(size)};
  gnutls_datum_t encoded{};
  if (gnutls_base64_encode2(&raw, &encoded) != 0) return {};
  std::string pin = "sha256//" + std::string(reinterpret_cast<const char*>(encoded.data), encoded.size);
  gnutls_free(encoded.data);
  return pin;
}

std::optional<Error> pinned_key_problem(const ClientTlsSession* session, const std::vector<std::string>& pins) {
  if (pins.empty()) return std::nullopt;
  const std::string pin = session != nullptr ? session->peer_public_key_pin() : std::string();
  if (!pin.empty() && std::find(pins.begin(), pins.end(), pin) != pins.end()) return std::nullopt;
  Error error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
              fmt::format("the server's public key {} is none of the pinned keys (pinned_public_keys)",
                          pin.empty() ? "(none)" : pin));
  error.handshake_failure = HandshakeFailure::certificate;
  return error;
}

HandshakeDetails ClientTlsSession::handshake_details() const {
  HandshakeDetails details;
  gnutls_session_t raw = session_.get();
  // GnuTLS names versions "TLS1.3"; curl (and OpenSSL) write "TLSv1.3".
  const char* name = gnutls_protocol_get_name(gnutls_protocol_get_version(raw));
  std::string version = name != nullptr ? name : "";
  if (version.starts_with("TLS")) version.insert(3, "v");
  details.tls_version = version;
  if (const char* suite = gnutls_ciphersuite_get(raw)) details.cipher = suite;
  if (const char* group = gnutls_group_get_name(gnutls_group_get(raw))) details.key_exchange = group;
  details.alpn = negotiated_alpn();
  unsigned count = 0;
  const gnutls_datum_t* chain = gnutls_certificate_get_peers(raw, &count);
  if (chain != nullptr && count > 0) {
    auto facts = context_->certificate_facts({chain[0].data, chain[0].size});
    details.certificate_subject = std::move(facts.subject);
    details.certificate_issuer = std::move(facts.issuer);
    details.certificate_not_before = facts.not_before;
    details.certificate_not_after = facts.not_after;
  }
  return details;
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

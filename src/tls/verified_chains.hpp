#pragma once
// VerifiedChains: server certificate chains a context's trust anchors verified for a host name,
// remembered for a while, as Chromium's caching certificate verifier does. A new connection to a server
// presents the same chain as the last one, and checking its signatures and names again cost about a
// third of a full handshake's CPU (docs/benchmarks.md, issue 15).
//
// What is remembered is exact: the host name, every certificate's DER bytes and the stapled OCSP
// responses, byte for byte. Only successful verifications are remembered, each until kVerifiedFor has
// passed or a certificate of the chain expires, whichever comes first. A hit skips only the chain's
// checks: the server's proof that it holds the certificate's key (TLS CertificateVerify) is checked by
// every handshake, and pinned keys after it. One instance per ClientTlsContext (so per trust anchors and
// verification options). Thread-safe; at most kMaxChains entries, least recently used dropped first.

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include <gnutls/gnutls.h>

namespace quiver::tls {

class VerifiedChains {
 public:
  static constexpr std::chrono::minutes kVerifiedFor{5};
  static constexpr std::size_t kMaxChains = 32;
  using Clock = std::chrono::system_clock;

  // The identity of one verification: host, chain and stapled OCSP responses, each length-prefixed.
  static std::string key(std::string_view host, std::span<const gnutls_datum_t> chain,
                         std::span<const gnutls_datum_t> ocsp_responses);

  // Whether `key` was verified and its entry is still valid at `now` (a hit makes it the most recent).
  bool contains(const std::string& key, Clock::time_point now = Clock::now());
  // Remembers a successful verification until min(now + kVerifiedFor, `expires`).
  void remember(std::string key, Clock::time_point expires, Clock::time_point now = Clock::now());
  std::size_t size() const;

 private:
  struct Entry {
    std::string key;
    Clock::time_point until;
  };
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;  // guarded by mutex_; the most recently used last
};

}  // namespace quiver::tls

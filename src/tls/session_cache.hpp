#pragma once
// SessionCache: the TLS 1.3 session tickets servers sent us, kept so a later connection can resume (no
// certificate exchange, and for QUIC the chance of 0-RTT), with the server's QUIC transport parameters
// that 0-RTT needs (ngtcp2's 0-RTT encoding; empty for TLS over TCP).
//
// Safety rules (why a ticket may be used):
//  - keyed by everything that must match (session_key): origin, SNI, ALPN and the TLS options the
//    original connection was verified with. A ticket from a connection verified against one CA file, or
//    without verification, is never offered on a connection with other trust settings; a ticket for one
//    host is never offered to another;
//  - only tickets that arrived after a completed (so verified) handshake are stored (the TLS session
//    stores them; see ClientTlsSession);
//  - single use: take() removes the ticket it returns (RFC 8446 C.4: a reused ticket links connections
//    and, with 0-RTT, invites replay);
//  - expiry honoured: a ticket past the lifetime the server gave it (at most 7 days) is never returned.
//  - bounded: at most `capacity` tickets (least recently stored evicted first), at most
//    kTicketsPerKey for one key.
//
// Persistence (ClientOptions::session_file, `quiver --ssl-sessions`): with a file, load_file() reads it
// once and every change is written back atomically (a temporary file in the same folder, 0600, then
// rename). A file that is not ours, corrupt or truncated is rejected whole (its checksum covers every
// entry): load_file() reports why and loads nothing, so nothing half-read is ever used.
//
// Thread-safe: one cache is shared by every pool (and io thread) of a Client.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/error.hpp"
#include "quiver/options.hpp"

namespace quiver::tls {

// The cache key: every property a ticket's safe use depends on.
std::string session_key(std::string_view alpn, const std::string& host, std::uint16_t port,
                        const TlsOptions& tls);

struct StoredSession {
  std::vector<std::uint8_t> tls_data;          // gnutls_session_get_data2 after the ticket arrived
  std::vector<std::uint8_t> transport_params;  // QUIC: the server's 0-RTT transport parameters
  std::chrono::system_clock::time_point expires;
};

class SessionCache {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  static constexpr std::size_t kTicketsPerKey = 4;
  static constexpr std::chrono::seconds kMaxLifetime{7 * 24 * 3600};  // RFC 8446 4.6.1

  // `capacity` 0 keeps nothing (resumption off). `file`: see load_file(); "" = memory only.
  explicit SessionCache(std::size_t capacity, std::string file = {},
                        Clock now = [] { return std::chrono::system_clock::now(); });
  ~SessionCache();  // writes the file once more if a write failed
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // Removes and returns the newest unexpired ticket for `key` (single use); drops expired ones met.
  std::optional<StoredSession> take(const std::string& key);
  // Stores a ticket (newest first); an expired one is ignored.
  void put(const std::string& key, StoredSession session);
  std::size_t size() const;

  // Reads the file given at construction, replacing the cache's contents. Returns how many unexpired
  // tickets were loaded; a missing file is no error (0). A file that is not a session file, or corrupt
  // or truncated, loads nothing and the error says why (ErrorKind::io_error, class invalid).
  Result<std::size_t> load_file();
  // Writes the cache to the file (atomically, 0600). Done after every change when a file is set.
  Result<void> save_file();

  // The file format, exposed for tests: encode() is what save_file() writes, decode() what load_file()
  // accepts (all or nothing).
  std::string encode() const;
  static Result<std::vector<std::pair<std::string, StoredSession>>> decode(std::string_view text);

 private:
  struct Entry {
    std::string key;
    StoredSession session;
  };
  void evict_locked();
  void changed_locked();
  std::string encode_locked() const;

  const std::size_t capacity_;
  const std::string file_;
  const Clock now_;
  mutable std::mutex mutex_;
  std::list<Entry> entries_;  // newest first
  bool unsaved_ = false;      // the last write of the file failed
};

}  // namespace quiver::tls

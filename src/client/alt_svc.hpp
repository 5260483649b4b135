#pragma once
// Alt-Svc (RFC 7838): parsing the response field and the per-Client cache of HTTP/3 alternatives.
//
// Only what HttpVersion::http3 (auto) uses is kept: per origin, the first `h3` alternative on the same host
// (an empty host or the origin's own; other hosts are ignored, as the client never sends a name to a host
// it was not asked for), with its port and expiry. RFC 7838 §3: a field from an origin replaces everything
// cached for it, so a field without a usable `h3` alternative (or `clear`, or ma=0) removes the entry.
//
// Persistence (ClientOptions::alt_svc_file, `quiver --alt-svc`): curl's alt-svc file format, one line per
// alternative,
//   h2 example.com 443 h3 example.com 8443 "20261205 10:00:00" 0 0
// (source ALPN, host, port; destination ALPN, host, port; expiry in UTC; persist; priority), '#' lines are
// comments. load_file() accepts the whole file or nothing (a malformed line rejects it, as the TLS session
// file); lines for other destination ALPNs or hosts are valid and skipped. Changes are written back
// atomically (a temporary file in the same folder, 0600, renamed over it); a refresh that only moves an
// expiry by less than kRefreshSlack is kept in memory until the next real change or the destructor.
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

#include "core/origin.hpp"
#include "quiver/error.hpp"

namespace quiver::client {

// One alternative of an Alt-Svc field value.
struct AltSvcAlternative {
  std::string alpn;  // protocol-id, percent-decoded ("h3")
  std::string host;  // "" = the origin's host
  std::uint16_t port = 0;
  std::chrono::seconds max_age{86400};  // ma (default 24 hours)
};

struct AltSvcField {
  bool clear = false;
  std::vector<AltSvcAlternative> alternatives;  // in the server's order of preference
};

// Parses an Alt-Svc field value; nullopt when it is malformed (the field is then ignored, RFC 7838 §3).
// Alternatives with unknown parameters are kept (unknown parameters are ignored).
std::optional<AltSvcField> parse_alt_svc(std::string_view value);

// A cached HTTP/3 alternative of an origin.
struct AltSvcEntry {
  std::string host;  // the origin's host (the alternative's host is always the same)
  std::uint16_t port = 0;      // the origin's port
  std::uint16_t h3_port = 0;   // where HTTP/3 is offered
  std::chrono::system_clock::time_point expires;
};

class AltSvcCache {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  static constexpr std::chrono::seconds kRefreshSlack{60};

  // `capacity` 0 keeps nothing. `file`: see load_file(); "" = memory only.
  explicit AltSvcCache(std::size_t capacity, std::string file = {},
                       Clock now = [] { return std::chrono::system_clock::now(); });
  ~AltSvcCache();  // writes the file once more if it is behind
  AltSvcCache(const AltSvcCache&) = delete;
  AltSvcCache& operator=(const AltSvcCache&) = delete;

  // The origin's unexpired HTTP/3 alternative, if any (an expired one is dropped).
  std::optional<AltSvcEntry> lookup(const Origin& origin);
  // An Alt-Svc field value received in a response from `origin`: replaces what is cached for it.
  // A malformed value changes nothing.
  void on_field(const Origin& origin, std::string_view value);
  std::size_t size() const;

  // Reads the file given at construction, replacing the cache's contents; returns how many unexpired
  // entries were loaded (a missing file is no error: 0). A malformed file loads nothing and the error
  // says why (ErrorKind::io_error, class invalid).
  Result<std::size_t> load_file();

  // The file format, exposed for tests.
  std::string encode() const;
  static Result<std::vector<AltSvcEntry>> decode(std::string_view text);

 private:
  void store_locked(AltSvcEntry entry);
  bool erase_locked(const Origin& origin);
  void save_locked();
  std::string encode_locked() const;

  const std::size_t capacity_;
  const std::string file_;
  const Clock now_;
  mutable std::mutex mutex_;
  std::list<AltSvcEntry> entries_;  // most recently stored first
  bool behind_ = false;             // the file does not have every change yet
};

}  // namespace quiver::client

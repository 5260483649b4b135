#pragma once
// The cookie engine of the fetch command, as curl's: enabled by -b FILE or -c FILE; cookies from the
// file and from every response's set-cookie are sent with later requests that match them (domain,
// path, secure, expiry); -c writes them all at the end in the Netscape format curl reads and writes.
// A cookie whose Domain is a public suffix (libpsl) or does not domain-match the host is refused.
// Thread-safe (-Z runs transfers on several threads).

#include <chrono>
#include <expected>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/url.hpp"

namespace quiver::cli {

struct Cookie {
  std::string domain;             // lowercase, without a leading dot
  bool include_subdomains = false;  // set by a Domain attribute (".example.com" in the file)
  std::string path = "/";
  bool secure = false;
  bool http_only = false;
  std::int64_t expires = 0;       // seconds since the epoch; 0: a session cookie
  std::string name;
  std::string value;
  bool operator==(const Cookie&) const = default;
};

class CookieJar {
 public:
  using Clock = std::chrono::system_clock;

  // Adds the cookies of a Netscape cookie file's `contents`; other lines are skipped.
  void load(std::string_view contents);
  // One set-cookie field received for `url`; returns why it was refused, if it was.
  std::optional<std::string> receive(const Url& url, std::string_view set_cookie, Clock::time_point now = Clock::now());
  // "a=1; b=2" for a request to `url` (empty if none match): longer paths first, as RFC 6265 §5.4.
  std::string header_for(const Url& url, Clock::time_point now = Clock::now()) const;
  // The jar in Netscape format (expired cookies left out).
  std::string netscape(Clock::time_point now = Clock::now()) const;

  std::vector<Cookie> cookies() const;

 private:
  void store_locked(Cookie cookie);

  mutable std::mutex mutex_;
  std::vector<Cookie> cookies_;
};

// Whether `host` is a public suffix (libpsl), such as "com" or "co.uk".
bool is_public_suffix(std::string_view host);

}  // namespace quiver::cli

#include "cookies.hpp"

#include <arpa/inet.h>
#include <libpsl.h>
#include <time.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/text.hpp"
#include "quiver/headers.hpp"

namespace quiver::cli {

namespace {

// The system's public suffix list (publicsuffix package) when present, else libpsl's built-in one.
// Loaded once; psl_ctx_t is immutable after loading, so lookups from several threads are safe.
const psl_ctx_t* public_suffixes() {
  static const psl_ctx_t* const psl = [] {
    const psl_ctx_t* latest = psl_latest(nullptr);
    return latest != nullptr ? latest : psl_builtin();
  }();
  return psl;
}

bool is_ip_address(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// "Wdy, DD Mon YYYY HH:MM:SS GMT" (and the "DD-Mon-YYYY" variant); seconds since the epoch.
std::optional<std::int64_t> parse_http_date(std::string_view text) {
  const std::string value(detail::trim_ows(text));
  for (const char* format : {"%a, %d %b %Y %H:%M:%S", "%a, %d-%b-%Y %H:%M:%S", "%a, %d-%b-%y %H:%M:%S"}) {
    tm parts{};
    if (strptime(value.c_str(), format, &parts) != nullptr) return static_cast<std::int64_t>(timegm(&parts));
  }
  return std::nullopt;
}

// RFC 6265 §5.1.4: the request path up to (not including) its last '/', or "/".
std::string default_path(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  const auto last = path.rfind('/');
  if (last == std::string_view::npos || last == 0) return "/";
  return std::string(path.substr(0, last));
}

bool path_matches(std::string_view request_path, std::string_view cookie_path) {
  if (!request_path.starts_with(cookie_path)) return false;
  return request_path.size() == cookie_path.size() || cookie_path.ends_with('/') ||
         request_path[cookie_path.size()] == '/';
}

bool domain_matches(const Cookie& cookie, std::string_view host) {
  if (host == cookie.domain) return true;
  return cookie.include_subdomains && host.size() > cookie.domain.size() && host.ends_with(cookie.domain) &&
         host[host.size() - cookie.domain.size() - 1] == '.';
}

std::int64_t seconds_since_epoch(CookieJar::Clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
}

bool expired(const Cookie& cookie, std::int64_t now) { return cookie.expires != 0 && cookie.expires <= now; }

std::optional<Cookie> parse_netscape_line(std::string_view line) {
  Cookie cookie;
  constexpr std::string_view http_only_prefix = "#HttpOnly_";
  if (line.starts_with(http_only_prefix)) {
    cookie.http_only = true;
    line.remove_prefix(http_only_prefix.size());
  } else if (line.starts_with('#')) {
    return std::nullopt;
  }
  std::vector<std::string_view> fields;
  while (true) {
    const auto tab = line.find('\t');
    fields.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) break;
    line.remove_prefix(tab + 1);
  }
  if (fields.size() == 6) fields.emplace_back();  // an empty value
  if (fields.size() != 7) return std::nullopt;
  std::string_view domain = fields[0];
  if (domain.starts_with('.')) domain.remove_prefix(1);
  cookie.domain = detail::to_lower(domain);
  cookie.include_subdomains = fields[1] == "TRUE";
  cookie.path = std::string(fields[2]);
  cookie.secure = fields[3] == "TRUE";
  auto [end, error] = std::from_chars(fields[4].data(), fields[4].data() + fields[4].size(), cookie.expires);
  if (error != std::errc() || cookie.domain.empty()) return std::nullopt;
  cookie.name = std::string(fields[5]);
  cookie.value = std::string(fields[6]);
  return cookie;
}

}  // namespace

bool is_public_suffix(std::string_view host) {
  return psl_is_public_suffix(public_suffixes(), std::string(host).c_str()) == 1;
}

void CookieJar::load(std::string_view contents) {
  std::lock_guard lock(mutex_);
  while (!contents.empty()) {
    const auto end = contents.find('\n');
    std::string_view line = contents.substr(0, end);
    contents = end == std::string_view::npos ? std::string_view() : contents.substr(end + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (auto cookie = parse_netscape_line(line)) store_locked(std::move(*cookie));
  }
}

std::optional<std::string> CookieJar::receive(const Url& url, std::string_view set_cookie, Clock::time_point now) {
  std::vector<std::string_view> attributes;
  for (std::string_view rest = set_cookie;;) {
    const auto semicolon = rest.find(';');
    attributes.push_back(detail::trim_ows(rest.substr(0, semicolon)));
    if (semicolon == std::string_view::npos) break;
    rest.remove_prefix(semicolon + 1);
  }
  const std::string_view pair = attributes.front();
  const auto equals = pair.find('=');
  if (equals == std::string_view::npos || detail::trim_ows(pair.substr(0, equals)).empty()) return "no NAME=VALUE";

  Cookie cookie;
  cookie.name = std::string(detail::trim_ows(pair.substr(0, equals)));
  cookie.value = std::string(detail::trim_ows(pair.substr(equals + 1)));
  const std::string host = detail::to_lower(url.host());
  cookie.domain = host;
  cookie.path = default_path(url.target());
  std::optional<std::int64_t> max_age;
  for (std::size_t i = 1; i < attributes.size(); ++i) {
    const std::string_view attribute = attributes[i];
    const auto eq = attribute.find('=');
    const std::string key = detail::to_lower(detail::trim_ows(attribute.substr(0, eq)));
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : detail::trim_ows(attribute.substr(eq + 1));
    if (key == "domain" && !value.empty()) {
      std::string domain = detail::to_lower(value.starts_with('.') ? value.substr(1) : value);
      if (is_ip_address(host) ? domain != host
                              : psl_is_cookie_domain_acceptable(public_suffixes(), host.c_str(), domain.c_str()) != 1) {
        return fmt::format("Domain={} is a public suffix or does not match the host {}", domain, host);
      }
      cookie.domain = std::move(domain);
      cookie.include_subdomains = !is_ip_address(host);
    } else if (key == "path" && value.starts_with('/')) {
      cookie.path = std::string(value);
    } else if (key == "expires") {
      if (auto when = parse_http_date(value)) cookie.expires = std::max<std::int64_t>(*when, 1);
    } else if (key == "max-age") {
      std::int64_t seconds = 0;
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (error == std::errc() && end == value.data() + value.size()) max_age = seconds;
    } else if (key == "secure") {
      cookie.secure = true;
    } else if (key == "httponly") {
      cookie.http_only = true;
    }
  }
  if (max_age) cookie.expires = *max_age <= 0 ? 1 : seconds_since_epoch(now) + *max_age;
  std::lock_guard lock(mutex_);
  store_locked(std::move(cookie));
  return std::nullopt;
}

void CookieJar::store_locked(Cookie cookie) {
  std::erase_if(cookies_, [&](const Cookie& old) {
    return old.name == cookie.name && old.domain == cookie.domain && old.path == cookie.path;
  });
  cookies_.push_back(std::move(cookie));  // an expired one is kept until the output leaves it out
}

std::string CookieJar::header_for(const Url& url, Clock::time_point now) const {
  const std::string host = detail::to_lower(url.host());
  const std::string_view target = url.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const std::int64_t seconds = seconds_since_epoch(now);
  std::vector<const Cookie*> matching;
  std::lock_guard lock(mutex_);
  for (const Cookie& cookie : cookies_) {
    if (!expired(cookie, seconds) && domain_matches(cookie, host) && path_matches(path, cookie.path))
      matching.push_back(&cookie);
  }
  std::ranges::stable_sort(matching, [](const Cookie* a, const Cookie* b) { return a->path.size() > b->path.size(); });
  std::string header;
  for (const Cookie* cookie : matching) {
    if (!header.empty()) header += "; ";
    header += cookie->name + "=" + cookie->value;
  }
  return header;
}

std::string CookieJar::netscape(Clock::time_point now) const {
  std::string out =
      "# Netscape HTTP Cookie File\n"
      "# https://curl.se/docs/http-cookies.html\n"
      "# This file was generated by quiver. Edit at your own risk.\n\n";
  const std::int64_t seconds = seconds_since_epoch(now);
  std::lock_guard lock(mutex_);
  for (const Cookie& cookie : cookies_) {
    if (expired(cookie, seconds)) continue;
    out += fmt::format("{}{}{}\t{}\t{}\t{}\t{}\t{}\t{}\n", cookie.http_only ? "#HttpOnly_" : "",
                       cookie.include_subdomains ? "." : "", cookie.domain,
                       cookie.include_subdomains ? "TRUE" : "FALSE", cookie.path, cookie.secure ? "TRUE" : "FALSE",
                       cookie.expires, cookie.name, cookie.value);
  }
  return out;
}

std::vector<Cookie> CookieJar::cookies() const {
  std::lock_guard lock(mutex_);
  return cookies_;
}

}  // namespace quiver::cli

#pragma once
// An absolute https URL, parsed and validated. Only https is accepted: HTTP/3 always runs over TLS.

#include "quiver/config.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "quiver/error.hpp"

namespace quiver {

class Url {
 public:
  // Parses "https://host[:port][/path][?query]". IPv6 literals are written in brackets. The fragment
  // is dropped. Fails with ErrorKind::invalid_url naming the problem (scheme, host, port, characters).
  static Result<Url> parse(std::string_view text);

  const std::string& scheme() const noexcept { return scheme_; }
  // The host without brackets ("::1", "example.com"); lowercase.
  const std::string& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }
  // Path and query as sent in :path; "/" when the URL has none.
  const std::string& target() const noexcept { return target_; }
  bool host_is_ipv6() const noexcept;

  // The :authority value: host (bracketed if IPv6), with ":port" unless the port is 443.
  std::string authority() const;
  // "https://authority" — identifies the origin (scheme, host, port).
  std::string origin() const;
  std::string to_string() const { return origin() + target_; }

  bool operator==(const Url&) const = default;

 private:
  std::string scheme_ = "https";
  std::string host_;
  std::uint16_t port_ = 443;
  std::string target_ = "/";
};

}  // namespace quiver

#include "quiver/url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

#include "core/text.hpp"

namespace quiver {

namespace {

using detail::describe_char;

std::unexpected<Error> url_error(std::string message) {
  return std::unexpected(Error(ErrorKind::invalid_url, std::move(message)));
}

// RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool is_scheme_syntax(std::string_view scheme) {
  if (scheme.empty() || !detail::is_ascii_alpha(scheme.front())) return false;
  return std::ranges::all_of(scheme, [](char c) {
    return detail::is_ascii_alpha(c) || detail::is_ascii_digit(c) || c == '+' || c == '-' || c == '.';
  });
}

Result<std::string> parse_scheme(std::string_view scheme) {
  if (!is_scheme_syntax(scheme)) {
    return url_error(fmt::format("invalid scheme '{}': the URL must start with https://", scheme));
  }
  const std::string lower = detail::to_lower(scheme);
  if (lower == "https") return lower;
  if (lower == "http") {
    return url_error("scheme 'http' is not supported: HTTP/3 always runs over TLS, use https://");
  }
  return url_error(fmt::format("scheme '{}' is not supported: only https URLs can be fetched", scheme));
}

// "user:password@" would leak credentials into logs if echoed; only the user name is shown.
Error userinfo_error(std::string_view authority) {
  std::string_view user = authority.substr(0, authority.find('@'));
  user = user.substr(0, user.find(':'));
  return Error(ErrorKind::invalid_url,
               fmt::format("user info ('{}@') in URLs is not supported; send credentials in a header",
                           user));
}

Result<std::string> parse_ipv6_literal(std::string_view literal) {
  std::array<unsigned char, 16> address{};
  const std::string text(literal);
  if (inet_pton(AF_INET6, text.c_str(), address.data()) != 1) {
    return url_error(fmt::format("invalid IPv6 address '[{}]'", literal));
  }
  std::array<char, INET6_ADDRSTRLEN> canonical{};
  inet_ntop(AF_INET6, address.data(), canonical.data(), canonical.size());
  return std::string(canonical.data());  // canonical form, so equal addresses make equal origins
}

Result<std::string> parse_ipv4_literal(std::string_view literal) {
  std::array<unsigned char, 4> address{};
  const std::string text(literal);
  if (inet_pton(AF_INET, text.c_str(), address.data()) != 1) {
    return url_error(fmt::format("invalid IPv4 address '{}'", literal));
  }
  return text;
}

bool is_reg_name_char(char c) {
  return detail::is_ascii_alpha(c) || detail::is_ascii_digit(c) || c == '-' || c == '.' || c == '_';
}

// A DNS name (letters, digits, '-', '_', '.') or a dotted-quad IPv4 address.
Result<std::string> parse_host_name(std::string_view host) {
  if (host.empty()) return url_error("missing host: expected https://host/");
  for (char c : host) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return url_error(fmt::format(
          "non-ASCII {} in host: write international names in their xn-- (punycode) form",
          describe_char(c)));
    }
    if (!is_reg_name_char(c)) return url_error(fmt::format("invalid character {} in host", describe_char(c)));
  }
  if (host.front() == '.' || host.find("..") != std::string_view::npos) {
    return url_error(fmt::format("empty label in host '{}'", host));
  }
  const bool looks_numeric = std::ranges::all_of(host, [](char c) { return detail::is_ascii_digit(c) || c == '.'; });
  if (looks_numeric) return parse_ipv4_literal(host);
  return detail::to_lower(host);
}

Result<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty()) return url_error("missing port number after ':'");
  const auto bad_port = [&] { return url_error(fmt::format("invalid port '{}': must be a number from 1 to 65535", text)); };
  if (!std::ranges::all_of(text, detail::is_ascii_digit)) return bad_port();
  unsigned long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535) return bad_port();
  return static_cast<std::uint16_t>(value);
}

struct HostPort {
  std::string host;
  std::uint16_t port = 443;
};

// authority = "[" IPv6 "]" [ ":" port ]  /  host [ ":" port ]
Result<HostPort> parse_authority(std::string_view authority) {
  if (authority.find('@') != std::string_view::npos) return std::unexpected(userinfo_error(authority));
  if (authority.empty()) return url_error("missing host: expected https://host/");

  std::string_view host_text;
  std::string_view after_host;  // "" or ":port"
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return url_error("invalid IPv6 address: missing ']'");
    host_text = authority.substr(1, close - 1);
    after_host = authority.substr(close + 1);
    if (!after_host.empty() && after_host.front() != ':') {
      return url_error(fmt::format("unexpected {} after IPv6 address", describe_char(after_host.front())));
    }
  } else {
    const auto colon = authority.find(':');
    host_text = authority.substr(0, colon);
    after_host = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
    if (after_host.find(':', 1) != std::string_view::npos) {
      return url_error("too many ':' in host: IPv6 addresses must be in brackets, e.g. https://[::1]/");
    }
  }

  HostPort result;
  auto host = authority.front() == '[' ? parse_ipv6_literal(host_text) : parse_host_name(host_text);
  if (!host) return std::unexpected(std::move(host.error()));
  result.host = std::move(*host);
  if (!after_host.empty()) {
    auto port = parse_port(after_host.substr(1));
    if (!port) return std::unexpected(std::move(port.error()));
    result.port = *port;
  }
  return result;
}

// Path and query are kept verbatim; only bytes that would corrupt a request line or field are refused.
Result<std::string> parse_target(std::string_view target) {
  for (std::size_t i = 0; i < target.size(); ++i) {
    const char c = target[i];
    if (c == ' ' || detail::is_ascii_control(c)) {
      const bool in_query = target.substr(0, i).find('?') != std::string_view::npos;
      return url_error(fmt::format("invalid character {} in {} (percent-encode it, e.g. %20 for space)",
                                   describe_char(c), in_query ? "query" : "path"));
    }
  }
  if (target.empty()) return std::string("/");
  if (target.front() == '?') return "/" + std::string(target);
  return std::string(target);
}

}  // namespace

Result<Url> Url::parse(std::string_view text) {
  if (text.empty()) return url_error("empty URL");
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return url_error(fmt::format("missing 'https://' at the start of the URL '{}'", text));
  }
  auto scheme = parse_scheme(text.substr(0, scheme_end));
  if (!scheme) return std::unexpected(std::move(scheme.error()));

  std::string_view rest = text.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('#'));  // the fragment never leaves the client
  const auto authority_end = std::min(rest.find_first_of("/?"), rest.size());

  auto host_port = parse_authority(rest.substr(0, authority_end));
  if (!host_port) return std::unexpected(std::move(host_port.error()));
  auto target = parse_target(rest.substr(authority_end));
  if (!target) return std::unexpected(std::move(target.error()));

  Url url;
  url.scheme_ = std::move(*scheme);
  url.host_ = std::move(host_port->host);
  url.port_ = host_port->port;
  url.target_ = std::move(*target);
  return url;
}

bool Url::host_is_ipv6() const noexcept { return host_.find(':') != std::string::npos; }

std::string Url::authority() const {
  std::string authority = host_is_ipv6() ? "[" + host_ + "]" : host_;
  if (port_ != 443) authority += ":" + std::to_string(port_);
  return authority;
}

std::string Url::origin() const { return "https://" + authority(); }

}  // namespace quiver

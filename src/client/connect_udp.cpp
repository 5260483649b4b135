// CONNECT-UDP requests (RFC 9298 §3): the proxy's URI template expanded for one target.
#include "quiver/connect_udp.hpp"

#include <cctype>

#include <fmt/format.h>

namespace quiver::detail {
namespace {

// RFC 6570 simple expansion of one value: everything but the unreserved characters percent-encoded.
std::string expand(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    bool unreserved = std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
    out += unreserved ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
  }
  return out;
}

Result<std::string> replace_variable(std::string text, std::string_view variable, std::string_view value) {
  auto at = text.find(variable);
  if (at == std::string::npos) {
    return std::unexpected(Error(ErrorKind::invalid_url, ErrorClass::invalid,
                                 fmt::format("the CONNECT-UDP URL template has no {} (RFC 9298 §3 needs "
                                             "{{target_host}} and {{target_port}})",
                                             variable)));
  }
  return text.replace(at, variable.size(), expand(value));
}

}  // namespace

Result<Request> connect_udp_request(std::string_view url_template, std::string_view target_host,
                                    std::uint16_t target_port) {
  if (target_host.empty()) {
    return std::unexpected(Error(ErrorKind::invalid_request, "CONNECT-UDP needs a target host"));
  }
  auto with_host = replace_variable(std::string(url_template), "{target_host}", target_host);
  if (!with_host) return std::unexpected(with_host.error());
  auto url = replace_variable(std::move(*with_host), "{target_port}", std::to_string(target_port));
  if (!url) return std::unexpected(url.error());
  auto parsed = Url::parse(*url);
  if (!parsed) return std::unexpected(parsed.error());
  Request request;
  request.method = "CONNECT";
  request.url = std::move(*parsed);
  request.protocol = "connect-udp";
  request.headers.add("capsule-protocol", "?1");
  return request;
}

}  // namespace quiver::detail

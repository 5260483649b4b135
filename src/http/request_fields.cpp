#include "http/request_fields.hpp"

#include <filesystem>

#include <algorithm>
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "core/text.hpp"

namespace quiver::http {

namespace {

using namespace std::string_view_literals;

// RFC 9114 §4.2: these describe an HTTP/1.1 connection and make an HTTP/3 message malformed.
constexpr std::array connection_specific_fields = {
    "connection"sv, "keep-alive"sv, "proxy-connection"sv, "transfer-encoding"sv, "upgrade"sv};

std::unexpected<Error> request_error(std::string message) {
  return std::unexpected(Error(ErrorKind::invalid_request, std::move(message)));
}

std::optional<char> first_forbidden_byte(std::string_view text) {
  auto bad = std::ranges::find_if(text, [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
  if (bad == text.end()) return std::nullopt;
  return *bad;
}

// Checks one caller-supplied field; `lower_name` is its name lowercased.
std::optional<Error> check_field(const Header& field, std::string_view lower_name) {
  const auto fail = [](std::string message) { return Error(ErrorKind::invalid_request, std::move(message)); };
  if (field.name.empty()) return fail("empty header name");
  if (auto bad = first_forbidden_byte(field.name)) {
    return fail(fmt::format("header name '{}' contains {}", field.name, detail::describe_char(*bad)));
  }
  if (auto bad = first_forbidden_byte(field.value)) {
    return fail(fmt::format("header '{}' has {} in its value", field.name, detail::describe_char(*bad)));
  }
  if (field.name.front() == ':') {
    return fail(fmt::format("pseudo-header '{}' cannot be set by the caller", field.name));
  }
  if (auto bad = std::ranges::find_if_not(field.name, detail::is_token_char); bad != field.name.end()) {
    return fail(fmt::format("header name '{}' contains invalid character {}", field.name,
                            detail::describe_char(*bad)));
  }
  if (std::ranges::find(connection_specific_fields, lower_name) != connection_specific_fields.end()) {
    return fail(fmt::format("connection-specific header '{}' is not allowed in HTTP/3", field.name));
  }
  if (lower_name == "te" && !iequals(field.value, "trailers")) {
    return fail(fmt::format("header '{}: {}' is not allowed: HTTP/3 only permits 'te: trailers'", field.name,
                            field.value));
  }
  return std::nullopt;
}

std::optional<Error> check_method(std::string_view method) {
  if (!detail::is_token(method)) {
    return Error(ErrorKind::invalid_request, fmt::format("invalid method '{}': must be a token such as GET", method));
  }
  if (method == "CONNECT") {
    return Error(ErrorKind::invalid_request, "method 'CONNECT' is not supported");
  }
  return std::nullopt;
}

// The :authority value: a caller's Host header wins over the URL.
Result<std::string> authority_of(const Request& request) {
  const auto hosts = request.headers.get_all("host");
  if (hosts.empty()) return request.url.authority();
  if (hosts.size() > 1) return request_error("more than one 'Host' header");
  if (hosts.front().empty()) return request_error("empty 'Host' header");
  return std::string(hosts.front());
}

// The body's length when it is known before sending: bytes, or a file's current size.
Result<std::optional<std::uint64_t>> known_body_size(const RequestBody& body) {
  switch (body.kind()) {
    case RequestBody::Kind::none: return std::optional<std::uint64_t>(0);
    case RequestBody::Kind::bytes: return std::optional<std::uint64_t>(body.bytes().size());
    case RequestBody::Kind::producer: return std::optional<std::uint64_t>();
    case RequestBody::Kind::file: break;
  }
  std::error_code ec;
  auto size = std::filesystem::file_size(body.file_path(), ec);
  if (ec) {
    return std::unexpected(Error(ErrorKind::body_failed, ErrorClass::invalid,
                                 fmt::format("cannot read body file '{}': {}", body.file_path(), ec.message())));
  }
  return std::optional<std::uint64_t>(size);
}

std::optional<Error> check_content_length(std::string_view value, std::optional<std::uint64_t> body_size) {
  if (!body_size || value == std::to_string(*body_size)) return std::nullopt;
  return Error(ErrorKind::invalid_request,
               fmt::format("header 'content-length: {}' disagrees with the body's {} bytes", value, *body_size));
}

// RFC 9114 §4.2.2 counts a field as its name and value lengths plus 32; servers commonly accept 64 KiB.
std::optional<Error> check_section_size(const std::vector<Header>& fields) {
  std::size_t size = 0;
  for (const Header& field : fields) size += field.name.size() + field.value.size() + 32;
  if (size <= kMaxRequestFieldSection) return std::nullopt;
  return Error(ErrorKind::invalid_request,
               fmt::format("the request's header section is {} bytes; the limit is {}", size, kMaxRequestFieldSection));
}

}  // namespace

Result<std::vector<Header>> build_request_fields(const Request& request) {
  if (auto error = check_method(request.method)) return std::unexpected(std::move(*error));
  if (request.protocol) {
    return std::unexpected(Error(ErrorKind::invalid_request, "Request::protocol is for channels (open_channel) only"));
  }
  auto authority = authority_of(request);
  if (!authority) return std::unexpected(std::move(authority.error()));

  std::vector<Header> fields;
  fields.reserve(request.headers.size() + 5);
  fields.push_back({":method", request.method});
  fields.push_back({":scheme", "https"});
  fields.push_back({":authority", std::move(*authority)});
  fields.push_back({":path", request.url.target()});

  auto body_size = known_body_size(request.body);
  if (!body_size) return std::unexpected(std::move(body_size.error()));

  bool has_content_length = false;
  for (const Header& field : request.headers) {
    std::string lower_name = detail::to_lower(field.name);
    if (auto error = check_field(field, lower_name)) return std::unexpected(std::move(*error));
    if (lower_name == "host") continue;
    if (lower_name == "content-length") {
      if (auto error = check_content_length(field.value, *body_size)) return std::unexpected(std::move(*error));
      has_content_length = true;
    }
    fields.push_back({std::move(lower_name), field.value});
  }

  if (*body_size && **body_size > 0 && !has_content_length) {
    fields.push_back({"content-length", std::to_string(**body_size)});
  }
  if (auto error = check_section_size(fields)) return std::unexpected(std::move(*error));
  return fields;
}

Result<std::vector<Header>> build_channel_fields(const Request& request) {
  if (request.method != "CONNECT") {
    return std::unexpected(Error(ErrorKind::invalid_request,
                                 fmt::format("a channel's method must be CONNECT, not '{}'", request.method)));
  }
  if (request.protocol && !detail::is_token(*request.protocol)) {
    return std::unexpected(Error(ErrorKind::invalid_request,
                                 fmt::format("invalid :protocol '{}': must be a token", *request.protocol)));
  }
  auto authority = authority_of(request);
  if (!authority) return std::unexpected(std::move(authority.error()));
  std::vector<Header> fields;
  fields.push_back({":method", "CONNECT"});
  if (request.protocol) {
    fields.push_back({":protocol", *request.protocol});
    fields.push_back({":scheme", "https"});
    fields.push_back({":authority", std::move(*authority)});
    fields.push_back({":path", request.url.target()});
  } else {
    fields.push_back({":authority", std::move(*authority)});
  }
  for (const Header& field : request.headers) {
    std::string lower_name = detail::to_lower(field.name);
    if (auto error = check_field(field, lower_name)) return std::unexpected(std::move(*error));
    if (lower_name == "host" || lower_name == "content-length") continue;
    fields.push_back({std::move(lower_name), field.value});
  }
  if (auto error = check_section_size(fields)) return std::unexpected(std::move(*error));
  return fields;
}

}  // namespace quiver::http

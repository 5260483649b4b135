// libFuzzer target: http::build_request_fields on a Request built from the input.
//
// Input format (every string has a one-byte length prefix: len:u8 bytes[len]; a truncated input just
// ends early):
//   flags:u8  method:str  url:str  body:str  (name:str value:str)*
//   flags & 0x03: 0 = no body, 1 = bytes body (`body`), 2 = producer body (unknown length), 3 = empty
//                 bytes body
//   flags & 0x04: the URL is used as given; otherwise "https://" is put in front of it, so most inputs
//                 reach the field checks. A URL that does not parse falls back to https://example.com/.
//
// Checks:
//  - no crash, leak or sanitizer report; a rejection is ErrorKind::invalid_request (or body_failed)
//    with a message;
//  - accepted fields: :method, :scheme, :authority, :path first and in that order, no other
//    pseudo-header; then the caller's fields in their order; every name non-empty, lowercase and made of
//    token characters; no CR, LF or NUL in any name or value; no connection-specific field, no "host";
//    :scheme is https; :method equals the request's method; every content-length equals the size of a
//    bytes body, and one is present when that body is non-empty.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/text.hpp"
#include "fuzz_check.hpp"
#include "fuzz_input.hpp"
#include "http/request_fields.hpp"

namespace {

using namespace std::string_view_literals;

bool has_forbidden_byte(std::string_view text) {
  return text.find_first_of("\r\n\0"sv) != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  quiver::fuzz::Input in(data, size);
  const std::uint8_t flags = in.u8();
  quiver::Request request;
  request.method = in.string8();
  std::string url_text = in.string8();
  if (!(flags & 0x04)) url_text = "https://" + url_text;
  auto url = quiver::Url::parse(url_text);
  request.url = url ? *url : *quiver::Url::parse("https://example.com/");
  std::string body = in.string8();
  switch (flags & 0x03) {
    case 1: request.body = body; break;
    case 2: request.body = quiver::RequestBody::from_producer([] { return std::optional<std::string>(); }); break;
    case 3: request.body = std::string(); break;
    default: break;
  }
  while (!in.empty()) {
    std::string name = in.string8();
    std::string value = in.string8();
    request.headers.add(std::move(name), std::move(value));
  }

  auto fields = quiver::http::build_request_fields(request);
  if (!fields) {
    const auto kind = fields.error().kind();
    FUZZ_CHECK(kind == quiver::ErrorKind::invalid_request || kind == quiver::ErrorKind::body_failed,
               fields.error().to_string());
    FUZZ_CHECK(!fields.error().message().empty(), "empty error message");
    return 0;
  }

  static constexpr std::array pseudo = {":method"sv, ":scheme"sv, ":authority"sv, ":path"sv};
  static constexpr std::array connection_specific = {"connection"sv, "keep-alive"sv, "proxy-connection"sv,
                                                     "transfer-encoding"sv, "upgrade"sv};
  FUZZ_CHECK(fields->size() >= pseudo.size(), "missing pseudo-headers");
  for (std::size_t i = 0; i < pseudo.size(); ++i) {
    FUZZ_CHECK((*fields)[i].name == pseudo[i], "pseudo-header " + std::to_string(i) + " is " + (*fields)[i].name);
  }
  FUZZ_CHECK((*fields)[0].value == request.method, "method changed");
  FUZZ_CHECK((*fields)[1].value == "https", "scheme is not https");
  FUZZ_CHECK(!(*fields)[2].value.empty(), "empty :authority");
  FUZZ_CHECK((*fields)[3].value == request.url.target(), ":path differs from the URL's target");

  const bool bytes_body = request.body.kind() == quiver::RequestBody::Kind::bytes;
  const bool none_body = request.body.kind() == quiver::RequestBody::Kind::none;
  const std::size_t body_size = request.body.bytes().size();
  bool has_content_length = false;
  for (std::size_t i = 0; i < fields->size(); ++i) {
    const quiver::Header& field = (*fields)[i];
    FUZZ_CHECK(!field.name.empty(), "empty field name");
    FUZZ_CHECK(!has_forbidden_byte(field.name), "CR/LF/NUL in a field name");
    FUZZ_CHECK(!has_forbidden_byte(field.value), "CR/LF/NUL in the value of " + field.name);
    if (i < pseudo.size()) continue;
    FUZZ_CHECK(field.name.front() != ':', "pseudo-header after regular fields: " + field.name);
    FUZZ_CHECK(quiver::detail::is_token(field.name), "name is not a token: " + field.name);
    FUZZ_CHECK(std::ranges::none_of(field.name, [](char c) { return c >= 'A' && c <= 'Z'; }),
               "name not lowercase: " + field.name);
    FUZZ_CHECK(std::ranges::find(connection_specific, field.name) == connection_specific.end(),
               "connection-specific field sent: " + field.name);
    FUZZ_CHECK(field.name != "host", "host sent as a field");
    if (field.name == "te") FUZZ_CHECK(quiver::iequals(field.value, "trailers"), "te: " + field.value);
    if (field.name == "content-length") {
      has_content_length = true;
      if (bytes_body || none_body) {
        FUZZ_CHECK(field.value == std::to_string(body_size),
                   "content-length " + field.value + " for a body of " + std::to_string(body_size));
      }
    }
  }
  if (bytes_body && body_size > 0) FUZZ_CHECK(has_content_length, "no content-length for a bytes body");
  return 0;
}

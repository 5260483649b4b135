#pragma once
// A request's field section in the HTTP/3 (and HTTP/2) layout, pseudo-headers first (RFC 9114 §4.3.1,
// §4.2), checked against RFC 9110's field rules before anything is sent. Protocol-neutral: no nghttp3.

#include <vector>

#include "quiver/error.hpp"
#include "quiver/headers.hpp"
#include "quiver/request.hpp"

namespace quiver::http {

// Returns :method, :scheme, :authority, :path, then the caller's fields in their order with lowercase
// names. :authority is the URL's authority, or the value of a "Host" header (which is then not sent as a
// field). A "content-length" field is appended when the body is non-empty and the caller gave none.
//
// Fails with ErrorKind::invalid_request, naming the offending header or method, on: a method that is
// not a token (or CONNECT, which has a different field layout); an empty field name or one with
// characters outside RFC 9110 token characters; CR, LF or NUL in a name or value; a pseudo-header
// (":name"); the connection-specific fields connection, keep-alive, proxy-connection,
// transfer-encoding and upgrade; "te" with a value other than "trailers"; more than one or an empty
// Host; a content-length that disagrees with the body; a section over kMaxRequestFieldSection.
// A field section larger than this (RFC 9114 §4.2.2 accounting) is refused before anything is sent.
inline constexpr std::size_t kMaxRequestFieldSection = 64 * 1024;

Result<std::vector<Header>> build_request_fields(const Request& request);

// A channel's field section (http::Connection::channel): an extended CONNECT (Request::protocol set:
// :method CONNECT, :protocol, :scheme, :authority, :path; RFC 9220 §4) or a plain CONNECT (:method and
// :authority only, RFC 9114 §4.4), then the caller's fields under the rules above (no content-length
// is added: the body is the channel's stream). invalid_request for another method, or a :protocol that
// is not a token.
Result<std::vector<Header>> build_channel_fields(const Request& request);

}  // namespace quiver::http

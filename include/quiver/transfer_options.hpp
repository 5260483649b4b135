#pragma once
// What the Client does with a response before the caller sees it: follow redirects, decompress the
// body. Both are off by default (as in libcurl); set them for every request in ClientOptions, or for one
// request in Request (which then wins).

#include "quiver/config.hpp"

#include <cstdint>

namespace quiver {

// Redirects (RFC 9110 §15.4), followed as curl -L does:
//  - 301, 302: a POST becomes a GET without its body; any other method is sent again with its body;
//  - 303: every method but HEAD becomes a GET without a body;
//  - 307, 308: the method and body are sent again unchanged. A body that cannot be replayed (a producer)
//    fails the request with redirect_failed instead of being lost.
// A GET made from a POST loses the fields that describe the body (content-type, content-length,
// content-encoding, content-language, content-location). A redirect to another origin (scheme, host or
// port) drops `authorization`, `proxy-authorization` and `cookie`. A relative `location` is resolved
// against the URL that answered (RFC 3986 §5). A redirect from https to anything else (http://) is refused
// with redirect_failed, as is a `location` that is not a valid URL. A 3xx without `location`, and 300,
// 304, 305, 306, are answers, not redirects. After `max_redirects` redirects, the next one fails with
// too_many_redirects. The Response says the final URL and how many redirects were followed
// (Response::transfer).
struct RedirectPolicy {
  bool follow = false;
  int max_redirects = 30;  // libcurl's default (the curl command's is 50)
};

// Response body decompression (RFC 9110 §8.4): when on, requests without an `accept-encoding` field send
// `accept-encoding: gzip, deflate, br, zstd`, and a body whose `content-encoding` names those codings (in
// any order, several at once) is decoded as it arrives, chunk by chunk: memory stays bounded by the
// chunks read, not by the decoded size. An unknown coding, or a body that is not valid for its coding
// (corrupt, truncated), fails the request with decompression_failed. A body that decodes to more than
// `max_decoded_bytes`, or to more than `max_ratio` times the bytes received once past `ratio_grace_bytes`
// (a decompression bomb), fails with body_too_large as soon as the limit is crossed, and the transfer is
// abandoned. The response's headers stay as the server sent them.
struct Decompression {
  bool enabled = false;
  std::uint64_t max_decoded_bytes = std::uint64_t{1} << 30;  // 1 GiB; 0: no limit
  std::uint64_t max_ratio = 200;                            // decoded bytes per received byte; 0: none
  std::uint64_t ratio_grace_bytes = 1 << 20;                // the ratio is checked past this many decoded bytes
};

}  // namespace quiver

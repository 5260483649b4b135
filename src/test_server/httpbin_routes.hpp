#pragma once
// httpbin's everyday routes (https://httpbin.org), with httpbin's status codes, fields and JSON shapes, so
// that what users try against httpbin works against `quiver serve`. Pure request -> ResponsePlan, as the
// other routes (routes.hpp), which fall back to these for a path they do not know.
//
// Methods as httpbin: each route answers the methods listed (HEAD wherever GET is: GET's status and
// fields, no body), OPTIONS with 200 and `allow`, anything else with 405. JSON is indented by 2 and ends
// with a newline; "headers" names the request fields in httpbin's Title-Case (`Host` from :authority).
//
//   /get                       GET    {args, headers, origin, url}
//   /post /put /patch /delete  that method  {args, data, files, form, headers, json, origin, url}
//   /anything[/ANY]            any    as /post, plus "method"
//   /response-headers?k=v      GET POST  each k: v as a response field; the JSON of the response fields
//   /cookies                   GET    {"cookies": {name: value}} from the Cookie fields
//   /cookies/set?k=v           GET    set-cookie `k=v; Path=/` for each pair, 302 to /cookies
//   /cookies/set/NAME/VALUE    GET    the same for one cookie
//   /cookies/delete?k          GET    set-cookie expiring each k, 302 to /cookies
//   /basic-auth/USER/PASSWD    GET    200 {authenticated, user} if Authorization: Basic matches, else 401
//                                     with www-authenticate: Basic realm="Fake Realm"
//   /bearer                    GET    200 {authenticated, token} with Authorization: Bearer T, else 401
//                                     with www-authenticate: Bearer
//   /range/N                   GET    N (1..102400) pattern bytes (byte i == 'a' + i % 26), accept-ranges,
//                                     etag "rangeN"; a Range (first range of bytes=A-B, A-, -S) gives 206 and
//                                     content-range, an unsatisfiable one 416 with content-range: bytes */N
//   /etag/E                    GET    /get's JSON with etag "E"; 304 if If-None-Match has E (or *), 412 if
//                                     If-Match is present without E (or *)
//   /cache                     GET    304 if If-Modified-Since or If-None-Match is present; else /get's
//                                     JSON with last-modified (now) and an etag
//   /cache/N                   GET    /get's JSON with cache-control: public, max-age=N
//   /uuid                      GET    {"uuid": a random version 4 UUID}
//   /json                      GET    httpbin's sample slide show JSON
//   /base64/V                  GET    V decoded (URL-safe base64) as text/html; httpbin's hint if invalid
//   /drip?numbytes=&duration=&delay=&code=  GET  after `delay` s, `numbytes` (10, at most 10 MiB) '*'
//                                     bytes spread over `duration` s (2), status `code` (200)
//   /redirect/N[?absolute=true] GET   302 N times, then /get: relative locations (absolute with the flag)
//   /relative-redirect/N       GET    302 to /relative-redirect/N-1 (path-absolute location), the last to /get
//   /absolute-redirect/N       GET    the same with absolute https URLs
//   /redirect-to?url=U&status_code=C  GET POST PUT DELETE PATCH  C (302; a 3xx) with location U as given
//   /gzip /deflate /brotli /zstd  GET  {"gzipped"|"deflated"|"brotli"|"zstd": true, headers, method,
//                                     origin} compressed so (deflate: the zlib format), content-encoding set
// and quiver's own, for decompression's bad cases:
//   /bomb/CODING?size=N        GET    N (64 MiB; at most 4 GiB) zero bytes compressed with CODING (gzip,
//                                     deflate, br or brotli, zstd): a decompression bomb
//   /corrupt/CODING[?truncate=1] GET  /get's JSON compressed, 8 bytes in the middle inverted (or only the
//                                     first half sent)
//
// Not like httpbin: entity tags are sent quoted, as RFC 9110 §8.8.3 wants ("range30", "E"; httpbin sends
// them bare), and compared without quotes and W/ as httpbin does; form bodies are parsed when urlencoded
// only (multipart stays in "data", "files" is always empty); a Range whose end is past the last byte is
// clamped (RFC 9110 §14.1.2; httpbin says 416); a malformed Range is ignored (200, the whole body);
// /range ignores chunk_size and duration; /drip's code must be 200..599.

#include <optional>
#include <string_view>

#include "test_server/routes.hpp"

namespace quiver::server {

// The traits of httpbin's route for `target` (:path with query); nullopt if it is none of them.
std::optional<RouteTraits> httpbin_traits(std::string_view target);
// The plan for `request` if its target is one of httpbin's routes; nullopt otherwise. Pure, as route().
std::optional<ResponsePlan> httpbin_route(RouteRequest& request);

}  // namespace quiver::server

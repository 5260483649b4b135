#pragma once
// The test server's routes: pure request -> ResponsePlan logic, no protocol plumbing. The connection
// (route_runner.cpp) carries a plan out: delay, headers, lazy body, trailers, stream reset,
// connection close, GOAWAY. To add a route, add a handler and a row to the table in routes.cpp.
//
// Routes (any method is accepted; HEAD gets GET's status and fields, content-length included, and no body
// nor trailers; the request body is kept only by /echo and read by /slow-upload;
// /reset, /close, /slow-upload and /status?early=1 act as soon as the request headers are in, the
// others once the whole request arrived; unknown path -> 404, malformed number -> 400):
//   /bytes/N                      N pattern bytes (byte i == 'a' + i % 26), content-length set
//   /echo                         request body back; each request field `n: v` as `x-echo-n: v`;
//                                 content-type copied
//   /status/CODE[?early=1]        that status (200..599) with a short text body (none for 204/205/304);
//                                 early=1: answered at the request headers, then the rest of the
//                                 upload is stopped with STOP_SENDING(H3_NO_ERROR) (RFC 9114 §4.1),
//                                 unless keep_reading=1 (then it is read and dropped to its end)
//   /headers                      JSON object of the request fields, pseudo-headers included
//   /delay/MS                     "delayed" after MS milliseconds
//   /trailers                     "hello trailers", then trailers x-trailer-one: 1, x-checksum: <fnv1a>
//   /reset/CODE[?after=BYTES]     reset the stream with CODE (decimal or 0x-hex): at once, or after the
//                                 headers and BYTES body bytes have been acknowledged
//   /close/CODE                   close the connection with application error CODE
//   /stream/N[?size=S&delay_ms=D] N chunks of S (1024) pattern bytes, D (0) ms apart, no content-length
//   /goaway[?delay_ms=D]          200 "goaway sent", then GOAWAY on this connection (after D ms)
//   /slow-upload[?rate=R]         reads the request body at R (10000000) bytes per second: credit goes
//                                 back to the client only at that pace; the bytes are hashed and
//                                 dropped; then 200 "received N bytes fnv1a-<16 hex>" (FNV-1a 64)
//   /misbehave/CASE               break HTTP/3 on purpose (hand-encoded frames); cases in misbehave.hpp
//   /datagram-echo                an extended CONNECT (RFC 9220, any :protocol) kept open: 200 at the
//                                 headers, then every HTTP datagram (RFC 9297) on the stream is echoed
//                                 and the stream's data is echoed back; the client's FIN ends the response.
//                                 Other methods: 400. Needs ServerOptions::extended_connect (else nghttp3
//                                 refuses :protocol) and ServerOptions::datagrams for the datagrams.
//   /.well-known/masque/udp/HOST/PORT/
//                                 CONNECT-UDP (RFC 9298): an extended CONNECT with :protocol connect-udp
//                                 (HOST percent-encoded, e.g. "%3A%3A1" for ::1) makes the connection a UDP
//                                 proxy to HOST:PORT (udp_proxy.hpp: allowed targets, 403/502). 200 with
//                                 `capsule-protocol: ?1`; datagrams with context id 0 go to the target and
//                                 its answers come back as datagrams (?capsules=1: as DATAGRAM capsules on
//                                 the stream, RFC 9297 §3.5; ?capsules=malformed: as a DATAGRAM capsule
//                                 announcing 70 000 bytes, over any client's limit). Capsules the client sends on the stream are
//                                 read and dropped (quiver's client sends none: its datagrams are QUIC
//                                 DATAGRAM frames). Needs ServerOptions::connect_udp (else 404). Other
//                                 methods or protocols: 400.
// A CONNECT is routed at its headers (its request does not end first); a plain CONNECT (no :path, RFC 9114
// §4.4) gets 400 at once: this server is no CONNECT proxy.
// and httpbin's everyday routes (/get, /post, /anything, /cookies, /range/N, /drip, ...): httpbin_routes.hpp.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "test_server/body_source.hpp"

namespace quiver::server {

struct Field {
  std::string name;  // lowercase, as HTTP/3 carries it
  std::string value;
};

struct RouteRequest {
  std::string method, target, authority, scheme;  // the pseudo-headers; target is :path
  std::vector<Field> fields;  // every field in arrival order, pseudo-headers included
  std::string body;           // filled only when route_traits(target).wants_body
  std::string peer;           // the client's address ("127.0.0.1", "::1"): httpbin's "origin"
};

struct ResponsePlan;

// A CONNECT-UDP request's target, as its path named it (decoded, not yet resolved).
struct UdpTarget {
  std::string host;
  std::uint16_t port;
};

// Where a route that reads the request body as a stream (ResponsePlan::upload) puts it. The
// connection feeds it the body bytes in order and asks for the response once the body has ended.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual void write(std::span<const std::uint8_t> bytes) = 0;
  virtual ResponsePlan finish() = 0;  // called once, after the last write; must not set `upload`
};

struct ResponsePlan {
  int status = 200;
  std::vector<Field> headers;        // regular fields (content-length included when known)
  std::unique_ptr<BodySource> body;  // null: no body, the stream ends with the headers
  std::vector<Field> trailers;       // sent after the body when non-empty (needs a body)
  std::chrono::milliseconds delay{0};  // wait this long before sending anything

  struct Reset {
    std::uint64_t code;
    // Empty: reset at once, no headers. Set: send the headers and this many body bytes, reset once
    // the client acknowledged them (`body` then never ends by itself).
    std::optional<std::uint64_t> after_bytes;
  };
  std::optional<Reset> reset;
  // Close the whole connection with this HTTP/3 application error code; nothing else is sent.
  std::optional<std::uint64_t> close_connection;
  // Send GOAWAY on the connection this long after the response was submitted.
  std::optional<std::chrono::milliseconds> goaway_after;
  // Once the response is out, stop the rest of the upload: STOP_SENDING(H3_NO_ERROR).
  bool stop_reading = false;

  // Read the request body into `sink`, returning flow-control credit at `bytes_per_second` only;
  // when the body has ended and been read, the response is sink->finish(). Everything else in this
  // plan is ignored.
  struct Upload {
    std::uint64_t bytes_per_second;
    std::unique_ptr<BodySink> sink;
  };
  std::optional<Upload> upload;

  // /misbehave/CASE: bytes the connection writes itself, bypassing nghttp3 (which never writes on this
  // request stream). Everything else in this plan is ignored. See misbehave.hpp.
  struct Raw {
    std::vector<std::uint8_t> request_stream;  // written on the request stream, then FIN; empty: nothing
    std::vector<std::uint8_t> uni_stream;      // non-empty: a new server unidirectional stream carries it
    std::vector<std::uint8_t> qpack_encoder;   // non-empty: appended to the server's QPACK encoder stream
    std::vector<std::uint8_t> control_stream;  // non-empty: appended to the server's control stream
    bool reset_control_stream = false;         // RESET_STREAM(H3_NO_ERROR) on the server's control stream
  };
  std::optional<Raw> raw;
  // /datagram-echo: the response (status and headers) goes out at once and its stream stays open, echoing
  // the request stream's data and every datagram on the stream until the request ends. `body` is unused.
  bool tunnel = false;
  // /.well-known/masque/udp/...: the connection resolves the target, checks it against its policy and
  // (when allowed) relays UDP for the stream (udp_proxy.hpp); the plan's status and headers are the
  // success answer. The stream stays open until the client ends it; its data (capsules) is read and dropped.
  std::optional<UdpTarget> connect_udp;
  // How the target's datagrams go back: HTTP datagrams, or DATAGRAM capsules on the stream (or a malformed one).
  enum class CapsuleAnswers { none, valid, malformed };
  CapsuleAnswers capsule_answers = CapsuleAnswers::none;
};

// How the connection must feed a route, known once the request's headers are in.
struct RouteTraits {
  bool wants_body = false;      // the request body is kept for the route (others discard it unbuffered)
  bool before_body = false;     // routed as soon as the headers are in, not at the end of the request
};
RouteTraits route_traits(std::string_view target);

// The plan for `request`. Moves the request body into /echo's response; route() never calls into the
// protocol libraries, so the connection may call it inside a library callback.
ResponsePlan route(RouteRequest&& request);

// A text/plain answer (content-length set; no body when `body` is empty).
ResponsePlan text_response(int status, std::string body);

// Helpers exposed for tests.
// FNV-1a 64, continued from `hash` (start with kFnv1aBasis).
inline constexpr std::uint64_t kFnv1aBasis = 0xcbf29ce484222325ULL;
std::uint64_t fnv1a(std::span<const std::uint8_t> data, std::uint64_t hash = kFnv1aBasis) noexcept;
// Parses a decimal number, or hexadecimal with a 0x/0X prefix; nullopt on anything else or overflow.
std::optional<std::uint64_t> parse_number(std::string_view text, bool allow_hex = false);
// The value of `name` in a query string ("a=1&b=2"), if present.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name);

}  // namespace quiver::server

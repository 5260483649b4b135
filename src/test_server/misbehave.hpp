#pragma once
// /misbehave/CASE: responses that break HTTP/3 on purpose, so tests can check how the client copes
// (RFC 9114 / RFC 9204). The route hand-encodes the frames (raw_frames.hpp) into ResponsePlan::Raw; the
// test controls take the response over (ConnectionHooks::take_over_response) and write_raw_response()
// writes them directly on the QUIC streams; nghttp3 never writes on such a request stream.
//
//   data-before-headers      DATA then HEADERS on the request stream (RFC 9114 §4.1: H3_FRAME_UNEXPECTED)
//   bad-status               HEADERS with ":status: abc" (malformed, §4.1.2: H3_MESSAGE_ERROR)
//   content-length-mismatch  200, content-length: 10, a 5-byte DATA frame, FIN (§4.1.2: H3_MESSAGE_ERROR)
//   push-promise             PUSH_PROMISE though no MAX_PUSH_ID was sent (§7.2.5: H3_ID_ERROR)
//   huge-headers[?kb=K&fields=F]  200 plus F (1) fields x-huge-<i> of K KiB (1024) each, then the body "ok"
//   huge-trailers[?kb=K&fields=F] 200, the body "ok", then those fields as trailers
//   second-control-stream    a second control stream (type 0x00 + SETTINGS) (§6.2.1: H3_STREAM_CREATION_ERROR)
//   control-stream-reset     the server's control stream is reset (§6.2.1: H3_CLOSED_CRITICAL_STREAM)
//   second-settings          a second SETTINGS frame on the server's existing control stream, after the
//                            one nghttp3 sent (§7.2.4: H3_FRAME_UNEXPECTED)
//   bad-qpack-instruction    Set Dynamic Table Capacity above the client's maximum on the QPACK encoder
//                            stream (RFC 9204 §4.3.1: QPACK_ENCODER_STREAM_ERROR)
// The connection-level cases send nothing on the request stream itself.

#include <string_view>

#include "test_server/connection_hooks.hpp"
#include "test_server/routes.hpp"

namespace quiver::server {

// The plan for /misbehave/`name` (400 for an unknown case).
ResponsePlan misbehave_route(RouteRequest& request, std::string_view name, std::string_view query);

// Writes `raw` for the request on `request_stream` through the connection's raw writes. Raw bytes on
// nghttp3's own streams (control, QPACK encoder) land after what nghttp3 wrote there already: its stream
// types and SETTINGS went out with the handshake, before any request could arrive.
void write_raw_response(std::int64_t request_stream, ResponsePlan::Raw raw, ConnectionControl& control);

}  // namespace quiver::server

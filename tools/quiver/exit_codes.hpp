#pragma once
// Exit codes of the `quiver` CLI: one per failure a script may want to tell apart. Where curl has a
// code for the same failure, it is reused, so scripts written for curl keep working.
//
//   0   a complete response was received (any status, unless --fail)
//   1   an unexpected failure (cancelled, a local error not listed below)
//   2   usage: unknown option, missing URL, bad option value
//   3   malformed URL, scheme other than https, bad port            (curl: URL_MALFORMAT)
//   6   the host name could not be resolved                          (curl: COULDNT_RESOLVE_HOST)
//   7   nothing answered within the connect timeout, or refused      (curl: COULDNT_CONNECT)
//   8   the server broke HTTP/3 rules for this request              (curl: WEIRD_SERVER_REPLY)
//   22  the server answered with status >= 400 and --fail was given (curl: HTTP_RETURNED_ERROR)
//   23  the output file could not be written, or --no-clobber found   (curl: WRITE_ERROR)
//       no free name
//   26  a -d/-F/-T/-H file (or stdin) could not be read               (curl: READ_ERROR)
//   28  --max-time (or another request deadline) passed              (curl: OPERATION_TIMEDOUT)
//   33  -C: the server did not answer with the range asked for       (curl: RANGE_ERROR)
//   35  the QUIC/TLS handshake failed for a reason other than below  (curl: SSL_CONNECT_ERROR)
//   1   a redirect that must not be followed (https -> http, bad      (curl: UNSUPPORTED_PROTOCOL)
//       location, a body that cannot be sent again)
//   43  a header or method that HTTP/3 forbids, or a malformed -H    (curl: BAD_FUNCTION_ARGUMENT)
//   47  more redirects than --max-redirs                             (curl: TOO_MANY_REDIRECTS)
//   58  the --cert / --key file could not be loaded                  (curl: SSL_CERTPROBLEM)
//   56  the connection failed or was closed before the response      (curl: RECV_ERROR)
//       completed (transport error, GOAWAY)
//   60  the server's certificate could not be verified               (curl: PEER_FAILED_VERIFICATION)
//   61  --compressed: unknown content-encoding or a corrupt body     (curl: BAD_CONTENT_ENCODING)
//   63  --compressed: the body decodes past the size or ratio limit  (curl: FILESIZE_EXCEEDED)
//   77  the --cacert file could not be read or holds no certificate  (curl: SSL_CACERT_BADFILE)
//   92  the server reset the request's stream                        (curl: HTTP2_STREAM)
//   100 the response's header or trailer section was over the limit  (curl: TOO_LARGE)

#include <string>

#include "quiver/error.hpp"

namespace quiver::cli {

namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failure = 1;
inline constexpr int redirect_refused = 1;
inline constexpr int usage = 2;
inline constexpr int bad_url = 3;
inline constexpr int resolve_failed = 6;
inline constexpr int connect_failed = 7;
inline constexpr int protocol_error = 8;
inline constexpr int http_error = 22;
inline constexpr int write_failed = 23;
inline constexpr int read_failed = 26;
inline constexpr int timed_out = 28;
inline constexpr int range_error = 33;
inline constexpr int handshake_failed = 35;
inline constexpr int invalid_header = 43;
inline constexpr int too_many_redirects = 47;
inline constexpr int connection_failed = 56;
inline constexpr int client_certificate = 58;
inline constexpr int certificate = 60;
inline constexpr int bad_content_encoding = 61;
inline constexpr int body_too_large = 63;
inline constexpr int bad_ca_file = 77;
inline constexpr int stream_reset = 92;
inline constexpr int too_large = 100;
}  // namespace exit_code

// Why the CLI stops without a response worth printing. Printed as one line: "quiver: <kind>: <cause>".
struct Failure {
  int exit_code = exit_code::failure;
  std::string kind;   // short and stable, e.g. "invalid_url", "http_error"
  std::string cause;  // what went wrong, for a person
  std::string line() const { return "quiver: " + kind + ": " + cause; }
};

// Nothing accepted the connection (ICMP port unreachable): a handshake that failed as `refused`, or
// the error kind named "connection_refused" (matched by name, so the CLI maps it whether or not the
// library it is built against has that kind yet).
bool is_connection_refused(const Error& error) noexcept;

// The exit code for a library error (table above).
int exit_code_for(const Error& error) noexcept;
Failure failure_from(const Error& error);

}  // namespace quiver::cli

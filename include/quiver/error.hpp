#pragma once
// The one error type of the library. Every failure a caller can see is a quiver::Error: a kind (what
// happened), a class (what the caller may do about it) and a human message, plus the protocol codes and
// ids that apply.

#include "quiver/config.hpp"

#include <cstdint>
#include <expected>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace quiver {

enum class ErrorKind {
  invalid_url,       // the URL could not be parsed or names an unsupported scheme/port
  invalid_request,   // a header or method the library refuses to send (names the header)
  resolve_failed,    // the host name has no address
  handshake_failed,  // QUIC/TLS handshake failed, timed out, or the connection closed before it finished
  stream_reset,      // the peer reset this request's stream (h3_code says why)
  transport_error,   // the connection failed or was closed by the peer (transport_code/h3_code)
  goaway,            // the peer (or we) is draining the connection; `unprocessed` says it is safe to retry
  idle_timeout,      // a streaming consumer neither read nor received for the stream idle timeout
  request_timeout,   // the whole request took longer than its deadline
  checkout_timeout,  // no connection could take the request within the pool's checkout timeout
  cancelled,         // the caller cancelled the request
  body_failed,       // the request body's source (file, producer) failed
  protocol_error,    // the peer broke HTTP/3 (HTTP/2) rules in a way that only affects this request
  io_error,          // a local I/O failure (socket, file)
  headers_too_large, // the response's header or trailer section is over max_response_header_bytes
  connection_refused, // nothing listens at the server's address (ICMP port unreachable to our Initial)
  shut_down,         // the Client was shut down (or destroyed) before it could take or finish the call
  too_many_redirects,   // more redirects than RedirectPolicy::max_redirects (a loop, usually)
  redirect_failed,      // a redirect that must not be followed: https -> http, a bad location, a body
                        // that cannot be sent again (307/308)
  decompression_failed, // the body's content-encoding is unknown, or the body is not valid for it
  body_too_large,       // the decoded body is over Decompression's size or ratio limit (a bomb)
  // Channels (Client::open_channel) and HTTP datagrams (RFC 9297):
  extended_connect_disabled,  // the server did not enable extended CONNECT (RFC 9220), so no :protocol
                              // may be sent to it; or the connection's protocol cannot carry channels
  datagrams_disabled,   // HTTP datagrams were not negotiated (by us: ConnectionOptions::http_datagrams, or
                        // by the server: SETTINGS_H3_DATAGRAM and QUIC max_datagram_frame_size)
  datagram_too_large,   // the datagram is over Channel::max_datagram_size() (class invalid)
  congestion_limited,   // too many datagrams wait for the congestion controller; try again later (transient)
  channel_closed,       // the channel (its stream or connection) is closed, or its response was not 2xx
  proxy_refused,        // a CONNECT-UDP proxy (Client::connect_udp) answered with a status other than 2xx;
                        // the message carries the status and the proxy's Proxy-Status (RFC 9209)
};

enum class ErrorClass {
  transient,      // safe to retry on a new connection: the server provably did not process it
  invalid,        // the caller must change the request before trying again
  unrecoverable,  // retrying as-is is not known to be safe or useful
};
// The usual class of each kind, chosen by Error(kind, message):
//   transient      resolve_failed, handshake_failed, connection_refused, checkout_timeout, goaway
//                  (the request never reached a server that could have processed it)
//   invalid        invalid_url, invalid_request, body_failed, datagram_too_large
//   transient also congestion_limited (the datagram was not sent; send later)
//   unrecoverable  everything else: stream_reset, transport_error, idle_timeout, request_timeout,
//                  cancelled, protocol_error, io_error, headers_too_large, shut_down (a shut-down
//                  client takes no more requests: retry on another Client), too_many_redirects,
//                  redirect_failed, decompression_failed, body_too_large, extended_connect_disabled,
//                  datagrams_disabled, channel_closed, proxy_refused
// Whoever knows better passes the class explicitly: a reset with H3_REQUEST_REJECTED or a GOAWAY-refused
// stream is transient (and sets `unprocessed`); a handshake that failed on the certificate or on ALPN is
// unrecoverable (a new connection would fail the same way); one that failed on a bad CA file is invalid.

// Why a handshake failed; lets callers (and the CLI's exit codes) tell a timeout from a bad certificate.
// `certificate`: the server's certificate failed verification or pinning, or the server refused ours (a
// TLS alert); `client_certificate`: our own certificate or key (TlsOptions::client_certificate) could not
// be loaded.
enum class HandshakeFailure { timeout, certificate, alpn, refused, transport, closed, client_certificate };

class Error {
 public:
  Error(ErrorKind kind, ErrorClass error_class, std::string message)
      : kind_(kind), class_(error_class), message_(std::move(message)) {}
  // The usual class for `kind` (e.g. invalid_url -> invalid).
  Error(ErrorKind kind, std::string message);

  ErrorKind kind() const noexcept { return kind_; }
  ErrorClass error_class() const noexcept { return class_; }
  const std::string& message() const noexcept { return message_; }

  // Protocol details, present where they apply.
  std::optional<std::uint64_t> stream_id;       // the request's stream
  std::optional<std::uint64_t> h3_code;         // HTTP/3 application error code (RFC 9114 §8.1)
  std::optional<std::uint64_t> h2_code;         // HTTP/2 error code (RFC 9113 §7), on HTTP/2 connections
  std::optional<std::uint64_t> transport_code;  // QUIC transport error code (RFC 9000 §20.1)
  std::optional<std::uint64_t> goaway_id;       // the GOAWAY id that refused the request (HTTP/2: the last
                                                // stream id the server processes)
  std::optional<HandshakeFailure> handshake_failure;
  bool unprocessed = false;                     // the server never processed the request

  // "kind (class): message"
  std::string to_string() const;
  // The same details (stream, codes, GOAWAY id, handshake failure, unprocessed) under another kind, class
  // and message: how a layer restates a lower layer's error in its own terms.
  Error restated(ErrorKind kind, ErrorClass error_class, std::string message) const;

 private:
  ErrorKind kind_;
  ErrorClass class_;
  std::string message_;
};

std::string_view to_string(ErrorKind kind) noexcept;
std::string_view to_string(ErrorClass error_class) noexcept;
// RFC 9114 / RFC 9204 name of an HTTP/3 error code ("H3_REQUEST_CANCELLED"), or "0x1a2b" if unknown.
std::string h3_error_name(std::uint64_t code);
// RFC 9000 §20.1 name of a QUIC transport error code ("PROTOCOL_VIOLATION"); the CRYPTO_ERROR range
// 0x100-0x1ff carries a TLS alert: 0x12a -> "CRYPTO_ERROR(tls alert 42)". Unknown -> "0x1a2b".
std::string transport_error_name(std::uint64_t code);

// The library reports failures as Result values and never throws for a failed request. For callers who
// prefer exceptions: value_or_throw(client.request(r)) throws this, carrying the Error unchanged.
class Exception : public std::runtime_error {
 public:
  explicit Exception(Error error) : std::runtime_error(error.to_string()), error_(std::move(error)) {}
  const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

template <class T>
using Result = std::expected<T, Error>;

// The value of `result`, or throws quiver::Exception with its error.
template <class T>
T value_or_throw(Result<T> result) {
  if (!result) throw Exception(std::move(result.error()));
  return std::move(*result);
}

// HTTP/3 error codes used across the library (RFC 9114 §8.1, RFC 9204 §6).
namespace h3_code {
inline constexpr std::uint64_t no_error = 0x100;
inline constexpr std::uint64_t general_protocol_error = 0x101;
inline constexpr std::uint64_t internal_error = 0x102;
inline constexpr std::uint64_t stream_creation_error = 0x103;
inline constexpr std::uint64_t closed_critical_stream = 0x104;
inline constexpr std::uint64_t frame_unexpected = 0x105;
inline constexpr std::uint64_t frame_error = 0x106;
inline constexpr std::uint64_t excessive_load = 0x107;
inline constexpr std::uint64_t id_error = 0x108;
inline constexpr std::uint64_t settings_error = 0x109;
inline constexpr std::uint64_t missing_settings = 0x10a;
inline constexpr std::uint64_t request_rejected = 0x10b;
inline constexpr std::uint64_t request_cancelled = 0x10c;
inline constexpr std::uint64_t request_incomplete = 0x10d;
inline constexpr std::uint64_t message_error = 0x10e;
inline constexpr std::uint64_t connect_error = 0x10f;
inline constexpr std::uint64_t version_fallback = 0x110;
inline constexpr std::uint64_t datagram_error = 0x33;  // H3_DATAGRAM_ERROR (RFC 9297 §5.2)
inline constexpr std::uint64_t qpack_decompression_failed = 0x200;
inline constexpr std::uint64_t qpack_encoder_stream_error = 0x201;
inline constexpr std::uint64_t qpack_decoder_stream_error = 0x202;
}  // namespace h3_code

}  // namespace quiver

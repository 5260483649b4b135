#include "quiver/error.hpp"

#include <fmt/format.h>

namespace quiver {

namespace {

// The table documented in error.hpp.
ErrorClass usual_class(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::resolve_failed:
    case ErrorKind::handshake_failed:
    case ErrorKind::connection_refused:
    case ErrorKind::checkout_timeout:
    case ErrorKind::goaway:
    case ErrorKind::congestion_limited:
      return ErrorClass::transient;
    case ErrorKind::invalid_url:
    case ErrorKind::invalid_request:
    case ErrorKind::body_failed:
    case ErrorKind::datagram_too_large:
      return ErrorClass::invalid;
    case ErrorKind::stream_reset:
    case ErrorKind::transport_error:
    case ErrorKind::idle_timeout:
    case ErrorKind::request_timeout:
    case ErrorKind::cancelled:
    case ErrorKind::protocol_error:
    case ErrorKind::io_error:
    case ErrorKind::headers_too_large:
    case ErrorKind::shut_down:
    case ErrorKind::too_many_redirects:
    case ErrorKind::redirect_failed:
    case ErrorKind::decompression_failed:
    case ErrorKind::body_too_large:
    case ErrorKind::extended_connect_disabled:
    case ErrorKind::datagrams_disabled:
    case ErrorKind::channel_closed:
    case ErrorKind::proxy_refused:
      return ErrorClass::unrecoverable;
  }
  return ErrorClass::unrecoverable;
}

std::string hex_code(std::uint64_t code) { return fmt::format("0x{:x}", code); }

}  // namespace

Error::Error(ErrorKind kind, std::string message)
    : kind_(kind), class_(usual_class(kind)), message_(std::move(message)) {}

Error Error::restated(ErrorKind kind, ErrorClass error_class, std::string message) const {
  Error error = *this;
  error.kind_ = kind;
  error.class_ = error_class;
  error.message_ = std::move(message);
  return error;
}

std::string Error::to_string() const {
  return fmt::format("{} ({}): {}", quiver::to_string(kind_), quiver::to_string(class_), message_);
}

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::invalid_url: return "invalid_url";
    case ErrorKind::invalid_request: return "invalid_request";
    case ErrorKind::resolve_failed: return "resolve_failed";
    case ErrorKind::handshake_failed: return "handshake_failed";
    case ErrorKind::stream_reset: return "stream_reset";
    case ErrorKind::transport_error: return "transport_error";
    case ErrorKind::goaway: return "goaway";
    case ErrorKind::idle_timeout: return "idle_timeout";
    case ErrorKind::request_timeout: return "request_timeout";
    case ErrorKind::checkout_timeout: return "checkout_timeout";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::body_failed: return "body_failed";
    case ErrorKind::protocol_error: return "protocol_error";
    case ErrorKind::io_error: return "io_error";
    case ErrorKind::headers_too_large: return "headers_too_large";
    case ErrorKind::connection_refused: return "connection_refused";
    case ErrorKind::shut_down: return "shut_down";
    case ErrorKind::too_many_redirects: return "too_many_redirects";
    case ErrorKind::redirect_failed: return "redirect_failed";
    case ErrorKind::decompression_failed: return "decompression_failed";
    case ErrorKind::body_too_large: return "body_too_large";
    case ErrorKind::extended_connect_disabled: return "extended_connect_disabled";
    case ErrorKind::datagrams_disabled: return "datagrams_disabled";
    case ErrorKind::datagram_too_large: return "datagram_too_large";
    case ErrorKind::congestion_limited: return "congestion_limited";
    case ErrorKind::channel_closed: return "channel_closed";
    case ErrorKind::proxy_refused: return "proxy_refused";
  }
  return "unknown";
}

std::string_view to_string(ErrorClass error_class) noexcept {
  switch (error_class) {
    case ErrorClass::transient: return "transient";
    case ErrorClass::invalid: return "invalid";
    case ErrorClass::unrecoverable: return "unrecoverable";
  }
  return "unknown";
}

std::string h3_error_name(std::uint64_t code) {
  switch (code) {
    // RFC 9114 §8.1
    case h3_code::no_error: return "H3_NO_ERROR";
    case h3_code::general_protocol_error: return "H3_GENERAL_PROTOCOL_ERROR";
    case h3_code::internal_error: return "H3_INTERNAL_ERROR";
    case h3_code::stream_creation_error: return "H3_STREAM_CREATION_ERROR";
    case h3_code::closed_critical_stream: return "H3_CLOSED_CRITICAL_STREAM";
    case h3_code::frame_unexpected: return "H3_FRAME_UNEXPECTED";
    case h3_code::frame_error: return "H3_FRAME_ERROR";
    case h3_code::excessive_load: return "H3_EXCESSIVE_LOAD";
    case h3_code::id_error: return "H3_ID_ERROR";
    case h3_code::settings_error: return "H3_SETTINGS_ERROR";
    case h3_code::missing_settings: return "H3_MISSING_SETTINGS";
    case h3_code::request_rejected: return "H3_REQUEST_REJECTED";
    case h3_code::request_cancelled: return "H3_REQUEST_CANCELLED";
    case h3_code::request_incomplete: return "H3_REQUEST_INCOMPLETE";
    case h3_code::message_error: return "H3_MESSAGE_ERROR";
    case h3_code::connect_error: return "H3_CONNECT_ERROR";
    case h3_code::version_fallback: return "H3_VERSION_FALLBACK";
    case h3_code::datagram_error: return "H3_DATAGRAM_ERROR";
    // RFC 9204 §6
    case h3_code::qpack_decompression_failed: return "QPACK_DECOMPRESSION_FAILED";
    case h3_code::qpack_encoder_stream_error: return "QPACK_ENCODER_STREAM_ERROR";
    case h3_code::qpack_decoder_stream_error: return "QPACK_DECODER_STREAM_ERROR";
    default: return hex_code(code);
  }
}

std::string transport_error_name(std::uint64_t code) {
  constexpr std::uint64_t crypto_error_first = 0x100;
  constexpr std::uint64_t crypto_error_last = 0x1ff;
  if (code >= crypto_error_first && code <= crypto_error_last) {
    return fmt::format("CRYPTO_ERROR(tls alert {})", code - crypto_error_first);
  }
  switch (code) {  // RFC 9000 §20.1
    case 0x00: return "NO_ERROR";
    case 0x01: return "INTERNAL_ERROR";
    case 0x02: return "CONNECTION_REFUSED";
    case 0x03: return "FLOW_CONTROL_ERROR";
    case 0x04: return "STREAM_LIMIT_ERROR";
    case 0x05: return "STREAM_STATE_ERROR";
    case 0x06: return "FINAL_SIZE_ERROR";
    case 0x07: return "FRAME_ENCODING_ERROR";
    case 0x08: return "TRANSPORT_PARAMETER_ERROR";
    case 0x09: return "CONNECTION_ID_LIMIT_ERROR";
    case 0x0a: return "PROTOCOL_VIOLATION";
    case 0x0b: return "INVALID_TOKEN";
    case 0x0c: return "APPLICATION_ERROR";
    case 0x0d: return "CRYPTO_BUFFER_EXCEEDED";
    case 0x0e: return "KEY_UPDATE_ERROR";
    case 0x0f: return "AEAD_LIMIT_REACHED";
    case 0x10: return "NO_VIABLE_PATH";
    default: return hex_code(code);
  }
}

}  // namespace quiver

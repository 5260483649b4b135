#include "exit_codes.hpp"

namespace quiver::cli {

namespace {

int handshake_exit_code(std::optional<HandshakeFailure> why) noexcept {
  if (!why) return exit_code::handshake_failed;
  switch (*why) {
    case HandshakeFailure::timeout:
    case HandshakeFailure::refused:
    case HandshakeFailure::closed:
      return exit_code::connect_failed;
    case HandshakeFailure::certificate:
      return exit_code::certificate;
    case HandshakeFailure::client_certificate:
      return exit_code::client_certificate;
    case HandshakeFailure::alpn:
    case HandshakeFailure::transport:
      return exit_code::handshake_failed;
  }
  return exit_code::handshake_failed;
}

}  // namespace

bool is_connection_refused(const Error& error) noexcept {
  return error.kind() == ErrorKind::connection_refused ||
         (error.kind() == ErrorKind::handshake_failed && error.handshake_failure == HandshakeFailure::refused);
}

int exit_code_for(const Error& error) noexcept {
  switch (error.kind()) {
    case ErrorKind::invalid_url: return exit_code::bad_url;
    case ErrorKind::invalid_request: return exit_code::invalid_header;
    case ErrorKind::resolve_failed: return exit_code::resolve_failed;
    case ErrorKind::handshake_failed: return handshake_exit_code(error.handshake_failure);
    case ErrorKind::connection_refused: return exit_code::connect_failed;
    case ErrorKind::stream_reset: return exit_code::stream_reset;
    case ErrorKind::transport_error:
    case ErrorKind::goaway:
    case ErrorKind::channel_closed:
    case ErrorKind::proxy_refused:  // as curl's "CONNECT tunnel failed"
      return exit_code::connection_failed;
    case ErrorKind::idle_timeout:
    case ErrorKind::request_timeout:
    case ErrorKind::checkout_timeout:
      return exit_code::timed_out;
    case ErrorKind::body_failed: return exit_code::read_failed;
    case ErrorKind::protocol_error: return exit_code::protocol_error;
    case ErrorKind::headers_too_large: return exit_code::too_large;
    case ErrorKind::too_many_redirects: return exit_code::too_many_redirects;
    case ErrorKind::redirect_failed: return exit_code::redirect_refused;
    case ErrorKind::decompression_failed: return exit_code::bad_content_encoding;
    case ErrorKind::body_too_large: return exit_code::body_too_large;
    case ErrorKind::cancelled:
    case ErrorKind::io_error:
    case ErrorKind::shut_down:
    case ErrorKind::extended_connect_disabled:  // the server cannot do what was asked: a clear message
    case ErrorKind::datagrams_disabled:
    case ErrorKind::datagram_too_large:
    case ErrorKind::congestion_limited:
      return exit_code::failure;
  }
  return exit_code::failure;
}

// Protocol codes are appended by name unless the message already names them.
Failure failure_from(const Error& error) {
  std::string cause = error.message();
  const auto mention = [&](const std::string& code_name) {
    if (cause.find(code_name) == std::string::npos) cause += " (" + code_name + ")";
  };
  if (error.h3_code) mention(h3_error_name(*error.h3_code));
  if (error.transport_code) mention(transport_error_name(*error.transport_code));
  return Failure{exit_code_for(error), std::string(to_string(error.kind())), std::move(cause)};
}

}  // namespace quiver::cli

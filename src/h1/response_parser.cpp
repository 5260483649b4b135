#include "h1/response_parser.hpp"

#include <http_parser.h>

#include <utility>

#include <fmt/format.h>

#include "core/text.hpp"

namespace quiver::h1 {

// http-parser's state and its callbacks: thin noexcept trampolines into the ResponseParser (nothing
// here throws; a non-zero return stops the parser with an HPE_CB_* error).
struct ResponseParser::Parser {
  http_parser parser{};
  http_parser_settings settings{};

  static ResponseParser& self(http_parser* p) { return *static_cast<ResponseParser*>(p->data); }
  static int message_begin(http_parser* p) noexcept { return self(p).on_message_begin(); }
  static int status(http_parser* p, const char* at, std::size_t n) noexcept { return self(p).on_status(at, n); }
  static int header_field(http_parser* p, const char* at, std::size_t n) noexcept {
    return guarded(p, [&] { return self(p).on_header_field(at, n); });
  }
  static int header_value(http_parser* p, const char* at, std::size_t n) noexcept {
    return guarded(p, [&] { return self(p).on_header_value(at, n); });
  }
  static int headers_complete(http_parser* p) noexcept {
    return guarded(p, [&] { return self(p).on_headers_complete(); });
  }
  static int body(http_parser* p, const char* at, std::size_t n) noexcept {
    return guarded(p, [&] { return self(p).on_body(at, n); });
  }
  static int message_complete(http_parser* p) noexcept {
    return guarded(p, [&] { return self(p).on_message_complete(); });
  }
  // An allocation failure inside a callback stops the parser instead of crossing the C frame.
  template <class F>
  static int guarded(http_parser* p, F f) noexcept {
    try {
      return f();
    } catch (...) {
      self(p).failure_ = "out of memory";
      return -1;
    }
  }
};

ResponseParser::ResponseParser(ResponseEvents& events, std::uint64_t max_header_bytes)
    : events_(events), max_header_bytes_(max_header_bytes), parser_(std::make_unique<Parser>()) {
  http_parser_init(&parser_->parser, HTTP_RESPONSE);
  parser_->parser.data = this;
  http_parser_settings_init(&parser_->settings);
  parser_->settings.on_message_begin = Parser::message_begin;
  parser_->settings.on_status = Parser::status;
  parser_->settings.on_header_field = Parser::header_field;
  parser_->settings.on_header_value = Parser::header_value;
  parser_->settings.on_headers_complete = Parser::headers_complete;
  parser_->settings.on_body = Parser::body;
  parser_->settings.on_message_complete = Parser::message_complete;
}

ResponseParser::~ResponseParser() = default;

void ResponseParser::expect(bool head) {
  http_parser_pause(&parser_->parser, 0);  // stopped after the previous response
  expecting_ = true;
  head_ = head;
  started_ = false;
  interim_ = false;
  in_trailers_ = false;
  complete_ = false;
  keep_alive_ = false;
}

Result<ResponseParser::Progress> ResponseParser::receive(std::span<const std::uint8_t> data) {
  if (!expecting_) {
    return std::unexpected(Error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
                                 fmt::format("the server sent {} bytes with no request outstanding (a response to "
                                             "no request, or a body longer than its content-length)",
                                             data.size())));
  }
  // http-parser reads an empty buffer as the end of the stream (a body delimited by the close would
  // complete, and later bytes would count as its body): no bytes, no call.
  if (data.empty()) return Progress{0, false, false};
  std::size_t consumed = http_parser_execute(&parser_->parser, &parser_->settings,
                                             reinterpret_cast<const char*>(data.data()), data.size());
  auto error = HTTP_PARSER_ERRNO(&parser_->parser);
  if (error == HPE_PAUSED || (error == HPE_OK && complete_)) return Progress{consumed, true, keep_alive_};
  if (error != HPE_OK) return std::unexpected(parse_error(consumed));
  return Progress{consumed, false, false};
}

Result<ResponseParser::Progress> ResponseParser::receive_eof() {
  if (!expecting_) return Progress{};
  http_parser_execute(&parser_->parser, &parser_->settings, nullptr, 0);
  if (complete_) return Progress{0, true, false};
  auto error = HTTP_PARSER_ERRNO(&parser_->parser);
  if (error != HPE_OK && error != HPE_PAUSED && error != HPE_INVALID_EOF_STATE) {
    return std::unexpected(parse_error(0));
  }
  return std::unexpected(Error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
                               started_ ? "the server closed the connection before the response was complete"
                                        : "the server closed the connection without a response"));
}

Error ResponseParser::parse_error(std::size_t offset) const {
  auto error = HTTP_PARSER_ERRNO(&parser_->parser);
  if (too_large_ || error == HPE_HEADER_OVERFLOW) {
    return Error(ErrorKind::headers_too_large,
                 fmt::format("the response's {} section is over the limit of {} bytes (max_response_header_bytes)",
                             in_trailers_ ? "trailer" : "header", max_header_bytes_));
  }
  std::string why = failure_.empty() ? std::string(http_errno_description(error)) : failure_;
  return Error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
               fmt::format("malformed HTTP/1.1 response ({}: {}, near byte {} of the read)",
                           http_errno_name(error), why, offset));
}

int ResponseParser::on_message_begin() {
  if (!expecting_) {
    failure_ = "a response to no request";
    return -1;
  }
  started_ = true;
  fields_ = Headers();
  name_.clear();
  value_.clear();
  in_value_ = false;
  section_bytes_ = 0;
  return 0;
}

int ResponseParser::on_status(const char*, std::size_t) {
  started_ = true;
  return 0;
}

// A field arrives in pieces (a name, then its value, possibly split across reads); it is complete when
// the next name starts or the section ends.
int ResponseParser::on_header_field(const char* at, std::size_t length) {
  if (in_value_ && !add_field()) return -1;
  in_value_ = false;
  name_.append(at, length);
  if (section_bytes_ + name_.size() + 32 > max_header_bytes_) {
    too_large_ = true;
    return -1;
  }
  return 0;
}

int ResponseParser::on_header_value(const char* at, std::size_t length) {
  in_value_ = true;
  value_.append(at, length);
  if (section_bytes_ + name_.size() + value_.size() + 32 > max_header_bytes_) {
    too_large_ = true;
    return -1;
  }
  return 0;
}

namespace {

// RFC 9112 §5.2: a client replaces each obs-fold (CRLF then SP or HTAB, which http-parser passes through
// inside the value) with SP. Any CR, LF or NUL left over is refused (RFC 9110 §5.5); returns false then.
// Trailing whitespace is not part of the value. Runs on every field: a value without CR, LF or NUL (the
// usual case) is only trimmed, in place.
bool unfold_value(std::string& value) {
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
      char c = value[i];
      if (c == '\0') return false;
      if (c != '\r' && c != '\n') {
        out.push_back(c);
        continue;
      }
      std::size_t end = c == '\r' ? i + 1 : i;  // at the LF
      if (end + 1 >= value.size() || value[end] != '\n' || (value[end + 1] != ' ' && value[end + 1] != '\t')) {
        return false;
      }
      out.push_back(' ');
      i = end + 1;  // the fold's SP or HTAB, now the SP pushed
    }
    value = std::move(out);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
  return true;
}

}  // namespace

bool ResponseParser::add_field() {
  if (name_.empty()) return true;
  section_bytes_ += name_.size() + value_.size() + 32;
  if (section_bytes_ > max_header_bytes_) {
    too_large_ = true;
    return false;
  }
  if (!unfold_value(value_)) {
    failure_ = fmt::format("the value of field '{}' holds a CR, LF or NUL that is not a line fold", name_);
    return false;
  }
  fields_.add(detail::to_lower(name_), std::move(value_));
  name_.clear();
  value_.clear();
  in_value_ = false;
  return true;
}

// 1xx responses are skipped (their fields dropped); 101 was never asked for. HEAD, 204 and 304 have no
// body whatever their length fields say (returning 1 tells http-parser so).
int ResponseParser::on_headers_complete() {
  if (!add_field()) return -1;
  const http_parser& p = parser_->parser;
  int status = p.status_code;
  if (status < 100 || status > 999) {
    failure_ = "status code " + std::to_string(status) + " is not one (RFC 9110 §15: 100 to 999)";
    return -1;
  }
  if (status == 101) {
    failure_ = "101 Switching Protocols, which the client never asked for";
    return -1;
  }
  if (status >= 100 && status < 200) {
    interim_ = true;
    return 1;
  }
  keep_alive_ = http_should_keep_alive(&p) != 0;
  events_.on_response_headers(status, std::exchange(fields_, Headers()), keep_alive_);
  in_trailers_ = true;
  section_bytes_ = 0;
  return head_ || status == 204 || status == 304 ? 1 : 0;
}

int ResponseParser::on_body(const char* at, std::size_t length) {
  events_.on_response_data({reinterpret_cast<const std::uint8_t*>(at), length});
  return 0;
}

// The end of a message: an interim one lets the parser go on to the next; the final one stops it here
// (paused), so the caller sees where the response ended.
int ResponseParser::on_message_complete() {
  if (interim_) {
    interim_ = false;
    return 0;
  }
  if (in_value_ && !add_field()) return -1;
  if (!fields_.empty()) events_.on_response_trailers(std::exchange(fields_, Headers()));
  keep_alive_ = keep_alive_ && http_should_keep_alive(&parser_->parser) != 0;
  complete_ = true;
  expecting_ = false;
  http_parser_pause(&parser_->parser, 1);
  return 0;
}

}  // namespace quiver::h1

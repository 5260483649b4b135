#pragma once
// ResponseParser: assembles HTTP/1.1 responses from the bytes of one connection with nodejs/http-parser
// (Debian's libhttp-parser-dev): status line and header section (field names lowercased, sized against
// the limit), interim 1xx responses skipped, bodies by content-length, chunked (with trailers) or until
// the connection closes, no body for HEAD, 204 and 304. The parser is the framing authority: nothing
// here reads HTTP/1.1 syntax by hand.
//
// One response at a time: expect() announces the response to the request just sent; receive() stops
// at the end of that response and says how many bytes it took, so bytes after it (a body longer than its
// content-length, a response to no request) are the caller's to refuse. The events are called inside
// receive() (inside http-parser's callbacks): they may only record and buffer. No C type leaks out.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "quiver/error.hpp"
#include "quiver/headers.hpp"

namespace quiver::h1 {

class ResponseEvents {
 public:
  virtual ~ResponseEvents() = default;
  // The final (non-1xx) status and header section. `keep_alive`: the connection may carry another
  // request after this response (no `Connection: close`, not an HTTP/1.0 response without keep-alive).
  virtual void on_response_headers(int status, Headers headers, bool keep_alive) = 0;
  virtual void on_response_data(std::span<const std::uint8_t> data) = 0;
  virtual void on_response_trailers(Headers trailers) = 0;
};

class ResponseParser {
 public:
  // `events` borrows; it must outlive the parser. `max_header_bytes`: the largest header (and, apart,
  // trailer) section, each field counted as its name and value lengths plus 32 (RFC 9114 §4.2.2).
  ResponseParser(ResponseEvents& events, std::uint64_t max_header_bytes);
  ~ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // A response to a request just sent is due; `head`: the request was HEAD (the response has no body).
  void expect(bool head);
  bool expecting() const noexcept { return expecting_; }
  // Some byte of the expected response arrived (the stale keep-alive race is over once one has).
  bool started() const noexcept { return started_; }

  struct Progress {
    std::size_t consumed = 0;  // bytes of `data` that belong to the response
    bool complete = false;     // the response ended (the parser stopped after it)
    bool keep_alive = false;   // when complete: the connection may carry another request
  };
  // Feeds bytes of the expected response. Fails with protocol_error (the response breaks HTTP/1.1 framing:
  // bad status line or chunk size, conflicting lengths...) or headers_too_large; the connection is then
  // unusable.
  Result<Progress> receive(std::span<const std::uint8_t> data);
  // The server closed the connection: ends a body delimited by the close (complete), or fails with
  // protocol_error when the response was cut short.
  Result<Progress> receive_eof();

 private:
  struct Parser;  // http_parser and its settings
  friend struct Parser;

  int on_message_begin();
  int on_status(const char* at, std::size_t length);
  int on_header_field(const char* at, std::size_t length);
  int on_header_value(const char* at, std::size_t length);
  int on_headers_complete();
  int on_body(const char* at, std::size_t length);
  int on_message_complete();
  bool add_field();
  Error parse_error(std::size_t offset) const;

  ResponseEvents& events_;
  std::uint64_t max_header_bytes_;
  std::unique_ptr<Parser> parser_;
  bool expecting_ = false;
  bool head_ = false;
  bool started_ = false;
  bool interim_ = false;     // the message being parsed is a 1xx
  bool in_trailers_ = false; // the final headers were delivered: fields now are trailers
  bool complete_ = false;
  bool keep_alive_ = false;
  Headers fields_;
  std::string name_, value_;
  bool in_value_ = false;
  std::uint64_t section_bytes_ = 0;
  bool too_large_ = false;
  std::string failure_;  // why a callback stopped the parser
};

}  // namespace quiver::h1

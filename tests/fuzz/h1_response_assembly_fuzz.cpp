// libFuzzer target: HTTP/1.1 response assembly in h1::ResponseParser (http-parser callbacks ->
// ResponseEvents), the HTTP/1.1 sibling of response_assembly_fuzz. The input is what a server sends on one
// connection, in any cut, mixed with the worker's own steps.
//
// Input format: a sequence of operations until the input ends; each starts with one byte `op`
// (u16 is big-endian; truncation just ends):
//   kind = op & 0x3:
//   0  EXPECT                a request was sent: expect(head = op & 0x4) (ignored while a response is due)
//   1  RECV  len:u16 bytes   server bytes into receive() (only while a response is due, as the worker
//                            refuses bytes at any other time); the bytes it did not consume are dropped
//   2  EOF                   the server closed: receive_eof(), then the connection is over
//   3  RECV  len:u8 bytes    as 1, a short read
//
// Checks:
//  - no crash, leak, sanitizer report or hang;
//  - per response: final headers at most once, before any data or trailers; no data after trailers;
//    nothing after the end; status 200..999 (1xx are skipped; 101 is refused); field names non-empty and
//    lowercase, no CR, LF or NUL in names or values; a header or trailer section within the limit
//    (counted as the parser counts it); HEAD, 204 and 304 responses carry no body;
//  - receive() never consumes more than it was given, and consumes everything unless the response ended.
// A receive error stops the feeding, as the worker then closes the connection.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_check.hpp"
#include "fuzz_input.hpp"
#include "h1/response_parser.hpp"

namespace {

using quiver::Headers;
using quiver::fuzz::Input;

constexpr std::uint64_t kHeaderLimit = 1024;

class Events final : public quiver::h1::ResponseEvents {
 public:
  void start(bool head) {
    head_ = head;
    headers_ = trailers_ = ended_ = false;
    status_ = 0;
  }
  void end() { ended_ = true; }

  void on_response_headers(int status, Headers headers, bool) override {
    FUZZ_CHECK(!ended_ && !headers_, "final headers twice, or after the end");
    FUZZ_CHECK(status >= 200 && status <= 999, "status " + std::to_string(status));
    check_fields(headers);
    headers_ = true;
    status_ = status;
  }
  void on_response_data(std::span<const std::uint8_t> data) override {
    FUZZ_CHECK(headers_ && !trailers_ && !ended_, "data before the headers, after trailers or after the end");
    FUZZ_CHECK(!head_ && status_ != 204 && status_ != 304, "a body on a response that has none");
    FUZZ_CHECK(!data.empty(), "empty data");
  }
  void on_response_trailers(Headers trailers) override {
    FUZZ_CHECK(headers_ && !trailers_ && !ended_, "trailers before the headers, twice or after the end");
    check_fields(trailers);
    trailers_ = true;
  }

 private:
  static void check_fields(const Headers& fields) {
    std::uint64_t size = 0;
    for (const auto& field : fields) {
      FUZZ_CHECK(!field.name.empty(), "empty field name");
      for (char c : field.name) {
        FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "uppercase in field name " + field.name);
        FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0', "CR, LF or NUL in field name");
      }
      for (char c : field.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0', "CR, LF or NUL in a value");
      size += field.name.size() + field.value.size() + 32;
    }
    FUZZ_CHECK(size <= kHeaderLimit, "a section over the limit was delivered");
  }

  bool head_ = false, headers_ = false, trailers_ = false, ended_ = false;
  int status_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input input(data, size);
  Events events;
  quiver::h1::ResponseParser parser(events, kHeaderLimit);
  while (!input.empty()) {
    std::uint8_t op = input.u8();
    switch (op & 0x3) {
      case 0:
        if (!parser.expecting()) {
          events.start((op & 0x4) != 0);
          parser.expect((op & 0x4) != 0);
        }
        break;
      case 1:
      case 3:
      {
        auto bytes = input.bytes((op & 0x3) == 1 ? input.u16() : input.u8());
        if (!parser.expecting()) break;
        auto progress = parser.receive(bytes);
        if (!progress) return 0;
        FUZZ_CHECK(progress->consumed <= bytes.size(), "consumed more than given");
        FUZZ_CHECK(progress->complete || progress->consumed == bytes.size(), "stopped early without an end");
        if (progress->complete) events.end();
        break;
      }
      case 2:
      {
        auto progress = parser.receive_eof();
        if (progress && progress->complete) events.end();
        return 0;
      }
    }
  }
  return 0;
}

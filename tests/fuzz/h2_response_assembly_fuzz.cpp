// libFuzzer target: response assembly in h2::H2Session (nghttp2 callbacks -> SessionEvents), the HTTP/2
// sibling of response_assembly_fuzz. The input is what a server sends, as raw HTTP/2 frame bytes, mixed
// with the worker's own actions.
//
// Set-up (not from the input): start(), the client preface taken, then the server's empty SETTINGS
// received, and three GET requests submitted (streams 1, 3, 5).
//
// Input format: a sequence of operations until the input ends. Each starts with one byte `op`; the
// stream an op names is requests[(op >> 4) % requests.size()] (u16 is big-endian; truncation just ends):
//   kind = op & 0x7:
//   0  RECV      len:u16 bytes[len]   server bytes (frames, in any cut) into H2Session::receive
//   1  SEND                           the session's output taken until nothing is due (next_output)
//   2  CONSUME                        the worker consumes the body bytes delivered so far
//   3  CANCEL                         the worker abandons the stream (reset_stream CANCEL)
//   4  SUBMIT    body:u8 size:u8      a new request: body 0 none, 1 bytes[size * 97], 2 a producer of
//                                     (size & 7) chunks of ((size >> 3) * 97 + 1) bytes
//   5  GOAWAY                         we send GOAWAY (submit_goaway)
//   6  PULL                           the worker pulls every requested body chunk (pull_body)
//   7  PING                           submit_ping
//
// Checks:
//  - no crash, leak, sanitizer report or hang;
//  - per stream: final headers at most once, before any data or trailers; no data after trailers;
//    on_response_end at most once, only after the headers; nothing after on_stream_closed; events only
//    for submitted streams; status 200..999; field names non-empty, lowercase, not pseudo; no CR, LF or
//    NUL in values; nothing but the close after on_header_section_too_large, which is over the limit;
//  - GOAWAY last stream ids never grow.
// A receive error (nghttp2's fatal errors) stops the feeding, as the worker then closes the connection.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "fuzz_input.hpp"
#include "h2/h2_session.hpp"
#include "http/request_fields.hpp"

namespace {

using quiver::Headers;
using quiver::fuzz::Input;

constexpr std::uint64_t kHeaderLimit = 1024;
constexpr std::size_t kMaxRequests = 16;

std::string id_text(std::int32_t id) { return "stream " + std::to_string(id); }

struct StreamLog {
  bool headers = false, trailers = false, ended = false, closed = false, too_large = false;
  std::uint64_t delivered = 0, consumed = 0;
};

class Events final : public quiver::h2::SessionEvents {
 public:
  void on_settings() override {}
  void on_response_headers(std::int32_t id, int status, Headers headers) override {
    StreamLog& s = live(id, "headers");
    FUZZ_CHECK(!s.headers, id_text(id) + ": final headers twice");
    FUZZ_CHECK(status >= 200 && status <= 999, id_text(id) + ": status " + std::to_string(status));
    check_fields(id, headers);
    s.headers = true;
  }
  void on_response_data(std::int32_t id, std::span<const std::uint8_t> data) override {
    StreamLog& s = live(id, "data");
    FUZZ_CHECK(s.headers && !s.trailers, id_text(id) + ": data before headers or after trailers");
    s.delivered += data.size();
  }
  void on_response_trailers(std::int32_t id, Headers trailers) override {
    StreamLog& s = live(id, "trailers");
    FUZZ_CHECK(s.headers && !s.trailers, id_text(id) + ": trailers before headers or twice");
    check_fields(id, trailers);
    s.trailers = true;
  }
  void on_response_end(std::int32_t id) override {
    StreamLog& s = live(id, "end");
    FUZZ_CHECK(s.headers && !s.ended, id_text(id) + ": end before headers or twice");
    s.ended = true;
  }
  void on_stream_reset(std::int32_t id, std::uint32_t) override { known(id, "reset"); }
  void on_stream_closed(std::int32_t id, std::uint32_t) override {
    StreamLog& s = known(id, "close");
    FUZZ_CHECK(!s.closed, id_text(id) + ": closed twice");
    s.closed = true;
  }
  void on_goaway(std::int32_t last_stream_id, std::uint32_t) override {
    FUZZ_CHECK(!goaway || last_stream_id <= *goaway, "GOAWAY last stream id grew");
    goaway = last_stream_id;
  }
  void on_header_section_too_large(std::int32_t id, bool, std::uint64_t bytes) override {
    StreamLog& s = live(id, "too large");
    FUZZ_CHECK(bytes > kHeaderLimit, id_text(id) + ": reported too large at " + std::to_string(bytes));
    s.too_large = true;
  }
  void on_body_wanted(std::int32_t id) override { wanted.insert(id); }

  std::map<std::int32_t, StreamLog> streams;  // submitted
  std::optional<std::int32_t> goaway;
  std::set<std::int32_t> wanted;

 private:
  StreamLog& known(std::int32_t id, const char* what) {
    auto it = streams.find(id);
    FUZZ_CHECK(it != streams.end(), std::string(what) + " for unsubmitted " + id_text(id));
    return it->second;
  }
  StreamLog& live(std::int32_t id, const char* what) {
    StreamLog& s = known(id, what);
    FUZZ_CHECK(!s.closed, std::string(what) + " after the close of " + id_text(id));
    FUZZ_CHECK(!s.too_large, std::string(what) + " after too-large on " + id_text(id));
    return s;
  }
  static void check_fields(std::int32_t id, const Headers& fields) {
    for (const auto& field : fields) {
      FUZZ_CHECK(!field.name.empty() && field.name.front() != ':', id_text(id) + ": field name '" + field.name + "'");
      for (char c : field.name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), id_text(id) + ": uppercase name " + field.name);
      for (char c : field.value) {
        FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0', id_text(id) + ": control byte in " + field.name);
      }
    }
  }
};

std::vector<quiver::Header> get_fields() {
  quiver::Request request;
  request.url = *quiver::Url::parse("https://fuzz.example/x");
  return *quiver::http::build_request_fields(request);
}

quiver::RequestBody body_for(std::uint8_t kind, std::uint8_t size) {
  if (kind % 3 == 1) return quiver::RequestBody(std::string(std::size_t{size} * 97, 'b'));
  if (kind % 3 == 2) {
    auto left = std::make_shared<int>(size & 7);
    std::size_t chunk = std::size_t{static_cast<std::uint8_t>(size >> 3)} * 97 + 1;
    return quiver::RequestBody::from_producer([left, chunk]() -> std::optional<std::string> {
      if (*left == 0) return std::nullopt;
      --*left;
      return std::string(chunk, 'p');
    });
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Events events;
  quiver::h2::SessionOptions options{.stream_window = 65535, .connection_window = 1 << 20,
                                     .max_response_header_bytes = kHeaderLimit, .send_buffer = 4096};
  quiver::h2::H2Session session(events, options);
  if (!session.start()) return 0;
  const auto drain_output = [&] {
    for (int i = 0; i < 1000; ++i) {
      auto out = session.next_output();
      if (!out || out->empty()) return;
    }
  };
  drain_output();
  static constexpr std::uint8_t kSettings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};  // the server's empty SETTINGS
  if (!session.receive(kSettings)) return 0;
  std::vector<std::int32_t> requests;
  const auto submit = [&](quiver::RequestBody body) {
    if (requests.size() >= kMaxRequests) return;
    auto id = session.submit_request(get_fields(), std::move(body));
    if (!id) return;
    events.streams[*id];
    requests.push_back(*id);
  };
  for (int i = 0; i < 3; ++i) submit({});
  drain_output();

  Input input(data, size);
  bool failed = false;
  while (!input.empty() && !failed) {
    const std::uint8_t op = input.u8();
    const std::int32_t stream = requests[(op >> 4) % requests.size()];
    switch (op & 0x7) {
      case 0: {
        auto bytes = input.bytes(input.u16());
        if (!session.receive(bytes)) failed = true;
        break;
      }
      case 1: drain_output(); break;
      case 2:
        for (auto& [id, log] : events.streams) {
          session.consume(id, log.delivered - log.consumed);
          log.consumed = log.delivered;
        }
        break;
      case 3: session.reset_stream(stream, NGHTTP2_CANCEL); break;
      case 4: {
        const std::uint8_t kind = input.u8();
        submit(body_for(kind, input.u8()));
        break;
      }
      case 5: session.submit_goaway(); break;
      case 6:
        for (std::int32_t id : std::exchange(events.wanted, {})) {
          (void)session.pull_body(id, [](quiver::Result<std::optional<std::string>>) {});
        }
        break;
      case 7: session.submit_ping(); break;
    }
  }
  drain_output();
  return 0;
}

// libFuzzer target: response assembly in h3::H3Session (nghttp3 callbacks -> SessionEvents), driven by a
// fake QUIC layer (quic::StreamTransport) with arbitrary sequences of stream events from the server.
//
// Set-up (not from the input): start(), open_control_streams() (our uni streams 2, 6, 10), then three
// GET requests on streams 0, 4 and 8.
//
// Input format: a sequence of operations until the input ends. Each starts with one byte:
//   op = kind | selector << 4     the stream is streams[selector % streams.size()], where streams is
//                                 {3, 7, 11, 15, 2, 6, 10, 0, 4, 8, then requests submitted later}
//   (3/7/11/15: server uni streams — the first byte on each is its stream type: 0x00 control,
//    0x02 QPACK encoder, 0x03 QPACK decoder; 2/6/10: our control/encoder/decoder; 0, 4, 8...: requests)
// kind (arguments follow the op byte; u16 is big-endian; a truncated input just ends):
//   0  DATA        len:u16 bytes[len]      stream bytes from the server (on_stream_data, no FIN)
//   1  DATA+FIN    len:u16 bytes[len]      the same with FIN
//   2  RESET       code:u16                the server's RESET_STREAM (on_stream_reset)
//   3  STOP        code:u16                the server's STOP_SENDING (our send side then shuts)
//   4  CLOSE       code:u8                 QUIC closes the stream (on_stream_closed); 0 = no error code
//   5  WRITE       mode:u8                 a write burst: next_outgoing/on_outgoing_accepted until
//                                          nothing is left; mode 0 accepts all, 1 half of each chunk
//                                          list, 2 reports the first stream blocked, 3 stops after one
//   6  ACK         len:u16                 the server acknowledges len (0 = all) written bytes
//   7  BLOCKED                             on_stream_blocked
//   8  CREDIT                              on_stream_send_credit (the peer raised MAX_STREAM_DATA)
//   9  CONSUME                             the worker consumes the body bytes delivered so far
//   10 SUBMIT      body:u8 size:u8         a new request: body 0 none, 1 bytes[size], 2 producer of
//                                          (size & 7) chunks of ((size >> 3) * 97 + 1) bytes
//   11 CANCEL                              the worker abandons the request (H3Session::reset_stream)
//   12 GOAWAY                              we send GOAWAY (submit_goaway)
//   13 PULL                                the worker pulls every requested body chunk (pull_body)
//   14 WRITE_SHUT                          ngtcp2 reports our send side shut (on_stream_write_shut)
//   15 DATA8       len:u8 bytes[len]       short DATA without FIN
// QUIVER_FUZZ_TRACE=1 in the environment prints every operation and event (to read a crash input:
// QUIVER_FUZZ_TRACE=1 ./response_assembly_fuzz crash-...).
// The fake behaves like QUIC: no bytes after a FIN, a reset, a close or a local read shutdown; nothing
// on a stream after it closed; only request streams are closed, reset or cancelled; no data is ever
// delivered on our own uni streams.
//
// Checks:
//  - no crash, leak, sanitizer report or hang;
//  - per request stream: final headers at most once, before any data or trailers; no data after
//    trailers; on_response_end at most once, only after the headers, never after a reset, a close or
//    our read shutdown of that stream; nothing at all after on_stream_closed; status 200..999; field
//    names non-empty, lowercase, not pseudo; no CR/LF/NUL in values; events only for submitted streams;
//    nothing more for a stream after on_stream_malformed, whose code is an HTTP/3 error code;
//  - the response header limit (max_response_header_bytes, set to kHeaderLimit here): a stream reported
//    too large has a section over the limit, hears nothing more but its close, and has been reset both
//    ways (H3_EXCESSIVE_LOAD) by the time the session returns;
//  - GOAWAY ids are client bidi stream ids and never grow;
//  - flow-control credit returned on a stream never exceeds the bytes received on it;
//  - when the session returns false (nghttp3 reported a connection error) its fatal_error() is an
//    HTTP/3 or QPACK error code with a message, and the fake stops feeding (as the transport closes).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "fuzz_input.hpp"
#include "h3/h3_session.hpp"
#include "http/request_fields.hpp"
#include "quic/stream_transport.hpp"

namespace {

using quiver::Error;
using quiver::ErrorKind;
using quiver::Result;
using quiver::fuzz::Input;

constexpr std::size_t kMaxRequests = 16;
constexpr std::uint64_t kHeaderLimit = 1024;  // small: inputs are at most a few KiB

const bool trace_on = std::getenv("QUIVER_FUZZ_TRACE") != nullptr;
template <class... Args>
void trace(const char* format, Args... args) {
  if (trace_on) std::fprintf(stderr, format, args...);
}

bool is_request_stream(std::int64_t id) { return (id & 0x3) == 0; }
bool is_local_uni(std::int64_t id) { return (id & 0x3) == 2; }
std::string id_text(std::int64_t id) { return "stream " + std::to_string(id); }

// What the fake QUIC layer knows about one stream.
struct QuicStream {
  std::uint64_t received = 0;  // bytes handed to on_stream_data
  std::uint64_t credited = 0;  // flow-control credit given back (extend_stream_credit)
  std::uint64_t written = 0;   // bytes accepted from next_outgoing
  std::uint64_t acked = 0;
  bool fin_in = false, reset_in = false, closed = false;
  bool read_shut = false, write_shut = false;  // asked for by the session (STOP_SENDING / RESET_STREAM)
  std::optional<std::uint64_t> shutdown_code;  // of a reset both ways (shutdown_stream)
};

class FakeTransport final : public quiver::quic::StreamTransport {
 public:
  Result<std::int64_t> open_bidi_stream() override {
    if (bidi_opened_ >= kMaxRequests) {
      return std::unexpected(Error(ErrorKind::transport_error, "fake: no stream credit"));
    }
    std::int64_t id = static_cast<std::int64_t>(bidi_opened_++) * 4;
    streams[id];
    return id;
  }
  Result<std::int64_t> open_uni_stream() override {
    std::int64_t id = static_cast<std::int64_t>(uni_opened_++) * 4 + 2;
    streams[id];
    return id;
  }
  void extend_stream_credit(std::int64_t stream_id, std::uint64_t bytes) override {
    QuicStream& s = streams[stream_id];
    s.credited += bytes;
    FUZZ_CHECK(s.credited <= s.received, id_text(stream_id) + ": credit " + std::to_string(s.credited) +
                                             " exceeds the " + std::to_string(s.received) + " bytes received");
  }
  void shutdown_stream(std::int64_t stream_id, std::uint64_t code) override {
    trace("  transport: shutdown %lld code 0x%llx\n", static_cast<long long>(stream_id), static_cast<unsigned long long>(code));
    streams[stream_id].read_shut = true;
    streams[stream_id].write_shut = true;
    streams[stream_id].shutdown_code = code;
  }
  void shutdown_stream_read(std::int64_t stream_id, std::uint64_t code) override {
    trace("  transport: STOP_SENDING %lld code 0x%llx\n", static_cast<long long>(stream_id), static_cast<unsigned long long>(code));
    streams[stream_id].read_shut = true;
  }
  void shutdown_stream_write(std::int64_t stream_id, std::uint64_t code) override {
    trace("  transport: RESET_STREAM %lld code 0x%llx\n", static_cast<long long>(stream_id), static_cast<unsigned long long>(code));
    streams[stream_id].write_shut = true;
  }
  void schedule_write() override { ++writes_scheduled; }

  std::map<std::int64_t, QuicStream> streams;
  std::size_t writes_scheduled = 0;

 private:
  std::size_t bidi_opened_ = 0;
  std::size_t uni_opened_ = 0;
};

// What the worker has been told about one request stream.
struct Response {
  bool headers = false, trailers = false, ended = false, reset = false, closed = false, malformed = false;
  bool too_large = false;
  std::uint64_t data = 0, consumed = 0;
};

class RecordingEvents final : public quiver::h3::SessionEvents {
 public:
  explicit RecordingEvents(FakeTransport& transport) : transport_(transport) {}

  void on_response_headers(std::int64_t id, int status, quiver::Headers headers) override {
    trace("  event: headers %lld status %d (%zu fields)\n", static_cast<long long>(id), status, headers.size());
    Response& r = live(id, "headers");
    FUZZ_CHECK(!r.headers, id_text(id) + ": a second final header block");
    FUZZ_CHECK(status >= 200 && status <= 999, id_text(id) + ": status " + std::to_string(status));
    check_fields(id, headers);
    r.headers = true;
  }
  void on_response_data(std::int64_t id, std::span<const std::uint8_t> data) override {
    trace("  event: data %lld, %zu bytes\n", static_cast<long long>(id), data.size());
    Response& r = live(id, "data");
    FUZZ_CHECK(r.headers, id_text(id) + ": data before the headers");
    FUZZ_CHECK(!r.trailers, id_text(id) + ": data after the trailers");
    touch(data);
    r.data += data.size();
  }
  void on_response_trailers(std::int64_t id, quiver::Headers trailers) override {
    trace("  event: trailers %lld\n", static_cast<long long>(id));
    Response& r = live(id, "trailers");
    FUZZ_CHECK(r.headers, id_text(id) + ": trailers before the headers");
    FUZZ_CHECK(!r.trailers, id_text(id) + ": a second trailer block");
    check_fields(id, trailers);
    r.trailers = true;
  }
  void on_response_end(std::int64_t id) override {
    trace("  event: end %lld\n", static_cast<long long>(id));
    Response& r = live(id, "end");
    FUZZ_CHECK(r.headers, id_text(id) + ": response end without headers");
    r.ended = true;
  }
  void on_stream_reset(std::int64_t id, std::uint64_t) override {
    trace("  event: reset %lld\n", static_cast<long long>(id));
    Response& r = known(id, "reset");
    FUZZ_CHECK(!r.closed, id_text(id) + ": reset after close");
    r.reset = true;
  }
  void on_stream_stop_sending(std::int64_t id, std::uint64_t) override {
    Response& r = known(id, "stop_sending");
    FUZZ_CHECK(!r.closed, id_text(id) + ": stop_sending after close");
  }
  void on_stream_closed(std::int64_t id, std::optional<std::uint64_t>) override {
    trace("  event: closed %lld\n", static_cast<long long>(id));
    Response& r = known(id, "closed");
    FUZZ_CHECK(!r.closed, id_text(id) + ": closed twice");
    r.closed = true;
  }
  void on_stream_malformed(std::int64_t id, std::uint64_t code) override {
    trace("  event: malformed %lld code 0x%llx\n", static_cast<long long>(id), static_cast<unsigned long long>(code));
    Response& r = known(id, "malformed");
    FUZZ_CHECK(!r.closed, id_text(id) + ": malformed after close");
    FUZZ_CHECK(code >= 0x100 && code <= 0x110, id_text(id) + ": malformed with code " + std::to_string(code));
    r.malformed = true;
  }
  void on_header_section_too_large(std::int64_t id, bool trailers, std::uint64_t bytes) override {
    trace("  event: too large %lld %s %llu bytes\n", static_cast<long long>(id), trailers ? "trailers" : "headers",
          static_cast<unsigned long long>(bytes));
    Response& r = live(id, "too large");
    FUZZ_CHECK(bytes > kHeaderLimit, id_text(id) + ": too large at " + std::to_string(bytes) + " bytes");
    FUZZ_CHECK(!trailers || r.headers, id_text(id) + ": trailers too large before the headers");
    r.too_large = true;
  }
  void on_goaway(std::int64_t id) override {
    trace("  event: goaway %lld\n", static_cast<long long>(id));
    FUZZ_CHECK(id >= 0 && is_request_stream(id), "GOAWAY id " + std::to_string(id) + " is not a request stream id");
    FUZZ_CHECK(!last_goaway || id <= *last_goaway, "GOAWAY id grew");
    last_goaway = id;
  }
  void on_body_wanted(std::int64_t id) override {
    known(id, "body wanted");
    body_wanted.insert(id);
  }

  std::map<std::int64_t, Response> responses;  // one per submitted request
  std::set<std::int64_t> body_wanted;
  std::optional<std::int64_t> last_goaway;

 private:
  Response& known(std::int64_t id, const char* event) {
    auto it = responses.find(id);
    FUZZ_CHECK(it != responses.end(), std::string(event) + " for " + id_text(id) + ", which we never opened");
    return it->second;
  }
  // A response event: the stream must still be open for reading.
  Response& live(std::int64_t id, const char* event) {
    Response& r = known(id, event);
    FUZZ_CHECK(!r.closed, std::string(event) + " after " + id_text(id) + " closed");
    FUZZ_CHECK(!r.reset, std::string(event) + " after " + id_text(id) + " was reset by the peer");
    FUZZ_CHECK(!r.ended, std::string(event) + " after " + id_text(id) + " ended");
    FUZZ_CHECK(!r.malformed, std::string(event) + " after " + id_text(id) + " was found malformed");
    FUZZ_CHECK(!r.too_large, std::string(event) + " after " + id_text(id) + " was found too large");
    FUZZ_CHECK(!transport_.streams[id].read_shut, std::string(event) + " after we shut " + id_text(id) + " for reading");
    return r;
  }
  static void check_fields(std::int64_t id, const quiver::Headers& fields) {
    for (const quiver::Header& field : fields) {
      FUZZ_CHECK(!field.name.empty(), id_text(id) + ": empty field name");
      FUZZ_CHECK(field.name.front() != ':', id_text(id) + ": pseudo-header passed on: " + field.name);
      FUZZ_CHECK(std::ranges::none_of(field.name, [](char c) { return c >= 'A' && c <= 'Z'; }),
                 id_text(id) + ": uppercase field name " + field.name);
      FUZZ_CHECK(field.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos,
                 id_text(id) + ": CR/LF/NUL in the value of " + field.name);
    }
  }
  static void touch(std::span<const std::uint8_t> data) {  // ASan checks the bytes are readable
    volatile std::uint8_t sink = 0;
    for (std::uint8_t b : data) sink = sink ^ b;
  }

  FakeTransport& transport_;
};

class Harness {
 public:
  Harness() : events_(transport_), session_(transport_, events_, quiver::h3::session_options(options())) {}

  // False when the session reported a connection error (the transport would close the connection).
  bool set_up() {
    FUZZ_CHECK(session_.start().has_value(), "start failed");
    FUZZ_CHECK(session_.open_control_streams().has_value(), "open_control_streams failed");
    for (std::int64_t id : {3, 7, 11, 15, 2, 6, 10}) ids_.push_back(id);
    for (int i = 0; i < 3; ++i) {
      if (!submit(0, 0)) return false;
    }
    return true;
  }

  bool run(Input& in) {
    while (!in.empty()) {
      const std::uint8_t op = in.u8();
      const std::int64_t id = ids_[(op >> 4) % ids_.size()];
      trace("op %d on stream %lld\n", op & 0x0f, static_cast<long long>(id));
      if (!step(op & 0x0f, id, in)) {
        auto [code, text] = session_.fatal_error();
        trace("  connection error 0x%llx: %s\n", static_cast<unsigned long long>(code), text.c_str());
        const bool h3 = code >= 0x100 && code <= 0x110;
        const bool qpack = code >= 0x200 && code <= 0x202;
        FUZZ_CHECK(h3 || qpack, "fatal_error code " + std::to_string(code) + " is not an HTTP/3 error code");
        FUZZ_CHECK(!text.empty(), "fatal_error without text");
        return false;  // the transport closes the connection: nothing more is fed
      }
    }
    return true;
  }

 private:
  static quiver::ConnectionOptions options() {
    quiver::ConnectionOptions o;
    o.send_buffer = 8 * 1024;  // small, so producer bodies wait for acknowledgements
    o.max_response_header_bytes = kHeaderLimit;
    return o;
  }

  bool step(int kind, std::int64_t id, Input& in) {
    QuicStream& s = transport_.streams[id];
    const bool deliverable = !is_local_uni(id) && !s.fin_in && !s.reset_in && !s.closed && !s.read_shut;
    switch (kind) {
      case 0:
      case 1:
      case 15: {
        auto bytes = in.bytes(kind == 15 ? in.u8() : in.u16());
        if (!deliverable) return true;
        const bool fin = kind == 1;
        // ngtcp2 delivers from its own buffer; a copy makes ASan see any read past the end.
        std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
        s.received += copy.size();
        s.fin_in = fin;
        if (!session_.on_stream_data(id, copy, fin)) return false;
        check_too_large_streams_reset();
        return true;
      }
      case 2: {
        const std::uint64_t code = error_code(in.u16());
        if (!is_request_stream(id) || s.reset_in || s.closed) return true;
        s.reset_in = true;
        return session_.on_stream_reset(id, code);
      }
      case 3: {
        const std::uint64_t code = error_code(in.u16());
        if (is_server_uni(id) || s.closed) return true;
        s.write_shut = true;  // ngtcp2 answers STOP_SENDING with RESET_STREAM
        return session_.on_stream_stop_sending(id, code);
      }
      case 4: {
        const std::uint8_t code = in.u8();
        if (!is_request_stream(id) || s.closed) return true;
        s.closed = true;
        std::optional<std::uint64_t> app_code;
        if (code != 0) app_code = error_code(code);
        return session_.on_stream_closed(id, app_code);
      }
      case 5: return write_burst(in.u8() & 0x03);
      case 6: {
        std::uint64_t amount = in.u16();
        const std::uint64_t unacked = s.written - s.acked;
        if (amount == 0 || amount > unacked) amount = unacked;
        if (amount == 0 || s.closed) return true;
        s.acked += amount;
        return session_.on_stream_data_acked(id, amount);
      }
      case 7:
        if (!is_server_uni(id) && !s.closed) session_.on_stream_blocked(id);
        return true;
      case 8:
        if (is_server_uni(id) || s.closed) return true;
        return session_.on_stream_send_credit(id);
      case 9: {
        if (!is_request_stream(id) || s.closed) return true;
        Response& r = events_.responses[id];
        if (r.data > r.consumed) session_.consume(id, r.data - r.consumed);
        r.consumed = r.data;
        return true;
      }
      case 10: {
        const std::uint8_t body = in.u8();
        const std::uint8_t size = in.u8();
        return submit(body % 3, size);
      }
      case 11:
        if (!is_request_stream(id) || s.closed) return true;
        session_.reset_stream(id, quiver::h3_code::request_cancelled);
        return true;
      case 12: session_.submit_goaway(); return true;
      case 13: {
        std::set<std::int64_t> wanted;
        wanted.swap(events_.body_wanted);
        for (std::int64_t stream : wanted) {
          // Synchronous producers only: nothing is delivered later.
          if (!session_.pull_body(stream, /*deliver_later=*/{})) {
            session_.reset_stream(stream, quiver::h3_code::request_cancelled);
          }
        }
        return true;
      }
      case 14:
        if (is_server_uni(id) || s.closed) return true;
        s.write_shut = true;
        session_.on_stream_write_shut(id);
        return true;
      default: return true;
    }
  }

  // A stream found too large is reset both ways before the session returns (any stream: a section
  // blocked on QPACK is decoded while the encoder stream is read), unless it had closed meanwhile.
  void check_too_large_streams_reset() {
    for (const auto& [id, r] : events_.responses) {
      if (!r.too_large || r.closed) continue;
      const QuicStream& s = transport_.streams[id];
      FUZZ_CHECK(s.shutdown_code == quiver::h3_code::excessive_load,
                 id_text(id) + ": too large but not reset with H3_EXCESSIVE_LOAD");
    }
  }

  // The transport's write loop (QuicTransport::write_packets), with the outcome chosen by `mode`.
  bool write_burst(int mode) {
    for (int round = 0; round < 64; ++round) {
      quiver::quic::OutgoingData out;
      if (!session_.next_outgoing(out)) return false;
      if (out.stream_id < 0) return true;
      std::size_t total = 0;
      for (const ngtcp2_vec& chunk : out.chunks) {
        volatile std::uint8_t sink = 0;
        for (std::size_t i = 0; i < chunk.len; ++i) sink = sink ^ chunk.base[i];  // readable?
        total += chunk.len;
      }
      QuicStream& s = transport_.streams[out.stream_id];
      FUZZ_CHECK(!s.closed, "nghttp3 writes to " + id_text(out.stream_id) + " after it closed");
      if (s.write_shut) {
        session_.on_stream_write_shut(out.stream_id);
        continue;
      }
      if (mode == 2) {
        session_.on_stream_blocked(out.stream_id);
        return true;
      }
      const std::size_t accepted = mode == 1 && total > 1 ? total / 2 : total;
      s.written += accepted;
      if (!session_.on_outgoing_accepted(out.stream_id, accepted)) return false;
      if (mode == 3) return true;
      if (total == 0 && !out.fin) return true;  // nothing to send now
    }
    return true;
  }

  bool submit(int body_kind, std::uint8_t size) {
    if (ids_.size() >= 7 + kMaxRequests) return true;
    quiver::Request request;
    request.url = *quiver::Url::parse("https://example.com/fuzz");
    if (body_kind == 1) {
      request.method = "POST";
      request.body = std::string(size, 'b');
    } else if (body_kind == 2) {
      request.method = "POST";
      auto left = std::make_shared<int>(size & 7);
      const std::size_t chunk = static_cast<std::size_t>(size >> 3) * 97 + 1;
      request.body = quiver::RequestBody::from_producer([left, chunk]() -> std::optional<std::string> {
        if (*left == 0) return std::nullopt;
        --*left;
        return std::string(chunk, 'p');
      });
    }
    auto fields = quiver::http::build_request_fields(request);
    FUZZ_CHECK(fields.has_value(), "fixed request rejected");
    auto stream = session_.submit_request(*fields, request.body);
    if (!stream) return true;  // no stream credit, or GOAWAY: the worker fails the request
    FUZZ_CHECK(is_request_stream(*stream), "request on " + id_text(*stream));
    events_.responses[*stream];
    ids_.push_back(*stream);
    return true;
  }

  static bool is_server_uni(std::int64_t id) { return (id & 0x3) == 3; }
  // Mostly HTTP/3 codes (0x100..0x11f), sometimes arbitrary ones.
  static std::uint64_t error_code(std::uint16_t raw) { return raw < 0x8000 ? 0x100 + (raw % 0x20) : raw; }

  FakeTransport transport_;
  RecordingEvents events_;
  quiver::h3::H3Session session_;
  std::vector<std::int64_t> ids_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  Harness harness;
  if (harness.set_up()) harness.run(in);
  return 0;
}

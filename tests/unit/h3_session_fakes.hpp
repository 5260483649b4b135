#pragma once
// Drives h3::H3Session with hand-written server bytes: a QUIC layer that hands out stream ids like a
// client's and records what the session asks of it, and SessionEvents that record what it reports.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "h3/h3_session.hpp"
#include "test_server/raw_frames.hpp"

namespace quiver::h3::test {

namespace raw = server::raw;

class FakeTransport : public quic::StreamTransport {
 public:
  struct Shutdown {
    std::int64_t stream_id;
    std::uint64_t code;
    bool operator==(const Shutdown&) const = default;
  };

  Result<std::int64_t> open_bidi_stream() override { return std::exchange(next_bidi_, next_bidi_ + 4); }
  Result<std::int64_t> open_uni_stream() override { return std::exchange(next_uni_, next_uni_ + 4); }
  void extend_stream_credit(std::int64_t stream_id, std::uint64_t bytes) override { credit[stream_id] += bytes; }
  void shutdown_stream(std::int64_t stream_id, std::uint64_t code) override { shutdowns.push_back({stream_id, code}); }
  void shutdown_stream_read(std::int64_t stream_id, std::uint64_t code) override {
    read_shutdowns.push_back({stream_id, code});
  }
  void shutdown_stream_write(std::int64_t stream_id, std::uint64_t code) override {
    write_shutdowns.push_back({stream_id, code});
  }
  void schedule_write() override {}

  std::map<std::int64_t, std::uint64_t> credit;  // flow-control credit returned, per stream
  std::vector<Shutdown> shutdowns;               // both directions (STOP_SENDING + RESET_STREAM)
  std::vector<Shutdown> read_shutdowns;          // STOP_SENDING alone
  std::vector<Shutdown> write_shutdowns;         // RESET_STREAM alone

 private:
  std::int64_t next_bidi_ = 0, next_uni_ = 2;
};

class RecordingEvents : public SessionEvents {
 public:
  struct TooLarge {
    std::int64_t stream_id;
    bool trailers;
    std::uint64_t bytes;
  };

  void on_response_headers(std::int64_t stream_id, int status, Headers fields) override {
    headers[stream_id] = {status, std::move(fields)};
  }
  void on_response_data(std::int64_t stream_id, std::span<const std::uint8_t> data) override {
    body[stream_id].append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  void on_response_trailers(std::int64_t stream_id, Headers fields) override { trailers[stream_id] = std::move(fields); }
  void on_response_end(std::int64_t stream_id) override { ended.push_back(stream_id); }
  void on_stream_reset(std::int64_t, std::uint64_t) override {}
  void on_stream_stop_sending(std::int64_t, std::uint64_t) override {}
  void on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t>) override { closed.push_back(stream_id); }
  void on_goaway(std::int64_t id) override { goaways.push_back(id); }
  void on_body_wanted(std::int64_t) override {}
  void on_stream_malformed(std::int64_t stream_id, std::uint64_t) override { malformed.push_back(stream_id); }
  void on_header_section_too_large(std::int64_t stream_id, bool in_trailers, std::uint64_t bytes) override {
    too_large.push_back({stream_id, in_trailers, bytes});
  }

  std::map<std::int64_t, std::pair<int, Headers>> headers;
  std::map<std::int64_t, std::string> body;
  std::map<std::int64_t, Headers> trailers;
  std::vector<std::int64_t> ended, closed, malformed;
  std::vector<std::int64_t> goaways;
  std::vector<TooLarge> too_large;
};

// A client session with its control and QPACK streams open (ours: 2, 6, 10). The server's control
// stream is 3.
struct SessionUnderTest {
  static constexpr std::int64_t kServerControlStream = 3;

  explicit SessionUnderTest(ConnectionOptions options = {}) : session{transport, events, session_options(options)} {
    EXPECT_TRUE(session.start());
    EXPECT_TRUE(session.open_control_streams());
  }
  // The server's control stream type and an empty SETTINGS frame, as every connection starts.
  bool open_server_control_stream() {
    raw::Bytes bytes;
    raw::put_varint(bytes, raw::kControlStream);
    raw::append(bytes, raw::frame(raw::kSettings, {}));
    return session.on_stream_data(kServerControlStream, bytes, false);
  }
  // A GET on the next request stream (0, 4, 8, ...).
  std::int64_t submit_get() {
    std::vector<Header> fields{{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/"}};
    auto stream_id = session.submit_request(fields, RequestBody{});
    EXPECT_TRUE(stream_id);
    return stream_id.value_or(-1);
  }

  FakeTransport transport;
  RecordingEvents events;
  H3Session session;
};

}  // namespace quiver::h3::test

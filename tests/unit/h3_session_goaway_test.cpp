// The HTTP/3 session against hand-written server control-stream bytes: GOAWAY ids may only shrink.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "h3/h3_session.hpp"

namespace quiver::h3 {
namespace {

// Hands out stream ids like a client's QUIC stack; records nothing else.
class FakeTransport : public quic::StreamTransport {
 public:
  Result<std::int64_t> open_bidi_stream() override { return std::exchange(next_bidi_, next_bidi_ + 4); }
  Result<std::int64_t> open_uni_stream() override { return std::exchange(next_uni_, next_uni_ + 4); }
  void extend_stream_credit(std::int64_t, std::uint64_t) override {}
  void shutdown_stream(std::int64_t, std::uint64_t) override {}
  void shutdown_stream_read(std::int64_t, std::uint64_t) override {}
  void shutdown_stream_write(std::int64_t, std::uint64_t) override {}
  void schedule_write() override {}

 private:
  std::int64_t next_bidi_ = 0, next_uni_ = 2;
};

class GoawayRecorder : public SessionEvents {
 public:
  void on_response_headers(std::int64_t, int, Headers) override {}
  void on_response_data(std::int64_t, std::span<const std::uint8_t>) override {}
  void on_response_trailers(std::int64_t, Headers) override {}
  void on_response_end(std::int64_t) override {}
  void on_stream_reset(std::int64_t, std::uint64_t) override {}
  void on_stream_stop_sending(std::int64_t, std::uint64_t) override {}
  void on_stream_closed(std::int64_t, std::optional<std::uint64_t>) override {}
  void on_goaway(std::int64_t id) override { goaways.push_back(id); }
  void on_body_wanted(std::int64_t) override {}
  void on_stream_malformed(std::int64_t, std::uint64_t) override {}
  std::vector<std::int64_t> goaways;
};

// The server's control stream (id 3): stream type 0x00, an empty SETTINGS frame, then GOAWAY frames
// (type 0x07, length 1, a one-byte varint id).
std::vector<std::uint8_t> control_stream(std::initializer_list<std::uint8_t> goaway_ids) {
  std::vector<std::uint8_t> bytes{0x00, 0x04, 0x00};
  for (std::uint8_t id : goaway_ids) bytes.insert(bytes.end(), {0x07, 0x01, id});
  return bytes;
}

struct SessionUnderTest {
  FakeTransport transport;
  GoawayRecorder events;
  H3Session session{transport, events, ConnectionOptions{}};
  SessionUnderTest() {
    EXPECT_TRUE(session.start());
    EXPECT_TRUE(session.open_control_streams());
  }
};

TEST(H3SessionGoaway, ATighterGoawayIsPassedOn) {
  SessionUnderTest s;
  auto bytes = control_stream({8, 4});
  EXPECT_TRUE(s.session.on_stream_data(3, bytes, false));
  EXPECT_EQ(s.events.goaways, (std::vector<std::int64_t>{8, 4}));
}

TEST(H3SessionGoaway, AGrowingGoawayIdIsAConnectionErrorH3IdError) {
  SessionUnderTest s;
  auto bytes = control_stream({4, 8});
  EXPECT_FALSE(s.session.on_stream_data(3, bytes, false));  // the connection must close
  EXPECT_EQ(s.session.fatal_error().first, h3_code::id_error) << s.session.fatal_error().second;
  EXPECT_EQ(s.events.goaways, (std::vector<std::int64_t>{4}));  // the growing one is never applied
}

}  // namespace
}  // namespace quiver::h3

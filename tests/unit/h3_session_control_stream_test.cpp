// The HTTP/3 session against hand-written bytes on the server's control stream: GOAWAY ids may only
// shrink, and SETTINGS comes exactly once.
#include <gtest/gtest.h>

#include <vector>

#include "h3_session_fakes.hpp"

namespace quiver::h3::test {
namespace {

// GOAWAY frames (type 0x07, length 1, a one-byte varint id).
raw::Bytes goaways(std::initializer_list<std::uint8_t> ids) {
  raw::Bytes bytes;
  for (std::uint8_t id : ids) bytes.insert(bytes.end(), {0x07, 0x01, id});
  return bytes;
}

TEST(H3SessionGoaway, ATighterGoawayIsPassedOn) {
  SessionUnderTest s;
  ASSERT_TRUE(s.open_server_control_stream());
  EXPECT_TRUE(s.session.on_stream_data(s.kServerControlStream, goaways({8, 4}), false));
  EXPECT_EQ(s.events.goaways, (std::vector<std::int64_t>{8, 4}));
}

TEST(H3SessionGoaway, AGrowingGoawayIdIsAConnectionErrorH3IdError) {
  SessionUnderTest s;
  ASSERT_TRUE(s.open_server_control_stream());
  EXPECT_FALSE(s.session.on_stream_data(s.kServerControlStream, goaways({4, 8}), false));  // must close
  EXPECT_EQ(s.session.fatal_error().first, h3_code::id_error) << s.session.fatal_error().second;
  EXPECT_EQ(s.events.goaways, (std::vector<std::int64_t>{4}));  // the growing one is never applied
}

// RFC 9114 §7.2.4: a second SETTINGS frame on the control stream is a connection error
// H3_FRAME_UNEXPECTED; nghttp3 1.8 reports exactly that. The transport closes the connection with the
// code fatal_error() returns (QuicTransport::error_from_local_failure; on the wire:
// MisbehavingPeerTest.SecondSettingsFrameIsConnectionErrorFrameUnexpected).
TEST(H3SessionSettings, ASecondSettingsFrameIsAConnectionErrorFrameUnexpected) {
  SessionUnderTest s;
  ASSERT_TRUE(s.open_server_control_stream());
  EXPECT_FALSE(s.session.on_stream_data(s.kServerControlStream, raw::frame(raw::kSettings, {}), false));
  auto [code, text] = s.session.fatal_error();
  EXPECT_EQ(code, h3_code::frame_unexpected) << h3_error_name(code) << ": " << text;
  EXPECT_NE(text.find("stream 3"), std::string::npos) << text;
}

// The same when both frames arrive in one read, and when the second one carries parameters.
TEST(H3SessionSettings, ASecondSettingsFrameInTheSameReadIsAConnectionErrorFrameUnexpected) {
  SessionUnderTest s;
  raw::Bytes bytes;
  raw::put_varint(bytes, raw::kControlStream);
  raw::append(bytes, raw::frame(raw::kSettings, {}));
  raw::append(bytes, raw::frame(raw::kSettings, {0x06, 0x44, 0x00}));  // MAX_FIELD_SECTION_SIZE 1024
  EXPECT_FALSE(s.session.on_stream_data(s.kServerControlStream, bytes, false));
  EXPECT_EQ(s.session.fatal_error().first, h3_code::frame_unexpected) << s.session.fatal_error().second;
}

// The control: one SETTINGS frame followed by other frames is fine.
TEST(H3SessionSettings, OneSettingsFrameIsAccepted) {
  SessionUnderTest s;
  ASSERT_TRUE(s.open_server_control_stream());
  EXPECT_TRUE(s.session.on_stream_data(s.kServerControlStream, goaways({8}), false));
  EXPECT_EQ(s.session.fatal_error().first, 0u);
}

}  // namespace
}  // namespace quiver::h3::test

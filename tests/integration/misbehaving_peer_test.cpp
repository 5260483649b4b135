// The client against a server that breaks HTTP/3 on purpose (/misbehave/CASE, src/server/misbehave.hpp):
// each case yields a stream or connection error with the RFC 9114 / RFC 9204 code, never a crash or a
// hang; where the error is the stream's, a well-formed request on the same connection is unharmed.
// Where nghttp3 1.8 (which decides the code) departs from the RFC, the test pins what it does and says so.
#include <gtest/gtest.h>

#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class MisbehavingPeerTest : public ConnectionTest {
 protected:
  // Starts the server, connects, and sends a well-formed request (/delay/300: still in flight when the
  // misbehaviour arrives) then `target`. Returns {`target`'s result, the well-formed one's}.
  std::pair<Result<Response>, Result<Response>> fetch_alongside(const std::string& target) {
    start_server();
    connect();
    EXPECT_TRUE(wait_connected());
    Replies replies;
    connection_->request(get("/delay/300"), replies.slot(0));
    connection_->request(get(target), replies.slot(1));
    EXPECT_TRUE(run_until(io_, [&] { return replies.all_received(); }, 10s)) << "no reply: the client hangs";
    auto none = Result<Response>(std::unexpected(Error(ErrorKind::io_error, "test: no reply")));
    return {replies.slots[1].value_or(none), replies.slots[0].value_or(none)};
  }

  // A stream error: `target` fails with `code`; the request in flight and a new one succeed on the
  // same connection.
  void expect_stream_error(const std::string& target, std::uint64_t code) {
    auto [bad, good] = fetch_alongside(target);
    ASSERT_FALSE(bad) << "status " << bad->status;
    EXPECT_EQ(bad.error().h3_code, code) << bad.error().to_string();
    EXPECT_EQ(bad.error().kind(), ErrorKind::protocol_error) << bad.error().to_string();
    ASSERT_TRUE(good) << good.error().to_string();
    EXPECT_EQ(good->body, "delayed");
    auto after = fetch(get("/bytes/10"));
    ASSERT_TRUE(after) << after.error().to_string();
    EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
  }

  // A connection error: both requests fail with transport_error carrying `code`, the connection
  // closes, and the server still serves a new connection.
  void expect_connection_error(const std::string& target, std::uint64_t code) {
    auto [bad, good] = fetch_alongside(target);
    for (const auto* result : {&bad, &good}) {
      ASSERT_FALSE(*result) << "status " << (*result)->status;
      EXPECT_EQ(result->error().kind(), ErrorKind::transport_error) << result->error().to_string();
      EXPECT_EQ(result->error().h3_code, code) << result->error().to_string();
    }
    ASSERT_TRUE(run_until(io_, [&] { return connection_->state() == h3::ConnectionState::closed; }, 5s));
    connect();
    auto fresh = fetch(get("/bytes/10"));
    ASSERT_TRUE(fresh) << fresh.error().to_string();
  }
};

// RFC 9114 §4.1: an invalid frame sequence is a connection error H3_FRAME_UNEXPECTED.
TEST_F(MisbehavingPeerTest, DataBeforeHeadersIsConnectionErrorFrameUnexpected) {
  expect_connection_error("/misbehave/data-before-headers", h3_code::frame_unexpected);
}

// RFC 9114 §4.1.2, §4.3.2: ":status: abc" makes the response malformed: stream error H3_MESSAGE_ERROR.
TEST_F(MisbehavingPeerTest, InvalidStatusFailsOnlyThatRequestWithMessageError) {
  expect_stream_error("/misbehave/bad-status", h3_code::message_error);
}

// RFC 9114 §4.1.2 asks for a stream error H3_MESSAGE_ERROR; nghttp3 1.8 reports the mismatch from
// nghttp3_conn_read_stream (ERR_MALFORMED_HTTP_MESSAGING), which its API makes a connection error.
TEST_F(MisbehavingPeerTest, ContentLengthMismatchIsConnectionErrorMessageError) {
  expect_connection_error("/misbehave/content-length-mismatch", h3_code::message_error);
}

// RFC 9114 §7.2.5 asks for H3_ID_ERROR (no MAX_PUSH_ID was sent); nghttp3 1.8, which has no server
// push, closes the connection with H3_FRAME_UNEXPECTED. A connection error either way.
TEST_F(MisbehavingPeerTest, PushPromiseWithoutMaxPushIdIsConnectionError) {
  expect_connection_error("/misbehave/push-promise", h3_code::frame_unexpected);
}

// The client advertises no SETTINGS_MAX_FIELD_SECTION_SIZE (nghttp3's default, unlimited): a 1 MiB
// header section (16 fields of 64 KiB) is accepted, and the other request is unharmed.
TEST_F(MisbehavingPeerTest, OneMebibyteHeaderSectionCompletes) {
  auto [big, good] = fetch_alongside("/misbehave/huge-headers?kb=64&fields=16");
  ASSERT_TRUE(big) << big.error().to_string();
  EXPECT_EQ(big->status, 200);
  EXPECT_EQ(big->headers.get("x-huge-15"), std::string(64 * 1024, 'h'));
  EXPECT_EQ(big->body, "ok");
  ASSERT_TRUE(good) << good.error().to_string();
}

// nghttp3's QPACK decoder refuses a single field over 64 KiB (ERR_QPACK_HEADER_TOO_LARGE), as a
// connection error H3_INTERNAL_ERROR; no crash, no hang.
TEST_F(MisbehavingPeerTest, OneMebibyteFieldIsConnectionErrorInternalError) {
  expect_connection_error("/misbehave/huge-headers?kb=1024", h3_code::internal_error);
}

// RFC 9114 §6.2.1: a second control stream is a connection error H3_STREAM_CREATION_ERROR.
TEST_F(MisbehavingPeerTest, SecondControlStreamIsConnectionErrorStreamCreation) {
  expect_connection_error("/misbehave/second-control-stream", h3_code::stream_creation_error);
}

// RFC 9114 §7.2.4: a second SETTINGS frame on the control stream is a connection error
// H3_FRAME_UNEXPECTED; nghttp3 1.8 closes with exactly that.
TEST_F(MisbehavingPeerTest, SecondSettingsFrameIsConnectionErrorFrameUnexpected) {
  expect_connection_error("/misbehave/second-settings", h3_code::frame_unexpected);
}

// RFC 9114 §6.2.1: the control stream closed (here reset) is a connection error H3_CLOSED_CRITICAL_STREAM.
TEST_F(MisbehavingPeerTest, ControlStreamResetIsConnectionErrorClosedCriticalStream) {
  expect_connection_error("/misbehave/control-stream-reset", h3_code::closed_critical_stream);
}

// RFC 9204 §4.3.1: a dynamic table capacity above the decoder's maximum is QPACK_ENCODER_STREAM_ERROR.
TEST_F(MisbehavingPeerTest, BadQpackEncoderInstructionIsConnectionErrorEncoderStream) {
  expect_connection_error("/misbehave/bad-qpack-instruction", h3_code::qpack_encoder_stream_error);
}

TEST_F(MisbehavingPeerTest, UnknownCaseIsBadRequest) {
  start_server();
  connect();
  auto response = fetch(get("/misbehave/no-such-case"));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 400);
}

}  // namespace
}  // namespace quiver::test

// The client against a server that breaks HTTP/3 on purpose (/misbehave/CASE, src/test_server/misbehave.hpp):
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
  std::pair<Result<Response>, Result<Response>> fetch_alongside(const std::string& target,
                                                               ConnectionOptions options = test_client_options()) {
    start_server();
    connect(options);
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
    Error error = expect_only_that_request_fails(target, test_client_options());
    EXPECT_EQ(error.h3_code, code) << error.to_string();
    EXPECT_EQ(error.kind(), ErrorKind::protocol_error) << error.to_string();
  }

  // `target`'s response has a `section` ("header" or "trailer") section of `bytes`, over the client's
  // max_response_header_bytes: that request alone fails with headers_too_large naming both sizes, and
  // its stream is reset with H3_EXCESSIVE_LOAD (RFC 9114 §4.2.2 lets a client discard such a response).
  void expect_too_large(const std::string& target, const std::string& section, std::uint64_t bytes,
                        ConnectionOptions options = test_client_options()) {
    Error error = expect_only_that_request_fails(target, options);
    EXPECT_EQ(error.kind(), ErrorKind::headers_too_large) << error.to_string();
    EXPECT_EQ(error.error_class(), ErrorClass::unrecoverable) << error.to_string();
    EXPECT_EQ(error.h3_code, h3_code::excessive_load) << error.to_string();
    EXPECT_TRUE(error.stream_id.has_value());
    for (const std::string& part : {section + " section", std::to_string(bytes),
                                    std::to_string(options.max_response_header_bytes), std::string("max_response_header_bytes")}) {
      EXPECT_NE(error.message().find(part), std::string::npos) << "no \"" << part << "\" in " << error.to_string();
    }
  }

  // The close code of `target`'s stream at the server (its access log), once the server has closed it.
  std::optional<std::uint64_t> server_close_code(const std::string& target) {
    std::optional<std::uint64_t> code;
    run_until(io_, [&] {
      for (const auto& entry : access_log_.entries()) {
        if (entry.path == target) code = entry.app_error_code;
      }
      return code.has_value();
    }, 5s);
    return code;
  }

  // `target` fails; the request in flight and a new one succeed on the same connection. Returns the error.
  Error expect_only_that_request_fails(const std::string& target, ConnectionOptions options) {
    auto [bad, good] = fetch_alongside(target, options);
    EXPECT_FALSE(bad) << "status " << bad->status;
    EXPECT_TRUE(good) << good.error().to_string();
    if (good) {
      EXPECT_EQ(good->body, "delayed");
    }
    auto after = fetch(get("/bytes/10"));
    EXPECT_TRUE(after) << after.error().to_string();
    EXPECT_EQ(connection_->state(), h3::ConnectionState::connected);
    EXPECT_TRUE(run_until(io_, [&] { return connection_->requests_in_flight() == 0; }, 5s))
        << "the failed request's stream never closed";
    return bad ? Error(ErrorKind::io_error, "test: the request succeeded") : bad.error();
  }

  // A connection error: both requests fail with transport_error carrying `code`, the connection
  // closes, and the server still serves a new connection.
  void expect_connection_error(const std::string& target, std::uint64_t code, const std::string& message_part = "",
                               ConnectionOptions options = test_client_options()) {
    auto [bad, good] = fetch_alongside(target, options);
    for (const auto* result : {&bad, &good}) {
      ASSERT_FALSE(*result) << "status " << (*result)->status;
      EXPECT_EQ(result->error().kind(), ErrorKind::transport_error) << result->error().to_string();
      EXPECT_EQ(result->error().h3_code, code) << result->error().to_string();
      EXPECT_NE(result->error().message().find(message_part), std::string::npos) << result->error().to_string();
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

// RFC 9114 §4.2.2 size of the /misbehave/huge-headers response's header section: ":status: 200" and
// `fields` (at most 10, so each name has 8 characters) fields of `kib` KiB.
std::uint64_t huge_section_size(std::uint64_t kib, std::uint64_t fields) {
  return (7 + 3 + 32) + fields * (8 + kib * 1024 + 32);
}

ConnectionOptions with_limit(std::uint64_t limit) {
  ConnectionOptions options = test_client_options();
  options.max_response_header_bytes = limit;
  return options;
}

// The default limit is 64 KiB (max_response_header_bytes): 63 KiB of field value is under it.
TEST_F(MisbehavingPeerTest, HeaderSectionJustUnderTheDefaultLimitCompletes) {
  ASSERT_LT(huge_section_size(63, 1), ConnectionOptions{}.max_response_header_bytes);
  auto [big, good] = fetch_alongside("/misbehave/huge-headers?kb=63");
  ASSERT_TRUE(big) << big.error().to_string();
  EXPECT_EQ(big->headers.get("x-huge-0"), std::string(63 * 1024, 'h'));
  EXPECT_EQ(big->body, "ok");
  ASSERT_TRUE(good) << good.error().to_string();
}

// 64 KiB of value plus the name, :status and RFC 9114's 32 bytes a field is over the default limit;
// nghttp3's decoder still takes the field, so the request alone fails.
TEST_F(MisbehavingPeerTest, HeaderSectionOverTheDefaultLimitFailsOnlyThatRequestWithHeadersTooLarge) {
  ASSERT_GT(huge_section_size(64, 1), ConnectionOptions{}.max_response_header_bytes);
  expect_too_large("/misbehave/huge-headers?kb=64", "header", huge_section_size(64, 1));
}

TEST_F(MisbehavingPeerTest, HeaderSectionExactlyAtAConfiguredLimitCompletes) {
  auto [big, good] = fetch_alongside("/misbehave/huge-headers?kb=16&fields=2", with_limit(huge_section_size(16, 2)));
  ASSERT_TRUE(big) << big.error().to_string();
  EXPECT_EQ(big->headers.get("x-huge-1"), std::string(16 * 1024, 'h'));
  ASSERT_TRUE(good) << good.error().to_string();
}

TEST_F(MisbehavingPeerTest, HeaderSectionOneByteOverAConfiguredLimitFailsOnlyThatRequest) {
  expect_too_large("/misbehave/huge-headers?kb=16&fields=2", "header", huge_section_size(16, 2),
                   with_limit(huge_section_size(16, 2) - 1));
}

// 16 fields of 64 KiB: refused at the first field, long before the whole 1 MiB has arrived. The server
// is still sending then, so its stream ends with the code of our STOP_SENDING: H3_EXCESSIVE_LOAD on the
// wire. (A response sent whole before the refusal arrives ends cleanly at the server.)
TEST_F(MisbehavingPeerTest, OneMebibyteHeaderSectionFailsOnlyThatRequestUnderTheDefaultLimit) {
  const std::string target = "/misbehave/huge-headers?kb=64&fields=16";
  expect_too_large(target, "header", huge_section_size(64, 1));
  auto code = server_close_code(target);
  EXPECT_EQ(code, h3_code::excessive_load) << h3_error_name(code.value_or(0));
}

// With the limit raised, the same 1 MiB section (each field within nghttp3's per-field cap) completes.
TEST_F(MisbehavingPeerTest, OneMebibyteHeaderSectionCompletesWhenTheLimitAllowsIt) {
  auto [big, good] = fetch_alongside("/misbehave/huge-headers?kb=64&fields=16", with_limit(2 * 1024 * 1024));
  ASSERT_TRUE(big) << big.error().to_string();
  EXPECT_EQ(big->status, 200);
  EXPECT_EQ(big->headers.get("x-huge-15"), std::string(64 * 1024, 'h'));
  EXPECT_EQ(big->body, "ok");
  ASSERT_TRUE(good) << good.error().to_string();
}

// Trailers have their own budget, counted the same way (no :status in trailers).
TEST_F(MisbehavingPeerTest, TrailerSectionOverTheLimitFailsOnlyThatRequestWithHeadersTooLarge) {
  expect_too_large("/misbehave/huge-trailers?kb=64", "trailer", huge_section_size(64, 1) - (7 + 3 + 32));
}

// One field over nghttp3's QPACK decoder cap (a value over 65,536 bytes as sent) fails in the decoder
// before the client sees it, and the decoder's state is lost: a connection error H3_INTERNAL_ERROR
// (nghttp3's code for ERR_QPACK_HEADER_TOO_LARGE), whatever max_response_header_bytes says. No crash,
// no hang, and the message says what happened.
TEST_F(MisbehavingPeerTest, OneMebibyteFieldIsConnectionErrorInternalError) {
  expect_connection_error("/misbehave/huge-headers?kb=1024", h3_code::internal_error,
                          "more than nghttp3's QPACK decoder accepts");
}

TEST_F(MisbehavingPeerTest, OneMebibyteFieldIsConnectionErrorEvenWhenTheLimitAllowsIt) {
  expect_connection_error("/misbehave/huge-headers?kb=1024", h3_code::internal_error,
                          "more than nghttp3's QPACK decoder accepts", with_limit(2 * 1024 * 1024));
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

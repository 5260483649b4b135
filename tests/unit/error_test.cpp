#include <set>

#include <gtest/gtest.h>

#include "quiver/error.hpp"

namespace quiver {
namespace {

ErrorClass class_of(ErrorKind kind) { return Error(kind, "m").error_class(); }

TEST(Error, UsualClassTable) {
  EXPECT_EQ(class_of(ErrorKind::resolve_failed), ErrorClass::transient);
  EXPECT_EQ(class_of(ErrorKind::handshake_failed), ErrorClass::transient);
  EXPECT_EQ(class_of(ErrorKind::checkout_timeout), ErrorClass::transient);
  EXPECT_EQ(class_of(ErrorKind::goaway), ErrorClass::transient);
  EXPECT_EQ(class_of(ErrorKind::connection_refused), ErrorClass::transient);

  EXPECT_EQ(class_of(ErrorKind::invalid_url), ErrorClass::invalid);
  EXPECT_EQ(class_of(ErrorKind::invalid_request), ErrorClass::invalid);
  EXPECT_EQ(class_of(ErrorKind::body_failed), ErrorClass::invalid);

  for (ErrorKind kind : {ErrorKind::stream_reset, ErrorKind::transport_error, ErrorKind::idle_timeout,
                         ErrorKind::request_timeout, ErrorKind::cancelled, ErrorKind::protocol_error,
                         ErrorKind::io_error, ErrorKind::headers_too_large, ErrorKind::shut_down}) {
    EXPECT_EQ(class_of(kind), ErrorClass::unrecoverable) << to_string(kind);
  }
}

TEST(Error, ExplicitClassWins) {
  Error rejected(ErrorKind::stream_reset, ErrorClass::transient, "rejected");
  EXPECT_EQ(rejected.error_class(), ErrorClass::transient);
  EXPECT_FALSE(rejected.unprocessed);
}

TEST(Error, ToString) {
  EXPECT_EQ(Error(ErrorKind::handshake_failed, "timed out after 5s").to_string(),
            "handshake_failed (transient): timed out after 5s");
  EXPECT_EQ(Error(ErrorKind::invalid_url, "bad").to_string(), "invalid_url (invalid): bad");
}

TEST(Error, RestatedKeepsTheDetailsUnderANewKindClassAndMessage) {
  Error original(ErrorKind::stream_reset, ErrorClass::unrecoverable, "reset");
  original.stream_id = 8;
  original.h3_code = h3_code::internal_error;
  original.transport_code = 0x1;
  original.goaway_id = 4;
  original.handshake_failure = HandshakeFailure::closed;
  original.unprocessed = true;
  Error restated = original.restated(ErrorKind::goaway, ErrorClass::transient, "refused");
  EXPECT_EQ(restated.kind(), ErrorKind::goaway);
  EXPECT_EQ(restated.error_class(), ErrorClass::transient);
  EXPECT_EQ(restated.message(), "refused");
  EXPECT_EQ(restated.stream_id, 8u);
  EXPECT_EQ(restated.h3_code, h3_code::internal_error);
  EXPECT_EQ(restated.transport_code, 0x1u);
  EXPECT_EQ(restated.goaway_id, 4u);
  EXPECT_EQ(restated.handshake_failure, HandshakeFailure::closed);
  EXPECT_TRUE(restated.unprocessed);
  EXPECT_EQ(original.message(), "reset");
}

TEST(Error, ExceptionCarriesTheError) {
  Error error(ErrorKind::stream_reset, "reset");
  error.h3_code = h3_code::request_cancelled;
  Exception exception(error);
  EXPECT_STREQ(exception.what(), "stream_reset (unrecoverable): reset");
  EXPECT_EQ(exception.error().h3_code, h3_code::request_cancelled);
}

TEST(Error, KindNamesAreDistinct) {
  std::set<std::string_view> seen;
  for (int k = 0; k <= static_cast<int>(ErrorKind::shut_down); ++k) {  // the last kind
    auto name = to_string(static_cast<ErrorKind>(k));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(seen.insert(name).second) << name;
  }
}

TEST(Error, H3ErrorNames) {
  EXPECT_EQ(h3_error_name(0x100), "H3_NO_ERROR");
  EXPECT_EQ(h3_error_name(0x101), "H3_GENERAL_PROTOCOL_ERROR");
  EXPECT_EQ(h3_error_name(0x10b), "H3_REQUEST_REJECTED");
  EXPECT_EQ(h3_error_name(0x10c), "H3_REQUEST_CANCELLED");
  EXPECT_EQ(h3_error_name(0x110), "H3_VERSION_FALLBACK");
  EXPECT_EQ(h3_error_name(0x200), "QPACK_DECOMPRESSION_FAILED");
  EXPECT_EQ(h3_error_name(0x202), "QPACK_DECODER_STREAM_ERROR");
  EXPECT_EQ(h3_error_name(0x111), "0x111");
  EXPECT_EQ(h3_error_name(0x1a2b), "0x1a2b");
  for (std::uint64_t code = 0x100; code <= 0x110; ++code) {
    EXPECT_TRUE(h3_error_name(code).starts_with("H3_")) << code;
  }
}

TEST(Error, TransportErrorNames) {
  EXPECT_EQ(transport_error_name(0x0), "NO_ERROR");
  EXPECT_EQ(transport_error_name(0x2), "CONNECTION_REFUSED");
  EXPECT_EQ(transport_error_name(0xa), "PROTOCOL_VIOLATION");
  EXPECT_EQ(transport_error_name(0x10), "NO_VIABLE_PATH");
  EXPECT_EQ(transport_error_name(0x100), "CRYPTO_ERROR(tls alert 0)");
  EXPECT_EQ(transport_error_name(0x12a), "CRYPTO_ERROR(tls alert 42)");
  EXPECT_EQ(transport_error_name(0x178), "CRYPTO_ERROR(tls alert 120)");
  EXPECT_EQ(transport_error_name(0x1ff), "CRYPTO_ERROR(tls alert 255)");
  EXPECT_EQ(transport_error_name(0x200), "0x200");
  EXPECT_EQ(transport_error_name(0x11), "0x11");
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

TEST(ValueOrThrow, ReturnsTheValueOrThrowsTheError) {
  EXPECT_EQ(value_or_throw(Result<int>(7)), 7);
  try {
    value_or_throw(Result<int>(std::unexpected(Error(ErrorKind::cancelled, "stop"))));
    FAIL() << "no exception";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().kind(), ErrorKind::cancelled);
    EXPECT_EQ(e.error().message(), "stop");
  }
}

}  // namespace
}  // namespace quiver

// `quiver -v`'s log (VerboseLog): the order of the lines about one request, whatever order the io
// thread's events and the transfer's calls come in.
#include <gtest/gtest.h>

#include <sstream>

#include "console.hpp"
#include "telemetry_sinks.hpp"

namespace quiver::cli {
namespace {

class VerboseLogTest : public ::testing::Test {
 protected:
  RequestEvent event(RequestEvent::Type type, std::optional<std::uint64_t> stream_id = 0) const {
    RequestEvent event;
    event.type = type;
    event.origin = "https://h";
    event.method = "GET";
    event.target = "/x";
    event.stream_id = stream_id;
    return event;
  }
  static Error refused(std::uint64_t stream_id) {
    Error error(ErrorKind::stream_reset, ErrorClass::transient, "refused");
    error.stream_id = stream_id;
    return error;
  }
  // Each line's position in the log; fails the test if it is missing.
  std::size_t position(const std::string& text) const {
    const auto at = err_.str().find(text);
    EXPECT_NE(at, std::string::npos) << text << " missing in:\n" << err_.str();
    return at;
  }

  std::ostringstream err_;
  Console console_{err_, false};
  VerboseLog log_{console_};
};

TEST_F(VerboseLogTest, ResponseCompleteWaitsForTheHead) {
  log_.expect_request("GET", "/x",
                       {{":method", "GET"}, {":scheme", "https"}, {":authority", "h:4433"}, {":path", "/x"},
                        {"user-agent", "quiver/1"}});
  log_.on_request_event(event(RequestEvent::Type::start));
  log_.on_request_event(event(RequestEvent::Type::headers));
  auto stop = event(RequestEvent::Type::stop);
  stop.status = 200;
  log_.on_request_event(stop);  // the io thread is done before the transfer prints the head
  EXPECT_EQ(err_.str().find("* Response complete"), std::string::npos) << err_.str();

  log_.show_head("GET", "/x", 200, Headers{{"content-length", "3"}});
  log_.finished("GET", "/x", std::nullopt);
  // curl's layout: the request line and Host, the fields, a lone ">"; the head, a lone "<".
  EXPECT_LT(position("> GET /x HTTP/3\n> Host: h:4433\n> user-agent: quiver/1\n>\n"), position("< HTTP/3 200"));
  EXPECT_EQ(err_.str().find(":method"), std::string::npos) << err_.str();
  EXPECT_LT(position("< HTTP/3 200"), position("< content-length: 3\n<\n"));
  EXPECT_LT(position("< content-length: 3"), position("* Response complete on stream 0: status 200"));
}

TEST_F(VerboseLogTest, HeadFirstThenResponseCompleteAtOnce) {
  log_.expect_request("GET", "/x", {});
  log_.on_request_event(event(RequestEvent::Type::start));
  log_.on_request_event(event(RequestEvent::Type::headers));
  log_.show_head("GET", "/x", 200, Headers{});
  log_.on_request_event(event(RequestEvent::Type::stop));
  EXPECT_LT(position("< HTTP/3 200"), position("* Response complete"));
  log_.finished("GET", "/x", std::nullopt);
}

// The pool answers some failures itself (a deadline, a connection that cannot be made) without a
// telemetry event: the transfer's outcome then gives the request its final line.
TEST_F(VerboseLogTest, RetryIsFollowedByTheFinalFailure) {
  log_.expect_request("GET", "/x", {});
  log_.on_request_event(event(RequestEvent::Type::start, 0));
  auto retry = event(RequestEvent::Type::retry, 0);
  retry.error = refused(0);
  log_.on_request_event(retry);
  log_.finished("GET", "/x", "request_timeout: the request took longer than 500 ms");
  EXPECT_LT(position("* Retrying GET /x (the server did not process it)"),
            position("* Request GET /x failed: request_timeout: the request took longer than 500 ms"));
}

// The refused attempt's own failure, reported after "Retrying", is not a final line; the next
// attempt's failure is, and the transfer adds nothing.
TEST_F(VerboseLogTest, EachAttemptFailsOnceAndTheLastFailureIsFinal) {
  log_.expect_request("GET", "/x", {});
  log_.on_request_event(event(RequestEvent::Type::start, 0));
  auto retry = event(RequestEvent::Type::retry, 0);
  retry.error = refused(0);
  log_.on_request_event(retry);
  auto first_failure = event(RequestEvent::Type::exception, 0);
  first_failure.error = refused(0);
  log_.on_request_event(first_failure);
  log_.on_request_event(event(RequestEvent::Type::start, 4));
  auto last_failure = event(RequestEvent::Type::exception, 4);
  last_failure.error = refused(4);
  log_.on_request_event(last_failure);
  log_.finished("GET", "/x", "stream_reset: refused");

  const std::string text = err_.str();
  const auto retried = position("* Retrying GET /x");
  const auto second_start = text.find("* Request GET /x on stream 4");
  ASSERT_NE(second_start, std::string::npos) << text;
  const std::string failed_line = "* Request GET /x failed:";
  const auto failed = text.find(failed_line);
  ASSERT_NE(failed, std::string::npos) << text;
  EXPECT_LT(retried, second_start);
  EXPECT_GT(failed, second_start) << "the refused attempt's failure is told by the Retrying line\n" << text;
  EXPECT_EQ(text.find("failed:", failed + failed_line.size()), std::string::npos) << "one final line\n" << text;
}

// The handshake as curl -v tells it, and nothing about facts that are unknown.
TEST(HandshakeLines, CurlsLinesForTlsCertificateAndQuic) {
  HandshakeDetails details;
  details.tls_version = "TLSv1.3";
  details.cipher = "TLS_AES_128_GCM_SHA256";
  details.alpn = "h3";
  details.certificate_subject = "CN=localhost,O=Quiver test";
  details.certificate_issuer = "CN=Quiver Test CA,O=Quiver test";
  details.certificate_not_before = std::chrono::system_clock::from_time_t(1733300000);  // 2024-12-04 08:13:20 UTC
  details.certificate_not_after = std::chrono::system_clock::from_time_t(2680000000);   // 2054-12-04 12:26:40 UTC
  details.key_exchange = "X25519";
  details.quic_version = 1;
  details.rtt = std::chrono::microseconds(250);
  const std::vector<std::string> expected = {
      "* SSL connection using TLSv1.3 / TLS_AES_128_GCM_SHA256 / x25519",
      "* ALPN: server accepted h3",
      "* Server certificate:",
      "*  subject: CN=localhost,O=Quiver test",
      "*  start date: Dec  4 08:13:20 2024 GMT",
      "*  expire date: Dec  4 12:26:40 2054 GMT",
      "*  issuer: CN=Quiver Test CA,O=Quiver test",
      "* QUIC version 0x00000001, RTT 0.250 ms",
  };
  EXPECT_EQ(handshake_lines(details), expected);
  EXPECT_TRUE(handshake_lines(HandshakeDetails{}).empty());
  HandshakeDetails tcp;
  tcp.tls_version = "TLSv1.2";
  tcp.cipher = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256";
  tcp.rtt = std::chrono::milliseconds(2);
  EXPECT_EQ(handshake_lines(tcp), (std::vector<std::string>{
                                      "* SSL connection using TLSv1.2 / TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                                      "* TCP RTT 2.00 ms"}));
}

}  // namespace
}  // namespace quiver::cli

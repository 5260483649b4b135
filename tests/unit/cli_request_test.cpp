#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cli_request.hpp"
#include "exit_codes.hpp"
#include "response_output.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

// A file in the temp directory, named after the running test, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(std::string_view contents) {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("quiver_") + test->test_suite_name() + "_" + test->name() + ".tmp");
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

CliOptions options_for(std::string url) {
  CliOptions options;
  options.url = std::move(url);
  return options;
}

PreparedRequest prepare_ok(const CliOptions& options, std::string_view stdin_text = "") {
  std::istringstream in{std::string(stdin_text)};
  auto prepared = prepare_request(options, in);
  EXPECT_TRUE(prepared.has_value()) << (prepared ? "" : prepared.error().line());
  return prepared.value_or(PreparedRequest{});
}

Failure prepare_failure(const CliOptions& options) {
  std::istringstream in;
  auto prepared = prepare_request(options, in);
  EXPECT_FALSE(prepared.has_value());
  return prepared ? Failure{} : prepared.error();
}

TEST(PrepareRequest, GetWithDefaultHeaders) {
  PreparedRequest prepared = prepare_ok(options_for("https://example.com/x"));
  EXPECT_EQ(prepared.request.method, "GET");
  EXPECT_EQ(prepared.request.url.target(), "/x");
  EXPECT_TRUE(prepared.request.body.empty());
  EXPECT_EQ(prepared.request.headers.get("user-agent"), "quiver/" + std::string(quiver_version()));
  EXPECT_EQ(prepared.request.headers.get("accept"), "*/*");
  EXPECT_FALSE(prepared.request.headers.contains("content-type"));
  ASSERT_GE(prepared.fields.size(), 4u);
  EXPECT_EQ(prepared.fields[2], (Header{":authority", "example.com"}));
}

TEST(PrepareRequest, UserHeadersReplaceDefaults) {
  CliOptions options = options_for("https://h/");
  options.headers = {{"User-Agent", "me"}, {"X-A", "1"}};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.headers.get_all("user-agent"), std::vector<std::string_view>{"me"});
  EXPECT_EQ(prepared.fields.back(), (Header{"x-a", "1"}));
}

TEST(PrepareRequest, DataMakesAFormPost) {
  CliOptions options = options_for("https://h/");
  options.data = {"a=1", "b=2"};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "POST");
  EXPECT_EQ(prepared.request.body.bytes(), "a=1&b=2");
  EXPECT_EQ(prepared.request.headers.get("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(prepared.fields.back(), (Header{"content-length", "7"}));
}

TEST(PrepareRequest, DataKeepsUserContentTypeAndMethod) {
  CliOptions options = options_for("https://h/");
  options.data = {"{}"};
  options.method = "PUT";
  options.headers = {{"Content-Type", "application/json"}};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "PUT");
  EXPECT_EQ(prepared.request.headers.get_all("content-type"), std::vector<std::string_view>{"application/json"});
}

TEST(PrepareRequest, DataFromFileIsSentVerbatim) {
  TempFile file(std::string("line1\nline2\0end", 15));
  CliOptions options = options_for("https://h/");
  options.data = {"@" + file.path()};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "POST");
  EXPECT_EQ(prepared.request.body.bytes(), std::string("line1\nline2\0end", 15));
}

TEST(PrepareRequest, DataFromStdin) {
  CliOptions options = options_for("https://h/");
  options.data = {"@-"};
  EXPECT_EQ(prepare_ok(options, "from stdin").request.body.bytes(), "from stdin");
}

TEST(PrepareRequest, UnreadableDataFileIsNamed) {
  CliOptions options = options_for("https://h/");
  options.data = {"@/nonexistent/quiver-body.txt"};
  Failure failure = prepare_failure(options);
  EXPECT_EQ(failure.exit_code, exit_code::read_failed);
  EXPECT_NE(failure.cause.find("'/nonexistent/quiver-body.txt'"), std::string::npos) << failure.line();

  options.data = {"@" + std::filesystem::temp_directory_path().string()};
  EXPECT_EQ(prepare_failure(options).exit_code, exit_code::read_failed);
}

TEST(PrepareRequest, BadUrlIsReportedBeforeAnythingElse) {
  CliOptions options = options_for("http://h/");
  options.data = {"@/nonexistent/file"};
  Failure failure = prepare_failure(options);
  EXPECT_EQ(failure.exit_code, exit_code::bad_url);
  EXPECT_EQ(failure.kind, "invalid_url");
  EXPECT_TRUE(failure.line().starts_with("quiver: invalid_url: ")) << failure.line();
}

TEST(PrepareRequest, ForbiddenHeaderIsNamed) {
  CliOptions options = options_for("https://h/");
  options.headers = {{"Connection", "close"}};
  Failure failure = prepare_failure(options);
  EXPECT_EQ(failure.exit_code, exit_code::invalid_header);
  EXPECT_NE(failure.cause.find("'Connection'"), std::string::npos) << failure.line();
}

TEST(PrepareRequest, BadMethodIsRejected) {
  CliOptions options = options_for("https://h/");
  options.method = "GE T";
  EXPECT_EQ(prepare_failure(options).exit_code, exit_code::invalid_header);
}

TEST(ConnectionOptionsFor, MapsTlsAndTimeout) {
  TempFile ca("-----BEGIN CERTIFICATE-----\n");
  CliOptions options = options_for("https://h/");
  options.insecure = true;
  options.ca_file = ca.path();
  options.connect_timeout = 1500ms;
  auto connection = connection_options_for(options);
  ASSERT_TRUE(connection.has_value());
  EXPECT_FALSE(connection->tls.verify_peer);
  EXPECT_EQ(connection->tls.ca_file, ca.path());
  EXPECT_EQ(connection->connect_timeout, 1500ms);

  auto defaults = connection_options_for(options_for("https://h/"));
  ASSERT_TRUE(defaults.has_value());
  EXPECT_TRUE(defaults->tls.verify_peer);
  EXPECT_EQ(defaults->connect_timeout, ConnectionOptions{}.connect_timeout);
}

TEST(ConnectionOptionsFor, UnreadableCaFileIsNamed) {
  CliOptions options = options_for("https://h/");
  options.ca_file = "/nonexistent/ca.pem";
  auto connection = connection_options_for(options);
  ASSERT_FALSE(connection.has_value());
  EXPECT_EQ(connection.error().exit_code, exit_code::bad_ca_file);
  EXPECT_NE(connection.error().cause.find("'/nonexistent/ca.pem'"), std::string::npos);
}

Response sample_response(int status) {
  Response response;
  response.status = status;
  response.headers = {{"content-type", "text/plain"}, {"x-a", "1"}};
  response.body = "body";
  return response;
}

TEST(EmitResponse, BodyOnly) {
  std::ostringstream out;
  EXPECT_FALSE(emit_response(sample_response(200), "https://h/", options_for("https://h/"), out).has_value());
  EXPECT_EQ(out.str(), "body");
}

TEST(EmitResponse, IncludeWritesTheHeadFirst) {
  CliOptions options = options_for("https://h/");
  options.include = true;
  std::ostringstream out;
  EXPECT_FALSE(emit_response(sample_response(404), "https://h/", options, out).has_value());
  EXPECT_EQ(out.str(), "HTTP/3 404\r\ncontent-type: text/plain\r\nx-a: 1\r\n\r\nbody");
}

TEST(EmitResponse, FailSuppressesErrorBodies) {
  CliOptions options = options_for("https://h/");
  options.fail = true;
  std::ostringstream out;
  auto failure = emit_response(sample_response(404), "https://h/x", options, out);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->exit_code, exit_code::http_error);
  EXPECT_NE(failure->cause.find("404"), std::string::npos);
  EXPECT_EQ(out.str(), "");
  EXPECT_FALSE(emit_response(sample_response(399), "https://h/", options, out).has_value());
}

TEST(EmitResponse, OutputFile) {
  TempFile file("previous contents, longer than the body");
  CliOptions options = options_for("https://h/");
  options.output_file = file.path();
  std::ostringstream out;
  EXPECT_FALSE(emit_response(sample_response(200), "https://h/", options, out).has_value());
  EXPECT_EQ(out.str(), "");
  std::ifstream written(file.path(), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(written), {}), "body");

  options.output_file = "/nonexistent/dir/out";
  auto failure = emit_response(sample_response(200), "https://h/", options, out);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->exit_code, exit_code::write_failed);
}

TEST(ExitCodes, EachFailureKindHasItsCode) {
  const auto code = [](ErrorKind kind, std::optional<HandshakeFailure> why = std::nullopt) {
    Error error(kind, "m");
    error.handshake_failure = why;
    return exit_code_for(error);
  };
  EXPECT_EQ(code(ErrorKind::invalid_url), 3);
  EXPECT_EQ(code(ErrorKind::resolve_failed), 6);
  EXPECT_EQ(code(ErrorKind::handshake_failed, HandshakeFailure::timeout), 7);
  EXPECT_EQ(code(ErrorKind::handshake_failed, HandshakeFailure::refused), 7);
  EXPECT_EQ(code(ErrorKind::handshake_failed, HandshakeFailure::certificate), 60);
  EXPECT_EQ(code(ErrorKind::handshake_failed, HandshakeFailure::alpn), 35);
  EXPECT_EQ(code(ErrorKind::handshake_failed), 35);
  EXPECT_EQ(code(ErrorKind::request_timeout), 28);
  EXPECT_EQ(code(ErrorKind::stream_reset), 92);
  EXPECT_EQ(code(ErrorKind::transport_error), 56);
  EXPECT_EQ(code(ErrorKind::body_failed), 26);
  EXPECT_EQ(code(ErrorKind::invalid_request), 43);
  EXPECT_EQ(code(ErrorKind::protocol_error), 8);

  const std::set<int> distinct = {exit_code::usage, exit_code::bad_url, exit_code::resolve_failed,
                                  exit_code::connect_failed, exit_code::certificate, exit_code::handshake_failed,
                                  exit_code::timed_out, exit_code::stream_reset, exit_code::connection_failed,
                                  exit_code::http_error, exit_code::read_failed, exit_code::invalid_header,
                                  exit_code::write_failed, exit_code::bad_ca_file, exit_code::protocol_error};
  EXPECT_EQ(distinct.size(), 15u);
  EXPECT_EQ(distinct.count(exit_code::ok), 0u);
}

TEST(ExitCodes, FailureLineNamesKindAndProtocolCodes) {
  Error error(ErrorKind::stream_reset, "the server reset the stream");
  error.h3_code = h3_code::request_rejected;
  Failure failure = failure_from(error);
  EXPECT_EQ(failure.line(), "quiver: stream_reset: the server reset the stream (H3_REQUEST_REJECTED)");

  Error named(ErrorKind::transport_error, "closed by peer: PROTOCOL_VIOLATION");
  named.transport_code = 0x0a;
  EXPECT_EQ(failure_from(named).cause, "closed by peer: PROTOCOL_VIOLATION");
}

}  // namespace
}  // namespace quiver::cli

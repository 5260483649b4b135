#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cli_request.hpp"
#include "request_body.hpp"
#include "support/loopback.hpp"
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

using K = DataItem::Kind;

std::vector<DataItem> ascii(std::initializer_list<const char*> texts) {
  std::vector<DataItem> items;
  for (const char* text : texts) items.push_back({K::ascii, text});
  return items;
}

RequestOptions options_for(std::string url) {
  RequestOptions options;
  options.urls = {std::move(url)};
  return options;
}

std::vector<PreparedRequest> prepare_all(const RequestOptions& options, std::string_view stdin_text = "") {
  std::istringstream in{std::string(stdin_text)};
  auto prepared = prepare_requests(options, in);
  EXPECT_TRUE(prepared.has_value()) << (prepared ? "" : prepared.error().line());
  return prepared.value_or(std::vector<PreparedRequest>{});
}

PreparedRequest prepare_ok(const RequestOptions& options, std::string_view stdin_text = "") {
  auto all = prepare_all(options, stdin_text);
  EXPECT_EQ(all.size(), 1u);
  return all.empty() ? PreparedRequest{} : std::move(all.front());
}

Failure prepare_failure(const RequestOptions& options) {
  std::istringstream in;
  auto prepared = prepare_requests(options, in);
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
  RequestOptions options = options_for("https://h/");
  options.headers = {"User-Agent: me", "X-A: 1"};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.headers.get_all("user-agent"), std::vector<std::string_view>{"me"});
  EXPECT_EQ(prepared.fields.back(), (Header{"x-a", "1"}));
}

TEST(PrepareRequest, DataMakesAFormPost) {
  RequestOptions options = options_for("https://h/");
  options.data = ascii({"a=1", "b=2"});
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "POST");
  EXPECT_EQ(prepared.request.body.bytes(), "a=1&b=2");
  EXPECT_EQ(prepared.request.headers.get("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(prepared.fields.back(), (Header{"content-length", "7"}));
}

TEST(PrepareRequest, DataKeepsUserContentTypeAndMethod) {
  RequestOptions options = options_for("https://h/");
  options.data = ascii({"{}"});
  options.method = "PUT";
  options.headers = {"Content-Type: application/json"};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "PUT");
  EXPECT_EQ(prepared.request.headers.get_all("content-type"), std::vector<std::string_view>{"application/json"});
}

// -d @file drops CR and LF as curl does; --data-binary sends the file byte for byte.
TEST(PrepareRequest, DataFileLosesLineEndsButBinaryDataDoesNot) {
  TempFile file(std::string("line1\r\nline2\0end\n", 18));
  RequestOptions options = options_for("https://h/");
  options.data = {{K::ascii, "@" + file.path()}};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "POST");
  EXPECT_EQ(prepared.request.body.bytes(), std::string("line1line2\0end", 15));
  options.data = {{K::binary, "@" + file.path()}};
  EXPECT_EQ(prepare_ok(options).request.body.bytes(), std::string("line1\r\nline2\0end\n", 18));
}

TEST(PrepareRequest, DataKindsJoinInOrder) {
  TempFile file("a b&c");
  RequestOptions options = options_for("https://h/");
  options.data = {{K::raw, "@raw"}, {K::urlencode, "q=a b&c"}, {K::urlencode, "=x/y"}, {K::urlencode, "plain text"},
                  {K::urlencode, "f@" + file.path()}, {K::urlencode, "@" + file.path()}};
  EXPECT_EQ(prepare_ok(options).request.body.bytes(), "@raw&q=a%20b%26c&x%2Fy&plain%20text&f=a%20b%26c&a%20b%26c");
}

TEST(PrepareRequest, JsonSetsContentTypeAndAcceptAndConcatenates) {
  RequestOptions options = options_for("https://h/");
  options.data = {{K::json, "{\"a\":"}, {K::json, "1}"}};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "POST");
  EXPECT_EQ(prepared.request.body.bytes(), "{\"a\":1}");
  EXPECT_EQ(prepared.request.headers.get("content-type"), "application/json");
  EXPECT_EQ(prepared.request.headers.get("accept"), "application/json");
}

TEST(PrepareRequest, GetPutsTheDataInTheQuery) {
  RequestOptions options = options_for("https://h/p?x=1#frag");
  options.data = ascii({"a=1", "b=2"});
  options.get = true;
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "GET");
  EXPECT_EQ(prepared.request.url.target(), "/p?x=1&a=1&b=2");
  EXPECT_TRUE(prepared.request.body.empty());
  EXPECT_FALSE(prepared.request.headers.contains("content-type"));
  options.urls = {"https://h/p"};
  options.head = true;
  PreparedRequest head = prepare_ok(options);
  EXPECT_EQ(head.request.method, "HEAD");
  EXPECT_EQ(head.request.url.target(), "/p?a=1&b=2");
}

TEST(PrepareRequest, CurlHeaderSyntax) {
  TempFile file("X-From-File: 1\r\n\r\nX-Second: two\n");
  RequestOptions options = options_for("https://h/");
  options.headers = {"Accept:", "X-Empty;", "User-Agent: mine", "@" + file.path(), "X-Dup: 1", "X-Dup: 2"};
  std::vector<std::string> warnings;
  std::istringstream in;
  auto prepared = prepare_requests(options, in, &warnings);
  ASSERT_TRUE(prepared.has_value()) << prepared.error().line();
  const Headers& headers = prepared->front().request.headers;
  EXPECT_FALSE(headers.contains("accept"));  // "Accept:" removes quiver's
  EXPECT_EQ(headers.get("x-empty"), "");
  EXPECT_EQ(headers.get_all("user-agent"), std::vector<std::string_view>{"mine"});
  EXPECT_EQ(headers.get("x-from-file"), "1");
  EXPECT_EQ(headers.get("x-second"), "two");
  EXPECT_EQ(headers.get_all("x-dup"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_TRUE(warnings.empty());
}

TEST(PrepareRequest, ConnectionSpecificHeadersAreDroppedWithAWarning) {
  RequestOptions options = options_for("https://h/");
  options.headers = {"Connection: keep-alive", "TE: gzip", "TE: trailers", "X-Kept: 1"};
  std::vector<std::string> warnings;
  std::istringstream in;
  auto prepared = prepare_requests(options, in, &warnings);
  ASSERT_TRUE(prepared.has_value()) << prepared.error().line();
  const Headers& headers = prepared->front().request.headers;
  EXPECT_FALSE(headers.contains("connection"));
  EXPECT_EQ(headers.get_all("te"), std::vector<std::string_view>{"trailers"});
  EXPECT_EQ(headers.get("x-kept"), "1");
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("Connection: keep-alive"), std::string::npos) << warnings[0];
}

TEST(PrepareRequest, UnreadableHeaderFileIsNamed) {
  RequestOptions options = options_for("https://h/");
  options.headers = {"@/nonexistent/headers.txt"};
  Failure failure = prepare_failure(options);
  EXPECT_EQ(failure.exit_code, exit_code::read_failed);
  EXPECT_NE(failure.cause.find("/nonexistent/headers.txt"), std::string::npos) << failure.line();
}

TEST(PrepareRequest, UserAgentRefererAuthCookiesAndRange) {
  RequestOptions options = options_for("https://h/");
  options.user = "Aladdin:open sesame";
  options.user_agent = "agent/2";
  options.referer = "https://from/";
  options.cookies = {"a=1", "jar-file.txt", "b=2; c=3"};
  options.range = "10-19";
  const Headers headers = prepare_ok(options).request.headers;
  EXPECT_EQ(headers.get("authorization"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");  // RFC 7617's example
  EXPECT_EQ(headers.get("user-agent"), "agent/2");
  EXPECT_EQ(headers.get("referer"), "https://from/");
  EXPECT_EQ(headers.get("cookie"), "a=1; b=2; c=3");  // the file is the cookie engine's
  EXPECT_EQ(headers.get("range"), "bytes=10-19");
  options.user_agent = "";
  EXPECT_FALSE(prepare_ok(options).request.headers.contains("user-agent"));  // -A "" sends none
}

TEST(PrepareRequest, UploadIsAStreamedPutNamedAfterTheFile) {
  TempFile file("upload body");
  RequestOptions options = options_for("https://h/dir/");
  options.upload_file = file.path();
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "PUT");
  EXPECT_EQ(prepared.request.body.kind(), RequestBody::Kind::file);
  EXPECT_EQ(prepared.request.url.target(), "/dir/" + std::filesystem::path(file.path()).filename().string());
  EXPECT_NE(std::ranges::find(prepared.fields, Header{"content-length", "11"}), prepared.fields.end());
  options.urls = {"https://h/exact"};
  EXPECT_EQ(prepare_ok(options).request.url.target(), "/exact");
  options.upload_file = "/nonexistent/upload.bin";
  EXPECT_EQ(prepare_failure(options).exit_code, exit_code::read_failed);
}

TEST(PrepareRequest, FormIsAMultipartPostWithAFreshBodyPerAttempt) {
  TempFile file("file text");
  RequestOptions options = options_for("https://h/");
  options.form = {"a=1", "f=@" + file.path()};
  PreparedRequest prepared = prepare_ok(options);
  EXPECT_EQ(prepared.request.method, "POST");
  auto type = prepared.request.headers.get("content-type");
  ASSERT_TRUE(type.has_value());
  EXPECT_TRUE(type->starts_with("multipart/form-data; boundary=")) << *type;
  EXPECT_EQ(prepared.request.body.kind(), RequestBody::Kind::producer);
  ASSERT_TRUE(prepared.make_body);
  EXPECT_EQ(prepared.make_body().kind(), RequestBody::Kind::producer);
  options.form = {"novalue"};
  EXPECT_EQ(prepare_failure(options).exit_code, exit_code::usage);
  options.form = {"f=@/nonexistent/part.bin"};
  EXPECT_EQ(prepare_failure(options).exit_code, exit_code::read_failed);
}

TEST(PrepareRequest, DataFromStdin) {
  RequestOptions options = options_for("https://h/");
  options.data = ascii({"@-"});
  EXPECT_EQ(prepare_ok(options, "from stdin").request.body.bytes(), "from stdin");
}

TEST(PrepareRequest, UnreadableDataFileIsNamed) {
  RequestOptions options = options_for("https://h/");
  options.data = ascii({"@/nonexistent/quiver-body.txt"});
  Failure failure = prepare_failure(options);
  EXPECT_EQ(failure.exit_code, exit_code::read_failed);
  EXPECT_NE(failure.cause.find("'/nonexistent/quiver-body.txt'"), std::string::npos) << failure.line();

  options.data = {{K::ascii, "@" + std::filesystem::temp_directory_path().string()}};
  EXPECT_EQ(prepare_failure(options).exit_code, exit_code::read_failed);
}

TEST(PrepareRequest, SeveralUrlsShareTheBody) {
  RequestOptions options = options_for("https://a/x");
  options.urls.push_back("https://b:8443/y?z=1");
  options.data = ascii({"@-"});
  auto all = prepare_all(options, "once");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].request.url.to_string(), "https://a/x");
  EXPECT_EQ(all[1].request.url.to_string(), "https://b:8443/y?z=1");
  EXPECT_EQ(all[0].request.body.bytes(), "once");
  EXPECT_EQ(all[1].request.body.bytes(), "once");
  EXPECT_EQ(all[1].fields[2], (Header{":authority", "b:8443"}));
}

TEST(PrepareRequest, BadUrlIsReportedBeforeAnythingElse) {
  RequestOptions options = options_for("http://h/");
  options.data = ascii({"@/nonexistent/file"});
  Failure failure = prepare_failure(options);
  EXPECT_EQ(failure.exit_code, exit_code::bad_url);
  EXPECT_EQ(failure.kind, "invalid_url");
  EXPECT_TRUE(failure.line().starts_with("quiver: invalid_url: ")) << failure.line();
}

TEST(PrepareRequest, AnyBadUrlFailsTheWholeCommand) {
  RequestOptions options = options_for("https://good/");
  options.urls.push_back("https://bad host/");
  EXPECT_EQ(prepare_failure(options).exit_code, exit_code::bad_url);
}

TEST(PrepareRequest, ForbiddenHeaderIsNamed) {
  RequestOptions options = options_for("https://h/");
  options.headers = {"Bad Name: x"};
  Failure failure = prepare_failure(options);
  EXPECT_EQ(failure.exit_code, exit_code::invalid_header);
  EXPECT_NE(failure.cause.find("Bad Name"), std::string::npos) << failure.line();
}

TEST(PrepareRequest, BadMethodIsRejected) {
  RequestOptions options = options_for("https://h/");
  options.method = "GE T";
  EXPECT_EQ(prepare_failure(options).exit_code, exit_code::invalid_header);
}

TEST(ConnectionOptionsFor, MapsTlsAndTimeout) {
  RequestOptions options = options_for("https://h/");
  options.insecure = true;
  options.ca_file = quiver::test::data_file("ca.pem");
  options.connect_timeout = 1500ms;
  auto connection = connection_options_for(options);
  ASSERT_TRUE(connection.has_value());
  EXPECT_FALSE(connection->tls.verify_peer);
  EXPECT_EQ(connection->tls.ca_file, options.ca_file);
  EXPECT_EQ(connection->connect_timeout, 1500ms);

  auto defaults = connection_options_for(options_for("https://h/"));
  ASSERT_TRUE(defaults.has_value());
  EXPECT_TRUE(defaults->tls.verify_peer);
  EXPECT_EQ(defaults->connect_timeout, ConnectionOptions{}.connect_timeout);
}

TEST(ConnectionOptionsFor, Http2ChoosesTcp) {
  RequestOptions options = options_for("https://h/");
  options.http2 = true;
  EXPECT_EQ(connection_options_for(options)->http_version, HttpVersion::http2);
}

TEST(ConnectionOptionsFor, AutoIsTheDefaultAndHttp3OnlyOptsOut) {
  RequestOptions options = options_for("https://h/");
  EXPECT_EQ(connection_options_for(options)->http_version, HttpVersion::http3);
  options.http3 = true;
  EXPECT_EQ(connection_options_for(options)->http_version, HttpVersion::http3);
  options.http3 = false;
  options.http3_only = true;
  EXPECT_EQ(connection_options_for(options)->http_version, HttpVersion::http3_only);
}

TEST(ConnectionOptionsFor, UnreadableCaFileIsNamed) {
  RequestOptions options = options_for("https://h/");
  options.ca_file = "/nonexistent/ca.pem";
  auto connection = connection_options_for(options);
  ASSERT_FALSE(connection.has_value());
  EXPECT_EQ(connection.error().exit_code, exit_code::bad_ca_file);
  EXPECT_NE(connection.error().cause.find("'/nonexistent/ca.pem'"), std::string::npos);
}

// curl's exit 77 also covers a CA file that holds no certificate.
TEST(ConnectionOptionsFor, CaFileWithoutACertificateIsRefused) {
  TempFile ca("-----BEGIN CERTIFICATE-----\nnot base64\n");
  RequestOptions options = options_for("https://h/");
  options.ca_file = ca.path();
  auto connection = connection_options_for(options);
  ASSERT_FALSE(connection.has_value());
  EXPECT_EQ(connection.error().exit_code, exit_code::bad_ca_file);
  EXPECT_NE(connection.error().cause.find("no PEM certificate"), std::string::npos) << connection.error().line();
}

const Headers sample_headers = {{"content-type", "text/plain"}, {"x-a", "1"}};

std::string file_contents(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

TEST(BodyWriter, BodyOnlyToStdout) {
  std::ostringstream out;
  BodyWriter writer({}, out, false);
  EXPECT_FALSE(writer.begin(200, sample_headers).has_value());
  EXPECT_FALSE(writer.write("bo").has_value());
  EXPECT_FALSE(writer.write("dy").has_value());
  EXPECT_FALSE(writer.finish().has_value());
  EXPECT_EQ(out.str(), "body");
}

TEST(BodyWriter, IncludeWritesTheHeadFirst) {
  std::ostringstream out;
  BodyWriter writer({}, out, true);
  EXPECT_FALSE(writer.begin(404, sample_headers).has_value());
  EXPECT_FALSE(writer.write("body").has_value());
  EXPECT_EQ(out.str(), "HTTP/3 404\r\ncontent-type: text/plain\r\nx-a: 1\r\n\r\nbody");
}

TEST(BodyWriter, BufferHoldsTheBody) {
  std::ostringstream out;
  BodyWriter writer({OutputTarget::Kind::buffer, ""}, out, false);
  writer.begin(200, sample_headers);
  writer.write("held");
  writer.finish();
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(writer.take_buffer(), "held");
}

TEST(BodyWriter, FileIsCreatedOnlyWhenBegun) {
  TempFile file("previous contents, longer than the body");
  std::filesystem::remove(file.path());
  std::ostringstream out;
  {
    BodyWriter unused({OutputTarget::Kind::file, file.path()}, out, false);
    EXPECT_FALSE(unused.finish().has_value());
  }
  EXPECT_FALSE(std::filesystem::exists(file.path()));
  BodyWriter writer({OutputTarget::Kind::file, file.path()}, out, false);
  EXPECT_FALSE(writer.begin(200, sample_headers).has_value());
  EXPECT_FALSE(writer.write("body").has_value());
  EXPECT_FALSE(writer.finish().has_value());
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(file_contents(file.path()), "body");
}

TEST(BodyWriter, UnwritableFileFails) {
  std::ostringstream out;
  BodyWriter writer({OutputTarget::Kind::file, "/nonexistent/dir/out"}, out, false);
  auto failure = writer.begin(200, sample_headers);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->exit_code, exit_code::write_failed);
  EXPECT_NE(failure->cause.find("'/nonexistent/dir/out'"), std::string::npos);
}

TEST(HttpFailure, OnlyWithFailAndAnErrorStatus) {
  auto failure = http_failure(404, "https://h/x", true);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->exit_code, exit_code::http_error);
  EXPECT_NE(failure->cause.find("404"), std::string::npos);
  EXPECT_FALSE(http_failure(399, "https://h/", true).has_value());
  EXPECT_FALSE(http_failure(500, "https://h/", false).has_value());
}

TEST(RemoteFileName, LastPathSegmentOrIndexHtml) {
  const auto name = [](const char* url) { return remote_file_name(*Url::parse(url)); };
  EXPECT_EQ(name("https://h/a/b/file.tar.gz"), "file.tar.gz");
  EXPECT_EQ(name("https://h/a/b.bin?x=1/2"), "b.bin");
  EXPECT_EQ(name("https://h/"), "index.html");
  EXPECT_EQ(name("https://h"), "index.html");
  EXPECT_EQ(name("https://h/dir/"), "index.html");
  EXPECT_EQ(name("https://h/bytes/10"), "10");
}

TEST(OutputTarget, ChosenByTheOptions) {
  const Url url = *Url::parse("https://h/x/data.bin");
  FetchOptions options;
  EXPECT_EQ(OutputTarget::for_url(options, url, false).kind, OutputTarget::Kind::stdout_stream);
  EXPECT_EQ(OutputTarget::for_url(options, url, true).kind, OutputTarget::Kind::buffer);
  options.output_file = "o.bin";
  EXPECT_EQ(OutputTarget::for_url(options, url, true).path, "o.bin");
  options.output_file.reset();
  options.remote_name = true;
  EXPECT_EQ(OutputTarget::for_url(options, url, false).path, "data.bin");
  options.output_dir = "/tmp/d";
  OutputTarget target = OutputTarget::for_url(options, url, true);
  EXPECT_EQ(target.kind, OutputTarget::Kind::file);
  EXPECT_EQ(target.path, "/tmp/d/data.bin");
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
  EXPECT_EQ(code(ErrorKind::handshake_failed, HandshakeFailure::client_certificate), 58);
  EXPECT_EQ(code(ErrorKind::handshake_failed), 35);
  EXPECT_EQ(code(ErrorKind::request_timeout), 28);
  EXPECT_EQ(code(ErrorKind::stream_reset), 92);
  EXPECT_EQ(code(ErrorKind::transport_error), 56);
  EXPECT_EQ(code(ErrorKind::body_failed), 26);
  EXPECT_EQ(code(ErrorKind::invalid_request), 43);
  EXPECT_EQ(code(ErrorKind::protocol_error), 8);
  EXPECT_EQ(code(ErrorKind::headers_too_large), 100);

  const std::set<int> distinct = {exit_code::usage, exit_code::bad_url, exit_code::resolve_failed,
                                  exit_code::connect_failed, exit_code::certificate, exit_code::handshake_failed,
                                  exit_code::timed_out, exit_code::stream_reset, exit_code::connection_failed,
                                  exit_code::http_error, exit_code::read_failed, exit_code::invalid_header,
                                  exit_code::write_failed, exit_code::bad_ca_file, exit_code::protocol_error,
                                  exit_code::too_large, exit_code::client_certificate};
  EXPECT_EQ(distinct.size(), 17u);
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

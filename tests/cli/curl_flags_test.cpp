// curl's everyday flags on the `quiver` command, each run against a live `quiver serve` and checked on
// what the server saw (its httpbin routes echo the request as JSON) or on what quiver wrote.
#include <csignal>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_fixture.hpp"
#include "cli/serve_process.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class CurlFlags : public ::testing::Test {
 protected:
  // One quiet server for the whole suite (no access log: nothing has to read its stdout).
  static void SetUpTestSuite() {
    serve_ = new ServeProcess({"-q", "--cert", data_file("server.pem"), "--key", data_file("server-key.pem")});
  }
  static void TearDownTestSuite() {
    delete serve_;
    serve_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(serve_->port(), 0) << serve_->describe(); }

  static std::string url(const std::string& target) { return serve_->url(target); }

  // quiver --cacert <test CA> args...
  static ProcessResult run(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {"--cacert", data_file("ca.pem")});
    return quiver(args, 15s, stdin_data);
  }

  // The httpbin echo quiver printed; fails the test if it is not JSON.
  static json echo(const ProcessResult& result) {
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    auto parsed = json::parse(result.out, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << describe(result);
    return parsed.is_discarded() ? json::object() : parsed;
  }

  static ServeProcess* serve_;
};

ServeProcess* CurlFlags::serve_ = nullptr;

TEST_F(CurlFlags, HeadPrintsTheHeadAndNoBody) {
  auto result = run({"-I", url("/get")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_TRUE(result.out.starts_with("HTTP/3 200\r\n")) << result.out;
  EXPECT_TRUE(result.out.ends_with("\r\n\r\n")) << result.out;
  EXPECT_EQ(result.out.find("\"args\""), std::string::npos) << "a body was printed: " << result.out;
  auto query = run({"-I", "-G", "-d", "x=1", url("/anything")});  // -G keeps HEAD: the data is the query
  ASSERT_EQ(query.exit_code, 0) << describe(query);
  EXPECT_TRUE(query.out.starts_with("HTTP/3 200\r\n")) << query.out;
}

TEST_F(CurlFlags, DumpHeaderToAFileAndToStdout) {
  TempDir dir;
  const auto file = dir.path() / "head.txt";
  auto result = run({"-D", file.string(), url("/response-headers?X-Test=dumped")});
  auto body = echo(result);
  EXPECT_EQ(body["X-Test"], "dumped");
  const std::string head = read_file(file);
  EXPECT_TRUE(head.starts_with("HTTP/3 200\r\n")) << head;
  EXPECT_NE(head.find("x-test: dumped\r\n"), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;

  auto to_stdout = run({"-D", "-", url("/get")});
  ASSERT_EQ(to_stdout.exit_code, 0) << describe(to_stdout);
  const auto blank = to_stdout.out.find("\r\n\r\n");
  ASSERT_NE(blank, std::string::npos) << to_stdout.out;
  EXPECT_TRUE(to_stdout.out.starts_with("HTTP/3 200\r\n"));
  EXPECT_FALSE(json::parse(to_stdout.out.substr(blank + 4), nullptr, false).is_discarded()) << to_stdout.out;
}

TEST_F(CurlFlags, UploadFileIsAStreamedPut) {
  TempDir dir;
  const std::string contents = "uploaded by -T\nsecond line\n";
  const std::string file = dir.write("up.txt", contents);
  auto body = echo(run({"-T", file, url("/anything")}));
  EXPECT_EQ(body["method"], "PUT");
  EXPECT_EQ(body["data"], contents);
  EXPECT_EQ(body["headers"]["Content-Length"], std::to_string(contents.size()));

  auto named = echo(run({"-T", file, url("/anything/dir/")}));  // a trailing '/' gets the file's name
  EXPECT_EQ(named["url"], url("/anything/dir/up.txt"));

  auto from_stdin = echo(run({"-T", "-", url("/put")}, "streamed from stdin"));
  EXPECT_EQ(from_stdin["data"], "streamed from stdin");
}

TEST_F(CurlFlags, DataFlavours) {
  TempDir dir;
  const std::string file = dir.write("lines.txt", "a=1\r\n&b=2\n");
  auto ascii = echo(run({"-d", "@" + file, url("/post")}));
  EXPECT_EQ(ascii["form"], json::parse(R"({"a": "1", "b": "2"})"));  // CR/LF stripped

  auto binary = echo(run({"--data-binary", "@" + file, "-H", "Content-Type: text/plain", url("/post")}));
  EXPECT_EQ(binary["data"], "a=1\r\n&b=2\n");

  auto raw = echo(run({"--data-raw", "@" + file, "-H", "Content-Type: text/plain", url("/post")}));
  EXPECT_EQ(raw["data"], "@" + file);

  auto encoded = echo(run({"--data-urlencode", "q=a b&c", "--data-urlencode", "=x/y", "-d", "z=1", url("/post")}));
  EXPECT_EQ(encoded["form"]["q"], "a b&c");
  EXPECT_EQ(encoded["form"]["x/y"], "");
  EXPECT_EQ(encoded["form"]["z"], "1");

  auto query = echo(run({"-G", "-d", "a=1", "--data-urlencode", "b=x y", url("/get?pre=0")}));
  EXPECT_EQ(query["args"], json::parse(R"({"pre": "0", "a": "1", "b": "x y"})"));
}

TEST_F(CurlFlags, JsonSetsTheBodyAndBothHeaders) {
  auto body = echo(run({"--json", R"({"name":)", "--json", R"("quiver"})", url("/post")}));
  EXPECT_EQ(body["json"], json::parse(R"({"name": "quiver"})"));
  EXPECT_EQ(body["headers"]["Content-Type"], "application/json");
  EXPECT_EQ(body["headers"]["Accept"], "application/json");
}

TEST_F(CurlFlags, MultipartFormWithAFileAndTypes) {
  TempDir dir;
  const std::string file = dir.write("notes.txt", "file contents\n");
  auto body = echo(run({"-F", "name=quiver", "-F", "doc=@" + file, "-F", "raw=<" + file + ";type=text/x-raw",
                        url("/post")}));
  const std::string type = body["headers"]["Content-Type"];
  ASSERT_TRUE(type.starts_with("multipart/form-data; boundary=")) << type;
  const std::string boundary = type.substr(type.find('=') + 1);
  const std::string data = body["data"];
  const std::string expected = fmt::format(
      "--{0}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nquiver\r\n"
      "--{0}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"notes.txt\"\r\nContent-Type: text/plain"
      "\r\n\r\nfile contents\n\r\n"
      "--{0}\r\nContent-Disposition: form-data; name=\"raw\"\r\nContent-Type: text/x-raw\r\n\r\nfile contents\n\r\n"
      "--{0}--\r\n",
      boundary);
  EXPECT_EQ(data, expected);
  EXPECT_EQ(body["headers"]["Content-Length"], std::to_string(expected.size()));
}

TEST_F(CurlFlags, BasicAuth) {
  auto ok = echo(run({"-u", "user:pa:ss", url("/basic-auth/user/pa:ss")}));
  EXPECT_EQ(ok["authenticated"], true);
  EXPECT_EQ(ok["user"], "user");
  EXPECT_EQ(run({"-f", "-u", "user:wrong", url("/basic-auth/user/pa:ss")}).exit_code, 22);
}

TEST_F(CurlFlags, UserAgentAndReferer) {
  auto body = echo(run({"-A", "agent/7", "-e", "https://example.com/from", url("/get")}));
  EXPECT_EQ(body["headers"]["User-Agent"], "agent/7");
  EXPECT_EQ(body["headers"]["Referer"], "https://example.com/from");
  auto none = echo(run({"-A", "", url("/get")}));
  EXPECT_FALSE(none["headers"].contains("User-Agent")) << none.dump();
}

TEST_F(CurlFlags, CurlHeaderSyntax) {
  TempDir dir;
  const std::string file = dir.write("headers.txt", "X-From-File: yes\r\nX-Second: 2\n");
  auto result = run({"-H", "Accept:", "-H", "X-Empty;", "-H", "@" + file, "-H", "Connection: keep-alive",
                     url("/anything")});
  auto body = echo(result);
  EXPECT_FALSE(body["headers"].contains("Accept")) << body.dump();
  EXPECT_EQ(body["headers"]["X-Empty"], "");
  EXPECT_EQ(body["headers"]["X-From-File"], "yes");
  EXPECT_EQ(body["headers"]["X-Second"], "2");
  EXPECT_FALSE(body["headers"].contains("Connection"));
  EXPECT_NE(result.err.find("quiver: warning: ignoring -H 'Connection: keep-alive'"), std::string::npos)
      << result.err;
}

TEST_F(CurlFlags, CookieStringIsSentAsIs) {
  auto body = echo(run({"-b", "a=1; b=two", url("/cookies")}));
  EXPECT_EQ(body["cookies"], json::parse(R"({"a": "1", "b": "two"})"));
}

// The jar written by one process is read by the next, as with curl -c then -b.
TEST_F(CurlFlags, CookieJarRoundTripAcrossTwoProcesses) {
  TempDir dir;
  const auto jar = dir.path() / "jar.txt";
  auto set = run({"-c", jar.string(), url("/cookies/set?flavour=oat&size=big")});
  ASSERT_EQ(set.exit_code, 0) << describe(set);
  const std::string contents = read_file(jar);
  EXPECT_TRUE(contents.starts_with("# Netscape HTTP Cookie File\n")) << contents;
  EXPECT_NE(contents.find("127.0.0.1\tFALSE\t/\tFALSE\t0\tflavour\toat\n"), std::string::npos) << contents;

  auto sent = echo(run({"-b", jar.string(), "-b", "extra=1", url("/cookies")}));
  EXPECT_EQ(sent["cookies"], json::parse(R"({"flavour": "oat", "size": "big", "extra": "1"})"));

  // Within one command the engine carries cookies from one URL to the next.
  auto chained = run({"-c", (dir.path() / "second.txt").string(), url("/cookies/set?k=v"), url("/cookies")});
  ASSERT_EQ(chained.exit_code, 0) << describe(chained);
  EXPECT_NE(chained.out.find(R"("k": "v")"), std::string::npos) << chained.out;

  auto deleted = run({"-b", jar.string(), "-c", jar.string(), url("/cookies/delete?flavour")});
  ASSERT_EQ(deleted.exit_code, 0) << describe(deleted);
  EXPECT_EQ(read_file(jar).find("flavour"), std::string::npos) << read_file(jar);
}

TEST_F(CurlFlags, RangeAsksForPartOfTheBody) {
  auto result = run({"-r", "10-19", url("/range/100")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, deterministic_bytes(10, 10));
}

TEST_F(CurlFlags, ContinueAtResumesAPartialFile) {
  TempDir dir;
  const std::string file = dir.write("part.bin", deterministic_bytes(0, 30));
  auto result = run({"-C", "-", "-o", file, url("/range/100")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(read_file(file), deterministic_bytes(0, 100));

  auto again = run({"-C", "-", "-o", file, url("/range/100")});  // complete: 416, nothing written
  EXPECT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_EQ(read_file(file), deterministic_bytes(0, 100));

  // A server that ignores Range (the whole body, 200) cannot resume: curl's exit 33.
  const std::string other = dir.write("other.bin", "0123456789");
  auto no_ranges = run({"-C", "-", "-o", other, url("/bytes/100")});
  EXPECT_EQ(no_ranges.exit_code, 33) << describe(no_ranges);
  EXPECT_EQ(read_file(other), "0123456789");
}

TEST_F(CurlFlags, CreateDirsAndNoClobber) {
  TempDir dir;
  const auto nested = dir.path() / "a" / "b" / "out.bin";
  EXPECT_EQ(run({"-o", nested.string(), url("/bytes/10")}).exit_code, 23);
  auto created = run({"--create-dirs", "-o", nested.string(), url("/bytes/10")});
  ASSERT_EQ(created.exit_code, 0) << describe(created);
  EXPECT_EQ(read_file(nested), deterministic_bytes(0, 10));

  auto kept = run({"--no-clobber", "-o", nested.string(), url("/bytes/20")});
  ASSERT_EQ(kept.exit_code, 0) << describe(kept);
  EXPECT_EQ(read_file(nested), deterministic_bytes(0, 10));
  EXPECT_EQ(read_file(nested.string() + ".1"), deterministic_bytes(0, 20));
}

TEST_F(CurlFlags, VerboseReadsLikeCurls) {
  auto result = run({"-v", url("/get")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  const std::string& err = result.err;
  const auto request_line = err.find("> GET /get HTTP/3\n");
  ASSERT_NE(request_line, std::string::npos) << err;
  EXPECT_NE(err.find(fmt::format("> Host: 127.0.0.1:{}\n", serve_->port())), std::string::npos) << err;
  EXPECT_NE(err.find("\n>\n"), std::string::npos) << err;
  const auto status = err.find("< HTTP/3 200\n");
  ASSERT_NE(status, std::string::npos) << err;
  EXPECT_LT(request_line, status);
  EXPECT_NE(err.find("\n<\n", status), std::string::npos) << err;
  EXPECT_TRUE(err.starts_with("* ")) << err;
}

TEST_F(CurlFlags, CaFileWithoutCertificatesExits77) {
  TempDir dir;
  const std::string empty = dir.write("empty.pem", "no certificate here\n");
  auto result = quiver({"--cacert", empty, url("/get")});
  EXPECT_EQ(result.exit_code, 77) << describe(result);
  EXPECT_NE(result.err.find("holds no PEM certificate"), std::string::npos) << result.err;
}

TEST_F(CurlFlags, MaxTimeExits28) {
  auto result = run({"-m", "0.3", url("/delay/5000")});
  EXPECT_EQ(result.exit_code, 28) << describe(result);
}

TEST_F(CurlFlags, UnsupportedFlagsSaySoAndSendNothing) {
  auto result = run({"--proxy", "http://127.0.0.1:3128", url("/get")});
  EXPECT_EQ(result.exit_code, 2) << describe(result);
  EXPECT_NE(result.err.find("-x/--proxy (proxy) is not supported yet"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.out, "");
}

// --retry against the in-process server, whose access log counts the attempts.
class RetryFlags : public CliServerTest {
 protected:
  std::size_t requests_for(const std::string& path) {
    std::size_t count = 0;
    for (const auto& entry : access_log_.entries()) count += entry.path == path ? 1 : 0;
    return count;
  }
  ProcessResult run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--cacert", ca_file()});
    return quiver(args, 20s);
  }
};

TEST_F(RetryFlags, TransientStatusIsRetriedAsCurlDoes) {
  auto result = run({"--retry", "2", "--retry-delay", "0.05", url("/status/503")});
  EXPECT_EQ(result.exit_code, 0) << describe(result);  // without -f a 503 is a response
  ASSERT_TRUE(eventually([&] { return requests_for("/status/503") == 3; })) << requests_for("/status/503");
  EXPECT_NE(result.err.find("quiver: warning: Problem : HTTP error. Will retry in 0 seconds. 1 retries left."),
            std::string::npos)
      << result.err;

  auto failed = run({"-f", "--retry", "1", "--retry-delay", "0.05", url("/status/502")});
  EXPECT_EQ(failed.exit_code, 22) << describe(failed);
  ASSERT_TRUE(eventually([&] { return requests_for("/status/502") == 2; }));
}

TEST_F(RetryFlags, OtherStatusesOnlyWithRetryAllErrors) {
  auto plain = run({"-f", "--retry", "2", "--retry-delay", "0.05", url("/status/404")});
  EXPECT_EQ(plain.exit_code, 22) << describe(plain);
  auto all = run({"-f", "--retry", "2", "--retry-delay", "0.05", "--retry-all-errors", url("/status/403")});
  EXPECT_EQ(all.exit_code, 22) << describe(all);
  ASSERT_TRUE(eventually([&] { return requests_for("/status/403") == 3; })) << requests_for("/status/403");
  EXPECT_EQ(requests_for("/status/404"), 1u);
}

TEST_F(RetryFlags, RetryMaxTimeStopsRetrying) {
  auto result = run({"--retry", "50", "--retry-delay", "0.2", "--retry-max-time", "0.3", url("/status/500")});
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  ASSERT_TRUE(eventually([&] { return requests_for("/status/500") >= 2; }));
  EXPECT_LE(requests_for("/status/500"), 3u);
}

}  // namespace
}  // namespace quiver::test

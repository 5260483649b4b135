// `quiver [options] URL...` as a user runs it: the built binary against the project's server.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/cli_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class FetchTest : public CliServerTest {};

// A UDP socket bound to a free loopback port that never answers (a server that is not there).
class SilentUdpPort {
 public:
  SilentUdpPort() : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t size = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~SilentUdpPort() { close(fd_); }
  std::uint16_t port() const noexcept { return port_; }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

TEST_F(FetchTest, GetPrintsTheBody) {
  auto result = quiver({"--cacert", ca_file(), url("/bytes/100")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, deterministic_bytes(0, 100));
  EXPECT_EQ(result.err, "");
}

// `quiver URL | head -c 10`: the reader goes away long before the body ends; quiver exits 23 (curl's
// write error) with one error line instead of dying of SIGPIPE (exit status 141 in the shell).
TEST_F(FetchTest, ClosedStdoutPipeExits23) {
  const std::string script = fmt::format(R"("$0" --cacert '{}' '{}' | head -c 10; echo " ${{PIPESTATUS[0]}}")",
                                         ca_file(), url("/bytes/4000000"));
  auto result = run_process({"/bin/bash", "-c", script, QUIVER_CLI_PATH}, 15s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, deterministic_bytes(0, 10) + " 23\n") << describe(result);
  EXPECT_EQ(result.err, "quiver: io_error: cannot write to stdout\n") << describe(result);
}

TEST_F(FetchTest, OutputDashWritesToStdout) {
  auto result = quiver({"-o", "-", "--cacert", ca_file(), url("/bytes/100")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, deterministic_bytes(0, 100));
}

TEST_F(FetchTest, IncludeWritesStatusAndHeadersFirst) {
  auto result = quiver({"-i", "--cacert", ca_file(), url("/status/201")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_TRUE(result.out.starts_with("HTTP/3 201\r\n")) << result.out;
  EXPECT_NE(result.out.find("content-length: "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\r\n\r\n"), std::string::npos) << result.out;
}

TEST_F(FetchTest, OutputFile) {
  TempDir dir;
  const auto file = dir.path() / "out.bin";
  auto result = quiver({"-o", file.string(), "--cacert", ca_file(), url("/bytes/70000")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(read_file(file), deterministic_bytes(0, 70000));
}

TEST_F(FetchTest, PostsADataFile) {
  TempDir dir;
  const std::string body = std::string("binary\0body\n", 12) + deterministic_bytes(3, 20000);
  const std::string file = dir.write("body.bin", body);
  auto result = quiver({"--data-binary", "@" + file, "-H", "Content-Type: application/octet-stream", "--cacert",
                        ca_file(), url("/echo")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, body);
  ASSERT_TRUE(eventually([&] { return !access_log_.entries().empty(); }));  // logged when the stream closes
  auto entries = access_log_.entries();
  EXPECT_EQ(entries.back().method, "POST");
}

TEST_F(FetchTest, DataFromStdin) {
  auto result = quiver({"-d", "@-", "--cacert", ca_file(), url("/echo")}, 15s, "from stdin");
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "from stdin");
}

TEST_F(FetchTest, FailGivesExit22AndNoBody) {
  auto result = quiver({"-f", "--cacert", ca_file(), url("/status/404")});
  EXPECT_EQ(result.exit_code, 22) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_TRUE(result.err.starts_with("quiver: http_error: ")) << result.err;
  EXPECT_NE(result.err.find("404"), std::string::npos);
}

TEST_F(FetchTest, WithoutFailAnErrorStatusIsAResponse) {
  auto result = quiver({"--cacert", ca_file(), url("/status/404")});
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_FALSE(result.out.empty());
}

TEST(FetchErrors, BadUrlExits3BeforeConnecting) {
  auto result = quiver({"http://127.0.0.1:1/"});
  EXPECT_EQ(result.exit_code, 3) << describe(result);
  EXPECT_TRUE(result.err.starts_with("quiver: invalid_url: ")) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << "one line: " << result.err;
}

TEST(FetchErrors, UnresolvableHostExits6) {
  auto result = quiver({"--connect-timeout", "2", "https://no-such-host.invalid/"});
  EXPECT_EQ(result.exit_code, 6) << describe(result);
  EXPECT_TRUE(result.err.starts_with("quiver: resolve_failed: ")) << result.err;
}

TEST(FetchErrors, NothingListeningExits7) {
  std::uint16_t port = 0;
  { port = SilentUdpPort().port(); }  // closed again: nothing listens there now
  auto result = quiver({"--connect-timeout", "1", fmt::format("https://127.0.0.1:{}/", port)});
  EXPECT_EQ(result.exit_code, 7) << describe(result);
  EXPECT_TRUE(result.err.starts_with("quiver: connection_refused: ")) << result.err;
}

TEST(FetchErrors, SilentServerTimesOutWithExit7) {
  SilentUdpPort silent;
  const auto started = std::chrono::steady_clock::now();
  auto result = quiver({"--connect-timeout", "0.3", fmt::format("https://127.0.0.1:{}/", silent.port())});
  EXPECT_EQ(result.exit_code, 7) << describe(result);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST_F(FetchTest, UntrustedCertificateExits60) {
  auto result = quiver({url("/bytes/1")});  // the test CA is not in the system trust store
  EXPECT_EQ(result.exit_code, 60) << describe(result);
  EXPECT_TRUE(result.err.starts_with("quiver: handshake_failed: ")) << result.err;
}

TEST_F(FetchTest, InsecureSkipsVerification) {
  auto result = quiver({"-k", url("/bytes/5")});
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "abcde");
}

TEST_F(FetchTest, InvalidHeaderExits43BeforeConnecting) {
  for (const char* header : {"Bad Name: x", "NoColon"}) {
    auto result = quiver({"-H", header, "--cacert", ca_file(), url("/bytes/1")});
    EXPECT_EQ(result.exit_code, 43) << header << "\n" << describe(result);
    EXPECT_TRUE(result.err.starts_with("quiver: invalid_request: ")) << result.err;
  }
  EXPECT_TRUE(access_log_.entries().empty());
}

// A header pasted from an HTTP/1.1 curl command is dropped with a warning, as the issue asks, not refused.
TEST_F(FetchTest, ConnectionSpecificHeaderIsDroppedWithAWarning) {
  auto result = quiver({"-H", "Connection: close", "--cacert", ca_file(), url("/bytes/1")});
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "a");
  EXPECT_EQ(result.err, "quiver: warning: ignoring -H 'Connection: close': HTTP/3 has no connection-specific header "
                        "fields\n");
}

TEST_F(FetchTest, MaxTimeExits28) {
  auto result = quiver({"-m", "0.3", "--cacert", ca_file(), url("/delay/5000")});
  EXPECT_EQ(result.exit_code, 28) << describe(result);
  EXPECT_TRUE(result.err.starts_with("quiver: request_timeout: ")) << result.err;
}

TEST_F(FetchTest, ResetStreamExits92) {
  auto result = quiver({"--cacert", ca_file(), url("/reset/0x10c")});
  EXPECT_EQ(result.exit_code, 92) << describe(result);
}

TEST_F(FetchTest, VerboseShowsConnectionEventsAndHeaders) {
  auto result = quiver({"-v", "--cacert", ca_file(), url("/bytes/3")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "abc");
  const std::string trying = fmt::format("*   Trying 127.0.0.1:{} (QUIC)...", server_->port());
  for (const char* expected : {"* Connecting to https://127.0.0.1:", trying.c_str(), "* Connected to ", "> GET /bytes/3 HTTP/3",
                               "> Host: 127.0.0.1:", "< HTTP/3 200", "< content-length: 3", "* Response complete",
                               "* Connection to "}) {
    EXPECT_NE(result.err.find(expected), std::string::npos) << expected << "\n" << result.err;
  }
}

// The response head is printed before "Response complete", however the threads interleave: the
// body of a small response ends long before the transfer gets to print the head.
TEST_F(FetchTest, VerbosePrintsTheHeadBeforeResponseComplete) {
  for (int run = 0; run < 3; ++run) {
    auto result = quiver({"-v", "--cacert", ca_file(), url("/bytes/3")});
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    const auto head = result.err.find("< HTTP/3 200");
    const auto complete = result.err.find("* Response complete");
    ASSERT_NE(head, std::string::npos) << result.err;
    ASSERT_NE(complete, std::string::npos) << result.err;
    EXPECT_LT(head, complete) << result.err;
    EXPECT_LT(result.err.find("< content-length: 3"), complete) << result.err;
  }
}

// A request refused unprocessed (H3_REQUEST_REJECTED) is retried on another connection; when every
// attempt is refused, the last "Retrying" line is followed by the request's "failed" line.
TEST_F(FetchTest, VerboseRetryIsFollowedByTheFinalFailure) {
  auto result = quiver({"-v", "--cacert", ca_file(), url("/reset/0x10b")});
  EXPECT_EQ(result.exit_code, 92) << describe(result);
  const auto retry = result.err.rfind("* Retrying GET /reset/0x10b (the server did not process it)");
  ASSERT_NE(retry, std::string::npos) << result.err;
  EXPECT_NE(result.err.find("* Request GET /reset/0x10b failed: ", retry), std::string::npos) << result.err;
}

TEST_F(FetchTest, SilentHidesErrorsUnlessShowError) {
  auto silent = quiver({"-s", "-f", "--cacert", ca_file(), url("/status/500")});
  EXPECT_EQ(silent.exit_code, 22);
  EXPECT_EQ(silent.err, "");
  auto shown = quiver({"-sS", "-f", "--cacert", ca_file(), url("/status/500")});
  EXPECT_EQ(shown.exit_code, 22);
  EXPECT_TRUE(shown.err.starts_with("quiver: http_error: ")) << shown.err;
}

TEST_F(FetchTest, SeveralUrlsOneAfterAnotherOnOneConnection) {
  auto result = quiver({"--cacert", ca_file(), url("/bytes/3"), url("/echo"), url("/bytes/5")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "abcabcde");
}

TEST_F(FetchTest, ParallelRemoteNamesIntoADirectory) {
  TempDir dir;
  auto result = quiver({"-Z", "-O", "--output-dir", dir.path().string(), "--cacert", ca_file(),
                        url("/bytes/100000"), url("/stream/4?size=3000&delay_ms=20"), url("/")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(read_file(dir.path() / "100000"), deterministic_bytes(0, 100000));
  EXPECT_EQ(read_file(dir.path() / "4"), deterministic_bytes(0, 12000));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "index.html"));  // "/" has no name: curl's default
}

// With -Z the three requests are open at once: the server holds every request stream unanswered, so
// a fetch one after another would never open the second.
TEST_F(FetchTest, ParallelRequestsOverlap) {
  server_->hold_streams_from(0);
  ChildProcess fetch({QUIVER_CLI_PATH, "-Z", "--cacert", ca_file(), url("/bytes/1?a"), url("/bytes/1?b"),
                      url("/bytes/1?c")});
  EXPECT_TRUE(eventually([&] { return server_->stats().streams_held >= 3; })) << "not concurrent\n" << fetch.err();
  EXPECT_EQ(server_->stats().streams_held, 3u);
}  // the fetch is killed: its requests are never answered

TEST_F(FetchTest, ParallelKeepsStdoutOrderAndExitsWithTheFirstFailure) {
  auto result = quiver({"-Z", "-f", "--cacert", ca_file(), url("/delay/200"), url("/status/503"), url("/bytes/4"),
                        url("/reset/0x10c")});
  EXPECT_EQ(result.exit_code, 22) << describe(result);
  EXPECT_EQ(result.out, "delayedabcd");  // command-line order, not completion order
  EXPECT_NE(result.err.find("quiver: http_error: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("quiver: stream_reset: "), std::string::npos) << result.err;
}

TEST(FetchHelp, HelpAndUsage) {
  auto help = quiver({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Usage: quiver"), std::string::npos);
  auto none = quiver({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(none.err.starts_with("quiver: usage: missing URL")) << none.err;
}

}  // namespace
}  // namespace quiver::test

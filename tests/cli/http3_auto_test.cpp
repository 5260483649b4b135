// `quiver --http3` (curl's "auto": HTTP/3 first, TCP as the fallback; quiver's default) against the test
// support's HTTP/2 and HTTP/1.1 servers with nothing on UDP: the transfer completes over TCP, -v says which
// protocol was used and why, --http3-only opts out, and --alt-svc keeps the server's announcement in a file
// (curl's format) for the next run.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/cli_fixture.hpp"
#include "support/h1_test_server.hpp"
#include "support/h2_test_server.hpp"

namespace quiver::test {
namespace {

// Auto is the default: --http3 says it explicitly.
TEST(Http3AutoCli, FallsBackToHttp2AndVerboseSaysWhy) {
  H2TestServer server;
  for (std::vector<std::string> flags : {std::vector<std::string>{"--http3"}, std::vector<std::string>{}}) {
    SCOPED_TRACE(flags.empty() ? "no protocol flag" : "--http3");
    std::vector<std::string> args = flags;
    args.insert(args.end(), {"-v", "-i", "--cacert", data_file("ca.pem"),
                             fmt::format("https://127.0.0.1:{}/bytes/100", server.port())});
    auto result = quiver(args);
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_TRUE(result.out.starts_with("HTTP/2 200\r\n")) << result.out;
    EXPECT_NE(result.err.find("(QUIC): tried first: no Alt-Svc known"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("(TCP): QUIC failed"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("* Using HTTP/2: TCP won the race (QUIC failed"), std::string::npos) << result.err;
  }
}

// The TCP side offers h2 and http/1.1: a server that speaks only HTTP/1.1 answers too; --http3-only
// opts out of the fallback and fails at once (nothing answers QUIC there).
TEST(Http3AutoCli, ReachesAnHttp11ServerUnlessHttp3Only) {
  H1TestServer server;
  const std::string url = fmt::format("https://127.0.0.1:{}/bytes/100", server.port());
  auto fallback = quiver({"-i", "--cacert", data_file("ca.pem"), url});
  ASSERT_EQ(fallback.exit_code, 0) << describe(fallback);
  EXPECT_TRUE(fallback.out.starts_with("HTTP/1.1 200\r\n")) << fallback.out;
  auto only = quiver({"--http3-only", "--cacert", data_file("ca.pem"), url});
  EXPECT_EQ(only.exit_code, 7) << describe(only);  // curl's "failed to connect"
  EXPECT_NE(only.err.find("refused"), std::string::npos) << only.err;
  EXPECT_EQ(server.connections(), 1);
}

TEST(Http3AutoCli, AltSvcFileKeepsTheAnnouncement) {
  H2ServerOptions options;
  options.alt_svc = "h3=\":4433\"; ma=600";
  H2TestServer server(options);
  auto file = std::filesystem::temp_directory_path() / fmt::format("quiver-cli-alt-svc-{}", ::getpid());
  std::filesystem::remove(file);
  auto result = quiver({"--http3", "--alt-svc", file.string(), "--cacert", data_file("ca.pem"),
                        fmt::format("https://127.0.0.1:{}/x", server.port())});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(fmt::format("h2 127.0.0.1 {} h3 127.0.0.1 4433 \"", server.port())), std::string::npos) << text;
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace quiver::test

// `quiver --http3` (curl's "auto": HTTP/3 first, TCP as the fallback) against the test support's HTTP/2
// server with nothing on UDP: the transfer completes over HTTP/2, -v says which protocol was used and why,
// and --alt-svc keeps the server's announcement in a file (curl's format) for the next run.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "cli/cli_fixture.hpp"
#include "support/h2_test_server.hpp"

namespace quiver::test {
namespace {

TEST(Http3AutoCli, FallsBackToHttp2AndVerboseSaysWhy) {
  H2TestServer server;
  auto result = quiver({"--http3", "-v", "-i", "--cacert", data_file("ca.pem"),
                        fmt::format("https://127.0.0.1:{}/bytes/100", server.port())});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_TRUE(result.out.starts_with("HTTP/2 200\r\n")) << result.out;
  EXPECT_NE(result.err.find("(QUIC): tried first: no Alt-Svc known"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("(TCP): QUIC failed"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("* Using HTTP/2: TCP won the race (QUIC failed"), std::string::npos) << result.err;
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

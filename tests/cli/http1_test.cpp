// `quiver --http1.1` (curl's flag) against an HTTP/1.1 server (the test support's): the response line says
// HTTP/1.1, -v says the connection is TCP and HTTP/1.1, -w %{http_version} says 1.1, a chunked body and a
// malformed response are handled, and --http2 cannot be combined with it.
#include <fmt/format.h>

#include "cli/cli_fixture.hpp"
#include "support/h1_test_server.hpp"

namespace quiver::test {
namespace {

TEST(Http1Cli, IncludeShowsAnHttp11StatusLine) {
  H1TestServer server;
  auto result = quiver({"--http1.1", "-i", "--cacert", data_file("ca.pem"),
                        fmt::format("https://127.0.0.1:{}/chunked/100000", server.port())});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_TRUE(result.out.starts_with("HTTP/1.1 200\r\n")) << result.out.substr(0, 200);
  EXPECT_TRUE(result.out.ends_with(deterministic_bytes(0, 100000)));
}

TEST(Http1Cli, VerboseAndWriteOutNameTheProtocol) {
  H1TestServer server;
  auto result = quiver({"--http1.1", "-v", "-o", "/dev/null", "-w", "%{http_version}", "--cacert",
                        data_file("ca.pem"), fmt::format("https://127.0.0.1:{}/x", server.port())});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.err.find("(TCP)"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("HTTP/1.1, peer allows 1 streams"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("< HTTP/1.1 200"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "1.1");
}

TEST(Http1Cli, MalformedResponseAndExclusiveFlags) {
  H1TestServer server;
  auto bad = quiver({"--http1.1", "--cacert", data_file("ca.pem"),
                     fmt::format("https://127.0.0.1:{}/raw/bad-chunk", server.port())});
  EXPECT_EQ(bad.exit_code, 8) << describe(bad);  // the server broke the protocol's rules
  auto both = quiver({"--http1.1", "--http2", fmt::format("https://127.0.0.1:{}/x", server.port())});
  EXPECT_EQ(both.exit_code, 2) << describe(both);
}

}  // namespace
}  // namespace quiver::test

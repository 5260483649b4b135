// `quiver --http2` (curl's flag) against an HTTP/2 server (the test support's nghttp2 server): the
// response line says HTTP/2, -v says the connection is TCP and HTTP/2, and --http3-only (the default)
// cannot be combined with it.
#include <fmt/format.h>

#include "cli/cli_fixture.hpp"
#include "support/h2_test_server.hpp"

namespace quiver::test {
namespace {

TEST(Http2Cli, IncludeShowsAnHttp2StatusLine) {
  H2TestServer server;
  auto result = quiver({"--http2", "-i", "--cacert", data_file("ca.pem"),
                        fmt::format("https://127.0.0.1:{}/bytes/100", server.port())});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_TRUE(result.out.starts_with("HTTP/2 200\r\n")) << result.out;
  EXPECT_TRUE(result.out.ends_with(deterministic_bytes(0, 100)));
}

TEST(Http2Cli, VerboseNamesTheProtocol) {
  H2TestServer server;
  auto result = quiver({"--http2", "-v", "--cacert", data_file("ca.pem"),
                        fmt::format("https://127.0.0.1:{}/x", server.port())});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.err.find("(TCP)"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("HTTP/2, peer allows 100 streams"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("< HTTP/2 200"), std::string::npos) << result.err;
}

// Without --http2, quiver speaks HTTP/3 only: a TCP-only server does not answer over QUIC.
TEST(Http2Cli, Http3OnlyIsTheDefaultAndExcludesHttp2) {
  H2TestServer server;
  auto url = fmt::format("https://127.0.0.1:{}/x", server.port());
  auto h3 = quiver({"--http3-only", "--connect-timeout", "1", "--cacert", data_file("ca.pem"), url});
  EXPECT_EQ(h3.exit_code, 7) << describe(h3);  // nothing answers on UDP
  auto both = quiver({"--http2", "--http3-only", url});
  EXPECT_EQ(both.exit_code, 2) << describe(both);
}

}  // namespace
}  // namespace quiver::test

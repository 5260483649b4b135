// `quiver serve`'s TCP side through the CLI: `quiver --http2` against `quiver serve` (both sides, and
// --no-h3), `quiver --http1.1` against it, --no-tcp leaving HTTP/3 only, and --goaway-after over HTTP/2.
#include <csignal>

#include <fmt/format.h>

#include "cli/cli_fixture.hpp"
#include "cli/serve_process.hpp"

namespace quiver::test {
namespace {

std::vector<std::string> trusted(const ServeProcess& serve, std::vector<std::string> args) {
  args.insert(args.begin(), {"--cacert", serve.generated_certificate()});
  return args;
}

TEST(ServeTcp, Http2ClientAgainstServeWithHttp3Off) {
  ServeProcess serve({"--no-h3"});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  EXPECT_NE(serve.banner().find("(HTTP/2 and HTTP/1.1 over TCP)"), std::string::npos) << serve.banner();
  auto result = quiver(trusted(serve, {"--http2", "-i", serve.url("/bytes/100")}));
  ASSERT_EQ(result.exit_code, 0) << describe(result) << serve.describe();
  EXPECT_TRUE(result.out.starts_with("HTTP/2 200\r\n")) << result.out;
  EXPECT_EQ(result.out.find("alt-svc"), std::string::npos) << result.out;
  EXPECT_TRUE(result.out.ends_with(deterministic_bytes(0, 100)));
  auto h3 = quiver(trusted(serve, {"--http3-only", "--connect-timeout", "1", serve.url("/bytes/1")}));
  EXPECT_EQ(h3.exit_code, 7) << describe(h3);  // nothing answers on UDP
  auto stopped = serve.stop(SIGTERM);
  EXPECT_EQ(stopped.exit_code, 0) << describe(stopped);
  EXPECT_NE(stopped.out.find("] GET /bytes/100 200 100 bytes"), std::string::npos) << stopped.out;
  EXPECT_NE(stopped.out.find(" h2"), std::string::npos) << "the access log names HTTP/2: " << stopped.out;
}

TEST(ServeTcp, BothProtocolsOnOnePortWithAltSvcOverTcp) {
  ServeProcess serve({});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  auto h2 = quiver(trusted(serve, {"--http2", "-i", serve.url("/bytes/10")}));
  ASSERT_EQ(h2.exit_code, 0) << describe(h2);
  EXPECT_TRUE(h2.out.starts_with("HTTP/2 200\r\n")) << h2.out;
  EXPECT_NE(h2.out.find(fmt::format("alt-svc: h3=\":{}\"; ma=86400", serve.port())), std::string::npos) << h2.out;
  auto h3 = quiver(trusted(serve, {"-i", serve.url("/bytes/10")}));
  ASSERT_EQ(h3.exit_code, 0) << describe(h3);
  EXPECT_TRUE(h3.out.starts_with("HTTP/3 200\r\n")) << h3.out;
  EXPECT_EQ(serve.stop(SIGTERM).exit_code, 0);
}

TEST(ServeTcp, Http11ClientAgainstServe) {
  ServeProcess serve({});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  auto h1 = quiver(trusted(serve, {"--http1.1", "-i", serve.url("/bytes/100")}));
  ASSERT_EQ(h1.exit_code, 0) << describe(h1) << serve.describe();
  EXPECT_TRUE(h1.out.starts_with("HTTP/1.1 200\r\n")) << h1.out;
  EXPECT_NE(h1.out.find(fmt::format("alt-svc: h3=\":{}\"; ma=86400", serve.port())), std::string::npos) << h1.out;
  EXPECT_TRUE(h1.out.ends_with(deterministic_bytes(0, 100)));
  auto stopped = serve.stop(SIGTERM);
  EXPECT_EQ(stopped.exit_code, 0) << describe(stopped);
  EXPECT_NE(stopped.out.find(" http/1.1"), std::string::npos) << "the access log names HTTP/1.1: " << stopped.out;
}

TEST(ServeTcp, NoTcpLeavesHttp3Only) {
  ServeProcess serve({"--no-tcp"});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  auto h2 = quiver(trusted(serve, {"--http2", "--connect-timeout", "1", serve.url("/bytes/1")}));
  EXPECT_EQ(h2.exit_code, 7) << describe(h2);
  auto h3 = quiver(trusted(serve, {serve.url("/bytes/5")}));
  EXPECT_EQ(h3.exit_code, 0) << describe(h3);
  EXPECT_EQ(serve.stop(SIGTERM).exit_code, 0);
}

TEST(ServeTcp, NoH3AndNoTcpTogetherIsAUsageError) {
  auto result = quiver({"serve", "--no-h3", "--no-tcp"});
  EXPECT_EQ(result.exit_code, 2) << describe(result);
  EXPECT_NE(result.err.find("--no-h3 and --no-tcp"), std::string::npos) << result.err;
}

// --goaway-after 2 over HTTP/2: five URLs on one quiver run need three connections, each answered once.
TEST(ServeTcp, GoawayAfterDrainsHttp2Connections) {
  ServeProcess serve({"--goaway-after", "2", "--no-h3"});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  std::vector<std::string> args{"--http2"};
  for (int i = 0; i < 5; ++i) args.push_back(serve.url(fmt::format("/bytes/{}", 3 + i)));
  auto result = quiver(trusted(serve, args));
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  std::string expected;
  for (int i = 0; i < 5; ++i) expected += deterministic_bytes(0, 3 + i);
  EXPECT_EQ(result.out, expected);
  auto stopped = serve.stop(SIGTERM);
  for (int i = 0; i < 5; ++i) {
    auto line = fmt::format("] GET /bytes/{} 200", 3 + i);
    auto first = stopped.out.find(line);
    EXPECT_NE(first, std::string::npos) << stopped.out;
    EXPECT_EQ(stopped.out.find(line, first + 1), std::string::npos) << "processed twice: " << stopped.out;
  }
}

}  // namespace
}  // namespace quiver::test

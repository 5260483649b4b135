// `quiver demo`: every step passes and the report names each one.
#include "cli/cli_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

TEST(Demo, EveryStepPasses) {
  auto result = quiver({"demo", "--bench-seconds", "1"}, 40s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  for (const char* expected : {"[1/8] GET     ok", "[2/8] POST    ok", "[3/8] stream  ok", "[4/8] upload  ok",
                               "[5/8] GOAWAY  ok", "[6/8] HTTP/2  ok", "[7/8] Alt-Svc ok", "[8/8] bench   ok",
                               "all 20 succeeded", "retried transparently", "processed each request exactly once",
                               "over HTTP/2 (TLS over TCP)", "the first request went over HTTP/2", "HTTP/3 won the race (Alt-Svc",
                               "req/s", "all 8 steps passed"}) {
    EXPECT_NE(result.out.find(expected), std::string::npos) << expected << "\n" << result.out;
  }
}

}  // namespace
}  // namespace quiver::test

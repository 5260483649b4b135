// `quiver demo`: every step passes and the report names each one.
#include "cli/cli_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

TEST(Demo, EveryStepPasses) {
  auto result = quiver({"demo", "--bench-seconds", "1"}, 40s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  for (const char* expected : {"[1/7] GET     ok", "[2/7] POST    ok", "[3/7] stream  ok", "[4/7] upload  ok",
                               "[5/7] GOAWAY  ok", "[6/7] HTTP/2  ok", "[7/7] bench   ok", "all 20 succeeded",
                               "retried transparently", "processed each request exactly once",
                               "over HTTP/2 (TLS over TCP)", "req/s", "all 7 steps passed"}) {
    EXPECT_NE(result.out.find(expected), std::string::npos) << expected << "\n" << result.out;
  }
}

}  // namespace
}  // namespace quiver::test

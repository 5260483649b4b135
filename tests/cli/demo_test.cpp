// `quiver demo`: every step passes and the report names each one.
#include "cli/cli_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

TEST(Demo, EveryStepPasses) {
  auto result = quiver({"demo", "--bench-seconds", "1"}, 40s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  for (const char* expected : {"[1/6] GET     ok", "[2/6] POST    ok", "[3/6] stream  ok", "[4/6] upload  ok",
                               "[5/6] GOAWAY  ok", "[6/6] bench   ok", "all 20 succeeded", "retried transparently",
                               "processed each request exactly once", "req/s", "all 6 steps passed"}) {
    EXPECT_NE(result.out.find(expected), std::string::npos) << expected << "\n" << result.out;
  }
}

}  // namespace
}  // namespace quiver::test

// `quiver bench`: human report on the embedded server, JSON against the project's server.
#include <nlohmann/json.hpp>

#include "cli/cli_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

class BenchTest : public CliServerTest {};

nlohmann::json parse_json(const ProcessResult& result) {
  auto json = nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(json.is_discarded()) << describe(result);
  return json;
}

TEST(Bench, HumanReportOnTheEmbeddedServer) {
  auto result = quiver({"bench", "-n", "2000"}, 30s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  for (const char* expected : {"(embedded server)", "GET https://127.0.0.1:", "/bytes/1024", "2000 requests",
                               "req/s", "MB/s", "2000 total, 2000 ok, 0 errors", "p50 ", "p90 ", "p99 ", "max ",
                               "connections:  1 used, handshake "}) {
    EXPECT_NE(result.out.find(expected), std::string::npos) << expected << "\n" << result.out;
  }
  EXPECT_EQ(result.err, "");  // no live line: stderr is not a terminal
}

TEST_F(BenchTest, JsonAgainstAServer) {
  auto result = quiver({"bench", "--json", "-n", "2000", "-c", "2", "-m", "20", "--cacert", ca_file(),
                        url("/bytes/512")},
                       30s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto json = parse_json(result);
  EXPECT_EQ(json["requests"], 2000);
  EXPECT_EQ(json["ok"], 2000);
  EXPECT_EQ(json["errors"], 0);
  EXPECT_EQ(json["bytes"], 2000 * 512);
  EXPECT_GT(json["seconds"].get<double>(), 0);
  EXPECT_GT(json["req_per_s"].get<double>(), 0);
  EXPECT_GT(json["mb_per_s"].get<double>(), 0);
  for (const char* key : {"p50", "p90", "p99", "max"}) EXPECT_GT(json["latency_ms"][key].get<double>(), 0) << key;
  EXPECT_LE(json["latency_ms"]["p50"].get<double>(), json["latency_ms"]["p99"].get<double>());
  EXPECT_LE(json["latency_ms"]["p99"].get<double>(), json["latency_ms"]["max"].get<double>());
  EXPECT_GE(json["connections"].get<int>(), 1);
  EXPECT_LE(json["connections"].get<int>(), 2);
  EXPECT_GE(access_log_.entries().size(), 2000u);
}

TEST_F(BenchTest, DurationWithWarmupAndPostBody) {
  TempDir dir;
  const std::string body = deterministic_bytes(0, 300);
  const std::string file = dir.write("body", body);
  auto result = quiver({"bench", "--json", "-D", "1", "--warmup", "0.2", "--threads", "2", "-c", "2", "-d", "@" + file,
                        "--cacert", ca_file(), url("/echo")},
                       30s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto json = parse_json(result);
  EXPECT_GT(json["requests"].get<int>(), 0);
  EXPECT_EQ(json["errors"], 0);
  EXPECT_EQ(json["bytes"].get<std::uint64_t>(), json["requests"].get<std::uint64_t>() * body.size());
  EXPECT_GE(json["seconds"].get<double>(), 1.0);
  EXPECT_LT(json["seconds"].get<double>(), 3.0);
  for (const auto& entry : access_log_.entries()) EXPECT_EQ(entry.method, "POST");
}

TEST_F(BenchTest, ErrorStatusesAreCountedAndSetTheExitCode) {
  auto result = quiver({"bench", "--json", "-n", "50", "--cacert", ca_file(), url("/status/503")}, 30s);
  EXPECT_EQ(result.exit_code, 22) << describe(result);
  auto json = parse_json(result);
  EXPECT_EQ(json["requests"], 50);
  EXPECT_EQ(json["ok"], 0);
  EXPECT_EQ(json["errors_by_kind"]["status_5xx"], 50);
  EXPECT_TRUE(result.err.starts_with("quiver: http_error: ")) << result.err;
}

TEST_F(BenchTest, UntrustedServerStopsAtOnceWithExit60) {
  auto result = quiver({"bench", "-n", "100000", url("/bytes/1")}, 30s);
  EXPECT_EQ(result.exit_code, 60) << describe(result);
  EXPECT_NE(result.out.find("stopped: no connection could be made"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace quiver::test

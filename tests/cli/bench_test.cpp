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
  // The server logs a request when its stream closes, which may come after quiver has exited.
  EXPECT_TRUE(eventually([&] { return access_log_.entries().size() >= 2000; })) << access_log_.entries().size();
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
  // Failures are counted apart: they are no part of the rate or of the latency.
  EXPECT_EQ(json["req_per_s"].get<double>(), 0.0);
  EXPECT_EQ(json["latency_ms"]["max"].get<double>(), 0.0);
  EXPECT_EQ(json["bytes"], 0);
  EXPECT_TRUE(result.err.starts_with("quiver: http_error: ")) << result.err;
}

// -m is a cap per connection: with -c 2 -m 3 each connection carries 3 requests (one pool for both
// connections would put all 6 on the first connection that is ready). The server answers none of them
// within the bench, so the count of streams open at once on one connection is exact.
TEST_F(BenchTest, StreamsAreACapPerConnection) {
  auto result = quiver({"bench", "--json", "-D", "1", "-c", "2", "-m", "3", "--cacert", ca_file(),
                        url("/delay/20000")},
                       30s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto json = parse_json(result);
  EXPECT_EQ(json["not_finished"], 6);
  EXPECT_EQ(json["connections"], 2);
  EXPECT_EQ(server_->stats().peak_concurrent_streams, 3u);
}

// -D stops sending at the deadline and reports at once: the two requests in flight (the server
// answers them after 20 s) are reported as not finished, not waited for.
TEST_F(BenchTest, DurationEndsAtTheDeadlineWithoutWaitingForRequestsInFlight) {
  const auto started = std::chrono::steady_clock::now();
  auto result = quiver({"bench", "--json", "-D", "1", "-m", "2", "--cacert", ca_file(), url("/delay/20000")}, 30s);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto json = parse_json(result);
  EXPECT_EQ(json["requests"], 0);
  EXPECT_EQ(json["not_finished"], 2);
  EXPECT_GE(json["seconds"].get<double>(), 1.0);
  EXPECT_LT(json["seconds"].get<double>(), 5.0);
  EXPECT_LT(took, 10s) << "waited for the requests in flight";
}

// A server that goes away during a long bench: every new connection then fails, and bench stops with
// its report instead of trying until the end of -D.
TEST_F(BenchTest, StoppedServerEndsTheBenchPromptlyWithAReport) {
  ChildProcess bench({QUIVER_CLI_PATH, "bench", "-D", "300", "-c", "2", "-m", "2", "--connect-timeout", "1",
                      "--cacert", ca_file(), url("/bytes/100")});
  ASSERT_TRUE(eventually([&] { return server_->stats().requests_started >= 50; })) << bench.err();
  server_->stop();
  const auto stopped = std::chrono::steady_clock::now();
  auto result = bench.wait(60s);
  EXPECT_FALSE(result.timed_out) << describe(result);
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 20s) << describe(result);
  EXPECT_NE(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.out.find("(stopped: the server can no longer be reached)"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("requests:"), std::string::npos) << describe(result);
}

// Nothing listens on the port: bench stops at the first failed connection, with exit 7.
TEST(BenchErrors, DeadPortStopsAtOnceWithExit7) {
  auto result = quiver({"bench", "-n", "100000", "--connect-timeout", "1", "-k", "https://127.0.0.1:9/"}, 30s);
  EXPECT_EQ(result.exit_code, 7) << describe(result);
  EXPECT_NE(result.out.find("stopped: no connection could be made"), std::string::npos) << result.out;
}

TEST_F(BenchTest, UntrustedServerStopsAtOnceWithExit60) {
  auto result = quiver({"bench", "-n", "100000", url("/bytes/1")}, 30s);
  EXPECT_EQ(result.exit_code, 60) << describe(result);
  EXPECT_NE(result.out.find("stopped: no connection could be made"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace quiver::test

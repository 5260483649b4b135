// `quiver bench`: human report on the embedded server, JSON against the project's server; open loop
// against a server that stalls (/delay), failures kept out of the latency, -D on time, several URLs,
// connection churn, --log-file, merge, and the HTML page rendered by headless Chromium.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

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
                               "closed loop", "req/s", "MB/s",
                               "2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout",
                               "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx", "traffic:", "min", "max", "mean", "sd",
                               "p50", "p90", "p99", "p99.9", "request:", "first byte:", "connect:",
                               "req/s per connection:", "connections:  1 made", "client CPU:"}) {
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

double ms_of(const nlohmann::json& json, const char* figure, const char* key) { return json[figure][key].get<double>(); }

// The coordinated-omission check. The server takes 50 ms per request and the client may have one in
// flight (-c 1 -m 1): it can serve 20 req/s. Closed loop, each request waits for the one before, so
// every latency is the service time and the stall is hidden. Open loop at 100 req/s, requests fall
// behind their schedule and their latency, counted from the intended send time, grows with the
// backlog: request k of 40 waits about k x 40 ms before it is even sent.
TEST_F(BenchTest, OpenLoopShowsTheBacklogThatClosedLoopHides) {
  auto closed = quiver({"bench", "--json", "-n", "20", "-m", "1", "--cacert", ca_file(), url("/delay/50")}, 60s);
  ASSERT_EQ(closed.exit_code, 0) << describe(closed);
  auto open = quiver({"bench", "--json", "-n", "40", "-m", "1", "--rps", "100", "--cacert", ca_file(), url("/delay/50")}, 60s);
  ASSERT_EQ(open.exit_code, 0) << describe(open);
  const auto closed_json = parse_json(closed), open_json = parse_json(open);

  const double service_ms = ms_of(closed_json, "latency_ms", "p50");
  EXPECT_GE(service_ms, 50);
  EXPECT_LT(ms_of(closed_json, "latency_ms", "p90"), 3 * service_ms) << closed.out;  // no backlog shows
  EXPECT_GT(ms_of(open_json, "latency_ms", "p50"), 5 * service_ms) << open.out;       // ~850 ms
  EXPECT_GT(ms_of(open_json, "latency_ms", "p99"), 15 * service_ms) << open.out;      // ~1600 ms
  EXPECT_EQ(open_json["ok"], 40);
  EXPECT_EQ(open_json["open_loop"]["scheduled"], 40);
  EXPECT_GT(open_json["open_loop"]["waited_for_stream"].get<int>(), 30) << open.out;
  EXPECT_GT(open_json["open_loop"]["late"].get<int>(), 30) << open.out;

  // The human report says the client could not keep up.
  auto human = quiver({"bench", "-n", "10", "-m", "1", "--rps", "100", "--cacert", ca_file(), url("/delay/50")}, 60s);
  ASSERT_EQ(human.exit_code, 0) << describe(human);
  for (const char* expected : {"open loop at 100 req/s", "10 scheduled at 100 req/s", "held back for a free stream",
                               "the client fell behind its schedule", "request*:", "intended send time"}) {
    EXPECT_NE(human.out.find(expected), std::string::npos) << expected << "\n" << human.out;
  }
}

// Within the client's means, the open loop sends what the schedule says: -D 1 at 200 req/s is 200
// requests, all sent, none late for want of a stream.
TEST_F(BenchTest, OpenLoopSendsTheSchedule) {
  auto result = quiver({"bench", "--json", "-D", "1", "--rps", "200", "-c", "2", "-m", "20", "--cacert", ca_file(),
                        url("/bytes/100")},
                       30s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto json = parse_json(result);
  EXPECT_EQ(json["counts"]["total"], 200);
  EXPECT_EQ(json["open_loop"]["scheduled"], 200);
  EXPECT_EQ(json["counts"]["started"].get<int>() + json["open_loop"]["not_sent"].get<int>(), 200);
  EXPECT_GE(json["counts"]["started"].get<int>(), 196) << result.out;
  EXPECT_EQ(json["open_loop"]["waited_for_stream"], 0) << result.out;
  EXPECT_EQ(json["settings"]["rps"], 200.0);
  EXPECT_EQ(json["per_connection_req_per_s"]["values"].size(), 2u);
}

// Issue 18's accuracy target: 5000 req/s over 10 s on loopback, sent within 2 %. On a machine too busy
// for the server to keep up, the shortfall must be reported (late, never sent), never silent.
TEST_F(BenchTest, OpenLoopRateWithinTwoPercentAt5000PerSecond) {
  auto result = quiver({"bench", "--json", "-D", "10", "--rps", "5000", "-c", "2", "-m", "64", "--cacert", ca_file(),
                        url("/bytes/64")},
                       60s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto json = parse_json(result);
  const auto& open = json["open_loop"];
  const auto& counts = json["counts"];
  const auto scheduled = open["scheduled"].get<std::uint64_t>();
  const auto started = counts["started"].get<std::uint64_t>();
  const auto not_sent = open["not_sent"].get<std::uint64_t>();
  const auto late = open["late"].get<std::uint64_t>();
  EXPECT_EQ(scheduled, 50000u);
  EXPECT_EQ(started + not_sent, scheduled) << "every due request is sent or counted as not sent\n" << result.out;
  EXPECT_EQ(started, counts["done"].get<std::uint64_t>() + counts["not_finished"].get<std::uint64_t>()) << result.out;
  if (not_sent == 0 && open["waited_for_stream"].get<std::uint64_t>() == 0) {
    EXPECT_NEAR(started / 10.0, 5000, 100) << result.out;
    // A scheduler that runs behind sends most requests late; a busy test machine (other tests beside
    // this one) delays a few per cent. How close to schedule an idle machine keeps is a benchmark's
    // question, not this test's.
    EXPECT_LE(late, scheduled / 10) << "more than 10 % sent over 1 ms behind schedule\n" << result.out;
  } else {
    EXPECT_GT(late, 0u) << "the client fell behind without saying so\n" << result.out;
  }
}

// -D is a deadline: sending stops there and the report follows at once, open loop or closed.
TEST_F(BenchTest, DurationTwoEndsWithinTwoPointTwoSeconds) {
  for (std::vector<std::string> load : {std::vector<std::string>{"-m", "4"}, {"--rps", "50", "-m", "4"}}) {
    std::vector<std::string> args{"bench", "--json", "-D", "2", "--cacert", ca_file(), url("/delay/20000")};
    args.insert(args.end(), load.begin(), load.end());
    const auto started = std::chrono::steady_clock::now();
    auto result = quiver(args, 30s);
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    auto json = parse_json(result);
    EXPECT_GE(json["seconds"].get<double>(), 2.0);
    EXPECT_LT(json["seconds"].get<double>(), 2.2) << result.out;
    EXPECT_EQ(json["not_finished"], 4);
    EXPECT_EQ(json["requests"], 0);
    EXPECT_LT(took, 10s) << "waited for the requests in flight";
  }
}

// Failed requests are counted by kind and never enter the latency: half the requests time out after
// 1 s (--timeout), the other half succeed at once; the latency max stays below the timeout.
TEST_F(BenchTest, FailuresNeverEnterTheLatencyFigures) {
  auto result = quiver({"bench", "--json", "-n", "8", "-m", "4", "--timeout", "1", "--cacert", ca_file(),
                        url("/delay/5000"), url("/bytes/10")},
                       30s);
  EXPECT_EQ(result.exit_code, 28) << describe(result);
  auto json = parse_json(result);
  EXPECT_EQ(json["counts"]["succeeded"], 4);
  EXPECT_EQ(json["counts"]["failed"], 4);
  EXPECT_EQ(json["counts"]["errored"], 4);
  EXPECT_EQ(json["counts"]["timeout"], 4);
  EXPECT_EQ(json["errors_by_kind"]["request_timeout"], 4);
  EXPECT_EQ(json["latency_ms"]["count"], 4);
  EXPECT_LT(ms_of(json, "latency_ms", "max"), 1000) << result.out;
  EXPECT_EQ(json["histograms"]["request"]["count"], 4);
  EXPECT_EQ(json["status_codes"]["2xx"], 4);
}

// Several URLs (arguments and -i, one line with a body of its own) are used round-robin: the server
// sees each the same number of times, each with its method and body.
TEST_F(BenchTest, SeveralUrlsRoundRobinAsTheServerSeesThem) {
  TempDir dir;
  const std::string body_file = dir.write("body", "the body of /echo");
  const std::string list = dir.write("urls", url("/bytes/3") + "\n# the echo gets its own body\n" + url("/echo") + " @" + body_file + "\n");
  auto result = quiver({"bench", "--json", "-n", "30", "-c", "2", "-m", "3", "-H", "X-Bench: yes", "--cacert", ca_file(),
                        url("/bytes/1"), url("/bytes/2"), "-i", list},
                       30s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto json = parse_json(result);
  EXPECT_EQ(json["ok"], 30);
  EXPECT_EQ(json["settings"]["urls"], 4);
  ASSERT_TRUE(eventually([&] { return access_log_.entries().size() >= 30; }));
  std::map<std::string, int> seen;
  std::map<std::string, std::string> methods;
  for (const auto& entry : access_log_.entries()) {
    ++seen[entry.path];
    methods[entry.path] = entry.method;
  }
  EXPECT_EQ(seen, (std::map<std::string, int>{{"/bytes/1", 8}, {"/bytes/2", 8}, {"/bytes/3", 7}, {"/echo", 7}}));
  EXPECT_EQ(methods["/echo"], "POST");
  EXPECT_EQ(methods["/bytes/1"], "GET");
  // Body bytes: 8 x 1 + 8 x 2 + 7 x 3 + 7 x the echoed body.
  EXPECT_EQ(json["bytes"], 8 + 16 + 21 + 7 * std::string("the body of /echo").size());
}

// --requests-per-connection: a new connection (and handshake) after every N requests.
TEST_F(BenchTest, RequestsPerConnectionChurnsConnections) {
  auto result = quiver({"bench", "--json", "-n", "40", "-m", "2", "--requests-per-connection", "5", "--cacert",
                        ca_file(), url("/bytes/10")},
                       30s);
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  auto json = parse_json(result);
  EXPECT_EQ(json["ok"], 40);
  EXPECT_EQ(json["connections"], 8);
  EXPECT_EQ(json["connect_ms"]["count"], 8);
  EXPECT_GT(ms_of(json, "connect_ms", "min"), 0);
  EXPECT_EQ(server_->stats().connections_accepted, 8u);
}

struct LogLine {
  std::string outcome;
  std::uint64_t latency_us = 0;
};

std::vector<LogLine> read_log(const std::string& path) {
  std::vector<LogLine> lines;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string time, outcome, latency, bytes, connection, url;
    std::getline(fields, time, '\t');
    std::getline(fields, outcome, '\t');
    std::getline(fields, latency, '\t');
    std::getline(fields, bytes, '\t');
    std::getline(fields, connection, '\t');
    std::getline(fields, url, '\t');
    EXPECT_FALSE(url.empty()) << line;
    EXPECT_GT(std::stoull(time), 1'600'000'000'000'000ull) << "µs since the epoch: " << line;
    lines.push_back({outcome, std::stoull(latency)});
  }
  return lines;
}

// Two runs merged equal the report of the union of their samples, the samples taken from --log-file:
// counts exactly, percentiles to the histogram's resolution (1/64).
TEST_F(BenchTest, MergeEqualsTheUnionOfTheLoggedSamples) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::vector<std::string>>> runs{
      {"a", {"-n", "300", "-m", "4", url("/bytes/100"), url("/status/404")}},
      {"b", {"-n", "200", "-m", "8", "--rps", "400", url("/delay/5"), url("/bytes/1000")}}};
  std::vector<std::string> reports;
  std::vector<double> samples;
  std::uint64_t failures = 0;
  for (const auto& [name, load] : runs) {
    const std::string report = (dir.path() / (name + ".json")).string(), log = (dir.path() / (name + ".log")).string();
    std::vector<std::string> args{"bench", "--json", "--log-file", log, "--cacert", ca_file()};
    args.insert(args.end(), load.begin(), load.end());
    auto result = quiver(args, 30s);
    ASSERT_TRUE(result.exit_code == 0 || result.exit_code == 22) << describe(result);
    dir.write(name + ".json", result.out);
    reports.push_back(report);
    for (const LogLine& line : read_log(log)) {
      if (line.outcome.starts_with('2')) {
        samples.push_back(static_cast<double>(line.latency_us));
      } else {
        ++failures;
      }
    }
  }
  auto merged = quiver({"bench", "merge", "--json", reports[0], reports[1]}, 30s);
  ASSERT_EQ(merged.exit_code, 0) << describe(merged);
  auto json = parse_json(merged);
  EXPECT_EQ(json["reports"], 2);
  EXPECT_EQ(json["counts"]["done"], 500);
  EXPECT_EQ(json["ok"].get<std::size_t>(), samples.size());
  EXPECT_EQ(json["errors"].get<std::uint64_t>(), failures);
  EXPECT_EQ(json["status_codes"]["4xx"].get<std::uint64_t>(), failures);
  std::sort(samples.begin(), samples.end());
  for (const char* key : {"p50", "p90", "p99", "p99.9"}) {
    const double percent = std::stod(std::string(key).substr(1));
    const double exact_us = samples[static_cast<std::size_t>(std::ceil(percent / 100 * static_cast<double>(samples.size()))) - 1];
    EXPECT_NEAR(ms_of(json, "latency_ms", key) * 1000, exact_us, exact_us / 64 + 1) << key;
  }
  EXPECT_DOUBLE_EQ(ms_of(json, "latency_ms", "max") * 1000, samples.back());
  // The merged JSON merges again, and the human form says what it is.
  dir.write("ab.json", merged.out);
  auto again = quiver({"bench", "merge", (dir.path() / "ab.json").string(), reports[0]}, 30s);
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_NE(again.out.find("merged from 3 reports"), std::string::npos) << again.out;
}

TEST(BenchMerge, UnreadableOrForeignReportsAreNamed) {
  TempDir dir;
  const std::string not_json = dir.write("x.json", "{oops");
  const std::string foreign = dir.write("y.json", R"({"format": "k6"})");
  auto missing = quiver({"bench", "merge", (dir.path() / "none.json").string()});
  EXPECT_EQ(missing.exit_code, 26) << describe(missing);
  EXPECT_NE(missing.err.find("none.json"), std::string::npos) << missing.err;
  auto broken = quiver({"bench", "merge", not_json});
  EXPECT_EQ(broken.exit_code, 2) << describe(broken);
  EXPECT_NE(broken.err.find("is not JSON"), std::string::npos) << broken.err;
  auto other = quiver({"bench", "merge", foreign});
  EXPECT_EQ(other.exit_code, 2) << describe(other);
  EXPECT_NE(other.err.find("not a quiver bench report"), std::string::npos) << other.err;
}

// The page draws its charts when it loads: headless Chromium runs its script, and the DOM it dumps has
// one latency curve and one succeeded/failed pair of rate lines per run.
TEST_F(BenchTest, HtmlReportDrawsEveryRunInChromium) {
  const std::string chromium = "/usr/bin/chromium";
  if (!std::filesystem::exists(chromium)) GTEST_SKIP() << "Debian's chromium is not installed (scripts/setup.sh)";
  TempDir dir;
  std::vector<std::string> reports;
  for (const char* name : {"one", "two"}) {
    auto result = quiver({"bench", "--json", "-n", "200", "--cacert", ca_file(), url("/bytes/100")}, 30s);
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    reports.push_back(dir.write(std::string(name) + ".json", result.out));
  }
  const std::string page = (dir.path() / "page.html").string();
  auto report = quiver({"bench", "report", reports[0], reports[1], "--html", page}, 30s);
  ASSERT_EQ(report.exit_code, 0) << describe(report);
  const std::string html = read_file(page);
  for (const char* fetch : {"<link", " src=", "href=", "fetch(", "import "}) {  // self-contained: nothing to load
    EXPECT_EQ(html.find(fetch), std::string::npos) << fetch;
  }

  auto dom = run_process({chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                          "--user-data-dir=" + (dir.path() / "profile").string(), "--dump-dom", "file://" + page},
                         90s);
  ASSERT_EQ(dom.exit_code, 0) << describe(dom);
  const auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = dom.out.find(needle); at != std::string::npos; at = dom.out.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("class=\"series latency\""), 2u) << dom.out.substr(0, 3000);
  EXPECT_EQ(count("class=\"series rate succeeded\""), 2u);
  EXPECT_EQ(count("class=\"series rate failed\""), 2u);
  EXPECT_NE(dom.out.find("<td>one.json</td>"), std::string::npos);

  // bench --html writes the page of its own run.
  const std::string own = (dir.path() / "own.html").string();
  auto run = quiver({"bench", "-n", "100", "--html", own, "--cacert", ca_file(), url("/bytes/100")}, 30s);
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  EXPECT_NE(read_file(own).find("\"curve\":[[0.0,"), std::string::npos);
}


}  // namespace
}  // namespace quiver::test

// `quiver bench`'s command line (several URLs, -i, --rps, -t, merge/report) and how its URLs become
// requests (bench_targets).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "bench_targets.hpp"
#include "cli_options.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

std::expected<Command, CliExit> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "quiver");
  return parse_cli(static_cast<int>(args.size()), args.data());
}

BenchOptions parse_bench(std::vector<const char*> args) {
  auto command = parse(std::move(args));
  EXPECT_TRUE(command.has_value()) << (command ? "" : command.error().text);
  if (!command || !std::holds_alternative<BenchOptions>(*command)) return {};
  return std::get<BenchOptions>(*command);
}

TEST(BenchOptions, OpenLoopSeveralUrlsAndH2loadsNames) {
  const BenchOptions o = parse_bench({"bench", "https://h/a", "https://h/b", "-i", "urls.txt", "--rps", "2500", "-D",
                                      "3", "-c", "4", "-t", "2", "--warm-up-time", "0.5", "--log-file", "log.tsv",
                                      "--requests-per-connection", "100", "--timeout", "2", "--html", "r.html"});
  EXPECT_EQ(o.action, BenchOptions::Action::run);
  EXPECT_EQ(o.request.urls, (std::vector<std::string>{"https://h/a", "https://h/b"}));
  EXPECT_EQ(o.input_file, "urls.txt");
  EXPECT_EQ(o.rps, 2500.0);
  EXPECT_EQ(o.duration, 3s);
  EXPECT_EQ(o.threads, 2u);
  EXPECT_EQ(o.warmup, 500ms);
  EXPECT_EQ(o.log_file, "log.tsv");
  EXPECT_EQ(o.requests_per_connection, 100u);
  EXPECT_EQ(o.timeout, 2s);
  EXPECT_EQ(o.html_file, "r.html");
  EXPECT_FALSE(parse_bench({"bench"}).rps.has_value());  // closed loop stays the default
}

TEST(BenchOptions, MergeAndReportTakeReportFiles) {
  const BenchOptions merge = parse_bench({"bench", "merge", "a.json", "b.json", "--json"});
  EXPECT_EQ(merge.action, BenchOptions::Action::merge);
  EXPECT_EQ(merge.inputs, (std::vector<std::string>{"a.json", "b.json"}));
  EXPECT_TRUE(merge.json);
  const BenchOptions report = parse_bench({"bench", "report", "a.json", "--html", "page.html"});
  EXPECT_EQ(report.action, BenchOptions::Action::report);
  EXPECT_EQ(report.html_file, "page.html");
}

TEST(BenchOptions, BadValuesAreUsageErrors) {
  for (const std::vector<const char*>& args : std::vector<std::vector<const char*>>{
           {"bench", "--rps", "0"}, {"bench", "--rps", "-5"}, {"bench", "--rps", "nan"}, {"bench", "--timeout", "0"},
           {"bench", "-t", "3", "-c", "2"}, {"bench", "--requests-per-connection", "0"}, {"bench", "merge"},
           {"bench", "report", "a.json"}}) {
    auto command = parse(args);
    ASSERT_FALSE(command.has_value()) << args[1] << " " << (args.size() > 2 ? args[2] : "");
    EXPECT_EQ(command.error().exit_code, 2) << command.error().text;
  }
}

TEST(BenchTargets, UrlLinesWithOwnBodies) {
  auto lines = parse_url_lines("https://h/a\n\n# a comment\n  https://h/b   @body.json \r\nhttps://h/c");
  ASSERT_TRUE(lines.has_value()) << lines.error();
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0].url, "https://h/a");
  EXPECT_FALSE((*lines)[0].body_file.has_value());
  EXPECT_EQ((*lines)[1].url, "https://h/b");
  EXPECT_EQ((*lines)[1].body_file, "body.json");
  EXPECT_EQ((*lines)[2].url, "https://h/c");
  auto bad = parse_url_lines("https://h/a\nhttps://h/b body.json\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("line 2"), std::string::npos) << bad.error();
}

TEST(BenchTargets, ArgumentsThenFileLinesInOrderEachWithItsBody) {
  const auto dir = std::filesystem::temp_directory_path() / ("quiver-bench-targets-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "own.bin") << "OWN";
  std::ofstream(dir / "urls.txt") << "https://h/two\nhttps://h/three @" << (dir / "own.bin").string() << "\n";
  BenchOptions options;
  options.request.urls = {"https://h/one"};
  options.request.data = {DataItem{DataItem::Kind::ascii, "shared"}};
  options.input_file = (dir / "urls.txt").string();
  options.timeout = 1500ms;
  std::istringstream in;
  auto targets = make_bench_targets(options, in);
  ASSERT_TRUE(targets.has_value()) << targets.error().line();
  ASSERT_EQ(targets->size(), 3u);
  EXPECT_EQ((*targets)[0].url, "https://h/one");
  EXPECT_EQ((*targets)[1].url, "https://h/two");
  EXPECT_EQ((*targets)[2].url, "https://h/three");
  EXPECT_EQ((*targets)[0].request.method, "POST");
  EXPECT_EQ((*targets)[2].request.timeout, 1500ms);

  options.input_file = (dir / "missing.txt").string();
  auto missing = make_bench_targets(options, in);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().exit_code, 26);
  EXPECT_NE(missing.error().cause.find("missing.txt"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace quiver::cli

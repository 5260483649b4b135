#include <gtest/gtest.h>

#include <vector>

#include "cli_options.hpp"
#include "exit_codes.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

std::expected<CliOptions, CliExit> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "quiver");
  return parse_cli(static_cast<int>(args.size()), args.data());
}

CliOptions parse_ok(std::vector<const char*> args) {
  auto options = parse(std::move(args));
  EXPECT_TRUE(options.has_value()) << (options ? "" : options.error().text);
  return options.value_or(CliOptions{});
}

CliExit parse_exit(std::vector<const char*> args) {
  auto options = parse(std::move(args));
  EXPECT_FALSE(options.has_value());
  return options ? CliExit{-1, ""} : options.error();
}

TEST(ParseCli, UrlOnlyGivesDefaults) {
  CliOptions options = parse_ok({"https://example.com/"});
  EXPECT_EQ(options.url, "https://example.com/");
  EXPECT_FALSE(options.method.has_value());
  EXPECT_TRUE(options.headers.empty());
  EXPECT_TRUE(options.data.empty());
  EXPECT_FALSE(options.output_file.has_value());
  EXPECT_FALSE(options.include || options.insecure || options.fail || options.verbose);
  EXPECT_EQ(options.ca_file, "");
  EXPECT_FALSE(options.connect_timeout.has_value());
  EXPECT_FALSE(options.max_time.has_value());
}

TEST(ParseCli, ShortOptions) {
  CliOptions options = parse_ok({"-X", "PUT", "-o", "out.bin", "-i", "-k", "-f", "-v", "-m", "2.5", "https://h/"});
  EXPECT_EQ(options.method, "PUT");
  EXPECT_EQ(options.output_file, "out.bin");
  EXPECT_TRUE(options.include);
  EXPECT_TRUE(options.insecure);
  EXPECT_TRUE(options.fail);
  EXPECT_TRUE(options.verbose);
  EXPECT_EQ(options.max_time, 2500ms);
  EXPECT_EQ(options.url, "https://h/");
}

TEST(ParseCli, LongOptions) {
  CliOptions options = parse_ok({"https://h/", "--request", "DELETE", "--output=o", "--include", "--insecure",
                                 "--fail", "--verbose", "--cacert", "ca.pem", "--connect-timeout", "0.25",
                                 "--max-time", "10", "--data", "x=1", "--header", "A: b"});
  EXPECT_EQ(options.method, "DELETE");
  EXPECT_EQ(options.output_file, "o");
  EXPECT_TRUE(options.include && options.insecure && options.fail && options.verbose);
  EXPECT_EQ(options.ca_file, "ca.pem");
  EXPECT_EQ(options.connect_timeout, 250ms);
  EXPECT_EQ(options.max_time, 10s);
  EXPECT_EQ(options.data, std::vector<std::string>{"x=1"});
  EXPECT_EQ(options.headers, (std::vector<Header>{{"A", "b"}}));
}

TEST(ParseCli, CombinedShortFlags) {
  CliOptions options = parse_ok({"-ikv", "https://h/"});
  EXPECT_TRUE(options.include && options.insecure && options.verbose);
  EXPECT_FALSE(options.fail);
}

TEST(ParseCli, RepeatedHeadersKeepOrderAndTrimValues) {
  CliOptions options = parse_ok({"-H", "Accept: text/html", "-H", "X-Empty:", "-H", "X-Pad:  v  ", "-H",
                                 "X-Colon: a:b", "https://h/"});
  EXPECT_EQ(options.headers, (std::vector<Header>{
                                 {"Accept", "text/html"}, {"X-Empty", ""}, {"X-Pad", "v"}, {"X-Colon", "a:b"}}));
  EXPECT_EQ(options.url, "https://h/");  // not swallowed as a second -H value
}

TEST(ParseCli, MalformedHeaderIsNamed) {
  CliExit exit = parse_exit({"-H", "NoColon", "https://h/"});
  EXPECT_EQ(exit.exit_code, exit_code::invalid_header);
  EXPECT_NE(exit.text.find("'NoColon'"), std::string::npos) << exit.text;
  EXPECT_TRUE(exit.text.starts_with("quiver: ")) << exit.text;
  EXPECT_EQ(parse_exit({"-H", ": v", "https://h/"}).exit_code, exit_code::invalid_header);
}

TEST(ParseCli, RepeatedDataIsKeptInOrder) {
  CliOptions options = parse_ok({"-d", "a=1", "-d", "@body.txt", "https://h/"});
  EXPECT_EQ(options.data, (std::vector<std::string>{"a=1", "@body.txt"}));
  EXPECT_FALSE(options.method.has_value());  // POST is chosen when the request is prepared
}

TEST(ParseCli, HelpGoesToStdoutWithExitZero) {
  for (const char* flag : {"-h", "--help"}) {
    CliExit exit = parse_exit({flag});
    EXPECT_EQ(exit.exit_code, 0);
    EXPECT_NE(exit.text.find("--max-time"), std::string::npos);
    EXPECT_NE(exit.text.find("--header"), std::string::npos);
    EXPECT_NE(exit.text.find("Exit status"), std::string::npos);
  }
}

TEST(ParseCli, VersionNeedsNoUrl) {
  CliExit exit = parse_exit({"--version"});
  EXPECT_EQ(exit.exit_code, 0);
  EXPECT_NE(exit.text.find(std::string("quiver ") + std::string(quiver_version())), std::string::npos) << exit.text;
  EXPECT_NE(exit.text.find("ngtcp2"), std::string::npos) << exit.text;
}

TEST(ParseCli, UsageErrors) {
  const std::vector<std::vector<const char*>> bad_usages = {
      {},                                               // no URL
      {"--no-such-option", "https://h/"},               // unknown option
      {"https://h/", "https://other/"},                 // two URLs
      {"-X"},                                           // missing value
      {"--connect-timeout", "abc", "https://h/"},       // not a number
      {"--connect-timeout", "0", "https://h/"},         // not positive
      {"-m", "-1", "https://h/"},                       // not positive
      {"-m", "nan", "https://h/"},                      // not finite
  };
  for (const auto& args : bad_usages) {
    CliExit exit = parse_exit(args);
    EXPECT_EQ(exit.exit_code, exit_code::usage) << exit.text;
    EXPECT_TRUE(exit.text.starts_with("quiver: usage: ")) << exit.text;
    EXPECT_EQ(exit.text.find('\n'), std::string::npos) << "one line: " << exit.text;
  }
  EXPECT_NE(parse_exit({}).text.find("missing URL"), std::string::npos);
  EXPECT_NE(parse_exit({"--bogus", "https://h/"}).text.find("--bogus"), std::string::npos);
  EXPECT_NE(parse_exit({"-m", "0", "https://h/"}).text.find("--max-time"), std::string::npos);
}

TEST(ParseCli, SubMillisecondTimeoutsRoundUp) {
  EXPECT_EQ(parse_ok({"--connect-timeout", "0.0001", "https://h/"}).connect_timeout, 1ms);
}

}  // namespace
}  // namespace quiver::cli

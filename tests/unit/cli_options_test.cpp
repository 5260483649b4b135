#include <gtest/gtest.h>

#include <vector>

#include "cli_options.hpp"
#include "exit_codes.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

std::expected<Command, CliExit> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "quiver");
  return parse_cli(static_cast<int>(args.size()), args.data());
}

// The command `args` parse to, which must be of type T.
template <class T>
T parse_as(std::vector<const char*> args) {
  auto command = parse(std::move(args));
  EXPECT_TRUE(command.has_value()) << (command ? "" : command.error().text);
  if (!command) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*command));
  return std::holds_alternative<T>(*command) ? std::get<T>(*command) : T{};
}

FetchOptions parse_ok(std::vector<const char*> args) { return parse_as<FetchOptions>(std::move(args)); }

CliExit parse_exit(std::vector<const char*> args) {
  auto command = parse(std::move(args));
  EXPECT_FALSE(command.has_value());
  return command ? CliExit{-1, ""} : command.error();
}

void expect_usage_error(const std::vector<const char*>& args) {
  CliExit exit = parse_exit(args);
  EXPECT_EQ(exit.exit_code, exit_code::usage) << exit.text;
  EXPECT_TRUE(exit.text.starts_with("quiver: usage: ")) << exit.text;
  EXPECT_EQ(exit.text.find('\n'), std::string::npos) << "one line: " << exit.text;
}

TEST(ParseCli, UrlOnlyGivesDefaults) {
  FetchOptions options = parse_ok({"https://example.com/"});
  EXPECT_EQ(options.request.urls, std::vector<std::string>{"https://example.com/"});
  EXPECT_FALSE(options.request.method.has_value());
  EXPECT_TRUE(options.request.headers.empty());
  EXPECT_TRUE(options.request.data.empty());
  EXPECT_FALSE(options.output_file.has_value());
  EXPECT_FALSE(options.include || options.request.insecure || options.fail || options.verbose);
  EXPECT_FALSE(options.remote_name || options.parallel || options.silent || options.show_error);
  EXPECT_EQ(options.parallel_max, 50u);
  EXPECT_EQ(options.request.ca_file, "");
  EXPECT_FALSE(options.request.connect_timeout.has_value());
  EXPECT_FALSE(options.max_time.has_value());
}

TEST(ParseCli, Http2AndHttp3OnlyFlags) {
  EXPECT_FALSE(parse_ok({"https://h/"}).request.http2);
  EXPECT_TRUE(parse_ok({"--http2", "https://h/"}).request.http2);
  EXPECT_FALSE(parse_ok({"--http3-only", "https://h/"}).request.http2);
}

TEST(ParseCli, Http3AutoAndAltSvcFile) {
  FetchOptions options = parse_ok({"--http3", "--alt-svc", "alt.txt", "https://h/"});
  EXPECT_TRUE(options.request.http3);
  EXPECT_FALSE(options.request.http2);
  EXPECT_EQ(options.alt_svc, "alt.txt");
  EXPECT_FALSE(parse_ok({"https://h/"}).request.http3);
  expect_usage_error({"--http3", "--http2", "https://h/"});
  expect_usage_error({"--http3", "--http3-only", "https://h/"});
}

TEST(ParseCli, ShortOptions) {
  FetchOptions options = parse_ok({"-X", "PUT", "-o", "out.bin", "-i", "-k", "-f", "-v", "-m", "2.5", "https://h/"});
  EXPECT_EQ(options.request.method, "PUT");
  EXPECT_EQ(options.output_file, "out.bin");
  EXPECT_TRUE(options.include);
  EXPECT_TRUE(options.request.insecure);
  EXPECT_TRUE(options.fail);
  EXPECT_TRUE(options.verbose);
  EXPECT_EQ(options.max_time, 2500ms);
  EXPECT_EQ(options.request.urls, std::vector<std::string>{"https://h/"});
}

TEST(ParseCli, OutputDashIsStdout) {
  EXPECT_FALSE(parse_ok({"-o", "-", "https://h/"}).output_file.has_value());
  EXPECT_FALSE(parse_ok({"--output", "-", "https://h/"}).output_file.has_value());
}

TEST(ParseCli, LongOptions) {
  FetchOptions options = parse_ok({"https://h/", "--request", "DELETE", "--output=o", "--include", "--insecure",
                                   "--fail", "--verbose", "--cacert", "ca.pem", "--connect-timeout", "0.25",
                                   "--max-time", "10", "--data", "x=1", "--header", "A: b", "--silent",
                                   "--show-error"});
  EXPECT_EQ(options.request.method, "DELETE");
  EXPECT_EQ(options.output_file, "o");
  EXPECT_TRUE(options.include && options.request.insecure && options.fail && options.verbose);
  EXPECT_TRUE(options.silent && options.show_error);
  EXPECT_EQ(options.request.ca_file, "ca.pem");
  EXPECT_EQ(options.request.connect_timeout, 250ms);
  EXPECT_EQ(options.max_time, 10s);
  EXPECT_EQ(options.request.data, (std::vector<DataItem>{{DataItem::Kind::ascii, "x=1"}}));
  EXPECT_EQ(options.request.headers, std::vector<std::string>{"A: b"});
}

TEST(ParseCli, CombinedShortFlags) {
  FetchOptions options = parse_ok({"-ikvsS", "https://h/"});
  EXPECT_TRUE(options.include && options.request.insecure && options.verbose && options.silent && options.show_error);
  EXPECT_FALSE(options.fail);
}

TEST(ParseCli, SeveralUrlsParallelAndRemoteNames) {
  FetchOptions options = parse_ok({"-Z", "--parallel-max", "3", "-O", "--output-dir", "/tmp/x", "https://h/a",
                                   "https://h/b", "https://h/c"});
  EXPECT_EQ(options.request.urls, (std::vector<std::string>{"https://h/a", "https://h/b", "https://h/c"}));
  EXPECT_TRUE(options.parallel);
  EXPECT_EQ(options.parallel_max, 3u);
  EXPECT_TRUE(options.remote_name);
  EXPECT_EQ(options.output_dir, "/tmp/x");
  EXPECT_FALSE(parse_ok({"https://h/a", "https://h/b"}).parallel);  // one after another by default
}

TEST(ParseCli, RepeatedHeadersKeepOrderAsTyped) {
  FetchOptions options = parse_ok({"-H", "Accept: text/html", "-H", "X-Removed:", "-H", "X-Empty;", "-H",
                                   "@headers.txt", "https://h/"});
  EXPECT_EQ(options.request.headers,
            (std::vector<std::string>{"Accept: text/html", "X-Removed:", "X-Empty;", "@headers.txt"}));
  EXPECT_EQ(options.request.urls, std::vector<std::string>{"https://h/"});  // not swallowed as a second -H value
}

TEST(ParseCli, MalformedHeaderIsNamed) {
  CliExit exit = parse_exit({"-H", "NoColon", "https://h/"});
  EXPECT_EQ(exit.exit_code, exit_code::invalid_header);
  EXPECT_NE(exit.text.find("'NoColon'"), std::string::npos) << exit.text;
  EXPECT_TRUE(exit.text.starts_with("quiver: ")) << exit.text;
  EXPECT_EQ(parse_exit({"-H", ": v", "https://h/"}).exit_code, exit_code::invalid_header);
  EXPECT_EQ(parse_exit({"-H", "X; trailing", "https://h/"}).exit_code, exit_code::invalid_header);
  EXPECT_EQ(parse_exit({"bench", "-H", "NoColon"}).exit_code, exit_code::invalid_header);
}

TEST(ParseCli, RepeatedDataIsKeptInOrder) {
  FetchOptions options = parse_ok({"-d", "a=1", "-d", "@body.txt", "https://h/"});
  EXPECT_EQ(options.request.data,
            (std::vector<DataItem>{{DataItem::Kind::ascii, "a=1"}, {DataItem::Kind::ascii, "@body.txt"}}));
  EXPECT_FALSE(options.request.method.has_value());  // POST is chosen when the request is prepared
}

// As curl: the last of a repeated single-valued option wins; repeated lists keep every value.
TEST(ParseCli, RepeatedSingleOptionTakesTheLast) {
  FetchOptions options = parse_ok({"-X", "GET", "-X", "PUT", "-A", "a", "-A", "b", "-H", "A: 1", "-H", "B: 2",
                                   "-F", "a=1", "-F", "b=2", "-b", "x=1", "-b", "y=2", "https://h/"});
  EXPECT_EQ(options.request.method, "PUT");
  EXPECT_EQ(options.request.user_agent, "b");
  EXPECT_EQ(options.request.headers, (std::vector<std::string>{"A: 1", "B: 2"}));
  EXPECT_EQ(options.request.form, (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(options.request.cookies, (std::vector<std::string>{"x=1", "y=2"}));
}

// curl joins every data option in command-line order, whatever its kind: the parser keeps one list.
TEST(ParseCli, DataOptionsOfEveryKindKeepOneOrder) {
  FetchOptions options = parse_ok({"--data-binary", "@b", "-d", "a=1", "--data-urlencode", "q=x y", "--data-raw",
                                   "@raw", "--data=c=3", "--json", "{}", "https://h/"});
  using K = DataItem::Kind;
  EXPECT_EQ(options.request.data, (std::vector<DataItem>{{K::binary, "@b"}, {K::ascii, "a=1"}, {K::urlencode, "q=x y"},
                                                         {K::raw, "@raw"}, {K::ascii, "c=3"}, {K::json, "{}"}}));
  EXPECT_EQ(options.request.urls, std::vector<std::string>{"https://h/"});
}

TEST(ParseCli, RequestFlagsOfCurl) {
  FetchOptions options = parse_ok({"-G", "-d", "q=1", "-u", "me:pw", "-A", "agent/1", "-e", "https://ref/", "-b",
                                   "a=1", "-b", "jar.txt", "-r", "0-99", "https://h/"});
  const RequestOptions& r = options.request;
  EXPECT_TRUE(r.get);
  EXPECT_EQ(r.user, "me:pw");
  EXPECT_EQ(r.user_agent, "agent/1");
  EXPECT_EQ(r.referer, "https://ref/");
  EXPECT_EQ(r.cookies, (std::vector<std::string>{"a=1", "jar.txt"}));
  EXPECT_EQ(r.range, "0-99");

  FetchOptions form = parse_ok({"-F", "a=1", "-F", "f=@x.txt;type=text/plain", "https://h/"});
  EXPECT_EQ(form.request.form, (std::vector<std::string>{"a=1", "f=@x.txt;type=text/plain"}));
  EXPECT_EQ(parse_ok({"-T", "up.bin", "https://h/"}).request.upload_file, "up.bin");
  EXPECT_TRUE(parse_ok({"-I", "https://h/"}).request.head);
  EXPECT_TRUE(parse_ok({"--head", "https://h/"}).request.head);
}

TEST(ParseCli, OutputFlagsOfCurl) {
  FetchOptions options = parse_ok({"-o", "d/f", "--create-dirs", "--no-clobber", "-D", "-", "-c", "jar", "-#",
                                   "https://h/"});
  EXPECT_TRUE(options.create_dirs && options.no_clobber && options.progress_hashes);
  EXPECT_EQ(options.dump_header, "-");
  EXPECT_EQ(options.cookie_jar, "jar");
  EXPECT_TRUE(parse_ok({"--no-progress-meter", "https://h/"}).no_progress_meter);

  FetchOptions resume = parse_ok({"-C", "-", "-o", "f", "https://h/"});
  EXPECT_TRUE(resume.continue_auto);
  EXPECT_FALSE(resume.continue_at.has_value());
  EXPECT_EQ(parse_ok({"-C", "100", "-o", "f", "https://h/"}).continue_at, 100u);
  expect_usage_error({"-C", "-", "https://h/"});           // -C - needs an output file
  expect_usage_error({"-C", "x", "-o", "f", "https://h/"});  // not an offset
  expect_usage_error({"-C", "5", "-r", "0-1", "-o", "f", "https://h/"});
}

TEST(ParseCli, RetryFlags) {
  FetchOptions options = parse_ok({"--retry", "3", "--retry-delay", "0.5", "--retry-max-time", "20",
                                   "--retry-all-errors", "--retry-connrefused", "https://h/"});
  EXPECT_EQ(options.retry.count, 3);
  EXPECT_EQ(options.retry.delay, 500ms);
  EXPECT_EQ(options.retry.max_time, 20s);
  EXPECT_TRUE(options.retry.all_errors && options.retry.connection_refused);
  FetchOptions zero = parse_ok({"--retry", "1", "--retry-delay", "0", "--retry-max-time", "0", "https://h/"});
  EXPECT_FALSE(zero.retry.delay.has_value());     // 0: curl's default backoff
  EXPECT_FALSE(zero.retry.max_time.has_value());  // 0: no limit
  expect_usage_error({"--retry", "-1", "https://h/"});
}

// curl's "You can only select one HTTP request method!"
TEST(ParseCli, FlagsThatChooseDifferentMethodsConflict) {
  expect_usage_error({"-I", "-d", "a=1", "https://h/"});
  expect_usage_error({"-F", "a=1", "-d", "a=1", "https://h/"});
  expect_usage_error({"-T", "f", "-d", "a=1", "https://h/"});
  expect_usage_error({"-I", "-T", "f", "https://h/"});
  EXPECT_TRUE(parse_ok({"-I", "-G", "-d", "a=1", "https://h/"}).request.head);  // -G: the data is a query
}

TEST(ParseCli, UserWithoutPasswordIsRefused) {
  CliExit exit = parse_exit({"-u", "me", "https://h/"});
  EXPECT_EQ(exit.exit_code, exit_code::usage);
  EXPECT_NE(exit.text.find("USER:PASSWORD"), std::string::npos) << exit.text;
  expect_usage_error({"-r", "abc", "https://h/"});
}

// Flags curl users reach for and quiver lacks fail with a clear line, not "argument was not expected".
TEST(ParseCli, UnsupportedFlagsSaySo) {
  for (std::vector<const char*> args : {std::vector<const char*>{"--proxy", "http://p:3128", "https://h/"},
                                        {"-x", "http://p:3128", "https://h/"}}) {
    CliExit exit = parse_exit(args);
    EXPECT_EQ(exit.exit_code, exit_code::usage) << args.front();
    EXPECT_NE(exit.text.find("is not supported yet"), std::string::npos) << exit.text;
    EXPECT_NE(exit.text.find(args.front()), std::string::npos) << exit.text;
  }
}

TEST(ParseCli, HelpGoesToStdoutWithExitZero) {
  for (const char* flag : {"-h", "--help"}) {
    CliExit exit = parse_exit({flag});
    EXPECT_EQ(exit.exit_code, 0);
    for (const char* expected : {"--max-time", "--header", "--parallel", "Exit status", "serve", "bench", "demo"}) {
      EXPECT_NE(exit.text.find(expected), std::string::npos) << expected;
    }
  }
}

TEST(ParseCli, EachSubcommandHasItsOwnHelp) {
  const std::vector<std::pair<const char*, std::vector<const char*>>> helps = {
      {"serve", {"--port", "--cert", "--max-streams", "/bytes/N", "SIGTERM"}},
      {"bench", {"--requests", "--duration", "--connections", "--max-concurrent-streams", "--json", "Concurrency"}},
      {"demo", {"--bench-seconds", "GOAWAY"}},
  };
  for (const auto& [name, expected] : helps) {
    CliExit exit = parse_exit({name, "--help"});
    EXPECT_EQ(exit.exit_code, 0) << name;
    EXPECT_NE(exit.text.find(std::string("quiver ") + name), std::string::npos) << exit.text;
    for (const char* text : expected) EXPECT_NE(exit.text.find(text), std::string::npos) << name << ": " << text;
    EXPECT_EQ(exit.text.find("--max-time"), std::string::npos) << name << " shows the fetch options";
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
      {"-o", "f", "https://h/", "https://other/"},      // one -o file, two URLs
      {"-o", "f", "-O", "https://h/"},                  // -o and -O
      {"--output-dir", "d", "https://h/"},              // --output-dir without -O
      {"--parallel-max", "0", "-Z", "https://h/"},      // out of range
      {"-X"},                                           // missing value
      {"--connect-timeout", "abc", "https://h/"},       // not a number
      {"--connect-timeout", "0", "https://h/"},         // not positive
      {"-m", "-1", "https://h/"},                       // not positive
      {"-m", "nan", "https://h/"},                      // not finite
      {"-k", "bench"},                                  // an option before the subcommand
      {"https://h/", "serve"},                          // a URL with a subcommand
      {"serve", "--cert", "c.pem"},                     // --cert without --key
      {"serve", "--port", "70000"},                     // not a port
      {"bench", "-n", "10", "-D", "1"},                 // -n and -D
      {"bench", "-c", "1", "--threads", "2"},           // more threads than connections
      {"demo", "--bench-seconds", "0"},                 // not positive
  };
  for (const auto& args : bad_usages) expect_usage_error(args);
  EXPECT_NE(parse_exit({}).text.find("missing URL"), std::string::npos);
  EXPECT_NE(parse_exit({"--bogus", "https://h/"}).text.find("--bogus"), std::string::npos);
  EXPECT_NE(parse_exit({"-m", "0", "https://h/"}).text.find("--max-time"), std::string::npos);
  EXPECT_NE(parse_exit({"bench", "--bogus"}).text.find("quiver bench --help"), std::string::npos);
}

TEST(ParseCli, SubMillisecondTimeoutsRoundUp) {
  EXPECT_EQ(parse_ok({"--connect-timeout", "0.0001", "https://h/"}).request.connect_timeout, 1ms);
}

TEST(ParseServe, DefaultsAndOptions) {
  ServeOptions defaults = parse_as<ServeOptions>({"serve"});
  EXPECT_EQ(defaults.host, "127.0.0.1");
  EXPECT_EQ(defaults.port, 4433);
  EXPECT_TRUE(defaults.cert_file.empty() && defaults.key_file.empty());
  EXPECT_EQ(defaults.max_streams, 100u);
  EXPECT_EQ(defaults.idle_timeout, 30s);
  EXPECT_EQ(defaults.goaway_after, 0u);

  ServeOptions options = parse_as<ServeOptions>({"serve", "--host", "::1", "--port", "0", "--cert", "c.pem", "--key",
                                                 "k.pem", "--max-streams", "7", "--idle-timeout", "1.5", "--goaway-after", "10", "-q"});
  EXPECT_EQ(options.host, "::1");
  EXPECT_EQ(options.port, 0);
  EXPECT_EQ(options.cert_file, "c.pem");
  EXPECT_EQ(options.key_file, "k.pem");
  EXPECT_EQ(options.max_streams, 7u);
  EXPECT_EQ(options.idle_timeout, 1500ms);
  EXPECT_EQ(options.goaway_after, 10u);
  EXPECT_TRUE(options.quiet);
}

TEST(ParseBench, DefaultsAndOptions) {
  BenchOptions defaults = parse_as<BenchOptions>({"bench"});
  EXPECT_TRUE(defaults.request.urls.empty());  // the embedded server
  EXPECT_FALSE(defaults.requests || defaults.duration);
  EXPECT_EQ(defaults.connections, 1u);
  EXPECT_EQ(defaults.streams, 10u);
  EXPECT_EQ(defaults.threads, 1u);
  EXPECT_EQ(defaults.warmup, 0ms);
  EXPECT_FALSE(defaults.json);

  BenchOptions options = parse_as<BenchOptions>({"bench", "https://h/x", "-n", "500", "-c", "4", "-m", "25", "-d",
                                                 "@f", "-H", "A: 1", "--warmup", "0.5", "--cacert", "ca.pem", "-k",
                                                 "--json", "--threads", "2"});
  EXPECT_EQ(options.request.urls, std::vector<std::string>{"https://h/x"});
  EXPECT_EQ(options.requests, 500u);
  EXPECT_EQ(options.connections, 4u);
  EXPECT_EQ(options.streams, 25u);
  EXPECT_EQ(options.request.data, (std::vector<DataItem>{{DataItem::Kind::ascii, "@f"}}));
  EXPECT_EQ(options.request.headers, std::vector<std::string>{"A: 1"});
  EXPECT_EQ(options.warmup, 500ms);
  EXPECT_EQ(options.request.ca_file, "ca.pem");
  EXPECT_TRUE(options.request.insecure && options.json);
  EXPECT_EQ(options.threads, 2u);
  EXPECT_EQ(parse_as<BenchOptions>({"bench", "-D", "2"}).duration, 2s);
}

TEST(ParseDemo, BenchSeconds) {
  EXPECT_EQ(parse_as<DemoOptions>({"demo"}).bench_duration, 3s);
  EXPECT_EQ(parse_as<DemoOptions>({"demo", "--bench-seconds", "0.5"}).bench_duration, 500ms);
}

}  // namespace
}  // namespace quiver::cli

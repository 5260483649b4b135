#include "bench.hpp"

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "bench_engine.hpp"
#include "bench_html.hpp"
#include "bench_report.hpp"
#include "bench_targets.hpp"
#include "cli_request.hpp"
#include "console.hpp"
#include "embedded_server.hpp"
#include "exit_codes.hpp"
#include "response_output.hpp"

namespace quiver::cli {

namespace {

constexpr std::string_view embedded_target = "/bytes/1024";

int report(std::ostream& err, const Failure& failure) {
  err << failure.line() << '\n';
  return failure.exit_code;
}

// The request options with the embedded server as the target, trusted through its own certificate.
BenchOptions aimed_at(const BenchOptions& options, const EmbeddedServer& server) {
  BenchOptions aimed = options;
  aimed.request.urls = {server.origin() + std::string(embedded_target)};
  aimed.request.ca_file = server.ca_file();
  return aimed;
}

// The plan, or the failure that makes a bench pointless (bad URL, -d file, -i file, --cacert file,
// --log-file, ...).
std::expected<BenchPlan, Failure> make_plan(const BenchOptions& options, std::istream& in) {
  auto targets = make_bench_targets(options, in);
  if (!targets) return std::unexpected(std::move(targets.error()));
  auto connection = connection_options_for(options.request);
  if (!connection) return std::unexpected(std::move(connection.error()));
  BenchPlan plan;
  plan.targets = std::move(*targets);
  plan.connection = std::move(*connection);
  // A load test measures one protocol: without a protocol flag that is HTTP/3, never a race's mix.
  const RequestOptions& chosen = options.request;
  if (!chosen.http2 && !chosen.http1_1 && !chosen.http3) plan.connection.http_version = HttpVersion::http3_only;
  plan.requests = options.requests;
  plan.duration = options.duration;
  if (!plan.requests && !plan.duration) plan.requests = BenchOptions::default_requests;
  plan.warmup = options.warmup;
  plan.connections = options.connections;
  plan.streams = options.streams;
  plan.rps = options.rps;
  plan.requests_per_connection = options.requests_per_connection;
  if (options.log_file) {
    auto log = RequestLog::open(*options.log_file);
    if (!log) return std::unexpected(Failure{exit_code::write_failed, "io_error", log.error()});
    plan.log = std::move(*log);
  }
  return plan;
}

std::string describe_targets(const BenchPlan& plan) {
  const auto& first = plan.targets.front();
  std::string text = fmt::format("{} {}", first.request.method, first.url);
  if (plan.targets.size() > 1) text += fmt::format(" (+ {} more URLs, round-robin)", plan.targets.size() - 1);
  return text;
}

std::optional<Failure> first_failure(const BenchResult& result, const std::string& url) {
  if (result.first_error) return failure_from(*result.first_error);
  if (result.first_error_status) return http_failure(*result.first_error_status, url, /*fail=*/true);
  return std::nullopt;
}

std::optional<Failure> write_text_file(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.flush();
  if (!file) return Failure{exit_code::write_failed, "io_error", fmt::format("cannot write '{}'", path)};
  return std::nullopt;
}

// The report in a --json file, or why it cannot be used.
std::expected<LoadedBenchReport, Failure> load_report(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::unexpected(Failure{exit_code::read_failed, "io_error", fmt::format("cannot read '{}'", path)});
  auto json = nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return std::unexpected(Failure{exit_code::usage, "invalid_input", fmt::format("'{}' is not JSON", path)});
  }
  auto loaded = parse_bench_json(json);
  if (!loaded) return std::unexpected(Failure{exit_code::usage, "invalid_input", fmt::format("'{}': {}", path, loaded.error())});
  return std::move(*loaded);
}

std::expected<std::vector<HtmlRun>, Failure> load_reports(const std::vector<std::string>& paths) {
  std::vector<HtmlRun> runs;
  for (const std::string& path : paths) {
    auto loaded = load_report(path);
    if (!loaded) return std::unexpected(std::move(loaded.error()));
    runs.push_back({std::filesystem::path(path).filename().string(), std::move(*loaded)});
  }
  return runs;
}

int finish_output(Terminal& terminal) {
  terminal.out.flush();
  if (!terminal.out) return report(terminal.err, Failure{exit_code::write_failed, "io_error", "cannot write to stdout"});
  return exit_code::ok;
}

// `quiver bench merge`: one report (human or JSON, and --html) of the union of the inputs.
int run_merge(const BenchOptions& options, Terminal& terminal) {
  auto runs = load_reports(options.inputs);
  if (!runs) return report(terminal.err, runs.error());
  std::vector<LoadedBenchReport> reports;
  for (auto& run : *runs) reports.push_back(std::move(run.report));
  const LoadedBenchReport merged = merge_bench_reports(reports);
  if (options.html_file) {
    if (auto failure = write_text_file(*options.html_file, bench_html({{"merged", merged}}))) return report(terminal.err, *failure);
  }
  if (options.json) {
    terminal.out << bench_json(merged.what, merged.settings, merged.result).dump(2) << '\n';
  } else {
    terminal.out << format_bench_report(merged.what, merged.settings, merged.result);
  }
  return finish_output(terminal);
}

// `quiver bench report --html FILE`: the runs overlaid on one page.
int run_report(const BenchOptions& options, Terminal& terminal) {
  auto runs = load_reports(options.inputs);
  if (!runs) return report(terminal.err, runs.error());
  if (auto failure = write_text_file(*options.html_file, bench_html(*runs))) return report(terminal.err, *failure);
  return exit_code::ok;
}

int run_load(const BenchOptions& given, Terminal& terminal) {
  std::unique_ptr<EmbeddedServer> server;
  BenchOptions options = given;
  if (options.request.urls.empty() && !options.input_file) {
    try {
      EmbeddedServer::Options server_options;
      server_options.max_streams = std::max<std::uint64_t>(100, options.streams);  // never the bottleneck
      server = std::make_unique<EmbeddedServer>(std::move(server_options));
    } catch (const std::exception& error) {
      terminal.err << "quiver: bench: cannot start the embedded server: " << error.what() << '\n';
      return exit_code::failure;
    }
    options = aimed_at(options, *server);
  }
  auto plan = make_plan(options, terminal.in);
  if (!plan) return report(terminal.err, plan.error());

  const BenchDescription what{describe_targets(*plan), server != nullptr};
  Console console(terminal.err, terminal.err_is_terminal);
  BenchRun run(*plan);  // closed after the report: requests cut off at a deadline are not waited for
  const BenchResult result = run.run(&console);
  if (options.json) {
    terminal.out << bench_json(what, *plan, result).dump(2) << '\n';
  } else {
    terminal.out << format_bench_report(what, *plan, result);
  }
  if (options.html_file) {
    const LoadedBenchReport loaded{what, BenchSettings::of(*plan), result};
    if (auto failure = write_text_file(*options.html_file, bench_html({{what.target, loaded}}))) {
      return report(terminal.err, *failure);
    }
  }
  if (plan->log && !plan->log->good()) {
    return report(terminal.err, Failure{exit_code::write_failed, "io_error", fmt::format("cannot write the log file {}", *options.log_file)});
  }
  if (const int written = finish_output(terminal); written != exit_code::ok) return written;
  auto failure = first_failure(result, plan->targets.front().url);
  return failure ? report(terminal.err, *failure) : exit_code::ok;
}

}  // namespace

int run_bench_command(const BenchOptions& options, Terminal terminal) {
  switch (options.action) {
    case BenchOptions::Action::merge: return run_merge(options, terminal);
    case BenchOptions::Action::report: return run_report(options, terminal);
    case BenchOptions::Action::run: break;
  }
  return run_load(options, terminal);
}

}  // namespace quiver::cli

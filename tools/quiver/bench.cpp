#include "bench.hpp"

#include <memory>
#include <optional>

#include <fmt/format.h>

#include "bench_engine.hpp"
#include "bench_report.hpp"
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
RequestOptions aimed_at(const RequestOptions& options, const EmbeddedServer& server) {
  RequestOptions aimed = options;
  aimed.urls = {server.origin() + std::string(embedded_target)};
  aimed.ca_file = server.ca_file();
  return aimed;
}

// The plan, or the failure that makes a bench pointless (bad URL, -d file, --cacert file, ...).
std::expected<BenchPlan, Failure> make_plan(const BenchOptions& options, const RequestOptions& request,
                                            std::istream& in) {
  auto prepared = prepare_requests(request, in);
  if (!prepared) return std::unexpected(std::move(prepared.error()));
  auto connection = connection_options_for(request);
  if (!connection) return std::unexpected(std::move(connection.error()));
  BenchPlan plan;
  plan.request = std::move(prepared->front().request);
  plan.connection = std::move(*connection);
  plan.requests = options.requests;
  plan.duration = options.duration;
  if (!plan.requests && !plan.duration) plan.requests = BenchOptions::default_requests;
  plan.warmup = options.warmup;
  plan.connections = options.connections;
  plan.streams = options.streams;
  return plan;
}

std::optional<Failure> first_failure(const BenchResult& result, const std::string& url) {
  if (result.first_error) return failure_from(*result.first_error);
  if (result.first_error_status) return http_failure(*result.first_error_status, url, /*fail=*/true);
  return std::nullopt;
}

}  // namespace

int run_bench_command(const BenchOptions& options, Terminal terminal) {
  std::unique_ptr<EmbeddedServer> server;
  RequestOptions request = options.request;
  if (request.urls.empty()) {
    try {
      EmbeddedServer::Options server_options;
      server_options.max_streams = std::max<std::uint64_t>(100, options.streams);  // never the bottleneck
      server = std::make_unique<EmbeddedServer>(std::move(server_options));
    } catch (const std::exception& error) {
      terminal.err << "quiver: bench: cannot start the embedded server: " << error.what() << '\n';
      return exit_code::failure;
    }
    request = aimed_at(request, *server);
  }
  auto plan = make_plan(options, request, terminal.in);
  if (!plan) return report(terminal.err, plan.error());

  const BenchDescription what{fmt::format("{} {}", plan->request.method, plan->request.url.to_string()),
                              server != nullptr};
  Console console(terminal.err, terminal.err_is_terminal);
  BenchRun run(*plan);  // closed after the report: requests cut off at a deadline are not waited for
  const BenchResult result = run.run(&console);
  if (options.json) {
    terminal.out << bench_json(what, *plan, result).dump(2) << '\n';
  } else {
    terminal.out << format_bench_report(what, *plan, result);
  }
  terminal.out.flush();
  if (!terminal.out) return report(terminal.err, Failure{exit_code::write_failed, "io_error", "cannot write to stdout"});
  auto failure = first_failure(result, plan->request.url.to_string());
  return failure ? report(terminal.err, *failure) : exit_code::ok;
}

}  // namespace quiver::cli

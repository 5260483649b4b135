#include "fetch.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli_request.hpp"
#include "console.hpp"
#include "exit_codes.hpp"
#include "progress.hpp"
#include "quiver/client.hpp"
#include "response_output.hpp"
#include "telemetry_sinks.hpp"
#include "transfer.hpp"
#include "write_out.hpp"

namespace quiver::cli {

namespace {

// How long the client may drain its connections at the end.
constexpr std::chrono::milliseconds shutdown_deadline{1000};
// Without --max-time a request may wait this long for a stream of a busy connection (-Z beyond the
// server's stream limit).
constexpr std::chrono::milliseconds patient_checkout{std::chrono::hours(1)};

bool silenced(const FetchOptions& options) { return options.silent && !options.show_error; }

ClientOptions client_options_for(ConnectionOptions connection, const FetchOptions& options,
                                 std::shared_ptr<Telemetry> telemetry) {
  ClientOptions client;
  client.io_threads = 1;
  client.shutdown_deadline = shutdown_deadline;
  connection.telemetry = std::move(telemetry);
  connection.connect_to = options.connect_to;
  connection.tls.ca_path = options.ca_path;
  connection.tls.pinned_public_keys = options.pinned_public_keys;
  client.defaults.checkout_timeout = patient_checkout;
  if (options.max_time) {
    connection.connect_timeout = std::min(connection.connect_timeout, *options.max_time);
    client.defaults.checkout_timeout = *options.max_time;
    client.defaults.request_timeout = *options.max_time;  // from the request's start to its body's end
  }
  client.defaults.connection = std::move(connection);
  client.session_file = options.ssl_sessions;
  client.alt_svc_file = options.alt_svc;
  client.early_data = options.tls_earlydata;
  client.redirects.follow = options.location;
  client.redirects.max_redirects = options.max_redirs < 0 ? std::numeric_limits<int>::max() : options.max_redirs;
  client.decompression.enabled = options.compressed;
  return client;
}

// The bar only when stderr is a terminal and no body goes to the terminal (it would be garbled), as curl.
bool wants_progress_bar(const FetchOptions& options, const Terminal& terminal) {
  const bool body_to_stdout = !options.output_file && !options.remote_name;
  return terminal.err_is_terminal && !options.silent && !options.verbose &&
         !(body_to_stdout && terminal.out_is_terminal);
}

// Bodies held back under -Z go to stdout whole and in command-line order, each as soon as every
// earlier one is out. Thread-safe.
class OrderedStdout {
 public:
  OrderedStdout(std::ostream& out, std::size_t count) : out_(out), bodies_(count) {}

  // Returns false if stdout cannot be written.
  bool complete(std::size_t index, std::string body) {
    std::lock_guard lock(mutex_);
    bodies_[index] = std::move(body);
    while (next_ < bodies_.size() && bodies_[next_]) {
      out_ << *bodies_[next_];
      bodies_[next_++].reset();
    }
    return static_cast<bool>(out_.flush());
  }

 private:
  std::mutex mutex_;
  std::ostream& out_;
  std::vector<std::optional<std::string>> bodies_;
  std::size_t next_ = 0;
};

// Runs every prepared request and keeps each one's outcome by its index.
class FetchRun {
 public:
  FetchRun(const TransferContext& context, Terminal terminal, std::vector<PreparedRequest> requests,
           std::optional<std::string> write_out)
      : context_(context), terminal_(terminal), requests_(std::move(requests)), failures_(requests_.size()),
        ordered_(terminal.out, requests_.size()), write_out_(std::move(write_out)) {}

  // One at a time on this thread, or with -Z on up to --parallel-max threads.
  void run() {
    const FetchOptions& options = context_.options;
    const std::size_t workers = options.parallel ? std::min(options.parallel_max, requests_.size()) : 1;
    if (workers <= 1) {
      work();
      return;
    }
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < workers; ++i) threads.emplace_back([this] { work(); });
  }

  // The first failure in command-line order.
  int first_failure_code() const {
    auto first = std::ranges::find_if(failures_, [](const auto& failure) { return failure.has_value(); });
    return first == failures_.end() ? exit_code::ok : (*first)->exit_code;
  }

 private:
  void work() {
    for (std::size_t i = next_++; i < requests_.size(); i = next_++) fetch(i);
  }

  void fetch(std::size_t index) {
    PreparedRequest& prepared = requests_[index];
    const bool buffered = context_.options.parallel && requests_.size() > 1;
    BodyWriter writer(OutputTarget::for_url(context_.options, prepared.request.url, buffered), terminal_.out,
                      context_.options.include);
    const std::string method = prepared.request.method, target = prepared.request.url.target();
    VerboseLog* verbose = context_.verbose;
    if (verbose) verbose->expect_request(method, target, prepared.fields);
    TransferReport report;
    report.url = prepared.request.url.to_string();
    failures_[index] = run_transfer(context_, std::move(prepared), writer, &report);
    if (verbose) {
      const auto& failure = failures_[index];
      verbose->finished(method, target, failure ? std::optional(failure->kind + ": " + failure->cause) : std::nullopt);
    }
    std::string report_text;
    if (write_out_) {  // -w: after the body, on stdout
      if (const auto& failure = failures_[index]) {
        report.exit_code = failure->exit_code;
        report.errormsg = failure->cause;
      }
      report_text = format_write_out(*write_out_, report);
    }
    if (buffered && !ordered_.complete(index, writer.take_buffer() + report_text) && !failures_[index]) {
      failures_[index] = Failure{exit_code::write_failed, "io_error", "cannot write to stdout"};
    } else if (!buffered && !report_text.empty()) {
      std::lock_guard lock(report_mutex_);
      terminal_.out << report_text << std::flush;
    }
    ++context_.counters.finished;
    if (failures_[index] && !silenced(context_.options)) context_.console.line(failures_[index]->line());
  }

  const TransferContext& context_;
  Terminal terminal_;
  std::vector<PreparedRequest> requests_;
  std::vector<std::optional<Failure>> failures_;  // by index; each written by the one thread that ran it
  OrderedStdout ordered_;
  std::optional<std::string> write_out_;  // -w's format
  std::mutex report_mutex_;
  std::atomic<std::size_t> next_{0};
};

// The one-line report of a failure found before any transfer, subject to -s/-S.
void report_failure(std::ostream& err, const FetchOptions& options, const Failure& failure) {
  if (!silenced(options)) err << failure.line() << '\n';
}

}  // namespace

int run_fetch(const FetchOptions& options, Terminal terminal) {
  auto prepared = prepare_requests(options.request, terminal.in);
  if (!prepared) {
    report_failure(terminal.err, options, prepared.error());
    return prepared.error().exit_code;
  }
  std::optional<std::string> write_out;
  if (options.write_out) {
    auto format = load_write_out(*options.write_out, terminal.in);
    if (!format) {
      report_failure(terminal.err, options, format.error());
      return format.error().exit_code;
    }
    write_out = std::move(*format);
  }
  if (!options.ca_path.empty() && !std::filesystem::is_directory(options.ca_path)) {
    Failure failure{exit_code::bad_ca_file, "io_error", fmt::format("--capath '{}' is not a directory", options.ca_path)};
    report_failure(terminal.err, options, failure);
    return failure.exit_code;
  }
  auto connection = connection_options_for(options.request);
  if (!connection) {
    report_failure(terminal.err, options, connection.error());
    return connection.error().exit_code;
  }

  Console console(terminal.err, terminal.err_is_terminal);
  auto verbose = options.verbose ? std::make_shared<VerboseLog>(console) : nullptr;
  Client client(client_options_for(std::move(*connection), options, verbose));
  TransferCounters counters;
  counters.total = static_cast<std::uint32_t>(prepared->size());
  const bool progress = wants_progress_bar(options, terminal);
  TransferContext context{client, options, console, counters, progress, verbose.get()};

  FetchRun run(context, terminal, std::move(*prepared), std::move(write_out));
  {
    std::optional<ProgressBar> bar;
    if (progress) bar.emplace(console, counters);
    run.run();
  }
  client.shutdown(shutdown_deadline);
  return run.first_failure_code();
}

}  // namespace quiver::cli

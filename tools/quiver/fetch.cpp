#include "fetch.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <filesystem>
#include <fstream>
#include <sstream>
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
#include "retry.hpp"
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

// Warnings (dropped headers, retries, cookie files) are silenced by -s alone, as curl's.
void warn(Console& console, const FetchOptions& options, const std::string& text) {
  if (!options.silent) console.line("quiver: warning: " + text);
}

ClientOptions client_options_for(ConnectionOptions connection, const FetchOptions& options,
                                 std::shared_ptr<Telemetry> telemetry) {
  ClientOptions client;
  client.io_threads = 1;
  client.shutdown_deadline = shutdown_deadline;
  connection.telemetry = std::move(telemetry);
  connection.connect_to = options.connect_to;
  connection.tls.ca_path = options.ca_path;
  connection.tls.pinned_public_keys = options.pinned_public_keys;
  connection.tls.client_certificate = options.client_certificate;
  connection.tls.client_key = options.client_key;
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
  if (options.progress_hashes && terminal.err_is_terminal && !options.silent) return true;  // -# asks for it
  return terminal.err_is_terminal && !options.silent && !options.verbose && !options.no_progress_meter &&
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
    const bool buffered = context_.options.parallel && requests_.size() > 1;
    std::string held;  // -Z: every attempt's stdout output, in order
    TransferReport report;  // -w: what the last attempt said
    report.url = requests_[index].request.url.to_string();
    failures_[index] = fetch_with_retries(requests_[index], buffered, held, write_out_ ? &report : nullptr);
    std::string report_text;
    if (write_out_) {  // -w: after the body, on stdout
      if (const auto& failure = failures_[index]) {
        report.exit_code = failure->exit_code;
        report.errormsg = failure->cause;
      }
      report_text = format_write_out(*write_out_, report);
    }
    if (buffered && !ordered_.complete(index, std::move(held) + report_text) && !failures_[index]) {
      failures_[index] = Failure{exit_code::write_failed, "io_error", "cannot write to stdout"};
    } else if (!buffered && !report_text.empty()) {
      std::lock_guard lock(report_mutex_);
      terminal_.out << report_text << std::flush;
    }
    ++context_.counters.finished;
    if (failures_[index] && !silenced(context_.options)) context_.console.line(failures_[index]->line());
  }

  // Attempts until one needs no retry (--retry, curl's rules in retry.hpp).
  std::optional<Failure> fetch_with_retries(PreparedRequest& prepared, bool buffered, std::string& held,
                                            TransferReport* report) {
    const FetchOptions& options = context_.options;
    RetryPolicy retry(options.retry);
    const auto start = std::chrono::steady_clock::now();
    for (bool first = true;; first = false) {
      BodyWriter writer(OutputTarget::for_url(options, prepared.request.url, buffered), terminal_.out,
                        options.include || options.request.head);
      AttemptOutcome outcome = attempt(prepared, first, writer, report);
      if (buffered) held += writer.take_buffer();
      const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      auto decision = retry.next(outcome, elapsed);
      if (!decision) return std::move(outcome.failure);
      warn(context_.console, options, RetryPolicy::describe(*decision));
      std::this_thread::sleep_for(decision->delay);
    }
  }

  // One attempt: the request with this attempt's body, cookies and -C range.
  AttemptOutcome attempt(const PreparedRequest& prepared, bool first, BodyWriter& writer, TransferReport* report) {
    Request request = prepared.request;
    if (!first) request.body = prepared.make_body();
    const std::uint64_t resume_from = resume_offset(writer);
    if (resume_from > 0) request.headers.set("range", fmt::format("bytes={}-", resume_from));
    add_cookies(request);
    auto fields = fields_of(request);
    if (!fields) {
      AttemptOutcome invalid;
      invalid.failure = std::move(fields.error());
      return invalid;
    }
    const std::string method = request.method, target = request.url.target();
    VerboseLog* verbose = context_.verbose;
    if (verbose) verbose->expect_request(method, target, std::move(*fields));
    AttemptOutcome outcome = run_transfer(context_, std::move(request), writer, resume_from, report);
    if (verbose) {
      const auto& failure = outcome.failure;
      verbose->finished(method, target, failure ? std::optional(failure->kind + ": " + failure->cause) : std::nullopt);
    }
    return outcome;
  }

  // -C OFFSET, or with -C - the size of the file the body goes to (0 when it does not exist yet).
  std::uint64_t resume_offset(const BodyWriter& writer) const {
    const FetchOptions& options = context_.options;
    if (options.continue_at) return *options.continue_at;
    if (!options.continue_auto) return 0;
    std::error_code error;
    const auto size = std::filesystem::file_size(writer.path(), error);
    return error ? 0 : size;
  }

  // The cookie engine's cookies for this URL, before any -b string (as libcurl orders them).
  void add_cookies(Request& request) const {
    if (context_.cookies == nullptr) return;
    std::string cookies = context_.cookies->header_for(request.url);
    if (cookies.empty()) return;
    if (auto given = request.headers.get("cookie")) cookies += "; " + std::string(*given);
    request.headers.set("cookie", cookies);
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

// The cookie engine: on with -c or a -b that names a file; loaded from every such file. A file that
// does not exist is no error (`-b none.txt` just turns the engine on, as in curl).
std::unique_ptr<CookieJar> cookie_engine(const FetchOptions& options, Console& console) {
  const auto& values = options.request.cookies;
  const bool any_file = std::ranges::any_of(values, [](const std::string& v) { return !is_cookie_string(v); });
  if (!any_file && !options.cookie_jar) return nullptr;
  auto jar = std::make_unique<CookieJar>();
  for (const std::string& value : values) {
    if (is_cookie_string(value)) continue;
    std::ifstream file(value, std::ios::binary);
    if (!file) {
      std::error_code error;
      if (std::filesystem::exists(value, error)) warn(console, options, fmt::format("cannot read cookie file '{}'", value));
      continue;
    }
    std::ostringstream contents;
    contents << file.rdbuf();
    jar->load(contents.str());
  }
  return jar;
}

// -c: the jar at the end, whatever happened to the transfers (as curl).
void save_cookies(const FetchOptions& options, const CookieJar& jar, Console& console) {
  std::ofstream file(*options.cookie_jar, std::ios::binary | std::ios::trunc);
  file << jar.netscape();
  file.flush();
  if (!file) warn(console, options, fmt::format("cannot write the cookie jar '{}'", *options.cookie_jar));
}

}  // namespace

int run_fetch(const FetchOptions& options, Terminal terminal) {
  std::vector<std::string> warnings;
  auto prepared = prepare_requests(options.request, terminal.in, &warnings);
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
  for (const std::string& warning : warnings) warn(console, options, warning);
  auto cookies = cookie_engine(options, console);
  std::optional<HeaderDump> header_dump;
  if (options.dump_header) header_dump.emplace(*options.dump_header, terminal.out);
  auto verbose = options.verbose ? std::make_shared<VerboseLog>(console) : nullptr;
  Client client(client_options_for(std::move(*connection), options, verbose));
  TransferCounters counters;
  counters.total = static_cast<std::uint32_t>(prepared->size());
  const bool progress = wants_progress_bar(options, terminal);
  TransferContext context{client,         options,       console,
                          counters,       progress,      verbose.get(),
                          cookies.get(),  header_dump ? &*header_dump : nullptr};

  FetchRun run(context, terminal, std::move(*prepared), std::move(write_out));
  {
    std::optional<ProgressBar> bar;
    if (progress) {
      bar.emplace(console, counters, true,
                  options.progress_hashes ? ProgressBar::Style::hashes : ProgressBar::Style::detailed);
    }
    run.run();
  }
  client.shutdown(shutdown_deadline);
  if (cookies && options.cookie_jar) save_cookies(options, *cookies, console);
  return run.first_failure_code();
}

}  // namespace quiver::cli

#include "demo.hpp"

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <asio/post.hpp>
#include <asio/use_future.hpp>
#include <fmt/format.h>

#include "bench_engine.hpp"
#include "bench_report.hpp"
#include "console.hpp"
#include "embedded_server.hpp"
#include "progress.hpp"
#include "quiver/client.hpp"
#include "telemetry_sinks.hpp"
#include "units.hpp"

namespace quiver::cli {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Every request of the demo gets this deadline, so a broken step fails instead of hanging.
constexpr auto request_timeout = 10s;

// The sizes of the steps.
constexpr std::size_t post_size = 16 * 1024;
constexpr std::size_t stream_chunks = 64, stream_chunk_size = 16 * 1024, stream_delay_ms = 8;
constexpr std::size_t upload_chunks = 64, upload_chunk_size = 16 * 1024;
constexpr std::size_t drain_requests = 20, drain_body_size = 8 * 1024;

// The server's body pattern: byte i is 'a' + i % 26 (also what /stream and /bytes send).
std::string pattern(std::size_t size, std::size_t offset = 0) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>('a' + (offset + i) % 26);
  return bytes;
}

// Each non-empty line of `text`, prefixed with `spaces` spaces.
std::string indent(std::string_view text, std::size_t spaces) {
  std::string result;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    if (!line.empty()) result += std::string(spaces, ' ') + std::string(line);
    result += '\n';
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return result;
}

// Where a step's detail starts on its line ("[5/6] GOAWAY  ok    "): continuation lines align with it.
constexpr std::size_t detail_column = 20;

struct StepOutcome {
  bool passed = false;
  std::string detail;  // one line
  std::string extra;   // optional further lines, printed indented
};

StepOutcome failed(const std::string& why) { return {false, why, ""}; }
StepOutcome failed(const Error& error) { return failed(error.to_string()); }

// Counts how often the server finished each request path (the GOAWAY step checks none ran twice).
class ProcessedPaths {
 public:
  std::function<void(const server::AccessLogEntry&)> sink() {
    return [this](const server::AccessLogEntry& entry) {
      if (entry.status == 0) return;  // refused or reset before an answer: not processed
      std::lock_guard lock(mutex_);
      ++counts_[entry.path];
    };
  }
  int count(const std::string& path) {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(path);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, int> counts_;
};

class Demo {
 public:
  Demo(const DemoOptions& options, Terminal terminal)
      : options_(options), terminal_(terminal), console_(terminal.err, terminal.err_is_terminal),
        telemetry_(std::make_shared<CountingTelemetry>()),
        server_(EmbeddedServer::Options{.max_streams = 100, .access_log = processed_.sink()}),
        client_(client_options()) {}

  int run() {
    out("quiver demo: HTTP/3 (QUIC) with quiver, against an embedded server\n\n");
    out(fmt::format("server: {} (quiver's own HTTP/3 server)\n", server_.origin()));
    out(fmt::format("        self-signed ECDSA certificate, SHA-256 {}\n", server_.fingerprint()));
    out("        the client trusts exactly that certificate: verification stays on\n\n");
    const std::vector<std::pair<std::string, StepOutcome (Demo::*)()>> steps = {
        {"GET", &Demo::get_step},       {"POST", &Demo::post_step},     {"stream", &Demo::stream_step},
        {"upload", &Demo::upload_step}, {"GOAWAY", &Demo::drain_step}, {"HTTP/2", &Demo::http2_step},
        {"Alt-Svc", &Demo::alt_svc_step}, {"bench", &Demo::bench_step},
    };
    std::size_t passed = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      StepOutcome outcome = (this->*steps[i].second)();
      passed += outcome.passed ? 1 : 0;
      out(fmt::format("[{}/{}] {:<7} {:<4}  {}\n{}", i + 1, steps.size(), steps[i].first,
                      outcome.passed ? "ok" : "FAIL", outcome.detail, outcome.extra));
    }
    const bool all = passed == steps.size();
    out(all ? fmt::format("\nall {} steps passed\n", steps.size())
            : fmt::format("\n{} of {} steps FAILED\n", steps.size() - passed, steps.size()));
    return all ? 0 : 1;
  }

 private:
  // HTTP/3 only: the steps show HTTP/3's behaviour (the fallback step uses the default, auto).
  ClientOptions client_options() {
    ClientOptions options;
    options.defaults.connection.http_version = HttpVersion::http3_only;
    options.defaults.connection.tls.ca_file = server_.ca_file();
    options.defaults.connection.telemetry = telemetry_;
    options.defaults.request_timeout = request_timeout;
    options.shutdown_deadline = 2s;
    return options;
  }

  // The protocol steps' clients: the default choice (auto: HTTP/3 first, TCP as the fallback).
  static ClientOptions default_protocol_options(const std::string& ca_file) {
    ClientOptions options;
    options.defaults.connection.tls.ca_file = ca_file;
    options.defaults.request_timeout = request_timeout;
    options.shutdown_deadline = 2s;
    return options;
  }

  std::string url(std::string_view target) const { return server_.origin() + std::string(target); }

  void out(const std::string& text) {
    terminal_.out << text;
    terminal_.out.flush();
  }

  StepOutcome get_step() {
    const auto start = Clock::now();
    auto response = client_.request(get(url("/bytes/1024")));
    const auto took = Clock::now() - start;
    if (!response) return failed(response.error());
    if (response->status != 200 || response->body != pattern(1024)) return failed("unexpected response");
    return {true,
            fmt::format("/bytes/1024 -> {}, {} in {} ms, including the QUIC+TLS handshake ({} ms)",
                        response->status, format_bytes(response->body.size()), format_ms(took),
                        format_ms(telemetry_->handshake_max())),
            ""};
  }

  StepOutcome post_step() {
    const std::string body = pattern(post_size, 7);
    const auto start = Clock::now();
    auto response = client_.request(post(url("/echo")).header("content-type", "text/plain").body(body));
    const auto took = Clock::now() - start;
    if (!response) return failed(response.error());
    if (response->status != 200 || response->body != body) return failed("the echo differs from what was sent");
    return {true,
            fmt::format("/echo with {} -> {}, echoed back byte-identical in {} ms on the same connection",
                        format_bytes(body.size()), response->status, format_ms(took)),
            ""};
  }

  StepOutcome stream_step() {
    const std::string target =
        fmt::format("/stream/{}?size={}&delay_ms={}", stream_chunks, stream_chunk_size, stream_delay_ms);
    TransferCounters counters;
    counters.download_expected = stream_chunks * stream_chunk_size;
    const auto start = Clock::now();
    std::string body;
    std::size_t reads = 0;
    {
      ProgressBar bar(console_, counters, /*keep_last=*/false);  // the step line follows
      auto stream = client_.stream(get(url(target)));
      if (!stream) return failed(stream.error());
      for (;;) {
        auto chunk = stream->next_chunk();
        if (!chunk) return failed(chunk.error());
        if (!*chunk) break;
        ++reads;
        body += **chunk;
        counters.downloaded += (*chunk)->size();
      }
    }
    const std::chrono::duration<double> took = Clock::now() - start;
    if (body != pattern(stream_chunks * stream_chunk_size)) return failed("the streamed body is not the expected one");
    return {true,
            fmt::format("{} -> {} read as it arrived ({} reads, {:.2f} s)", target,
                        format_bytes(body.size()), reads, took.count()),
            ""};
  }

  StepOutcome upload_step() {
    TransferCounters counters;
    counters.upload_expected = upload_chunks * upload_chunk_size;
    auto produced = std::make_shared<std::size_t>(0);  // the producer runs on the io thread, one call at a time
    auto producer = [produced, &counters]() -> std::optional<std::string> {
      if (*produced == upload_chunks) return std::nullopt;
      counters.uploaded += upload_chunk_size;
      return pattern(upload_chunk_size, (*produced)++ * upload_chunk_size);
    };
    Result<Response> response = std::unexpected(Error(ErrorKind::cancelled, "not sent"));
    {
      ProgressBar bar(console_, counters, /*keep_last=*/false);  // the step line follows
      response = client_.request(post(url("/echo")).body_from_producer(producer));
    }
    if (!response) return failed(response.error());
    if (response->status != 200 || response->body != pattern(upload_chunks * upload_chunk_size)) {
      return failed("the echo differs from what the producer sent");
    }
    return {true,
            fmt::format("/echo with a producer body: {} in {} chunks, echoed back byte-identical",
                        format_bytes(upload_chunks * upload_chunk_size), upload_chunks),
            ""};
  }

  // 20 requests at once on one connection: a slow one, /goaway (the server answers, then sends GOAWAY)
  // and 18 uploads. They are all handed to the connection before it writes anything, so they leave in
  // one burst: those the server had seen when it sent GOAWAY finish on the draining connection, the
  // others are refused as unprocessed and the pool retries them on a new connection.
  StepOutcome drain_step() {
    const auto retries_before = telemetry_->retries();
    std::vector<std::pair<std::string, Request>> requests;  // path, request
    requests.emplace_back("/delay/300?n=0", *get(url("/delay/300?n=0")).build());
    requests.emplace_back("/goaway?n=1", *get(url("/goaway?n=1")).build());
    for (std::size_t i = 2; i < drain_requests; ++i) {
      const std::string path = fmt::format("/echo?n={}", i);
      requests.emplace_back(path, *post(url(path)).body(pattern(drain_body_size, i)).build());
    }
    auto replies = send_in_one_burst(requests);
    std::size_t succeeded = 0;
    for (auto& reply : replies) {
      if (reply.wait_for(request_timeout + 2s) != std::future_status::ready) return failed("no answer in time");
      auto response = reply.get();
      if (response && response->status == 200) ++succeeded;
    }
    const auto retried = telemetry_->retries() - retries_before;
    if (succeeded != drain_requests) return failed(fmt::format("{} of {} succeeded", succeeded, drain_requests));
    if (!each_processed_once(requests)) return failed("a request was processed twice, or not at all");
    return {true,
            fmt::format("{} requests at once, one of them /goaway: all {} succeeded", drain_requests, succeeded),
            indent(fmt::format("{} finished on the draining connection; {} the server had not seen yet were\n"
                               "refused unprocessed and retried transparently on a new connection;\n"
                               "the server processed each request exactly once\n",
                               drain_requests - retried, retried),
                   detail_column)};
  }

  // Submits every request from one handler on the client's io thread, so none is written before all are
  // queued on the connection.
  std::vector<std::future<Result<Response>>> send_in_one_burst(const std::vector<std::pair<std::string, Request>>& requests) {
    std::promise<std::vector<std::future<Result<Response>>>> submitted;
    asio::post(client_.executor(), [&] {
      std::vector<std::future<Result<Response>>> replies;
      for (const auto& [path, request] : requests) replies.push_back(client_.async_request(request, asio::use_future));
      submitted.set_value(std::move(replies));
    });
    return submitted.get_future().get();
  }

  // The server logs a request when its stream closes, which may trail the response a little.
  bool each_processed_once(const std::vector<std::pair<std::string, Request>>& requests) {
    const auto deadline = Clock::now() + 2s;
    for (;;) {
      bool all_once = true, any_twice = false;
      for (const auto& [path, request] : requests) {
        const int count = processed_.count(path);
        all_once = all_once && count == 1;
        any_twice = any_twice || count > 1;
      }
      if (all_once) return true;
      if (any_twice || Clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
  }

  // A second embedded server with HTTP/3 switched off: a client with the default protocol choice (auto:
  // HTTP/3 first, TCP as the fallback) still gets its answer, over HTTP/2 (TLS over TCP).
  StepOutcome http2_step() {
    try {
      EmbeddedServer tcp_only(EmbeddedServer::Options{.max_streams = 100, .access_log = {}, .http3 = false});
      Client client(default_protocol_options(tcp_only.ca_file()));
      const auto start = Clock::now();
      auto response = client.request(get(tcp_only.origin() + "/bytes/1024"));
      const auto took = Clock::now() - start;
      if (!response) return failed(response.error());
      if (response->status != 200 || response->body != pattern(1024) || response->transfer.http_version != "2")
        return failed("unexpected response");
      return {true,
              fmt::format("HTTP/3 off: the server still answers over HTTP/2 (TLS over TCP), /bytes/1024 -> {} "
                          "in {} ms ({})",
                          response->status, format_ms(took), response->transfer.protocol_choice),
              ""};
    } catch (const std::exception& error) {
      return failed(error.what());
    }
  }

  // A TCP-only front (same certificate) whose answers announce HTTP/3 at the main server's port: a client
  // with the default protocol choice finds no QUIC at the front's port and gets its answer over HTTP/2,
  // learns the alt-svc and keeps it in its Alt-Svc file; a second client reading that file goes straight
  // to HTTP/3 at the announced port.
  StepOutcome alt_svc_step() {
    try {
      const std::string announced = fmt::format("h3=\":{}\"; ma=60", server_.server().port());
      EmbeddedServer front(EmbeddedServer::Options{
          .max_streams = 100, .access_log = {}, .http3 = false, .alt_svc = announced, .certificate_of = &server_});
      const std::filesystem::path cache = std::filesystem::path(server_.ca_file()).parent_path() / "alt-svc";
      ClientOptions options = default_protocol_options(server_.ca_file());
      options.alt_svc_file = cache.string();
      const std::string target = front.origin() + "/bytes/1024";
      auto first = Client(options).request(get(target));
      auto second = Client(options).request(get(target));
      std::filesystem::remove(cache);
      if (!first) return failed(first.error());
      if (!second) return failed(second.error());
      if (first->transfer.http_version != "2" || second->transfer.http_version != "3" ||
          second->body != pattern(1024)) {
        return failed(fmt::format("expected HTTP/2 then HTTP/3, got HTTP/{} then HTTP/{}", first->transfer.http_version,
                                  second->transfer.http_version));
      }
      return {true,
              fmt::format("a TCP-only front: the first request went over HTTP/2, its answer said {}", announced),
              indent(fmt::format("a new client reading the Alt-Svc file went straight to HTTP/3:\n{}\n",
                                 second->transfer.protocol_choice),
                     detail_column)};
    } catch (const std::exception& error) {
      return failed(error.what());
    }
  }

  StepOutcome bench_step() {
    BenchPlan plan;
    plan.targets = {{*get(url("/bytes/1024")).build(), url("/bytes/1024")}};
    plan.connection.tls.ca_file = server_.ca_file();
    plan.duration = options_.bench_duration;
    const BenchResult result = run_bench(plan, &console_);
    const BenchDescription what{fmt::format("GET {}", plan.targets.front().url), true};
    const bool passed = result.requests > 0 && result.error_count() == 0;
    return {passed,
            fmt::format("{:.0f} req/s for {:g} s, p50 {} ms, p99 {} ms, {} errors", result.requests_per_second(),
                        std::chrono::duration<double>(options_.bench_duration).count(),
                        format_ms(result.latency.percentile(50)), format_ms(result.latency.percentile(99)),
                        result.error_count()),
            "\n" + indent(format_bench_report(what, plan, result), 6)};
  }

  const DemoOptions& options_;
  Terminal terminal_;
  Console console_;
  std::shared_ptr<CountingTelemetry> telemetry_;
  ProcessedPaths processed_;  // before the server, whose access log writes into it
  EmbeddedServer server_;
  Client client_;  // last: destroyed first, while the server still answers its drain
};

}  // namespace

int run_demo(const DemoOptions& options, Terminal terminal) {
  try {
    Demo demo(options, terminal);
    return demo.run();
  } catch (const std::exception& error) {
    terminal.err << "quiver: demo: " << error.what() << '\n';
    return 1;
  }
}

}  // namespace quiver::cli

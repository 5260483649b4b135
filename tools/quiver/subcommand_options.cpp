#include "subcommand_options.hpp"

#include <fmt/format.h>

#include "option_parsing.hpp"

namespace quiver::cli {

namespace {

constexpr std::string_view serve_footer = R"(Routes (any method):
  /bytes/N                        N bytes of a repeating a..z pattern, with content-length
  /echo                           the request body back; each request header as x-echo-<name>
  /status/CODE                    that status with a short body
  /headers                        the request's header fields as JSON
  /delay/MS                       answer after MS milliseconds
  /stream/N?size=S&delay_ms=D     N chunks of S bytes (default 1024), D ms apart
  /trailers                       a body followed by trailers
  /reset/CODE?after=BYTES         reset the stream with HTTP/3 error CODE (after BYTES of body); over
                                  HTTP/2 the matching HTTP/2 code (H3_REQUEST_CANCELLED: CANCEL, ...)
  /close/CODE                     close the connection with error CODE
  /goaway?delay_ms=D              answer, then send GOAWAY: the client drains the connection

httpbin's routes (httpbin's methods, fields and JSON; HEAD wherever GET is, OPTIONS lists the methods):
  /get, /post, /put, /patch, /delete   the request as JSON: args, headers, origin, url (and data, form, json)
  /anything[/ANY]                 any method: as /post, plus "method"
  /response-headers?K=V           each K: V as a response field, and the fields as JSON
  /cookies                        the Cookie fields as JSON
  /cookies/set?K=V, /cookies/delete?K  set-cookie (or its expiry), then 302 to /cookies
  /basic-auth/USER/PASSWD, /bearer     401 with a challenge unless the credentials match
  /range/N                        N pattern bytes honouring Range (206, 416)
  /etag/E, /cache, /cache/N       conditional requests (304, 412); cache-control max-age=N
  /uuid, /json, /base64/V         a random UUID, a sample JSON document, V (URL-safe base64) decoded
  /drip?numbytes=&duration=&delay=&code=   numbytes bytes spread over duration seconds

Every route answers over HTTP/3 (UDP) and over HTTP/2 (TLS over TCP, ALPN h2) on the same port; TCP
responses carry alt-svc: h3=":PORT" while HTTP/3 is on. --no-h3 / --no-tcp take a side away.

Without --cert/--key a self-signed ECDSA certificate for localhost, 127.0.0.1 and ::1 (valid 30 days)
is generated at start; its file and SHA-256 fingerprint are printed: give that file to --cacert.
One access-log line per request goes to stdout: time, method, path, status, body bytes, duration.
Ctrl-C or SIGTERM stops gracefully: GOAWAY, requests in flight finish, then exit 0.

Examples:
  quiver serve                                   listen on 127.0.0.1:4433
  quiver serve --port 0                          any free port (printed on the first line)
  quiver serve --host ::1 --cert c.pem --key k.pem)";

constexpr std::string_view bench_footer = R"(Without a URL, bench starts the embedded server on loopback (self-signed certificate, verified)
and requests GET /bytes/1024.

Concurrency: c x m requests are kept in flight. Each of the c connections has its own client (one
io thread, one connection) and at most m requests in flight on it; the report's "connections" counts
the handshakes that completed (a connection the server closed is replaced). --threads is accepted for
compatibility and has no effect: the io threads follow the connections.
Latency is from submitting a request to its complete response, for the ok responses only: req/s,
MB/s and latency leave failures out. Failed requests are counted apart by kind, with responses of
status >= 400 as "status_4xx", "status_5xx". With -D, sending stops at the deadline and the report
follows at once: requests still in flight count as "not finished". Against a server that cannot be
reached (no connection could ever be made, or every connection attempt fails after the server went
away) bench stops early and says so.

Examples:
  quiver bench                                       the embedded server, 10000 x GET /bytes/1024
  quiver bench -D 10 -c 4 -m 25 --cacert ca.pem https://localhost:4433/bytes/1024
  quiver bench -n 2000 -d @body.json -H 'Content-Type: application/json' https://h/api
  quiver bench --json -n 5000 | jq .req_per_s

Exit status: 0 when every request succeeded; otherwise the report is printed all the same, with the
first failure's line and exit code (the table of 'quiver --help').)";

constexpr std::string_view demo_footer = R"(Steps: a GET, a POST, a streamed download with progress, an upload from a producer, a GOAWAY
drain (requests in flight finish, unprocessed ones are retried transparently) and a short bench.
Exit status 0 when every step passed, 1 otherwise.)";

template <class Options>
class SubcommandBase : public Subcommand {
 public:
  SubcommandBase(CLI::App& parent, std::string name, std::string description, std::string_view footer)
      : app_(parent.add_subcommand(std::move(name), std::move(description))) {
    app_->footer(std::string(footer));
    app_->get_formatter()->column_width(34);
  }
  const CLI::App& app() const override { return *app_; }

 protected:
  CliExit usage(std::string_view message) const {
    return usage_error(message, fmt::format("quiver {} --help", app_->get_name()));
  }

  CLI::App* app_;  // owned by the parent app
  Options options_;
};

class ServeCommand final : public SubcommandBase<ServeOptions> {
 public:
  explicit ServeCommand(CLI::App& parent)
      : SubcommandBase(parent, "serve", "Run the project's test server (HTTP/3, and HTTP/2 over TCP on the same port) until Ctrl-C or SIGTERM", serve_footer) {
    ServeOptions& o = options_;
    app_->add_option("--host", o.host, "Listen on this IPv4 or IPv6 address (default 127.0.0.1)")
        ->option_text("ADDRESS");
    app_->add_option("--port", o.port, "UDP and TCP port (default 4433); 0 picks a free one")->option_text("PORT");
    app_->add_option("--cert", o.cert_file, "Certificate chain (PEM); needs --key")->option_text("FILE");
    app_->add_option("--key", o.key_file, "Private key (PEM) of --cert")->option_text("FILE");
    app_->add_option("--max-streams", o.max_streams, "Concurrent requests allowed per connection (default 100)")
        ->option_text("N")
        ->check(CLI::Range(1, 1 << 20));
    app_->add_option("--idle-timeout", idle_timeout_, "Close a connection after SECONDS of silence (default 30)")
        ->option_text("SECONDS");
    app_->add_option("--goaway-after", o.goaway_after,
                     "Serve N requests per connection, then GOAWAY and close it, as nginx's keepalive_requests "
                     "(default 0: never)")
        ->option_text("N");
    app_->add_flag("--no-session-tickets{false}", o.session_tickets,
                   "Send no TLS session tickets (clients cannot resume)");
    app_->add_flag("--reject-early-data{false}", o.early_data, "Refuse TLS 1.3 early data (0-RTT)");
    app_->add_flag("--no-h3{false}", o.http3, "No HTTP/3: listen on TCP only (HTTP/2, no alt-svc)");
    app_->add_flag("--no-tcp{false}", o.tcp, "No TCP: HTTP/3 only");
    app_->add_flag("-q,--quiet", o.quiet, "No access log");
  }

  std::expected<Command, CliExit> finish() override {
    if (options_.cert_file.empty() != options_.key_file.empty()) {
      return std::unexpected(usage("--cert and --key go together"));
    }
    if (!options_.http3 && !options_.tcp) return std::unexpected(usage("--no-h3 and --no-tcp leave nothing to serve"));
    auto idle = parse_seconds("--idle-timeout", idle_timeout_);
    if (!idle) return std::unexpected(std::move(idle.error()));
    options_.idle_timeout = *idle;
    return options_;
  }

 private:
  double idle_timeout_ = 30;
};

class BenchCommand final : public SubcommandBase<BenchOptions> {
 public:
  explicit BenchCommand(CLI::App& parent)
      : SubcommandBase(parent, "bench", "Load-test an HTTP/3 server, like h2load (default: an embedded one)",
                       bench_footer) {
    BenchOptions& o = options_;
    app_->add_option("URL", url_, "The https:// URL to request (default: the embedded server)")->option_text(" ");
    app_->add_option("-n,--requests", o.requests, "Send N requests in total (default 10000)")
        ->option_text("N")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
    app_->add_option("-D,--duration", duration_, "Send requests for SECONDS instead of a count")
        ->option_text("SECONDS");
    app_->add_option("-c,--connections", o.connections, "Use N connections (default 1; see below)")
        ->option_text("N")
        ->check(CLI::Range(1, 10000));
    app_->add_option("-m,--max-concurrent-streams", o.streams, "Keep up to N requests in flight per connection (default 10)")
        ->option_text("N")
        ->check(CLI::Range(1, 100000));
    declare_request_options(*app_, request_);
    app_->add_option("--warmup", warmup_, "Run unrecorded for SECONDS first (connections stay open)")
        ->option_text("SECONDS");
    app_->add_option("--threads", o.threads, "No effect (each connection has its own io thread); kept for compatibility")
        ->option_text("N")
        ->check(CLI::Range(1, 256));
    app_->add_flag("--json", o.json, "Print the results as one JSON object on stdout");
  }

  std::expected<Command, CliExit> finish() override {
    if (url_) request_.options.urls.push_back(*url_);
    auto request = std::move(request_).finish();
    if (!request) return std::unexpected(std::move(request.error()));
    options_.request = std::move(*request);
    if (options_.requests && duration_) return std::unexpected(usage("-n and -D exclude each other"));
    if (duration_) {
      auto duration = parse_seconds("--duration", *duration_);
      if (!duration) return std::unexpected(std::move(duration.error()));
      options_.duration = *duration;
    }
    if (warmup_ && *warmup_ != 0) {
      auto warmup = parse_seconds("--warmup", *warmup_);
      if (!warmup) return std::unexpected(std::move(warmup.error()));
      options_.warmup = *warmup;
    }
    if (options_.threads > options_.connections) {
      return std::unexpected(usage("--threads cannot exceed -c (each thread needs a connection)"));
    }
    return options_;
  }

 private:
  std::optional<std::string> url_;
  RawRequestOptions request_;
  std::optional<double> duration_;
  std::optional<double> warmup_;
};

class DemoCommand final : public SubcommandBase<DemoOptions> {
 public:
  explicit DemoCommand(CLI::App& parent)
      : SubcommandBase(parent, "demo", "Start an embedded HTTP/3 server and show what quiver does, step by step",
                       demo_footer) {
    app_->add_option("--bench-seconds", bench_seconds_, "Length of the bench step (default 3)")
        ->option_text("SECONDS");
  }

  std::expected<Command, CliExit> finish() override {
    auto duration = parse_seconds("--bench-seconds", bench_seconds_);
    if (!duration) return std::unexpected(std::move(duration.error()));
    options_.bench_duration = *duration;
    return options_;
  }

 private:
  double bench_seconds_ = 3;
};

}  // namespace

std::vector<std::unique_ptr<Subcommand>> add_subcommands(CLI::App& parent) {
  std::vector<std::unique_ptr<Subcommand>> all;
  all.push_back(std::make_unique<ServeCommand>(parent));
  all.push_back(std::make_unique<BenchCommand>(parent));
  all.push_back(std::make_unique<DemoCommand>(parent));
  return all;
}

}  // namespace quiver::cli

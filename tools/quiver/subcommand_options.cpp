#include "subcommand_options.hpp"

#include <cmath>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "option_parsing.hpp"
#include "tunnel.hpp"

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
  /datagram-echo                  (--datagrams) an extended CONNECT that echoes HTTP datagrams and stream data
  /.well-known/masque/udp/HOST/PORT/   (--connect-udp) CONNECT-UDP to HOST:PORT (RFC 9298); a target
                                  outside --connect-udp-allow gets 403, an unresolvable one 502, each
                                  with a proxy-status field

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

Every route answers over HTTP/3 (UDP), and over HTTP/2 and HTTP/1.1 (TLS over TCP, ALPN h2 or
http/1.1) on the same port; TCP responses carry alt-svc: h3=":PORT" while HTTP/3 is on. --no-h3 / --no-tcp take a side away.

Without --cert/--key a self-signed ECDSA certificate for localhost, 127.0.0.1 and ::1 (valid 30 days)
is generated at start; its file and SHA-256 fingerprint are printed: give that file to --cacert.
One access-log line per request goes to stdout: time, method, path, status, body bytes, duration.
Ctrl-C or SIGTERM stops gracefully: GOAWAY, requests in flight finish, then exit 0.

Examples:
  quiver serve                                   listen on 127.0.0.1:4433
  quiver serve --port 0                          any free port (printed on the first line)
  quiver serve --host ::1 --cert c.pem --key k.pem)";

constexpr std::string_view bench_footer = R"(Without a URL, bench starts the embedded server on loopback (self-signed certificate, verified)
and requests GET /bytes/1024. Several URLs (arguments, then the lines of -i FILE: "URL [@BODY_FILE]",
a body for that URL alone) are used round-robin, as h2load does; -H and -d apply to every URL.

Load: closed loop by default: c x m requests are kept in flight, each sent when one ends, so a slow
server slows the client down. --rps N is an open loop: N requests per second in total, on a schedule
that does not wait for responses (spread over the connections); latency counts from each request's
intended send time, so a stall shows in the percentiles (as wrk2 does). When all c x m streams are
busy, due requests wait and the report says how many were late or not sent at all.

Concurrency and connections: each of the c connections has its own client (one io thread, one connection) and at most
m requests in flight on it. -t/--threads is checked (at most -c) and has no other effect: the client
cannot share an io thread between connections, so bench always runs c io threads.
--requests-per-connection N closes each connection after N requests and opens a new one.

Figures: request time, time to the first byte (the response head) and connect time (handshakes), with
min, max, mean, sd and p50/p90/p99/p99.9, for the succeeded requests (status < 400) only; failures are
counted apart by kind (h2load's failed/errored/timeout; "status_4xx", "status_5xx"). With -D, sending
stops at the deadline and the report follows at once: requests still in flight are "not finished".
--warm-up-time traffic is in no figure. Against a server that cannot be reached bench stops early.

--json prints the report as JSON with the full latency histograms; 'quiver bench merge' adds reports
of several processes or machines into one (percentiles of the union), 'quiver bench report' draws
several runs on one page (--html).

Examples:
  quiver bench                                       the embedded server, 10000 x GET /bytes/1024
  quiver bench -D 10 -c 4 -m 25 --cacert ca.pem https://localhost:4433/bytes/1024
  quiver bench -D 10 --rps 5000 -c 2 -m 50 --cacert ca.pem https://localhost:4433/bytes/1024
  quiver bench -n 2000 -d @body.json -H 'Content-Type: application/json' https://h/api
  quiver bench --json -D 10 --rps 2000 URL > a.json; quiver bench merge a.json b.json

Exit status: 0 when every request succeeded; otherwise the report is printed all the same, with the
first failure's line and exit code (the table of 'quiver --help').)";

constexpr std::string_view merge_footer = R"(The reports must come from --json runs of this quiver (format quiver-bench version 2). Counts and
histograms add up, so the percentiles are those of all the samples together (to the histograms'
resolution, 1/64 of a value); the runs are taken as concurrent: the elapsed time is the longest.)";

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
      : SubcommandBase(parent, "serve", "Run the project's test server (HTTP/3, and HTTP/2 and HTTP/1.1 over TCP on the same port) until Ctrl-C or SIGTERM", serve_footer) {
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
    app_->add_option("--client-ca", o.client_ca_file,
                     "Require a client certificate signed by a CA of FILE (PEM): mutual TLS, for quiver --cert")
        ->option_text("FILE");
    app_->add_flag("--no-h3{false}", o.http3, "No HTTP/3: listen on TCP only (HTTP/2, no alt-svc)");
    app_->add_flag("--no-tcp{false}", o.tcp, "No TCP: HTTP/3 only");
    app_->add_flag("--datagrams", o.datagrams,
                   "Enable HTTP datagrams (RFC 9297) and extended CONNECT (RFC 9220): the /datagram-echo route");
    app_->add_flag("--connect-udp", o.connect_udp,
                   "Be a MASQUE UDP proxy (RFC 9298, implies --datagrams): /.well-known/masque/udp/HOST/PORT/");
    app_->add_option("--connect-udp-allow", o.connect_udp_allow,
                     "Networks --connect-udp may reach (repeatable; default 127.0.0.0/8 and ::1/128)")
        ->option_text("CIDR");
    app_->add_flag("-q,--quiet", o.quiet, "No access log");
  }

  std::expected<Command, CliExit> finish() override {
    if (options_.cert_file.empty() != options_.key_file.empty()) {
      return std::unexpected(usage("--cert and --key go together"));
    }
    if (!options_.http3 && !options_.tcp) return std::unexpected(usage("--no-h3 and --no-tcp leave nothing to serve"));
    if (!options_.connect_udp_allow.empty() && !options_.connect_udp) {
      return std::unexpected(usage("--connect-udp-allow needs --connect-udp"));
    }
    if (!options_.http3 && options_.connect_udp) return std::unexpected(usage("--connect-udp needs HTTP/3 (no --no-h3)"));
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
    app_->add_option("URL", request_.options.urls, "The https:// URLs to request (default: the embedded server)")
        ->option_text(" ");
    app_->add_option("-i,--input-file", o.input_file, "More URLs, one per line: 'URL [@BODY_FILE]'")
        ->option_text("FILE");
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
    app_->add_option("--rps", rps_, "Open loop: send N requests per second in total, whatever the responses")
        ->option_text("N");
    declare_request_options(*app_, request_);
    app_->add_option("--timeout", timeout_, "Fail a request that takes longer than SECONDS")->option_text("SECONDS");
    app_->add_option("--requests-per-connection", o.requests_per_connection,
                     "Open a new connection after every N requests (handshake load)")
        ->option_text("N")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
    app_->add_option("--warm-up-time,--warmup", warmup_, "Run unrecorded for SECONDS first (connections stay open)")
        ->option_text("SECONDS");
    app_->add_option("-t,--threads", o.threads, "At most -c; no other effect (one io thread per connection, see below)")
        ->option_text("N")
        ->check(CLI::Range(1, 256));
    app_->add_option("--log-file", o.log_file, "Write one line per request: time, status, latency, bytes, connection")
        ->option_text("FILE");
    app_->add_flag("--json", o.json, "Print the results as one JSON object on stdout (with the histograms)");
    app_->add_option("--html", o.html_file, "Also write a self-contained HTML page with the charts")->option_text("FILE");

    merge_ = app_->add_subcommand("merge", "Merge --json reports of several runs into one report");
    merge_->footer(std::string(merge_footer));
    merge_->add_option("REPORT", merge_inputs_, "--json reports of quiver bench")->required()->option_text(" ");
    merge_->add_flag("--json", merge_json_, "Print the merged report as JSON (itself mergeable)");
    merge_->add_option("--html", merge_html_, "Also write the merged report as an HTML page")->option_text("FILE");
    report_ = app_->add_subcommand("report", "Draw --json reports of several runs on one HTML page, overlaid");
    report_->add_option("REPORT", report_inputs_, "--json reports of quiver bench")->required()->option_text(" ");
    report_->add_option("--html", report_html_, "The page to write")->option_text("FILE")->required();
  }

  std::expected<Command, CliExit> finish() override {
    if (merge_->parsed()) return finish_files(BenchOptions::Action::merge, merge_inputs_, merge_html_, merge_json_);
    if (report_->parsed()) return finish_files(BenchOptions::Action::report, report_inputs_, report_html_, false);
    auto request = std::move(request_).finish();
    if (!request) return std::unexpected(std::move(request.error()));
    options_.request = std::move(*request);
    if (options_.requests && duration_) return std::unexpected(usage("-n and -D exclude each other"));
    for (auto [name, raw, target] : {std::tuple{"--duration", &duration_, &options_.duration},
                                     std::tuple{"--timeout", &timeout_, &options_.timeout}}) {
      if (!*raw) continue;
      auto seconds = parse_seconds(name, **raw);
      if (!seconds) return std::unexpected(std::move(seconds.error()));
      *target = *seconds;
    }
    if (warmup_ && *warmup_ != 0) {
      auto warmup = parse_seconds("--warm-up-time", *warmup_);
      if (!warmup) return std::unexpected(std::move(warmup.error()));
      options_.warmup = *warmup;
    }
    if (rps_) {
      if (!std::isfinite(*rps_) || *rps_ <= 0 || *rps_ > 10'000'000) {
        return std::unexpected(usage(fmt::format("--rps must be a rate above 0 and at most 10000000, got {}", *rps_)));
      }
      options_.rps = *rps_;
    }
    if (options_.threads > options_.connections) {
      return std::unexpected(usage("--threads cannot exceed -c (each thread needs a connection)"));
    }
    return options_;
  }

 private:
  std::expected<Command, CliExit> finish_files(BenchOptions::Action action, std::vector<std::string> inputs,
                                               std::optional<std::string> html, bool json) {
    BenchOptions options;
    options.action = action;
    options.inputs = std::move(inputs);
    options.html_file = std::move(html);
    options.json = json;
    return options;
  }

  RawRequestOptions request_;
  std::optional<double> duration_;
  std::optional<double> warmup_;
  std::optional<double> timeout_;
  std::optional<double> rps_;
  CLI::App* merge_ = nullptr;  // owned by app_
  CLI::App* report_ = nullptr;
  std::vector<std::string> merge_inputs_, report_inputs_;
  std::optional<std::string> merge_html_, report_html_;
  bool merge_json_ = false;
};

constexpr std::string_view tunnel_footer = R"(The proxy URL is a CONNECT-UDP URI template with {target_host} and {target_port} (RFC 9298),
or an origin alone, which means https://ORIGIN/.well-known/masque/udp/{target_host}/{target_port}/.
Datagrams to the local port go to the target through the proxy; the target's answers go back to the
local address that sent last. The first line printed gives the local port and the largest datagram
payload the tunnel carries. Ends with Ctrl-C or SIGTERM (exit 0), or when the tunnel ends (exit 56).

Examples:
  quiver serve --connect-udp --port 4433 &
  quiver tunnel --proxy https://127.0.0.1:4433 --cacert CERT --listen 127.0.0.1:5353 127.0.0.1:53)";

class TunnelCommand final : public SubcommandBase<TunnelOptions> {
 public:
  explicit TunnelCommand(CLI::App& parent)
      : SubcommandBase(parent, "tunnel", "Carry a local UDP port through a MASQUE CONNECT-UDP proxy (HTTP/3)",
                       tunnel_footer) {
    TunnelOptions& o = options_;
    app_->add_option("TARGET", target_, "TARGET_HOST:PORT, as the proxy resolves it")
        ->option_text("HOST:PORT")
        ->required();
    app_->add_option("--proxy", o.proxy, "The proxy's URI template, or its https:// origin")
        ->option_text("URL")
        ->required();
    app_->add_option("--listen", listen_, "Local UDP address (default 127.0.0.1:0, any free port)")
        ->option_text("ADDR:PORT");
    app_->add_option("--cacert", o.tls.ca_file, "Trust the CA certificates of FILE (PEM) for the proxy")
        ->option_text("FILE");
    app_->add_flag("-k,--insecure", o.tls.insecure, "Do not verify the proxy's certificate");
  }

  std::expected<Command, CliExit> finish() override {
    auto target = parse_host_port(target_);
    if (!target || target->port == 0) return std::unexpected(usage(fmt::format("TARGET '{}' is not HOST:PORT", target_)));
    options_.target = {std::move(target->host), target->port};
    if (listen_) {
      auto listen = parse_host_port(*listen_);
      if (!listen) return std::unexpected(usage(fmt::format("--listen '{}' is not ADDRESS:PORT", *listen_)));
      options_.listen = {std::move(listen->host), listen->port};
    }
    return options_;
  }

 private:
  std::string target_;
  std::optional<std::string> listen_;
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
  all.push_back(std::make_unique<TunnelCommand>(parent));
  return all;
}

}  // namespace quiver::cli

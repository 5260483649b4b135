#include "cli_options.hpp"

#include <fmt/format.h>
#include <gnutls/gnutls.h>
#include <nghttp2/nghttp2.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

#include "connect_overrides.hpp"
#include "exit_codes.hpp"
#include "option_parsing.hpp"
#include "subcommand_options.hpp"

#ifndef QUIVER_VERSION
#define QUIVER_VERSION "0.0.0"
#endif

namespace quiver::cli {

namespace {

constexpr std::string_view description =
    "quiver: an HTTP/3 (QUIC) client (HTTP/2 with --http2), load generator and test server.\n\n"
    "  quiver [options] URL...        fetch URLs and print their bodies (options below, as in curl)\n"
    "  quiver SUBCOMMAND [options]    serve, bench or demo (see 'quiver SUBCOMMAND --help')\n\n"
    "Several URLs share one connection per server and are fetched one after another, or all at\n"
    "once with -Z.\n";

constexpr std::string_view footer = R"(Examples:
  quiver https://example.com/                     print the body
  quiver -i https://example.com/                  status line and headers, then the body
  quiver -d 'a=1&b=2' https://example.com/form    POST form data
  quiver -d @body.json -H 'Content-Type: application/json' https://example.com/api
  quiver -Z -O https://h/a.bin https://h/b.bin    download both at once into a.bin and b.bin
  quiver -v -k https://localhost:4433/            show connection events; accept any certificate

A progress bar is drawn on stderr when it is a terminal and the body does not go to the terminal.

Exit status: 0 when every response was complete. Otherwise one line "quiver: <kind>: <cause>" on
stderr per failed URL, and the first failed URL's code:
  1 unexpected failure, 2 usage, 3 bad URL, 6 unresolvable host, 7 nothing answered in time or
  connection refused, 8 HTTP/3 protocol error, 22 HTTP status >= 400 with --fail, 23 cannot write
  output, 26 cannot read -d file, 28 --max-time passed, 35 handshake failed, 43 forbidden or
  malformed header, 56 connection failed, 60 certificate not trusted, 77 cannot read --cacert file,
  92 stream reset by the server; with -L 47 too many redirects, 1 a redirect refused (https to http);
  with --compressed 61 a body that cannot be decoded, 63 a body over the decoding limits.)";

std::string version_text() {
  return fmt::format("quiver {} (ngtcp2 {}, nghttp3 {}, nghttp2 {}, GnuTLS {})\n", QUIVER_VERSION,
                     ngtcp2_version(0)->version_str, nghttp3_version(0)->version_str, nghttp2_version(0)->version_str,
                     gnutls_check_version(nullptr));
}

// The values CLI11 fills in for the default form; turned into FetchOptions once parsing succeeded.
struct RawFetchOptions {
  RawRequestOptions request;
  FetchOptions options;
  std::optional<double> max_time;
  bool version = false;
  std::vector<std::string> resolve, connect_to;  // --resolve, --connect-to as typed
  std::optional<std::string> pinned_public_keys;  // --pinnedpubkey as typed
};

void declare_fetch_options(CLI::App& app, RawFetchOptions& raw) {
  FetchOptions& o = raw.options;
  app.add_option("URL", raw.request.options.urls, "The https:// URLs to fetch")->option_text(" ");
  app.add_option("-X,--request", raw.request.options.method, "Request method (default GET, or POST with -d)")
      ->option_text("METHOD");
  declare_request_options(app, raw.request);
  app.add_option("-o,--output", o.output_file, "Write the body to FILE instead of stdout (one URL; - is stdout)")
      ->option_text("FILE");
  app.add_flag("-O,--remote-name", o.remote_name,
               "Write each body to a file named after the URL's last path segment");
  app.add_option("--output-dir", o.output_dir, "Put the -O files in DIR (default: current directory)")
      ->option_text("DIR");
  app.add_flag("-Z,--parallel", o.parallel, "Fetch the URLs at the same time");
  app.add_option("--parallel-max", o.parallel_max, "At most N transfers at once with -Z (default 50)")
      ->option_text("N")
      ->check(CLI::Range(1, 1000));
  app.add_flag("-i,--include", o.include, "Print the status line and headers before the body");
  app.add_option("-m,--max-time", raw.max_time, "Give up on a URL after SECONDS")
      ->option_text("SECONDS");
  app.add_flag("-f,--fail", o.fail, "On HTTP status >= 400 print no body and exit with 22");
  app.add_flag("-s,--silent", o.silent, "No progress bar and no error message");
  app.add_flag("-S,--show-error", o.show_error, "With -s, still print the error message");
  app.add_flag("-v,--verbose", o.verbose, "Print connection events and headers to stderr");
  app.add_option("--ssl-sessions", o.ssl_sessions,
                 "Keep TLS session tickets in FILE so the next run resumes (created 0600), as curl's")
      ->option_text("FILE");
  app.add_option("--alt-svc", o.alt_svc,
                 "Keep the Alt-Svc cache in FILE (curl's format, created 0600); with --http3 a later run "
                 "goes to HTTP/3 where a server announced it")
      ->option_text("FILE");
  app.add_flag("--tls-earlydata", o.tls_earlydata,
               "On a resumed connection send GET/HEAD requests as TLS 1.3 early data (0-RTT), as curl's");
  app.add_flag("--version", raw.version, "Print the version and exit");
  // Redirects, decompression, -w (write_out.hpp)
  app.add_flag("-L,--location", o.location, "Follow redirects (https only; see --max-redirs)");
  app.add_option("--max-redirs", o.max_redirs, "With -L, follow at most NUM redirects (default 50; -1: no limit)")
      ->option_text("NUM")
      ->check(CLI::Range(-1, 1000000));
  app.add_flag("--compressed", o.compressed, "Ask for a compressed body (gzip, deflate, br, zstd) and decode it");
  app.add_option("-w,--write-out", o.write_out,
                 "After each transfer print FORMAT to stdout, with curl's %{variables} (@file: read it)")
      ->option_text("FORMAT");
  app.add_option("--resolve", raw.resolve, "Connect to ADDRESS for HOST:PORT (TLS name and Host stay the URL's)")
      ->option_text("HOST:PORT:ADDRESS")
      ->allow_extra_args(false);
  app.add_option("--pinnedpubkey", raw.pinned_public_keys,
                 "The server's public key must be one of these (sha256//BASE64, ';'-separated)")
      ->option_text("HASHES");
  app.add_option("--capath", o.ca_path, "Also trust the CA certificates (PEM) in the files of DIR")
      ->option_text("DIR");
  app.add_option("--connect-to", raw.connect_to, "For HOST1:PORT1 connect to HOST2:PORT2 instead (empty parts: any/same)")
      ->option_text("HOST1:PORT1:HOST2:PORT2")
      ->allow_extra_args(false);
}

std::expected<Command, CliExit> finish_fetch(RawFetchOptions raw) {
  FetchOptions options = std::move(raw.options);
  auto request = std::move(raw.request).finish();
  if (!request) return std::unexpected(std::move(request.error()));
  options.request = std::move(*request);
  const std::size_t url_count = options.request.urls.size();
  if (url_count == 0) return std::unexpected(usage_error("missing URL"));
  if (options.output_file && url_count > 1) {
    return std::unexpected(usage_error("-o names one file but several URLs were given; use -O"));
  }
  if (options.output_file && options.remote_name) return std::unexpected(usage_error("-o and -O exclude each other"));
  if (options.output_dir && !options.remote_name) return std::unexpected(usage_error("--output-dir needs -O"));
  if (options.output_file == "-") options.output_file.reset();  // "-o -" is stdout, as in curl
  for (const auto& spec : raw.resolve) {
    auto rule = parse_resolve(spec);
    if (!rule) return std::unexpected(usage_error(rule.error()));
    options.connect_to.push_back(std::move(*rule));
  }
  for (const auto& spec : raw.connect_to) {
    auto rule = parse_connect_to(spec);
    if (!rule) return std::unexpected(usage_error(rule.error()));
    options.connect_to.push_back(std::move(*rule));
  }
  if (raw.pinned_public_keys) {
    for (std::string_view rest = *raw.pinned_public_keys; !rest.empty();) {
      const auto semicolon = rest.find(';');
      std::string pin(rest.substr(0, semicolon));
      rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
      if (!pin.starts_with("sha256//") || pin.size() == 8) {
        return std::unexpected(usage_error(fmt::format(
            "--pinnedpubkey '{}': only sha256//BASE64 hashes are supported (not a key file)", pin)));
      }
      options.pinned_public_keys.push_back(std::move(pin));
    }
  }
  if (raw.max_time) {
    auto timeout = parse_seconds("--max-time", *raw.max_time);
    if (!timeout) return std::unexpected(std::move(timeout.error()));
    options.max_time = *timeout;
  }
  return options;
}

// With a subcommand, the default form's options and URLs have no meaning: say so instead of ignoring them.
std::optional<CliExit> misplaced_options(const CLI::App& app, const CLI::App& subcommand) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() > 0) {
      return usage_error(fmt::format("{} is misplaced: the options of 'quiver {}' come after its name",
                                     option->get_name(), subcommand.get_name()),
                         fmt::format("quiver {} --help", subcommand.get_name()));
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view quiver_version() noexcept { return QUIVER_VERSION; }

std::expected<Command, CliExit> parse_cli(int argc, const char* const* argv) {
  CLI::App app{std::string(description), "quiver"};
  app.footer(std::string(footer));
  app.get_formatter()->column_width(34);
  app.require_subcommand(0, 1);
  RawFetchOptions raw;
  declare_fetch_options(app, raw);
  auto subcommands = add_subcommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return std::unexpected(parse_error_exit(app, error));
  }
  for (auto& subcommand : subcommands) {
    if (!subcommand->app().parsed()) continue;
    if (auto misplaced = misplaced_options(app, subcommand->app())) return std::unexpected(std::move(*misplaced));
    return subcommand->finish();
  }
  if (raw.version) return std::unexpected(CliExit{exit_code::ok, version_text()});
  return finish_fetch(std::move(raw));
}

}  // namespace quiver::cli

#include "cli_options.hpp"

#include <charconv>

#include <fmt/format.h>
#include <gnutls/gnutls.h>
#include <nghttp2/nghttp2.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

#include "connect_overrides.hpp"
#include "exit_codes.hpp"
#include "option_parsing.hpp"
#include "subcommand_options.hpp"
#include "unsupported_options.hpp"

#ifndef QUIVER_VERSION
#define QUIVER_VERSION "0.0.0"
#endif

namespace quiver::cli {

namespace {

constexpr std::string_view description =
    "quiver: an HTTP/3 (QUIC) client (HTTP/2 with --http2, HTTP/1.1 with --http1.1), load generator and test server.\n\n"
    "  quiver [options] URL...        fetch URLs and print their bodies (options below, as in curl)\n"
    "  quiver SUBCOMMAND [options]    serve, bench, demo or tunnel (see 'quiver SUBCOMMAND --help')\n\n"
    "Several URLs share one connection per server and are fetched one after another, or all at\n"
    "once with -Z.\n";

constexpr std::string_view footer = R"(Examples:
  quiver https://example.com/                     print the body
  quiver -i https://example.com/                  status line and headers, then the body
  quiver -I https://example.com/                  HEAD: the status line and headers only
  quiver -d 'a=1&b=2' https://example.com/form    POST form data
  quiver --json '{"k":1}' https://example.com/api POST JSON (content-type and accept set)
  quiver -F 'file=@photo.jpg' https://h/upload    multipart form, the file streamed
  quiver -T big.iso https://h/put/                PUT a file, streamed (https://h/put/big.iso)
  quiver -c jar.txt -b jar.txt https://h/login    keep cookies across runs (Netscape format)
  quiver --retry 3 -o out.bin -C - https://h/f    retry transient failures, resume a download
  quiver -Z -O https://h/a.bin https://h/b.bin    download both at once into a.bin and b.bin
  quiver -v -k https://localhost:4433/            show connection events; accept any certificate

A progress bar is drawn on stderr when it is a terminal and the body does not go to the terminal.
Options keep curl's spelling and meaning. Not supported yet (exit 2 with a message): -x/--proxy.

Exit status: 0 when every response was complete. Otherwise one line "quiver: <kind>: <cause>" on
stderr per failed URL, and the first failed URL's code (curl's code where curl has one):
  1 unexpected failure, 2 usage or a flag not supported yet, 3 bad URL, 6 unresolvable host,
  7 nothing answered in time or connection refused, 8 HTTP/3 protocol error, 22 HTTP status >= 400
  with -f, 23 cannot write output (or --no-clobber found no free name), 26 cannot read a -d, -F, -T
  or -H file, 28 --max-time passed, 33 -C: the server did not resume at that offset, 35 handshake
  failed, 43 forbidden or malformed header, 56 connection failed, 58 --cert/--key not loadable, 60
  certificate not trusted, 77
  --cacert file unreadable or without a certificate, 92 stream reset by the server, 100 response
  header section over the limit; with -L 47 too many redirects, 1 a redirect refused (https to
  http); with --compressed 61 a body that cannot be decoded, 63 a body over the decoding limits.)";

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
  std::optional<std::string> continue_at;   // -C: "-" or an offset
  std::optional<double> retry_delay, retry_max_time;
  bool version = false;
  std::vector<std::string> resolve, connect_to;  // --resolve, --connect-to as typed
  std::optional<std::string> pinned_public_keys;  // --pinnedpubkey as typed
};

void declare_request_body_options(CLI::App& app, RequestOptions& o) {
  add_data_option(app, "--data-binary", DataItem::Kind::binary, o.data, "As -d, but @FILE is sent byte for byte");
  add_data_option(app, "--data-raw", DataItem::Kind::raw, o.data, "As -d, with no special meaning for @");
  add_data_option(app, "--data-urlencode", DataItem::Kind::urlencode, o.data,
                  "URL-encode DATA: 'content', '=content', 'name=content', '@file' or 'name@file'");
  add_data_option(app, "--json", DataItem::Kind::json, o.data,
                  "POST JSON (as --data-binary; repeats concatenate) with JSON content-type and accept");
  app.add_flag("-G,--get", o.get, "Send the -d data as the URL's query string of a GET");
  app.add_option("-F,--form", o.form,
                 "Multipart form part (repeatable): name=value, name=@FILE (a file, streamed), name=<FILE "
                 "(its text); ;type=TYPE ;filename=NAME")
      ->option_text("NAME=CONTENT")
      ->allow_extra_args(false);
  app.add_option("-T,--upload-file", o.upload_file,
                 "PUT FILE, streamed (- is stdin); a URL ending in / gets the file's name")
      ->option_text("FILE");
  app.add_flag("-I,--head", o.head, "HEAD request: print the status line and headers only");
  app.add_option("-u,--user", o.user, "Basic authentication USER:PASSWORD")->option_text("USER:PASSWORD");
  app.add_option("-A,--user-agent", o.user_agent, "Send this user-agent (\"\" sends none)")->option_text("NAME");
  app.add_option("-e,--referer", o.referer, "Send this referer")->option_text("URL");
  app.add_option("-b,--cookie", o.cookies,
                 "Send cookies 'NAME=VALUE; ...', or read them from FILE (Netscape format) and keep them")
      ->option_text("DATA|FILE")
      ->allow_extra_args(false);
  app.add_option("-r,--range", o.range, "Ask for bytes RANGE only: 0-499, 500-, -500")->option_text("RANGE");
}

void declare_output_options(CLI::App& app, RawFetchOptions& raw) {
  FetchOptions& o = raw.options;
  app.add_option("-o,--output", o.output_file, "Write the body to FILE instead of stdout (one URL; - is stdout)")
      ->option_text("FILE");
  app.add_flag("-O,--remote-name", o.remote_name,
               "Write each body to a file named after the URL's last path segment");
  app.add_option("--output-dir", o.output_dir, "Put the -O files in DIR (default: current directory)")
      ->option_text("DIR");
  app.add_flag("--create-dirs", o.create_dirs, "Create the output file's missing directories");
  app.add_flag("--no-clobber", o.no_clobber, "Never overwrite an output file: write FILE.1 ... FILE.100 instead");
  app.add_option("-C,--continue-at", raw.continue_at,
                 "Resume at byte OFFSET of the output file; - : where the file ends")
      ->option_text("OFFSET|-");
  app.add_option("-D,--dump-header", o.dump_header, "Write the response heads to FILE (- is stdout)")
      ->option_text("FILE");
  app.add_option("-c,--cookie-jar", o.cookie_jar, "Write every cookie to FILE at the end (Netscape format)")
      ->option_text("FILE");
  app.add_flag("-i,--include", o.include, "Print the status line and headers before the body");
}

void declare_retry_options(CLI::App& app, RawFetchOptions& raw) {
  RetryOptions& o = raw.options.retry;
  app.add_option("--retry", o.count, "Retry a transient failure up to N times (curl's rules)")
      ->option_text("N")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--retry-delay", raw.retry_delay, "Wait SECONDS between retries (default: 1 s doubling)")
      ->option_text("SECONDS");
  app.add_option("--retry-max-time", raw.retry_max_time, "Start no retry after SECONDS")->option_text("SECONDS");
  app.add_flag("--retry-all-errors", o.all_errors, "With --retry, retry on any failure");
  app.add_flag("--retry-connrefused", o.connection_refused, "With --retry, retry a refused connection too");
}

void declare_fetch_options(CLI::App& app, RawFetchOptions& raw) {
  FetchOptions& o = raw.options;
  app.add_option("URL", raw.request.options.urls, "The https:// URLs to fetch")->option_text(" ");
  app.add_option("-X,--request", raw.request.options.method,
                 "Request method (default GET; HEAD with -I, PUT with -T, POST with -d or -F)")
      ->option_text("METHOD");
  declare_request_options(app, raw.request);
  declare_request_body_options(app, raw.request.options);
  declare_output_options(app, raw);
  declare_retry_options(app, raw);
  app.add_flag("-Z,--parallel", o.parallel, "Fetch the URLs at the same time");
  app.add_option("--parallel-max", o.parallel_max, "At most N transfers at once with -Z (default 50)")
      ->option_text("N")
      ->check(CLI::Range(1, 1000));
  app.add_option("-m,--max-time", raw.max_time, "Give up on a URL after SECONDS")
      ->option_text("SECONDS");
  app.add_flag("-f,--fail", o.fail, "On HTTP status >= 400 print no body and exit with 22");
  app.add_flag("-s,--silent", o.silent, "No progress bar and no error message");
  app.add_flag("-S,--show-error", o.show_error, "With -s, still print the error message");
  app.add_flag("-#,--progress-bar", o.progress_hashes, "Draw curl's simple '####  42.0%' progress bar");
  app.add_flag("--no-progress-meter", o.no_progress_meter, "No progress bar (errors are still printed)");
  app.add_flag("-v,--verbose", o.verbose, "Print connection events and headers to stderr, as curl -v");
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
  app.add_option("-E,--cert", o.client_certificate, "Client certificate (PEM) for servers that ask for one (mTLS)")
      ->option_text("FILE");
  app.add_option("--key", o.client_key, "The --cert certificate's private key (PEM; default: in the --cert file)")
      ->option_text("FILE");
  declare_unsupported_options(app);
}

// curl's "You can only select one HTTP request method!": the flags that choose one must agree.
std::optional<CliExit> method_conflict(const RequestOptions& r) {
  const bool posts_data = !r.data.empty() && !r.get;
  std::vector<std::string_view> chosen;
  if (r.head) chosen.push_back("-I (HEAD)");
  if (posts_data) chosen.push_back("-d (POST)");
  if (!r.form.empty()) chosen.push_back("-F (multipart POST)");
  if (r.upload_file) chosen.push_back("-T (PUT)");
  if (r.get && !r.form.empty()) chosen.push_back("-G (GET)");
  if (chosen.size() < 2) return std::nullopt;
  return usage_error(fmt::format("{} and {} ask for different requests; use one", chosen[0], chosen[1]));
}

bool valid_range(std::string_view range) {
  return !range.empty() && range.find_first_not_of("0123456789-,") == std::string_view::npos &&
         range.find('-') != std::string_view::npos;
}

std::optional<CliExit> finish_continue_at(RawFetchOptions& raw) {
  FetchOptions& options = raw.options;
  if (!raw.continue_at) return std::nullopt;
  if (*raw.continue_at == "-") {
    options.continue_auto = true;
    if (!options.output_file && !options.remote_name) {
      return usage_error("-C - needs -o or -O (it resumes where the output file ends)");
    }
  } else {
    std::uint64_t offset = 0;
    const std::string& text = *raw.continue_at;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), offset);
    if (error != std::errc() || end != text.data() + text.size()) {
      return usage_error(fmt::format("-C takes a byte offset or -, got '{}'", text));
    }
    options.continue_at = offset;
  }
  const RequestOptions& r = options.request;
  if (r.range) return usage_error("-C and -r exclude each other");
  if (options.no_clobber) return usage_error("-C and --no-clobber exclude each other");
  if (!r.data.empty() || !r.form.empty()) return usage_error("-C cannot be mixed with -d or -F");
  return std::nullopt;
}

std::optional<CliExit> finish_retry(RawFetchOptions& raw) {
  RetryOptions& retry = raw.options.retry;
  if (raw.retry_delay && *raw.retry_delay != 0) {  // 0: the default backoff, as curl
    auto delay = parse_seconds("--retry-delay", *raw.retry_delay);
    if (!delay) return std::move(delay.error());
    retry.delay = *delay;
  }
  if (raw.retry_max_time && *raw.retry_max_time != 0) {  // 0: no limit, as curl
    auto max_time = parse_seconds("--retry-max-time", *raw.retry_max_time);
    if (!max_time) return std::move(max_time.error());
    retry.max_time = *max_time;
  }
  return std::nullopt;
}

std::optional<CliExit> check_request_flags(const RequestOptions& r) {
  if (auto conflict = method_conflict(r)) return conflict;
  if (r.user && r.user->find(':') == std::string::npos) {
    return usage_error("-u needs USER:PASSWORD (quiver does not prompt for a password)");
  }
  if (r.range && !valid_range(*r.range)) {
    return usage_error(fmt::format("-r takes a byte range such as 0-499, 500- or -500, got '{}'", *r.range));
  }
  return std::nullopt;
}

std::expected<Command, CliExit> finish_fetch(RawFetchOptions raw) {
  auto request = std::move(raw.request).finish();
  if (!request) return std::unexpected(std::move(request.error()));
  raw.options.request = std::move(*request);
  FetchOptions& options = raw.options;
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
  if (auto problem = check_request_flags(options.request)) return std::unexpected(std::move(*problem));
  if (auto problem = finish_continue_at(raw)) return std::unexpected(std::move(*problem));
  if (auto problem = finish_retry(raw)) return std::unexpected(std::move(*problem));
  if (raw.max_time) {
    auto timeout = parse_seconds("--max-time", *raw.max_time);
    if (!timeout) return std::unexpected(std::move(timeout.error()));
    options.max_time = *timeout;
  }
  return std::move(options);
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
  // As curl: a single-valued option given twice takes the last value (lists such as -H keep all).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
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
  if (auto unsupported = unsupported_option_used(app)) return std::unexpected(std::move(*unsupported));
  return finish_fetch(std::move(raw));
}

}  // namespace quiver::cli

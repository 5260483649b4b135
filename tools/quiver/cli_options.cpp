#include "cli_options.hpp"

#include <cmath>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

#include "exit_codes.hpp"

#ifndef QUIVER_VERSION
#define QUIVER_VERSION "0.0.0"
#endif

namespace quiver::cli {

namespace {

constexpr std::string_view description =
    "quiver: fetch a URL over HTTP/3 (QUIC) and print the response body.\n"
    "Options follow curl where curl has the same option.";

constexpr std::string_view footer = R"(Examples:
  quiver https://example.com/                     print the body
  quiver -i https://example.com/                  status line and headers, then the body
  quiver -d 'a=1&b=2' https://example.com/form    POST form data
  quiver -d @body.json -H 'Content-Type: application/json' https://example.com/api
  quiver -v -k https://localhost:4433/            show connection events; accept any certificate

Exit status: 0 on a complete response. Otherwise one line "quiver: <kind>: <cause>" on stderr and
  2 usage, 3 bad URL, 6 unresolvable host, 7 nothing answered in time, 8 HTTP/3 protocol error,
  22 HTTP status >= 400 with --fail, 23 cannot write output, 26 cannot read -d file,
  28 --max-time passed, 35 handshake failed, 43 forbidden or malformed header,
  56 connection failed, 60 certificate not trusted, 77 cannot read --cacert file,
  92 stream reset by the server.)";

std::string version_text() {
  return fmt::format("quiver {} (ngtcp2 {}, nghttp3 {}, GnuTLS {})\n", QUIVER_VERSION,
                     ngtcp2_version(0)->version_str, nghttp3_version(0)->version_str,
                     gnutls_check_version(nullptr));
}

CliExit usage_error(std::string_view message) {
  return CliExit{exit_code::usage, fmt::format("quiver: usage: {} (see 'quiver --help')", message)};
}

// "Name: value" -> {Name, value}; optional whitespace around the value is dropped, as curl does.
std::expected<Header, CliExit> parse_header_option(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) {
    return std::unexpected(CliExit{
        exit_code::invalid_header,
        fmt::format("quiver: invalid_request: malformed header '{}': expected -H 'Name: value'", text)});
  }
  std::string_view value = std::string_view(text).substr(colon + 1);
  const auto first = value.find_first_not_of(" \t");
  const auto last = value.find_last_not_of(" \t");
  value = first == std::string_view::npos ? std::string_view() : value.substr(first, last - first + 1);
  return Header{text.substr(0, colon), std::string(value)};
}

std::expected<std::chrono::milliseconds, CliExit> parse_seconds(std::string_view option, double seconds) {
  constexpr double one_year = 365.0 * 24 * 3600;
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > one_year) {
    return std::unexpected(usage_error(fmt::format("{} must be a positive number of seconds, got {}", option, seconds)));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000)));
}

// The values CLI11 fills in; turned into CliOptions once parsing succeeded.
struct RawOptions {
  CliOptions options;
  std::optional<std::string> method;
  std::vector<std::string> headers;
  std::optional<std::string> output_file;
  std::optional<double> connect_timeout;
  std::optional<double> max_time;
  bool version = false;
};

void declare_options(CLI::App& app, RawOptions& raw) {
  CliOptions& o = raw.options;
  app.add_option("URL", o.url, "The https:// URL to fetch")->option_text(" ");
  app.add_option("-X,--request", raw.method, "Request method (default GET, or POST with -d)")
      ->option_text("METHOD");
  app.add_option("-H,--header", raw.headers, "Add a request header 'Name: value' (repeatable)")
      ->option_text("'NAME: VALUE'")
      ->allow_extra_args(false);
  app.add_option("-d,--data", o.data,
                 "POST DATA as a form body; @FILE sends a file as is, @- reads stdin; repeats join with '&'")
      ->option_text("DATA")
      ->allow_extra_args(false);
  app.add_option("-o,--output", raw.output_file, "Write the body to FILE instead of stdout")->option_text("FILE");
  app.add_flag("-i,--include", o.include, "Print the status line and response headers before the body");
  app.add_flag("-k,--insecure", o.insecure, "Do not verify the server's certificate (testing only)");
  app.add_option("--cacert", o.ca_file, "Also trust the CA certificates in FILE (PEM)")->option_text("FILE");
  app.add_option("--connect-timeout", raw.connect_timeout,
                 "Give up if the QUIC handshake has not finished after SECONDS (default 5)")
      ->option_text("SECONDS");
  app.add_option("-m,--max-time", raw.max_time, "Give up if the whole request takes longer than SECONDS")
      ->option_text("SECONDS");
  app.add_flag("-f,--fail", o.fail, "On HTTP status >= 400 print no body and exit with 22");
  app.add_flag("-v,--verbose", o.verbose, "Print connection events and request/response headers to stderr");
  app.add_flag("--version", raw.version, "Print the version and exit");
}

std::expected<CliOptions, CliExit> finish(RawOptions raw) {
  CliOptions options = std::move(raw.options);
  if (options.url.empty()) return std::unexpected(usage_error("missing URL"));
  options.method = std::move(raw.method);
  options.output_file = std::move(raw.output_file);
  for (const std::string& text : raw.headers) {
    auto header = parse_header_option(text);
    if (!header) return std::unexpected(std::move(header.error()));
    options.headers.push_back(std::move(*header));
  }
  if (raw.connect_timeout) {
    auto timeout = parse_seconds("--connect-timeout", *raw.connect_timeout);
    if (!timeout) return std::unexpected(std::move(timeout.error()));
    options.connect_timeout = *timeout;
  }
  if (raw.max_time) {
    auto timeout = parse_seconds("--max-time", *raw.max_time);
    if (!timeout) return std::unexpected(std::move(timeout.error()));
    options.max_time = *timeout;
  }
  return options;
}

}  // namespace

std::string_view quiver_version() noexcept { return QUIVER_VERSION; }

std::expected<CliOptions, CliExit> parse_cli(int argc, const char* const* argv) {
  CLI::App app{std::string(description), "quiver"};
  app.footer(std::string(footer));
  app.get_formatter()->column_width(34);
  RawOptions raw;
  declare_options(app, raw);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return std::unexpected(CliExit{exit_code::ok, app.help()});
  } catch (const CLI::ParseError& error) {
    return std::unexpected(usage_error(error.what()));
  }
  if (raw.version) return std::unexpected(CliExit{exit_code::ok, version_text()});
  return finish(std::move(raw));
}

}  // namespace quiver::cli

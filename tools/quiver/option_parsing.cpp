#include "option_parsing.hpp"

#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "exit_codes.hpp"

namespace quiver::cli {

namespace {

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

}  // namespace

CliExit usage_error(std::string_view message, std::string_view help_command) {
  return CliExit{exit_code::usage, fmt::format("quiver: usage: {} (see '{}')", message, help_command)};
}

std::expected<std::chrono::milliseconds, CliExit> parse_seconds(std::string_view option, double seconds) {
  constexpr double one_year = 365.0 * 24 * 3600;
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > one_year) {
    return std::unexpected(usage_error(fmt::format("{} must be a positive number of seconds, got {}", option, seconds)));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000)));
}

std::expected<RequestOptions, CliExit> RawRequestOptions::finish() && {
  for (const std::string& text : headers) {
    auto header = parse_header_option(text);
    if (!header) return std::unexpected(std::move(header.error()));
    options.headers.push_back(std::move(*header));
  }
  if (connect_timeout) {
    auto timeout = parse_seconds("--connect-timeout", *connect_timeout);
    if (!timeout) return std::unexpected(std::move(timeout.error()));
    options.connect_timeout = *timeout;
  }
  return std::move(options);
}

void declare_request_options(CLI::App& app, RawRequestOptions& raw) {
  RequestOptions& o = raw.options;
  app.add_option("-H,--header", raw.headers, "Add a request header 'Name: value' (repeatable)")
      ->option_text("'NAME: VALUE'")
      ->allow_extra_args(false);
  app.add_option("-d,--data", o.data,
                 "POST DATA (repeats join with '&'); @FILE sends a file, @- stdin")
      ->option_text("DATA")
      ->allow_extra_args(false);
  app.add_flag("-k,--insecure", o.insecure, "Do not verify the server's certificate (testing only)");
  auto* http2 = app.add_flag("--http2", o.http2, "Use HTTP/2 (TLS over TCP, ALPN h2) instead of HTTP/3");
  auto* http3 = app.add_flag("--http3", o.http3,
                             "Try HTTP/3 first, fall back to HTTP/2 over TCP (races them; uses Alt-Svc)")
                    ->excludes(http2);
  app.add_flag("--http3-only", o.http3_only, "Use HTTP/3 only (the default)")->excludes(http2)->excludes(http3);
  app.add_option("--cacert", o.ca_file, "Trust the CA certificates in FILE (PEM) instead of the system store, as curl does")->option_text("FILE");
  app.add_option("--connect-timeout", raw.connect_timeout,
                 "Give up on a handshake after SECONDS (default 5)")
      ->option_text("SECONDS");
}

CliExit parse_error_exit(const CLI::App& app, const CLI::ParseError& error) {
  if (dynamic_cast<const CLI::CallForHelp*>(&error) != nullptr) return CliExit{0, app.help()};
  const auto selected = app.get_subcommands();
  const std::string help_command =
      selected.empty() ? "quiver --help" : fmt::format("quiver {} --help", selected.front()->get_name());
  return usage_error(error.what(), help_command);
}

}  // namespace quiver::cli

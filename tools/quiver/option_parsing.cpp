#include "option_parsing.hpp"

#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "exit_codes.hpp"
#include "header_syntax.hpp"

namespace quiver::cli {

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
  for (const std::string& text : options.headers) {
    if (text.starts_with('@')) continue;  // read when the request is prepared
    if (auto line = parse_header_line(text); !line) {
      return std::unexpected(CliExit{exit_code::invalid_header, "quiver: invalid_request: " + line.error()});
    }
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
  app.add_option("-H,--header", o.headers,
                 "Add a request header (repeatable): 'Name: value', 'Name:' removes quiver's, 'Name;' sends it "
                 "empty, @FILE one per line")
      ->option_text("'NAME: VALUE'")
      ->allow_extra_args(false);
  add_data_option(app, "-d,--data", DataItem::Kind::ascii, o.data,
                  "POST DATA (repeats join with '&'); @FILE sends a file without its CR/LF, @- stdin");
  app.add_flag("-k,--insecure", o.insecure, "Do not verify the server's certificate (testing only)");
  auto* http2 = app.add_flag("--http2", o.http2, "Use HTTP/2 over TLS over TCP instead of HTTP/3 (offers ALPN h2, then http/1.1)");
  auto* http1 = app.add_flag("--http1.1", o.http1_1,
                             "Use HTTP/1.1 (TLS over TCP, ALPN http/1.1) instead of HTTP/3")->excludes(http2);
  auto* http3 = app.add_flag("--http3", o.http3,
                             "HTTP/3 first, TCP (HTTP/2 or HTTP/1.1) as the fallback: the default (races them; uses Alt-Svc)")
                    ->excludes(http2)->excludes(http1);
  app.add_flag("--http3-only", o.http3_only, "Use HTTP/3 only: no TCP fallback (bench's default)")
      ->excludes(http2)->excludes(http1)->excludes(http3);
  app.add_option("--cacert", o.ca_file, "Trust the CA certificates in FILE (PEM) instead of the system store, as curl does")->option_text("FILE");
  app.add_option("--connect-timeout", raw.connect_timeout,
                 "Give up on a handshake after SECONDS (default 5)")
      ->option_text("SECONDS");
}

CLI::Option* add_data_option(CLI::App& app, const std::string& names, DataItem::Kind kind,
                             std::vector<DataItem>& data, const std::string& description) {
  return app
      .add_option_function<std::string>(
          names, [&data, kind](const std::string& text) { data.push_back(DataItem{kind, text}); }, description)
      ->trigger_on_parse()
      ->option_text("DATA")
      ->allow_extra_args(false);
}

CliExit parse_error_exit(const CLI::App& app, const CLI::ParseError& error) {
  if (dynamic_cast<const CLI::CallForHelp*>(&error) != nullptr) return CliExit{0, app.help()};
  const auto selected = app.get_subcommands();
  const std::string help_command =
      selected.empty() ? "quiver --help" : fmt::format("quiver {} --help", selected.front()->get_name());
  return usage_error(error.what(), help_command);
}

}  // namespace quiver::cli

#pragma once
// Helpers shared by the parsers of the default form (cli_options.cpp) and the subcommands
// (subcommand_options.cpp). Internal to the CLI.

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"

namespace quiver::cli {

// "quiver: usage: <message> (see 'quiver --help')" with exit code 2.
CliExit usage_error(std::string_view message, std::string_view help_command = "quiver --help");

// A positive number of seconds (at most a year) as milliseconds, rounded up.
std::expected<std::chrono::milliseconds, CliExit> parse_seconds(std::string_view option, double seconds);

// The raw values CLI11 fills in for the request options; finish() validates them into RequestOptions.
struct RawRequestOptions {
  RequestOptions options;                    // -H and -d go straight in (-d in command-line order)
  std::optional<double> connect_timeout;     // seconds

  std::expected<RequestOptions, CliExit> finish() &&;
};

// Declares the options both fetch and bench take: -H, -d, --cacert, -k, --connect-timeout.
void declare_request_options(CLI::App& app, RawRequestOptions& raw);

// Declares an option whose every occurrence appends a DataItem of `kind` to `data`, so that -d,
// --data-binary, --json, ... keep their command-line order.
CLI::Option* add_data_option(CLI::App& app, const std::string& names, DataItem::Kind kind,
                             std::vector<DataItem>& data, const std::string& description);

// Turns CLI11's verdict into a CliExit: help text (exit 0, for the subcommand that asked) or a usage line.
CliExit parse_error_exit(const CLI::App& app, const CLI::ParseError& error);

}  // namespace quiver::cli

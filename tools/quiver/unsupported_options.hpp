#pragma once
// curl flags that quiver does not support yet. Each is known to the parser so that using it ends with a
// clear "not supported yet" line (exit 2) instead of CLI11's "argument was not expected"; the README's
// "Not supported yet" list names the same flags. When a flag gets implemented, its line goes from
// this table (and from the README list).

#include <optional>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"

namespace quiver::cli {

struct UnsupportedOption {
  std::string_view names;    // CLI11 spelling: "-E,--cert"
  bool takes_value;
  std::string_view meaning;  // what it does in curl
};

inline constexpr UnsupportedOption unsupported_options[] = {
    {"-x,--proxy", true, "proxy"},
};

// Declares every flag of the table on `app` (hidden from --help: the README lists them).
void declare_unsupported_options(CLI::App& app);

// The usage error for the first of them given on the command line, if any.
std::optional<CliExit> unsupported_option_used(const CLI::App& app);

}  // namespace quiver::cli

#pragma once
// Command-line options of `quiver [options] URL`, parsed apart from main() so tests can drive them.

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/headers.hpp"

namespace quiver::cli {

struct CliOptions {
  std::string url;                           // as typed; validated later by prepare_request
  std::optional<std::string> method;         // -X; otherwise GET, or POST when -d is given
  std::vector<Header> headers;               // -H "Name: value", in command-line order
  std::vector<std::string> data;             // -d values as typed ("text", "@file", "@-"); joined with '&'
  std::optional<std::string> output_file;    // -o; stdout when unset
  std::string ca_file;                       // --cacert; empty: system trust store only
  bool include = false;                      // -i
  bool insecure = false;                     // -k
  bool fail = false;                         // -f
  bool verbose = false;                      // -v
  std::optional<std::chrono::milliseconds> connect_timeout;  // unset: the library default
  std::optional<std::chrono::milliseconds> max_time;         // unset: no overall deadline
};

// Parsing stopped without options to run: --help/--version (exit 0, `text` goes to stdout) or a usage
// problem (non-zero exit, `text` is the one line for stderr).
struct CliExit {
  int exit_code = 0;
  std::string text;
};

std::expected<CliOptions, CliExit> parse_cli(int argc, const char* const* argv);

// "0.1.0"
std::string_view quiver_version() noexcept;

}  // namespace quiver::cli

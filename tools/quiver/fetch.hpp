#pragma once
// `quiver [options] URL`: one request on one HTTP/3 connection, run to completion in the calling thread.

#include <istream>
#include <ostream>

#include "cli_options.hpp"

namespace quiver::cli {

// Where the command reads and writes; main passes std::cin/cout/cerr. Borrowed for the call.
struct Terminal {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

// Validates everything first (no connection is made for a bad URL, header, data file or CA file), then
// fetches and prints. Returns the exit code (exit_codes.hpp); on failure exactly one
// "quiver: <kind>: <cause>" line is written to `terminal.err` (besides -v output).
int run_fetch(const CliOptions& options, Terminal terminal);

}  // namespace quiver::cli

#pragma once
// `quiver [options] URL...`: every URL through one quiver::Client (one connection per origin, shared),
// one after another, or up to --parallel-max at once with -Z.

#include "cli_options.hpp"
#include "terminal.hpp"

namespace quiver::cli {

// Validates everything first (no connection is made for a bad URL, header, data file or CA file), then
// fetches. Returns the exit code of the first URL (in command-line order) that failed, or 0; each
// failure is reported as one "quiver: <kind>: <cause>" line on `terminal.err` (unless -s without -S).
int run_fetch(const FetchOptions& options, Terminal terminal);

}  // namespace quiver::cli

#pragma once
// `quiver bench [URL]`: see bench_engine.hpp for how the load is generated, bench_report.hpp for what
// is printed.

#include "cli_options.hpp"
#include "terminal.hpp"

namespace quiver::cli {

// Returns 0 when every request succeeded; otherwise the report is still printed and the exit code is
// that of the first failure (the fetch table; 22 for a status >= 400), with its one-line message.
int run_bench_command(const BenchOptions& options, Terminal terminal);

}  // namespace quiver::cli

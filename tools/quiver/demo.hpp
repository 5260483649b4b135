#pragma once
// `quiver demo`: starts the embedded server and walks through the library's features, one checked step
// per line: GET, POST, streamed download (with progress), producer upload, GOAWAY drain with transparent
// retries, and a short bench.

#include "cli_options.hpp"
#include "terminal.hpp"

namespace quiver::cli {

// The report goes to stdout (the progress bar of the download step to stderr, on a terminal). Returns 0
// when every step passed, 1 otherwise.
int run_demo(const DemoOptions& options, Terminal terminal);

}  // namespace quiver::cli

#pragma once
// `quiver serve`: the project's HTTP/3 server (src/test_server) as a command, until SIGINT/SIGTERM.

#include <string>

#include "cli_options.hpp"
#include "terminal.hpp"
#include "test_server/server.hpp"

namespace quiver::cli {

// Runs the server; returns the exit code (0 after a graceful stop, 1 if it cannot start).
// stdout: the banner (first line "quiver serve: listening on https://HOST:PORT (HTTP/3)") and the
// access log; stderr: errors.
int run_serve(const ServeOptions& options, Terminal terminal);

// One access-log line: "[12:34:56.789] GET /bytes/10 200 10 bytes 0.42 ms", plus the stream's error
// code when it did not end cleanly.
std::string format_access_log(const server::AccessLogEntry& entry);

// "https://127.0.0.1:4433", "https://[::1]:4433"
std::string https_origin(const std::string& host, std::uint16_t port);

}  // namespace quiver::cli

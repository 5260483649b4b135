// The `quiver` command: see `quiver --help`. All logic lives in quiver_cli_lib.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <variant>

#include "bench.hpp"
#include "cli_options.hpp"
#include "demo.hpp"
#include "fetch.hpp"
#include "serve.hpp"
#include "tunnel.hpp"

namespace {

// A closed stdout pipe (`quiver URL | head -c 10`) must end the command with exit 23 (curl's write
// error), not kill it: with SIGPIPE ignored a write to it fails with EPIPE, which the output code reports.
// `serve` keeps the default, so `quiver serve | head` ends when its reader goes away.
void write_errors_instead_of_sigpipe() { std::signal(SIGPIPE, SIG_IGN); }

// Runs the parsed command with the process's standard streams.
struct Run {
  quiver::cli::Terminal terminal;
  int operator()(const quiver::cli::FetchOptions& options) const {
    write_errors_instead_of_sigpipe();
    return quiver::cli::run_fetch(options, terminal);
  }
  int operator()(const quiver::cli::ServeOptions& options) const { return quiver::cli::run_serve(options, terminal); }
  int operator()(const quiver::cli::BenchOptions& options) const {
    write_errors_instead_of_sigpipe();
    return quiver::cli::run_bench_command(options, terminal);
  }
  int operator()(const quiver::cli::DemoOptions& options) const { return quiver::cli::run_demo(options, terminal); }
  int operator()(const quiver::cli::TunnelOptions& options) const {
    return quiver::cli::run_tunnel(options, terminal);
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto command = quiver::cli::parse_cli(argc, argv);
  if (!command) {
    const quiver::cli::CliExit& exit = command.error();
    std::ostream& out = exit.exit_code == 0 ? std::cout : std::cerr;
    out << exit.text;
    if (!exit.text.ends_with('\n')) out << '\n';
    return exit.exit_code;
  }
  const quiver::cli::Terminal terminal{std::cin, std::cout, std::cerr, isatty(STDOUT_FILENO) == 1,
                                       isatty(STDERR_FILENO) == 1};
  return std::visit(Run{terminal}, *command);
}

// The `quiver` command: see `quiver --help`. All logic lives in quiver_cli_lib.
#include <unistd.h>

#include <iostream>
#include <variant>

#include "bench.hpp"
#include "cli_options.hpp"
#include "demo.hpp"
#include "fetch.hpp"
#include "serve.hpp"

namespace {

// Runs the parsed command with the process's standard streams.
struct Run {
  quiver::cli::Terminal terminal;
  int operator()(const quiver::cli::FetchOptions& options) const { return quiver::cli::run_fetch(options, terminal); }
  int operator()(const quiver::cli::ServeOptions& options) const { return quiver::cli::run_serve(options, terminal); }
  int operator()(const quiver::cli::BenchOptions& options) const {
    return quiver::cli::run_bench_command(options, terminal);
  }
  int operator()(const quiver::cli::DemoOptions& options) const { return quiver::cli::run_demo(options, terminal); }
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

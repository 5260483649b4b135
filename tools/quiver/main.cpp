// The `quiver` command: see `quiver --help`. All logic lives in quiver_cli_lib.
#include <iostream>

#include "cli_options.hpp"
#include "fetch.hpp"

int main(int argc, char** argv) {
  auto options = quiver::cli::parse_cli(argc, argv);
  if (!options) {
    const quiver::cli::CliExit& exit = options.error();
    std::ostream& out = exit.exit_code == 0 ? std::cout : std::cerr;
    out << exit.text;
    if (!exit.text.ends_with('\n')) out << '\n';
    return exit.exit_code;
  }
  return quiver::cli::run_fetch(*options, {std::cin, std::cout, std::cerr});
}

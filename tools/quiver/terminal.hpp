#pragma once
// The process's standard streams as every command uses them: main passes std::cin/cout/cerr and what
// isatty() says; tests pass string streams. Borrowed for the duration of a command.

#include <istream>
#include <ostream>

namespace quiver::cli {

struct Terminal {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  bool out_is_terminal = false;
  bool err_is_terminal = false;  // progress bars and live lines are drawn only then
};

}  // namespace quiver::cli

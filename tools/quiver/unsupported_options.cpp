#include "unsupported_options.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "exit_codes.hpp"

namespace quiver::cli {

void declare_unsupported_options(CLI::App& app) {
  for (const UnsupportedOption& unsupported : unsupported_options) {
    CLI::Option* option = unsupported.takes_value ? app.add_option(std::string(unsupported.names))
                                                  : app.add_flag(std::string(unsupported.names));
    option->group("");  // hidden
  }
}

std::optional<CliExit> unsupported_option_used(const CLI::App& app) {
  for (const UnsupportedOption& unsupported : unsupported_options) {
    const std::string names(unsupported.names);
    const std::string longest = names.substr(names.rfind(',') + 1);
    if (app.get_option(longest)->count() == 0) continue;
    std::string shown = names;
    std::replace(shown.begin(), shown.end(), ',', '/');
    return CliExit{exit_code::usage,
                   fmt::format("quiver: usage: {} ({}) is not supported yet; see \"Not supported yet\" in the README",
                               shown, unsupported.meaning)};
  }
  return std::nullopt;
}

}  // namespace quiver::cli

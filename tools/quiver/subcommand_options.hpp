#pragma once
// The subcommands `serve`, `bench` and `demo`: their options, help text and validation.

#include <expected>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"

namespace quiver::cli {

// One subcommand registered on the top-level CLI11 app. Owns the variables CLI11 writes into, so it must
// outlive parsing.
class Subcommand {
 public:
  virtual ~Subcommand() = default;
  // The CLI11 subcommand; parsed() says whether it was chosen.
  virtual const CLI::App& app() const = 0;
  // The validated command, once CLI11 parsed the arguments.
  virtual std::expected<Command, CliExit> finish() = 0;
};

// Registers serve, bench and demo on `parent`.
std::vector<std::unique_ptr<Subcommand>> add_subcommands(CLI::App& parent);

}  // namespace quiver::cli

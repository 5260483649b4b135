#pragma once
// The URLs of `quiver bench` and their requests: the URL arguments, then the lines of -i FILE (h2load's
// input file), each "URL" or "URL @BODY_FILE" (that URL's own request body). -H, -d, -X apply to every
// URL; a line's own body replaces -d for that URL. Blank lines and lines starting with '#' are skipped.

#include <expected>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_engine.hpp"
#include "cli_options.hpp"
#include "exit_codes.hpp"

namespace quiver::cli {

struct UrlLine {
  std::string url;
  std::optional<std::string> body_file;  // "@FILE" given on the line: FILE
};

// The lines of an -i file, or what is wrong with one (naming its line number).
std::expected<std::vector<UrlLine>, std::string> parse_url_lines(std::string_view text);

// One BenchTarget per URL, in order (arguments first, then -i's lines), each request carrying
// --timeout. `stdin_stream` is read only for "-d @-". The first problem found is returned.
std::expected<std::vector<BenchTarget>, Failure> make_bench_targets(const BenchOptions& options, std::istream& stdin_stream);

}  // namespace quiver::cli

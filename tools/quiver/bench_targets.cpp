#include "bench_targets.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli_request.hpp"

namespace quiver::cli {

namespace {

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

std::expected<std::string, Failure> read_url_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  if (file) contents << file.rdbuf();
  if (!file || file.bad()) {
    return std::unexpected(Failure{exit_code::read_failed, "io_error", fmt::format("cannot read the URL file '{}'", path)});
  }
  return contents.str();
}

BenchTarget target_of(PreparedRequest prepared, const BenchOptions& options) {
  BenchTarget target{std::move(prepared.request), {}};
  target.url = target.request.url.to_string();
  if (options.timeout) target.request.timeout = *options.timeout;
  return target;
}

}  // namespace

std::expected<std::vector<UrlLine>, std::string> parse_url_lines(std::string_view text) {
  std::vector<UrlLine> lines;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto end = text.find('\n');
    const std::string_view line = trimmed(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty() || line.starts_with('#')) continue;
    const auto space = line.find_first_of(" \t");
    UrlLine parsed{std::string(line.substr(0, space)), std::nullopt};
    if (space != std::string_view::npos) {
      const std::string_view rest = trimmed(line.substr(space));
      if (!rest.starts_with('@') || rest.size() < 2 || rest.find_first_of(" \t") != std::string_view::npos) {
        return std::unexpected(fmt::format("line {}: expected 'URL' or 'URL @BODY_FILE', got '{}'", number, line));
      }
      parsed.body_file = std::string(rest.substr(1));
    }
    lines.push_back(std::move(parsed));
  }
  return lines;
}

std::expected<std::vector<BenchTarget>, Failure> make_bench_targets(const BenchOptions& options, std::istream& stdin_stream) {
  std::vector<UrlLine> lines;
  for (const std::string& url : options.request.urls) lines.push_back({url, std::nullopt});
  if (options.input_file) {
    auto text = read_url_file(*options.input_file);
    if (!text) return std::unexpected(std::move(text.error()));
    auto parsed = parse_url_lines(*text);
    if (!parsed) {
      return std::unexpected(Failure{exit_code::usage, "invalid_input",
                                     fmt::format("URL file '{}': {}", *options.input_file, parsed.error())});
    }
    if (parsed->empty()) {
      return std::unexpected(Failure{exit_code::usage, "invalid_input", fmt::format("URL file '{}' has no URL", *options.input_file)});
    }
    lines.insert(lines.end(), parsed->begin(), parsed->end());
  }

  // The URLs without a body of their own share -d's body: one call reads it once (stdin included).
  RequestOptions shared = options.request;
  shared.urls.clear();
  for (const UrlLine& line : lines) {
    if (!line.body_file) shared.urls.push_back(line.url);
  }
  std::vector<PreparedRequest> shared_requests;
  if (!shared.urls.empty()) {
    auto prepared = prepare_requests(shared, stdin_stream);
    if (!prepared) return std::unexpected(std::move(prepared.error()));
    shared_requests = std::move(*prepared);
  }

  std::vector<BenchTarget> targets;
  std::size_t next_shared = 0;
  for (const UrlLine& line : lines) {
    if (!line.body_file) {
      targets.push_back(target_of(std::move(shared_requests[next_shared++]), options));
      continue;
    }
    RequestOptions own = options.request;
    own.urls = {line.url};
    own.data = {DataItem{DataItem::Kind::binary, "@" + *line.body_file}};  // byte for byte, as h2load -d
    auto prepared = prepare_requests(own, stdin_stream);
    if (!prepared) return std::unexpected(std::move(prepared.error()));
    targets.push_back(target_of(std::move(prepared->front()), options));
  }
  return targets;
}

}  // namespace quiver::cli

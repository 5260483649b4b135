#include "header_syntax.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "core/text.hpp"

namespace quiver::cli {

namespace {

std::string malformed(std::string_view text) {
  return fmt::format("malformed header '{}': expected -H 'Name: value', 'Name:' (remove) or 'Name;' (empty)",
                     text);
}

}  // namespace

std::expected<HeaderLine, std::string> parse_header_line(std::string_view text) {
  const auto colon = text.find(':');
  const auto semicolon = text.find(';');
  if (colon != std::string_view::npos && (semicolon == std::string_view::npos || colon < semicolon)) {
    const std::string_view name = detail::trim_ows(text.substr(0, colon));
    if (name.empty()) return std::unexpected(malformed(text));
    const std::string_view value = detail::trim_ows(text.substr(colon + 1));
    if (value.empty()) return HeaderLine{HeaderLine::Action::remove, std::string(name), ""};
    return HeaderLine{HeaderLine::Action::add, std::string(name), std::string(value)};
  }
  if (semicolon != std::string_view::npos) {
    const std::string_view name = detail::trim_ows(text.substr(0, semicolon));
    if (name.empty() || !detail::trim_ows(text.substr(semicolon + 1)).empty()) return std::unexpected(malformed(text));
    return HeaderLine{HeaderLine::Action::add, std::string(name), ""};
  }
  return std::unexpected(malformed(text));
}

std::vector<std::string> header_file_lines(std::string_view contents) {
  std::vector<std::string> lines;
  while (!contents.empty()) {
    const auto end = contents.find('\n');
    std::string_view line = contents.substr(0, end);
    contents = end == std::string_view::npos ? std::string_view() : contents.substr(end + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
    if (!detail::trim_ows(line).empty()) lines.emplace_back(line);
  }
  return lines;
}

bool is_connection_specific(const HeaderLine& line) {
  static constexpr std::array names = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                       "upgrade"};
  if (line.action != HeaderLine::Action::add) return false;
  if (iequals(line.name, "te")) return !iequals(line.value, "trailers");
  return std::ranges::any_of(names, [&](std::string_view name) { return iequals(line.name, name); });
}

Headers apply_header_lines(Headers defaults, const std::vector<HeaderLine>& lines,
                           std::vector<std::string>& warnings) {
  Headers user;
  for (const HeaderLine& line : lines) {
    if (line.action == HeaderLine::Action::remove) {
      defaults.remove(line.name);
      user.remove(line.name);
      continue;
    }
    if (is_connection_specific(line)) {
      warnings.push_back(fmt::format("ignoring -H '{}: {}': HTTP/3 has no connection-specific header fields",
                                     line.name, line.value));
      continue;
    }
    defaults.remove(line.name);  // the user's field replaces quiver's; later lines of the name add more
    user.add(line.name, line.value);
  }
  Headers all = std::move(defaults);
  for (const Header& field : user) all.add(field.name, field.value);
  return all;
}

}  // namespace quiver::cli

#pragma once
// curl's -H syntax, and how the command's header fields are put together: the defaults quiver sends
// (user-agent, accept, content-type, ...) first, then the user's -H lines, each of which replaces a default
// of its name, removes it ("Name:") or adds a field ("Name: value", "Name;" for an empty value).

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/headers.hpp"

namespace quiver::cli {

// One -H line.
struct HeaderLine {
  enum class Action { add, remove };
  Action action = Action::add;
  std::string name;
  std::string value;
  bool operator==(const HeaderLine&) const = default;
};

// "Name: value" adds (spaces around the value dropped), "Name:" (nothing but blanks after the colon)
// removes, "Name;" adds with an empty value. Anything else (no name, neither ':' nor ';' or text after
// the ';') is an error naming the line.
std::expected<HeaderLine, std::string> parse_header_line(std::string_view text);

// The lines of an -H @FILE: one header per line, CR/LF stripped, blank lines skipped.
std::vector<std::string> header_file_lines(std::string_view contents);

// HTTP/1.1 connection-specific fields (RFC 9114 §4.2 makes them malformed in HTTP/3), and any "te" but
// "te: trailers": pasted curl commands carry them; quiver drops them with a warning instead of failing.
bool is_connection_specific(const HeaderLine& line);

// `defaults` then `lines`: a line that adds a field of a default's name replaces that default (a second
// line of the same name adds another field, as curl does), a removing line drops every field of its
// name. Connection-specific lines are skipped, each with a warning in `warnings`.
Headers apply_header_lines(Headers defaults, const std::vector<HeaderLine>& lines,
                           std::vector<std::string>& warnings);

}  // namespace quiver::cli

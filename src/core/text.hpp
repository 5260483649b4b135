#pragma once
// Small ASCII helpers shared by the URL parser and HTTP field validation. Internal: not public API.

#include <string>
#include <string_view>

namespace quiver::detail {

constexpr bool is_ascii_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_ascii_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
// Control characters (0x00-0x1f, 0x7f); never valid in a URL or an HTTP field.
constexpr bool is_ascii_control(char c) noexcept { return (c >= 0 && c < 0x20) || c == 0x7f; }

// RFC 9110 §5.6.2 tchar: the characters of a field name or a method.
constexpr bool is_token_char(char c) noexcept {
  if (is_ascii_alpha(c) || is_ascii_digit(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

constexpr bool is_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

std::string to_lower(std::string_view text);

// `text` without leading and trailing optional whitespace (RFC 9110 §5.6.3 OWS: spaces and tabs).
constexpr std::string_view trim_ows(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A character as an error message should show it: "'x'", "space", "CR", "LF", "NUL", "byte 0x07".
std::string describe_char(char c);

}  // namespace quiver::detail

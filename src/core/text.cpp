#include "core/text.hpp"

#include <fmt/format.h>

namespace quiver::detail {

std::string to_lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = ascii_lower(c);
  return lower;
}

std::string describe_char(char c) {
  switch (c) {
    case ' ': return "space";
    case '\r': return "CR";
    case '\n': return "LF";
    case '\t': return "TAB";
    case '\0': return "NUL";
    default: break;
  }
  if (is_ascii_control(c) || static_cast<unsigned char>(c) >= 0x80) {
    return fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c));
  }
  return fmt::format("'{}'", c);
}

}  // namespace quiver::detail

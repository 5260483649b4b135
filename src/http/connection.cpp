#include "http/connection.hpp"

namespace quiver::http {

std::string_view to_string(ConnectionState state) noexcept {
  switch (state) {
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::connected: return "connected";
    case ConnectionState::draining: return "draining";
    case ConnectionState::closed: return "closed";
  }
  return "unknown";
}

}  // namespace quiver::http

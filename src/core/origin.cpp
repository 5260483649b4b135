#include "core/origin.hpp"

#include <fmt/format.h>

namespace quiver {

std::string Origin::to_string() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return ipv6 ? fmt::format("https://[{}]:{}", host, port) : fmt::format("https://{}:{}", host, port);
}

}  // namespace quiver

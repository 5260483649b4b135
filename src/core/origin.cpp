#include "core/origin.hpp"

#include <fmt/format.h>

namespace quiver {

std::string Origin::to_string() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return ipv6 ? fmt::format("https://[{}]:{}", host, port) : fmt::format("https://{}:{}", host, port);
}

Origin connect_target(const std::string& host, std::uint16_t port, const std::vector<ConnectOverride>& overrides) {
  Origin target{host, port};
  for (const auto& rule : overrides) {
    if (!rule.host.empty() && rule.host != "*" && rule.host != host) continue;
    if (rule.port != 0 && rule.port != port) continue;
    if (!rule.connect_host.empty()) target.host = rule.connect_host;
    if (rule.connect_port != 0) target.port = rule.connect_port;
    break;
  }
  return target;
}

}  // namespace quiver

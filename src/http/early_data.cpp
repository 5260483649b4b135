#include "http/early_data.hpp"

#include <array>
#include <string_view>

namespace quiver::http {

bool early_data_eligible(const Request& request) {
  if (!request.body.replayable()) return false;
  if (request.early_data) return *request.early_data;
  static constexpr std::array<std::string_view, 4> kReplaySafe = {"GET", "HEAD", "OPTIONS", "TRACE"};
  bool safe_method = false;
  for (std::string_view method : kReplaySafe) safe_method = safe_method || request.method == method;
  return safe_method && request.body.empty();
}

}  // namespace quiver::http

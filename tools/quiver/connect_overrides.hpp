#pragma once
// --resolve HOST:PORT:ADDRESS and --connect-to HOST1:PORT1:HOST2:PORT2, in curl's syntax, as the
// library's ConnectOverride (the TLS name and :authority stay the URL's). IPv6 addresses may be written
// in brackets. Of several comma-separated --resolve addresses the first is used.

#include <expected>
#include <string>
#include <string_view>

#include "quiver/options.hpp"

namespace quiver::cli {

// An error names the option and what is wrong, for a usage line.
std::expected<ConnectOverride, std::string> parse_resolve(std::string_view spec);
std::expected<ConnectOverride, std::string> parse_connect_to(std::string_view spec);

}  // namespace quiver::cli

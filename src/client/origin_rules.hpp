#pragma once
// Which pool options an origin gets: the first OriginRule whose pattern matches, else the defaults.

#include "quiver/client.hpp"
#include "quiver/url.hpp"

namespace quiver::client {

// "https://host:port" matches that origin; "*.example.com" any host under example.com (not example.com
// itself), any port; "example.com" that host, any port. Host names compare without case.
bool rule_matches(const std::string& pattern, const Url& url);
const PoolOptions& pool_options_for(const ClientOptions& options, const Url& url);

}  // namespace quiver::client

#include "client/origin_rules.hpp"

#include "quiver/headers.hpp"

namespace quiver::client {

bool rule_matches(const std::string& pattern, const Url& url) {
  if (pattern.rfind("https://", 0) == 0) {
    auto rule = Url::parse(pattern);
    return rule && rule->host() == url.host() && rule->port() == url.port();
  }
  if (pattern.rfind("*.", 0) == 0) {
    std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
    const std::string& host = url.host();
    return host.size() > suffix.size() && iequals(std::string_view(host).substr(host.size() - suffix.size()), suffix);
  }
  return iequals(pattern, url.host());
}

const PoolOptions& pool_options_for(const ClientOptions& options, const Url& url) {
  for (const OriginRule& rule : options.rules) {
    if (rule_matches(rule.pattern, url)) return rule.options;
  }
  return options.defaults;
}

}  // namespace quiver::client

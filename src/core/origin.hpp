#pragma once
// quiver::Origin — where a connection goes: https, host, port. A plain value shared by every layer that
// names a peer (client, pool, the protocol workers); it knows nothing of any protocol. Internal.

#include <cstdint>
#include <string>

namespace quiver {

// `host` is also the TLS SNI and the default :authority (Host for HTTP/1.1).
struct Origin {
  std::string host;
  std::uint16_t port = 443;
  std::string to_string() const;  // "https://host:port" ("https://[v6]:port" for an IPv6 literal)
};

}  // namespace quiver

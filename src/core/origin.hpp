#pragma once
// quiver::Origin — where a connection goes: https, host, port. A plain value shared by every layer that
// names a peer (client, pool, the protocol workers); it knows nothing of any protocol. Internal.

#include <cstdint>
#include <string>
#include <vector>

#include "quiver/options.hpp"

namespace quiver {

// `host` is also the TLS SNI and the default :authority (Host for HTTP/1.1).
struct Origin {
  std::string host;
  std::uint16_t port = 443;
  std::string to_string() const;  // "https://host:port" ("https://[v6]:port" for an IPv6 literal)
};

// Where the packets for `host`:`port` go (curl's --resolve and --connect-to): the first rule of
// `overrides` that matches the host ("" or "*": any) and the port (0: any) replaces the host and/or port
// it names; no matching rule, the URL's own. Every dialer (QUIC, TCP) applies the same rule; the TLS name
// stays `host`.
Origin connect_target(const std::string& host, std::uint16_t port, const std::vector<ConnectOverride>& overrides);

}  // namespace quiver

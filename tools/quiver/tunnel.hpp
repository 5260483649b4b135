#pragma once
// `quiver tunnel`: a local UDP port carried through a MASQUE CONNECT-UDP proxy (RFC 9298), as masque
// clients do. One tunnel, one target; the target's datagrams go back to the local address that sent last.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cli_options.hpp"
#include "terminal.hpp"

namespace quiver::cli {

// "HOST:PORT", "[V6]:PORT" or "V6-WITHOUT-BRACKETS:PORT" (the last colon splits): the host (brackets
// taken off) and the port (0..65535), or nothing when either is missing or the port is not a number.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> parse_host_port(std::string_view text);

// The proxy's URI template: `proxy` itself when it has {target_host}, else the default template
// (RFC 9298 §3's well-known path) on the origin `proxy` names.
std::string connect_udp_template(const std::string& proxy);

// Runs until SIGINT/SIGTERM (exit 0) or the tunnel's end (56, connection_failed). A proxy that refuses
// the target or has no datagrams fails at once with a clear line on stderr. stdout, first line:
// "quiver tunnel: 127.0.0.1:PORT -> HOST:PORT through URL (max datagram payload N bytes)".
int run_tunnel(const TunnelOptions& options, Terminal terminal);

}  // namespace quiver::cli

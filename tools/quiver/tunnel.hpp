#pragma once
// `quiver tunnel`: a local UDP port carried through a MASQUE CONNECT-UDP proxy (RFC 9298), as masque
// clients do. One tunnel, one target; the target's datagrams go back to the local address that sent last.

#include <string>

#include "cli_options.hpp"
#include "terminal.hpp"

namespace quiver::cli {

// The proxy's URI template: `proxy` itself when it has {target_host}, else the default template
// (RFC 9298 §3's well-known path) on the origin `proxy` names.
std::string connect_udp_template(const std::string& proxy);

// Runs until SIGINT/SIGTERM (exit 0) or the tunnel's end (56, connection_failed). A proxy that refuses
// the target or has no datagrams fails at once with a clear line on stderr. stdout, first line:
// "quiver tunnel: 127.0.0.1:PORT -> HOST:PORT through URL (max datagram payload N bytes)".
int run_tunnel(const TunnelOptions& options, Terminal terminal);

}  // namespace quiver::cli

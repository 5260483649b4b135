#pragma once
// The composition root's factory: real connections for the client's pools. Its .cpp is the only file in
// src/client and src/pool that may include a protocol folder (tests/arch/include_rules.py checks this).

#include <memory>

#include "pool/connection_factory.hpp"
#include "quiver/client.hpp"

namespace quiver::client {

// Makes real connections for one Client, as ConnectionOptions::http_version says: HTTP/3 (src/h3),
// HTTP/2 (src/h2), HTTP/1.1 (src/h1), or a race of HTTP/3 and HTTP/2 (HttpVersion::http3:
// client/race_connection.hpp). It owns what the Client's connections share: the TLS session cache (loaded
// from ClientOptions::session_file) and the protocol memory (Alt-Svc cache, loaded from
// ClientOptions::alt_svc_file, and broken-HTTP/3 marks). A file that cannot be used is reported through
// ClientOptions::on_warning and ignored.
std::shared_ptr<pool::ConnectionFactory> real_connection_factory(const ClientOptions& options);

}  // namespace quiver::client

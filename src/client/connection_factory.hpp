#pragma once
// The composition root's factory: real connections for the client's pools. Its .cpp is the only file in
// src/client and src/pool that may include a protocol folder (tests/arch/include_rules.py checks this).

#include <memory>

#include "pool/connection_factory.hpp"
#include "quiver/client.hpp"

namespace quiver::client {

// Makes real connections for one Client: HTTP/3 (src/h3) or, when ConnectionOptions::http_version says
// so, HTTP/2 (src/h2) or HTTP/1.1 (src/h1). It owns what the Client's connections share (the TLS session cache, loaded from
// ClientOptions::session_file if set; a file that cannot be used is reported through
// ClientOptions::on_warning and ignored).
std::shared_ptr<pool::ConnectionFactory> real_connection_factory(const ClientOptions& options);

}  // namespace quiver::client

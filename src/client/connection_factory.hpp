#pragma once
// The composition root's factory: real connections for the client's pools. Its .cpp is the only file in
// src/client and src/pool that may include a protocol folder (tests/arch/include_rules.py checks this).

#include <memory>

#include "pool/connection_factory.hpp"

namespace quiver::client {

// Makes real connections: HTTP/3 (src/h3) or, when ConnectionOptions::http_version says so, HTTP/2 (src/h2).
std::shared_ptr<pool::ConnectionFactory> real_connection_factory();

}  // namespace quiver::client

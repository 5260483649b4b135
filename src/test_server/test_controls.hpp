#pragma once
// The test controls: the one implementation of ConnectionHooks. Per connection, from the server-wide
// controls (ServerShared: Server::hold_streams_from, refuse_new_streams) and the ServerOptions fixed at
// start (goaway_in_first_flight, reject_first_per_path, goaway_after_requests), plus /misbehave's raw
// bytes (misbehave.hpp). See server.hpp for what each control promises.

#include <memory>

#include "test_server/connection_hooks.hpp"
#include "test_server/server.hpp"
#include "test_server/server_shared.hpp"

namespace quiver::server {

// Hooks for one new connection. Borrows `options` and `shared`, which the Server keeps alive longer
// than any connection.
std::unique_ptr<ConnectionHooks> make_test_controls(const ServerOptions& options, ServerShared& shared);

}  // namespace quiver::server

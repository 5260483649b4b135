#pragma once
// How an OriginPool makes its connections. The pool depends only on the protocol-neutral
// http::Connection, so the unit tests hand it a factory of fakes; the client hands it the real one
// (client/connection_factory.hpp, the composition root).

#include <memory>

#include <asio/any_io_executor.hpp>

#include "core/origin.hpp"
#include "http/connection.hpp"
#include "quiver/options.hpp"

namespace quiver::pool {

class ConnectionFactory {
 public:
  virtual ~ConnectionFactory() = default;
  // A new connection, not started. `observer` borrows (the pool detaches it before dropping the
  // connection).
  virtual std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const Origin& origin,
                                                   const ConnectionOptions& options,
                                                   http::ConnectionObserver* observer) = 0;
};

}  // namespace quiver::pool

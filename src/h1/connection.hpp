#pragma once
// quiver::h1::Connection — the HTTP/1.1 worker: owns one HTTP/1.1 connection (TLS over TCP, ALPN
// http/1.1 or none) to one origin and carries one exchange at a time, with the semantics of the other
// workers (src/h3, src/h2) where HTTP/1.1 has them: max_streams() is 1 while the connection is idle and 0
// while an exchange runs; `Connection: close` (the server's, or an HTTP/1.0 response without keep-alive)
// drains it; a request that fails on a reused connection before any response byte (the stale keep-alive
// race) fails `unprocessed` when it is idempotent and its body can be sent again, so the pool retries it.
// It implements the protocol-neutral http::Connection; only the composition root
// (src/client/connection_factory.cpp) and the worker's own tests name it.
//
// Threading and lifetime: those of http::Connection (src/http/connection.hpp).

#include <memory>

#include <asio/any_io_executor.hpp>

#include "core/origin.hpp"
#include "http/connection.hpp"
#include "quiver/options.hpp"
#include "tcp/dialer.hpp"

namespace quiver::h1 {

using http::BodyReader;
using http::ConnectionObserver;
using http::ConnectionState;
using http::ResponseHandler;
using http::StreamHandler;
using http::StreamingResponse;

// A request's key inside the worker; never handed to callers.
using RequestId = std::uint64_t;

class Connection : public http::Connection {
 public:
  // A new HTTP/1.1 connection, not started. `observer` (optional) borrows; it must outlive the
  // connection or be detached with set_observer. `shared`: what the Client's connections share (the TLS
  // session cache).
  static std::shared_ptr<Connection> create(asio::any_io_executor executor, Origin origin,
                                            ConnectionOptions options,
                                            ConnectionObserver* observer = nullptr, tcp::DialShared shared = {});
  // The same on a stream from `source` (a dial that may already have finished: tcp/stream_source.hpp).
  static std::shared_ptr<Connection> create(asio::any_io_executor executor, Origin origin,
                                            ConnectionOptions options, ConnectionObserver* observer,
                                            std::shared_ptr<tcp::StreamSource> source);

 protected:
  Connection() = default;
};

}  // namespace quiver::h1

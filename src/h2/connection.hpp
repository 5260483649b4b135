#pragma once
// quiver::h2::Connection — the HTTP/2 worker: owns one HTTP/2 connection (nghttp2 over TLS over TCP) to
// one origin and turns protocol events into replies for its callers, with the semantics of the HTTP/3
// worker (src/h3): credit from SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY drains, REFUSED_STREAM is
// unprocessed. It implements the protocol-neutral http::Connection; only the composition root
// (src/client/connection_factory.cpp) and the worker's own tests name it.
//
// Threading and lifetime: those of http::Connection (src/http/connection.hpp).

#include <memory>

#include <asio/any_io_executor.hpp>

#include "core/origin.hpp"
#include "http/connection.hpp"
#include "quiver/options.hpp"
#include "tcp/dialer.hpp"

namespace quiver::h2 {

// The worker speaks the neutral contract; its names are used unqualified inside src/h2.
using http::BodyReader;
using http::ConnectionObserver;
using http::ConnectionState;
using http::ResponseHandler;
using http::StreamHandler;
using http::StreamingResponse;

// A request's key inside the worker (its calls, its body readers); unique per connection, never reused,
// never handed to callers (they cancel through the slot they pass with the request).
using RequestId = std::uint64_t;

class Connection : public http::Connection {
 public:
  // A new HTTP/2 connection, not started. `observer` (optional) borrows; it must outlive the connection
  // or be detached with set_observer. `shared`: what the Client's connections share (the TLS session cache).
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

}  // namespace quiver::h2

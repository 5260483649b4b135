#pragma once
// quiver::h3::Connection — the HTTP/3 worker: owns one HTTP/3 connection to one origin and turns
// protocol events into replies for its callers (the seed, ../shared/seed/quiver-http3-connection.txt).
// It implements the protocol-neutral http::Connection; only the composition root
// (src/client/connection_factory.cpp) and the worker's own tests name it.
//
// Threading and lifetime: those of http::Connection (src/http/connection.hpp).

#include <memory>

#include <asio/any_io_executor.hpp>

#include "core/origin.hpp"
#include "http/connection.hpp"
#include "quic/dialer.hpp"
#include "quiver/options.hpp"

namespace quiver::h3 {

// The worker speaks the neutral contract; its names are used unqualified inside src/h3.
using http::BodyReader;
using http::ConnectionObserver;
using http::ConnectionState;
using http::RequestId;
using http::ResponseHandler;
using http::StreamHandler;
using http::StreamingResponse;

class Connection : public http::Connection {
 public:
  // A new HTTP/3 connection, not started. `observer` (optional) borrows; it must outlive the connection
  // or be detached with set_observer. `shared`: what the Client's connections share below the worker
  // (the TLS session cache, the early-data opt-in); the composition root hands it over.
  static std::shared_ptr<Connection> create(asio::any_io_executor executor, Origin origin,
                                            ConnectionOptions options,
                                            ConnectionObserver* observer = nullptr,
                                            quic::DialShared shared = {});

 protected:
  Connection() = default;
};

}  // namespace quiver::h3

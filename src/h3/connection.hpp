#pragma once
// quiver::h3::Connection — the HTTP/3 worker: owns one HTTP/3 connection to one origin and turns
// protocol events into replies for its callers (the seed, ../shared/seed/quiver-http3-connection.txt).
// It implements the protocol-neutral http::Connection; only the composition root
// (src/client/connection_factory.cpp) and the worker's own tests name it.
//
// Threading, lifetime and cancellation: those of http::Connection (src/http/connection.hpp). The worker
// holds itself from start() until it is closed; its transport (quic::QuicTransport) keeps only itself
// alive and knows the worker as borrowed events, which the worker detaches when it goes.

#include <cstdint>
#include <memory>

#include <asio/any_io_executor.hpp>

#include "core/origin.hpp"
#include "http/connection.hpp"
#include "quic/dialer.hpp"
#include "quiver/options.hpp"

namespace quiver::h3 {

// The worker speaks the neutral contract; its names are used unqualified inside src/h3.
using http::BodyReader;
using http::ChannelSupport;
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

#pragma once
// quiver::h3::Connection — the worker: owns one HTTP/3 connection to one origin and turns protocol
// events into replies for its callers (the seed, ../shared/seed/quiver-http3-connection.txt).
//
// Threading: every member function must be called on the connection's executor, and every handler and
// observer call happens there too — never inside an ngtcp2/nghttp3 callback (they are posted).
// Lifetime: created as a shared_ptr; pending I/O keeps it alive until it is closed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <asio/any_io_executor.hpp>

#include "quiver/error.hpp"
#include "quiver/options.hpp"
#include "quiver/request.hpp"
#include "quiver/response.hpp"

namespace quiver::h3 {

class Connection;

// What the owner (the pool) hears from a connection. Each call is made at most once where it applies.
class ConnectionObserver {
 public:
  virtual ~ConnectionObserver() = default;
  // The handshake finished; `max_streams` request streams may be opened now.
  virtual void on_ready(Connection& connection, std::uint64_t max_streams) = 0;
  // A request ended (any outcome) and its stream slot is free.
  virtual void on_stream_done(Connection& connection) = 0;
  // The peer raised our stream limit (MAX_STREAMS): max_streams() grew.
  virtual void on_stream_credit(Connection& connection) = 0;
  // A request could not be given a stream (refused while draining, or no stream credit).
  virtual void on_stream_open_failed(Connection& connection, const Error& error) = 0;
  // The connection stopped taking new requests (peer GOAWAY or our drain()); once per connection.
  virtual void on_draining(Connection& connection) = 0;
  // The connection ended for good; no call follows this one.
  virtual void on_closed(Connection& connection, const Error& reason) = 0;
};

enum class ConnectionState { connecting, connected, draining, closed };
std::string_view to_string(ConnectionState state) noexcept;

// Where to connect: https, host, port. `host` is also the TLS SNI and the default :authority.
struct Origin {
  std::string host;
  std::uint16_t port = 443;
  std::string to_string() const;  // "https://host:port"
};

using ResponseHandler = std::move_only_function<void(Result<Response>)>;
using RequestId = std::uint64_t;

// The body of a streamed response, read chunk by chunk. Lives on the connection's executor: call its
// members there. Dropping the last reference before the end abandons the body (the stream is reset with
// H3_REQUEST_CANCELLED). The worker holds at most the per-stream window of unread bytes.
class BodyReader {
 public:
  // A chunk, an empty optional at the end of the body (trailers() is then final), or the error.
  using ChunkHandler = std::move_only_function<void(Result<std::optional<std::string>>)>;

  // How many bytes were copied into the buffer (at least 1), 0 at the end of the body, or the error.
  using SizeHandler = std::move_only_function<void(Result<std::size_t>)>;

  virtual ~BodyReader() = default;
  // Delivers the next chunk (at most `max_bytes`) once one is available. One read at a time.
  virtual void async_read(std::size_t max_bytes, ChunkHandler handler) = 0;
  // Copies the next bytes into `buffer` (non-empty; it must stay valid and untouched until the handler
  // runs): bytes arriving while the read waits go straight from the packet into it.
  virtual void async_read_some(std::span<char> buffer, SizeHandler handler) = 0;
  // Trailers; complete once a read reported the end.
  virtual const Headers& trailers() const = 0;
  // Bytes received but not yet read (never more than the stream window).
  virtual std::size_t buffered_bytes() const = 0;
  // Abandons the body now; a pending read gets ErrorKind::cancelled. After the end of the body it still
  // stops the request's upload if that is running (the stream is reset with H3_REQUEST_CANCELLED).
  virtual void cancel() = 0;
};

struct StreamingResponse {
  int status = 0;
  Headers headers;
  std::shared_ptr<BodyReader> body;
};

using StreamHandler = std::move_only_function<void(Result<StreamingResponse>)>;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `observer` (optional) borrows; it must outlive the connection or be detached with set_observer.
  static std::shared_ptr<Connection> create(asio::any_io_executor executor, Origin origin,
                                            ConnectionOptions options,
                                            ConnectionObserver* observer = nullptr);
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Resolves the host and begins the QUIC handshake. State: connecting.
  virtual void start() = 0;

  // Sends `request` (queued in order while connecting) and calls `on_done` exactly once with the
  // response or the error. The request's URL supplies :path and :authority; its origin is not checked.
  virtual RequestId request(Request request, ResponseHandler on_done) = 0;
  // Like request(), but `on_headers` is called as soon as the final response headers arrive, with a
  // reader for the body.
  virtual RequestId stream(Request request, StreamHandler on_headers) = 0;
  // Cancels a request that has not been answered yet: its handler gets ErrorKind::cancelled at once, its
  // stream (if any) is reset with H3_REQUEST_CANCELLED, and nothing else is delivered for it. On a request
  // already answered whose upload still runs (the response came first), it stops the upload the same way.
  virtual void cancel(RequestId id) = 0;

  // Graceful shutdown: sends GOAWAY, refuses new requests, lets those in flight finish (within the
  // drain timeout), then closes. State: draining.
  virtual void drain() = 0;
  // Closes the connection now (H3_NO_ERROR); requests in flight fail with transport_error.
  virtual void close() = 0;

  virtual ConnectionState state() const noexcept = 0;
  // 0 while connecting or draining; otherwise request streams the peer lets us open now (live credit),
  // less the requests already accepted but waiting for a stream.
  virtual std::uint64_t max_streams() const noexcept = 0;
  virtual std::size_t requests_in_flight() const noexcept = 0;
  // "https://host:port state=connected in_flight=3 max_streams=97 goaway=none"
  virtual std::string debug_string() const = 0;
  virtual const Origin& origin() const noexcept = 0;
  virtual void set_observer(ConnectionObserver* observer) noexcept = 0;

 protected:
  Connection() = default;
};

}  // namespace quiver::h3

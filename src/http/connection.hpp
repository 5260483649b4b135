#pragma once
// quiver::http::Connection — the protocol-neutral contract between the pool (and the client above it) and
// one connection to one origin. Each protocol implements it in its own folder (HTTP/3: src/h3/); only the
// composition root (src/client/connection_factory.cpp) names an implementation.
//
// The contract fits the shapes of the protocols it is meant for:
//  - HTTP/3: MAX_STREAMS credit, GOAWAY with a stream id;
//  - HTTP/2: SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY with the last stream id;
//  - HTTP/1.1: one request at a time (max_streams 1 while idle, 0 while busy), `Connection: close` as a
//    drain (tests/unit/serial_protocol_test.cpp runs such a fake through the pool).
//
// Threading: every member function must be called on the connection's executor, and every handler and
// observer call happens there too, posted: never inside a protocol library's callback.
// Lifetime: created as a shared_ptr; once started, the connection holds itself until it is closed (a
// request in flight gets its reply even if the owner dropped its pointer), then lets go of itself from a
// posted function, never inside a call.
//
// Cancellation rides with the request (no ids are handed out): request() and stream() take an optional
// Asio cancellation slot. The connection installs its handler in that slot during the call and never
// touches the slot again; the handler holds the connection only weakly, so the slot's signal may be
// emitted, re-used or destroyed at any time afterwards, also after the connection is gone. Emitting the
// signal (any type but `none`) on the connection's executor cancels the request:
//  - not yet answered: its handler gets ErrorKind::cancelled, posted at once (no network round trip); the
//    exchange is abandoned on the wire (HTTP/3: stream reset with H3_REQUEST_CANCELLED; HTTP/1.1: the
//    connection closes), and nothing else is delivered for it;
//  - answered, but its upload still runs (the response came first): the upload is stopped the same way;
//  - otherwise (over, or never accepted): nothing happens.
// The owner of the signal may hand its slot to another request later (the pool does, when it retries a
// request on another connection): the new handler replaces the old one, which is then never called.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <asio/cancellation_signal.hpp>

#include "core/origin.hpp"
#include "http/body_reader.hpp"
#include "http/channel.hpp"
#include "quiver/error.hpp"
#include "quiver/request.hpp"
#include "quiver/response.hpp"

namespace quiver::http {

class Connection;

// What the owner (the pool) hears from a connection. Each call is made at most once where it applies.
class ConnectionObserver {
 public:
  virtual ~ConnectionObserver() = default;
  // The handshake finished; `max_streams` requests may be sent now.
  virtual void on_ready(Connection& connection, std::uint64_t max_streams) = 0;
  // A request ended (any outcome) and its slot is free.
  virtual void on_stream_done(Connection& connection) = 0;
  // The peer raised our limit of concurrent requests (HTTP/3 MAX_STREAMS): max_streams() grew.
  virtual void on_stream_credit(Connection& connection) = 0;
  // A request could not be given a stream (refused while draining, or no stream credit).
  virtual void on_stream_open_failed(Connection& connection, const Error& error) = 0;
  // The connection stopped taking new requests (peer GOAWAY / `Connection: close`, or our drain()); once
  // per connection.
  virtual void on_draining(Connection& connection) = 0;
  // The connection ended for good; no call follows this one.
  virtual void on_closed(Connection& connection, const Error& reason) = 0;
  // 0-RTT: the connection is still connecting but takes early_streams() requests that may ride in early
  // data (http/early_data.hpp) now. Once per connection at most; protocols without 0-RTT never call it.
  virtual void on_early_data_ready(Connection&) {}
};

enum class ConnectionState { connecting, connected, draining, closed };

// What the peer enabled that channels depend on (HTTP/3: its SETTINGS and QUIC transport parameters).
struct ChannelSupport {
  bool settings_known = false;    // the peer's settings have arrived (before: nothing is known)
  bool extended_connect = false;  // extended CONNECT (RFC 9220): a :protocol may be sent
  bool datagrams = false;         // HTTP datagrams (RFC 9297) negotiated both ways
};
std::string_view to_string(ConnectionState state) noexcept;

using ResponseHandler = std::move_only_function<void(Result<Response>)>;
using StreamHandler = std::move_only_function<void(Result<StreamingResponse>)>;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects (resolve, handshake). State: connecting.
  virtual void start() = 0;

  // Sends `request` (queued in order while connecting) and calls `on_done` exactly once with the
  // response or the error. The request's URL supplies the target and authority; its origin is not checked.
  // `cancel`: see "Cancellation" above (an unconnected slot: the request cannot be cancelled).
  // The response's `transfer` carries what the connection knows: http_version, peer_address/peer_port,
  // connection_reused, and the instants name_lookup, connect, tls (only on the connection's first
  // request), first_byte and end; the Client fills in the rest.
  // (Defaults are given here only; implementations declare their overrides without them.)
  virtual void request(Request request, ResponseHandler on_done, asio::cancellation_slot cancel = {}) = 0;
  // Like request(), but `on_headers` is called as soon as the final response headers arrive, with a
  // reader for the body (whose own cancel() abandons the body).
  virtual void stream(Request request, StreamHandler on_headers, asio::cancellation_slot cancel = {}) = 0;
  // Whether channel() may be called (protocols without channels, e.g. HTTP/2 for now: no; the pool then
  // answers a channel itself with extended_connect_disabled).
  virtual bool supports_channels() const noexcept { return false; }
  // Opens a channel: `request` (method CONNECT; Request::protocol set for an extended CONNECT, RFC 9220)
  // goes out as stream() does, on a stream of the credit, kept open both ways; `on_headers` gets the
  // response head and a reader of the stream's data; stream data is written through the request's body
  // (an asynchronous producer). `endpoint` carries the HTTP datagrams (RFC 9297): attached once a 2xx
  // response is in (never before: no datagram goes out before it), closed when the channel ends. Fails
  // with extended_connect_disabled, at once and without using a stream, when the peer did not enable
  // extended CONNECT (its SETTINGS are awaited first).
  virtual void channel(Request, std::shared_ptr<ChannelEndpoint>, StreamHandler, asio::cancellation_slot = {}) {}

  // Graceful shutdown: tells the peer (HTTP/3 GOAWAY), refuses new requests, lets those in flight finish
  // (within the drain timeout), then closes. State: draining.
  virtual void drain() = 0;
  // Closes the connection now; requests in flight fail with transport_error.
  virtual void close() = 0;

  virtual ConnectionState state() const noexcept = 0;
  // 0 while connecting or draining; otherwise the requests the peer lets us start now (live credit),
  // less the requests already accepted but waiting for a stream.
  virtual std::uint64_t max_streams() const noexcept = 0;
  // While connecting with 0-RTT (after on_early_data_ready): how many more early-data-eligible requests it
  // sends now, before the handshake; 0 otherwise.
  virtual std::uint64_t early_streams() const noexcept { return 0; }
  virtual std::size_t requests_in_flight() const noexcept = 0;
  // What the peer enabled for channels (protocols without channels: nothing).
  virtual ChannelSupport channel_support() const noexcept { return {}; }
  // One line for logs: "https://host:port state=connected in_flight=3 ..." (the rest is the protocol's).
  virtual std::string debug_string() const = 0;
  virtual const Origin& origin() const noexcept = 0;
  // For stats: the HTTP version spoken ("3", "2"; "" while not known, e.g. a race not yet decided), and
  // why this protocol was chosen ("" when nothing was chosen: the options named one).
  virtual std::string http_version() const { return {}; }
  virtual std::string protocol_choice() const { return {}; }
  // `observer` (or nullptr) borrows; it must outlive the connection or be detached with set_observer.
  virtual void set_observer(ConnectionObserver* observer) noexcept = 0;

 protected:
  Connection() = default;
};

}  // namespace quiver::http

#pragma once
// The seam between a connection's plumbing and the test server's misbehaviour.
//
// ServerConnection calls its ConnectionHooks at a few decision points (HTTP/3 started, a request stream
// opened, a request's headers in, a plan about to be carried out, a request stream closed) and knows no
// specific misbehaviour: the hooks decide, and act through the ConnectionControl the connection hands
// them. The defaults do nothing, so a connection with plain ConnectionHooks serves every request stream
// and routes every request. The only implementation is the test controls (test_controls.cpp, with
// misbehave.cpp for /misbehave's raw bytes); the Server builds one per connection.
//
// Threading and re-entrancy: everything runs on the io thread. Hooks marked "inside a library callback"
// run inside an ngtcp2/nghttp3 call: they may only decide and use the queued ConnectionControl calls.

#include <cstdint>
#include <optional>
#include <vector>

namespace quiver::server {

struct RouteRequest;
struct ResponsePlan;

// What the connection does with a client request stream; decided once, when the stream opens.
enum class StreamRole {
  served,  // handed to nghttp3 and routed
  held,    // never handed to nghttp3: its data is dropped unseen (connection credit is returned at once so
           // it cannot starve the others; its own stream window never reopens). It stays open until the
           // client cancels it, the hooks reset it (ConnectionControl::reset_request_stream) or the
           // connection ends. Its HEADERS are never decoded: QPACK Stream Cancellation is sent when it ends.
};

// What hooks may make the connection do. The "queued" calls are safe inside a library callback: the
// connection records them and carries them out, in the order asked, once the library call returned and
// before it writes. The others only from take_over_response.
class ConnectionControl {
 public:
  // Queued. RESET_STREAM + STOP_SENDING with `code` on a client request stream that is not being
  // answered: a held stream, or a served one whose request was refused at its headers. Nothing if the
  // stream closed meanwhile.
  virtual void reset_request_stream(std::int64_t stream_id, std::uint64_t code) = 0;
  // Queued. The final GOAWAY now (if not sent yet; one scheduled for later goes now), then close with
  // `idle_close_code` once no request is left.
  virtual void goaway_and_close_when_idle(std::uint64_t idle_close_code) = 0;
  // Queued. Close the connection with `code` right after the next write, so that what is queued before
  // (a GOAWAY, resets) goes out in the same packets.
  virtual void close_after_next_write(std::uint64_t code) = 0;

  // Raw bytes on a QUIC stream, bypassing nghttp3 (whose acknowledgements for that stream stop reaching
  // nghttp3 from then on). `fin` ends the stream.
  virtual void write_raw(std::int64_t stream_id, std::vector<std::uint8_t> bytes, bool fin) = 0;
  // Opens a new server unidirectional stream; nullopt if the peer allows no more.
  virtual std::optional<std::int64_t> open_uni_stream() = 0;
  // The server's HTTP/3 control stream and QPACK encoder stream (nghttp3 writes on them too).
  virtual std::int64_t control_stream() const = 0;
  virtual std::int64_t qpack_encoder_stream() const = 0;
  // RESET_STREAM with `code` on one of the server's own streams.
  virtual void reset_stream_write(std::int64_t stream_id, std::uint64_t code) = 0;

 protected:
  ~ConnectionControl() = default;
};

class ConnectionHooks {
 public:
  virtual ~ConnectionHooks() = default;

  // HTTP/3 has just started: the control stream opened with the server's 1-RTT keys, before any request
  // can arrive. Inside a library callback.
  virtual void on_http3_started(ConnectionControl&) {}
  // A client request stream opened: its role. Inside a library callback.
  virtual StreamRole on_request_stream_open(std::int64_t /*stream_id*/, ConnectionControl&) {
    return StreamRole::served;
  }
  // A served stream's request headers are in. An HTTP/3 error code: the request is refused unprocessed
  // (never routed; the stream is reset with that code); nullopt: it is served. Inside a library callback.
  virtual std::optional<std::uint64_t> on_request_headers(std::int64_t /*stream_id*/, const RouteRequest&,
                                                          ConnectionControl&) {
    return std::nullopt;
  }
  // The route's plan is about to be carried out. True: the hooks answered the request themselves
  // (through write_raw); nghttp3 writes nothing on the stream and the rest of the plan is ignored.
  virtual bool take_over_response(std::int64_t /*stream_id*/, ResponsePlan&, ConnectionControl&) { return false; }
  // A client request stream closed at the QUIC level, whatever its role. Inside a library callback.
  virtual void on_request_stream_closed(std::int64_t /*stream_id*/, ConnectionControl&) {}
};

}  // namespace quiver::server

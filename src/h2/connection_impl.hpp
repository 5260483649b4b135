#pragma once
// ConnectionImpl: the worker behind h2::Connection. Internal to src/h2 (connection.cpp holds the
// lifecycle, the state machine and the byte pump; connection_calls.cpp the requests and protocol events).
// It mirrors the HTTP/3 worker (src/h3/connection_impl.hpp) call for call; what differs is the wire.
//
// Invariants:
//  - every request lives in `calls_` from acceptance until it is answered and its stream (if any) closed;
//  - a call without a stream is in `waiting_` (arrival order); a call with an open stream is in `streams_`;
//    a call whose stream closed before its response ended stays in `calls_` (stream_closed) until its
//    failure is judged after the receive batch (fail_after_batch), then leaves;
//  - a request on a stream above the peer's GOAWAY last-stream-id, or never sent, fails `unprocessed`
//    whatever the code (peer_failure); so does one reset with REFUSED_STREAM;
//  - connected means: TLS agreed on h2 and the server's first SETTINGS arrived (the credit is known);
//  - a handler is used once (`Call::answered`); after that, failures go to the streaming body reader;
//  - a request's cancellation handler (installed in its caller's slot) knows the worker weakly and the
//    call by its RequestId, so it is harmless after the call left or the worker is gone;
//  - user code (handlers, observer, telemetry) only ever runs from a posted function; nothing is sent
//    from inside an nghttp2 callback (the pump runs after receive() returns, or posted);
//  - while not closed the worker holds itself (`self_`); the stream and the dialer hold it only weakly.

#include <chrono>
#include <deque>
#include <functional>
#include <unordered_map>

#include <asio/steady_timer.hpp>

#include "h2/connection.hpp"
#include "h2/h2_session.hpp"
#include "http/body_reader_impl.hpp"
#include "tcp/stream_source.hpp"
#include "tcp/tls_stream.hpp"
#include "util/write_hold.hpp"

namespace quiver::h2 {

using http::BodyReaderImpl;
using http::BodyReaderOwner;
using http::PostedAnswers;
using http::ReaderResources;

class ConnectionImpl final : public Connection,
                             public BodyReaderOwner,
                             private tcp::StreamEvents,
                             private SessionEvents {
 public:
  ConnectionImpl(asio::any_io_executor executor, Origin origin, ConnectionOptions options,
                 ConnectionObserver* observer, std::shared_ptr<tcp::StreamSource> source);
  ~ConnectionImpl() override;

  // Connection
  void start() override;
  void request(Request request, ResponseHandler on_done, asio::cancellation_slot cancel) override;
  void stream(Request request, StreamHandler on_headers, asio::cancellation_slot cancel) override;
  void drain() override;
  void close() override;
  ConnectionState state() const noexcept override { return state_; }
  std::uint64_t max_streams() const noexcept override;
  std::size_t requests_in_flight() const noexcept override { return calls_.size(); }
  std::string debug_string() const override;
  const Origin& origin() const noexcept override { return origin_; }
  std::string http_version() const override { return "2"; }
  void set_observer(ConnectionObserver* observer) noexcept override { observer_ = observer; }

  // BodyReaderOwner
  void on_body_consumed(std::int64_t stream_id, std::size_t bytes) override;
  void on_body_abandoned(RequestId id) override;
  void on_body_finished(RequestId id, const std::optional<Error>& error) override;

 private:
  struct Call {
    RequestId id = 0;
    std::vector<Header> fields;
    RequestBody body;
    bool streaming = false;
    ResponseHandler on_response;  // buffered requests
    StreamHandler on_headers;     // streaming requests
    std::unique_ptr<asio::steady_timer> deadline;
    std::optional<std::int32_t> stream_id;
    Response response;                     // buffered: the whole response; streaming: status + headers
    std::weak_ptr<BodyReaderImpl> reader;  // streaming, once the headers are handed over
    bool answered = false;
    bool response_ended = false;           // END_STREAM of a complete response was received
    bool body_done = false;                // streaming: the reader reported the end or an error
    bool stream_closed = false;            // its stream closed before the response ended (see fail_after_batch)
    std::uint64_t bytes_received = 0;      // response body bytes (telemetry)
    std::chrono::steady_clock::time_point started;
    bool reused = false;  // an earlier request was accepted on this connection
  };

  // Dialing and the byte pump (connection.cpp)
  void on_dialed(Result<std::shared_ptr<tcp::TlsStream>> dialed);
  void note_transfer(Call& call) const;
  void schedule_pump();
  void pump();
  void on_stream_data(std::span<const std::uint8_t> data) override;
  void on_stream_writable() override;
  void on_stream_closed(Error reason) override;
  void arm_idle_timer();
  void on_idle_check();
  void finish(Error reason);

  // SessionEvents (inside nghttp2 callbacks: record, answer by posting, never run user code)
  void on_settings() override;
  void on_response_headers(std::int32_t stream_id, int status, Headers headers) override;
  void on_response_data(std::int32_t stream_id, std::span<const std::uint8_t> data) override;
  void on_response_trailers(std::int32_t stream_id, Headers trailers) override;
  void on_response_end(std::int32_t stream_id) override;
  void on_stream_reset(std::int32_t stream_id, std::uint32_t code) override;
  void on_stream_closed(std::int32_t stream_id, std::uint32_t code) override;
  void on_goaway(std::int32_t last_stream_id, std::uint32_t code) override;
  void on_header_section_too_large(std::int32_t stream_id, bool trailers, std::uint64_t bytes) override;
  void on_body_wanted(std::int32_t stream_id) override;

  // Lifecycle (connection.cpp)
  void on_connect_timeout();
  void become_connected();
  void transition(ConnectionState next);
  void enter_draining();
  void close_if_drained();
  void fail_everything(const Error& reason);
  Error handshake_error(const Error& cause) const;
  void notify_observer(std::function<void(ConnectionObserver&, Connection&)> notify);
  ConnectionEvent connection_event(ConnectionEvent::Type type) const;
  void emit(ConnectionEvent event);
  void emit(const Call& call, RequestEvent::Type type, const Error* error);

  // Calls (connection_calls.cpp)
  void accept(Request request, ResponseHandler on_response, StreamHandler on_headers, asio::cancellation_slot cancel);
  void listen_for_cancel(asio::cancellation_slot cancel, RequestId id);
  std::optional<Error> refusal() const;
  void send_waiting();
  void send(Call& call);
  void answer(Call& call, Result<Response> result);
  void answer_headers(Call& call);
  void fail(Call& call, const Error& error);
  void abandon(RequestId id, const Error& error);
  bool needs_reset(const Call& call) const;
  Error reset_error(std::int32_t stream_id, std::uint32_t code) const;
  Error peer_failure(const Call& call, const Error& error) const;
  void fail_after_batch(RequestId id, Error error);
  void apply_goaway();
  bool refused_by_goaway(std::int32_t stream_id) const;
  Call* call_on_stream(std::int32_t stream_id);
  std::unique_ptr<asio::steady_timer> arm_deadline(RequestId id, std::chrono::milliseconds timeout);
  // Streamed request bodies (connection_calls.cpp)
  void pull_body(std::int32_t stream_id);
  RequestBody::ChunkCallback body_chunk_delivery(std::int32_t stream_id);
  void fail_body(std::int32_t stream_id, const Error& error);

  asio::any_io_executor executor_;
  Origin origin_;
  ConnectionOptions options_;
  ConnectionObserver* observer_;  // borrowed
  asio::steady_timer connect_timer_;
  asio::steady_timer drain_timer_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<tcp::StreamSource> source_;  // dials, or hands over a finished dial
  std::shared_ptr<tcp::TlsStream> stream_;    // the connection's bytes
  H2Session session_;
  std::shared_ptr<http::Connection> self_;    // held while not closed (see the invariants)

  ConnectionState state_ = ConnectionState::connecting;
  bool started_ = false;
  bool pump_scheduled_ = false;
  std::chrono::steady_clock::time_point started_at_;
  std::chrono::steady_clock::time_point last_received_;  // the idle timeout and PINGs count from here
  std::optional<std::int32_t> goaway_last_id_;
  RequestId next_id_ = 1;
  std::uint64_t accepted_ = 0;                      // requests accepted (the first is not on a reused connection)
  tcp::DialInstants dialed_;     // the stream's, from on_dialed
  asio::ip::tcp::endpoint peer_;  // likewise
  std::unordered_map<RequestId, Call> calls_;
  std::deque<RequestId> waiting_;                        // calls without a stream, in arrival order
  std::unordered_map<std::int32_t, RequestId> streams_;  // calls with an open stream
  // Storage for streamed bodies waiting for their reader; shared with the readers, which may outlive us.
  std::shared_ptr<http::BlockPool> body_blocks_ = std::make_shared<http::BlockPool>();
  // The pump steps back while answers are on their way (their handlers' follow-up requests share the
  // next write); each posted answer holds it until it has run.
  util::WriteHolds write_holds_;
  std::shared_ptr<PostedAnswers> answers_ = std::make_shared<PostedAnswers>();
};

}  // namespace quiver::h2

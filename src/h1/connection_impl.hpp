#pragma once
// ConnectionImpl: the worker behind h1::Connection. Internal to src/h1 (connection.cpp holds the
// lifecycle, the state machine and the bytes in and out; connection_calls.cpp the requests, the upload
// and the response events). It mirrors the HTTP/2 worker (src/h2/connection_impl.hpp) where HTTP/1.1
// allows; what differs is that one exchange owns the wire at a time.
//
// Invariants:
//  - every request lives in `calls_` from acceptance until it is answered and its exchange is over;
//  - a call not yet sent is in `waiting_` (arrival order); at most one call is on the wire (`current_`),
//    and the next is sent only when it is over: its response ended and its body was sent;
//  - `parser_` expects a response exactly while `current_` is set and its response has not ended: a byte
//    from the server at any other time is a protocol error that closes the connection;
//  - a call on a reused connection that fails before any response byte arrived fails `unprocessed` if its
//    method is idempotent and its body can be sent again (the pool retries it on another connection),
//    and says it may have been processed otherwise; a call never sent fails `unprocessed`;
//  - a connection that cannot carry another exchange (`Connection: close`, an exchange cut short by a
//    cancel, an abandoned body, an early response to an unfinished upload) drains and closes;
//  - a streamed response holds at most the stream window (plus one read) of unread bytes: reading from
//    the socket pauses above it and goes on as the consumer reads;
//  - user code (handlers, observer, telemetry, producers) only ever runs from a posted function or an
//    Asio completion, never inside http-parser's callbacks;
//  - while not closed the worker holds itself (`self_`); the stream and the dialer hold it only weakly.

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>

#include <asio/steady_timer.hpp>

#include "h1/connection.hpp"
#include "h1/response_parser.hpp"
#include "http/body_reader_impl.hpp"
#include "http/body_source.hpp"
#include "tcp/stream_source.hpp"
#include "tcp/tls_stream.hpp"

namespace quiver::h1 {

using http::BodyReaderImpl;
using http::BodyReaderOwner;
using http::PostedAnswers;
using http::ReaderResources;

class ConnectionImpl final : public Connection,
                             public BodyReaderOwner,
                             private tcp::StreamEvents,
                             private ResponseEvents {
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
  void set_observer(ConnectionObserver* observer) noexcept override { observer_ = observer; }
  std::string http_version() const override { return "1.1"; }

  // BodyReaderOwner (stream ids are the calls' RequestIds)
  void on_body_consumed(std::int64_t stream_id, std::size_t bytes) override;
  void on_body_abandoned(RequestId id) override;
  void on_body_finished(RequestId id, const std::optional<Error>& error) override;

 private:
  struct Call {
    RequestId id = 0;
    std::vector<Header> fields;  // build_request_fields' layout: :method, :scheme, :authority, :path, ...
    RequestBody body;
    bool streaming = false;
    ResponseHandler on_response;  // buffered requests
    StreamHandler on_headers;     // streaming requests
    std::unique_ptr<asio::steady_timer> deadline;
    Response response;                     // buffered: the whole response; streaming: status + headers
    std::weak_ptr<BodyReaderImpl> reader;  // streaming, once the headers are handed over
    bool answered = false;
    bool sent = false;            // it went on the wire (its request line at least was written)
    bool response_ended = false;  // the whole response arrived
    bool body_done = false;       // streaming: the reader reported the end or an error
    std::uint64_t bytes_received = 0;
    std::chrono::steady_clock::time_point started;
    bool reused = false;  // an earlier request was accepted on this connection
    const std::string& method() const { return fields.at(0).value; }
  };

  // The request body of the exchange on the wire.
  struct Upload {
    std::unique_ptr<http::BodySource> source;  // file and producer bodies
    std::size_t offset = 0;                    // bytes bodies: how much was written
    bool chunked = false;                      // a producer without content-length
    std::optional<std::uint64_t> declared;     // a producer with the caller's content-length
    std::uint64_t sent = 0;
    bool pending = false;  // a chunk was asked of an asynchronous producer, or a retry timer runs
    bool done = true;
  };

  // Dialing and the bytes (connection.cpp)
  void on_dialed(Result<std::shared_ptr<tcp::TlsStream>> dialed);
  void note_transfer(Call& call) const;
  void on_stream_data(std::span<const std::uint8_t> data) override;
  void on_stream_writable() override;
  void on_stream_closed(Error reason) override;
  void on_response_complete(bool keep_alive);
  Result<void> write(std::string_view bytes);
  void arm_idle_timer();
  void on_idle_check();
  void finish(Error reason);
  void close_unusable(const std::string& why);

  // ResponseEvents (inside http-parser's callbacks: record, answer by posting, never run user code)
  void on_response_headers(int status, Headers headers, bool keep_alive) override;
  void on_response_data(std::span<const std::uint8_t> data) override;
  void on_response_trailers(Headers trailers) override;

  // Lifecycle (connection.cpp)
  void on_connect_timeout();
  void become_connected();
  void transition(ConnectionState next);
  void enter_draining(const std::string& why);
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
  void send_next();
  void send(Call& call);
  std::string request_head(const Call& call);
  void answer(Call& call, Result<Response> result);
  void answer_headers(Call& call);
  void fail(Call& call, const Error& error);
  void abandon(RequestId id, const Error& error);
  Error unsent_failure(const Error& error) const;
  Error stale_failure(const Call& call, const Error& error) const;
  void end_exchange();
  Call* current_call();
  std::unique_ptr<asio::steady_timer> arm_deadline(RequestId id, std::chrono::milliseconds timeout);
  // The request body (connection_calls.cpp)
  void pump_upload();
  bool upload_step(Call& call);
  void write_body_chunk(std::string_view chunk);
  void finish_upload();
  void retry_upload_after(std::chrono::milliseconds pause);
  RequestBody::ChunkCallback body_chunk_delivery(RequestId id);
  void on_body_chunk(Result<std::optional<std::string>> chunk);
  void fail_upload(const Error& error);

  asio::any_io_executor executor_;
  Origin origin_;
  ConnectionOptions options_;
  ConnectionObserver* observer_;  // borrowed
  asio::steady_timer connect_timer_;
  asio::steady_timer drain_timer_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<tcp::StreamSource> source_;  // dials, or hands over a finished dial
  std::shared_ptr<tcp::TlsStream> stream_;  // the connection's bytes
  ResponseParser parser_;
  std::shared_ptr<http::Connection> self_;  // held while not closed (see the invariants)

  ConnectionState state_ = ConnectionState::connecting;
  bool started_ = false;
  std::chrono::steady_clock::time_point started_at_;
  std::chrono::steady_clock::time_point last_activity_;  // a byte received or written; the idle timeout counts from here
  tcp::DialInstants dialed_;     // the stream's, from on_dialed
  asio::ip::tcp::endpoint peer_;  // likewise
  RequestId next_id_ = 1;
  std::uint64_t accepted_ = 0;  // requests accepted (the first is not on a reused connection)
  std::uint64_t exchanges_ = 0;  // exchanges that went on the wire
  std::unordered_map<RequestId, Call> calls_;
  std::deque<RequestId> waiting_;     // calls not yet sent, in arrival order
  std::optional<RequestId> current_;  // the call on the wire
  Upload upload_;                     // its request body
  std::uint64_t unread_ = 0;          // its streamed body bytes not yet read by the consumer
  bool reading_paused_ = false;
  bool reusable_ = true;  // no `Connection: close`, nothing cut short
  std::shared_ptr<http::BlockPool> body_blocks_ = std::make_shared<http::BlockPool>();
  std::shared_ptr<PostedAnswers> answers_ = std::make_shared<PostedAnswers>();
};

}  // namespace quiver::h1

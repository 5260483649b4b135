#pragma once
// ConnectionImpl: the worker behind h3::Connection. Internal to src/h3 (connection.cpp holds the
// lifecycle and state machine, connection_calls.cpp the requests and protocol events).
//
// Invariants:
//  - every request lives in `calls_` from acceptance until it is answered and its stream (if any) closed;
//  - a call without a stream is in `waiting_` (arrival order); a call with an open stream is in `streams_`;
//    a call whose stream closed before its response ended stays in `calls_` (stream_closed) until its
//    failure is judged after the receive batch (fail_after_batch), then leaves;
//  - the peer's resets and close are judged with every GOAWAY of their receive batch known: a request on a
//    stream at or above the GOAWAY id, or never sent, fails `unprocessed` whatever the code (peer_failure);
//  - a handler is used once (`Call::answered`); after that, failures go to the streaming body reader;
//  - user code (handlers, observer, telemetry) only ever runs from a posted function;
//  - a request's cancellation handler (installed in its caller's slot) knows the worker weakly and the
//    call by its RequestId, so it is harmless after the call left or the worker is gone;
//  - the worker holds itself (held_until_closed_) from start() until closed; nothing it owns holds it.

#include <chrono>
#include <deque>
#include <functional>
#include <unordered_map>

#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include "http/body_reader_impl.hpp"
#include "http/capsule.hpp"
#include "h3/connection.hpp"
#include "h3/h3_session.hpp"
#include "quic/dialer.hpp"
#include "quic/quic_transport.hpp"

namespace quiver::h3 {

// Shared with the other workers (src/http).
using http::BodyReaderImpl;
using http::BodyReaderOwner;
using http::PostedAnswers;
using http::ReaderResources;

class ConnectionImpl final : public Connection,
                             public BodyReaderOwner,
                             private quic::DialTarget,
                             private SessionEvents {
 public:
  ConnectionImpl(asio::any_io_executor executor, Origin origin, ConnectionOptions options,
                 ConnectionObserver* observer, quic::DialShared shared);
  ~ConnectionImpl() override;

  // Connection
  void start() override;
  void request(Request request, ResponseHandler on_done, asio::cancellation_slot cancel) override;
  void stream(Request request, StreamHandler on_headers, asio::cancellation_slot cancel) override;
  bool supports_channels() const noexcept override { return true; }
  void channel(Request request, std::shared_ptr<http::ChannelEndpoint> endpoint, StreamHandler on_headers,
               asio::cancellation_slot cancel) override;
  void drain() override;
  void close() override;
  ConnectionState state() const noexcept override { return state_; }
  std::uint64_t max_streams() const noexcept override;
  std::uint64_t early_streams() const noexcept override;
  std::size_t requests_in_flight() const noexcept override { return calls_.size(); }
  ChannelSupport channel_support() const noexcept override;
  std::string debug_string() const override;
  const Origin& origin() const noexcept override { return origin_; }
  std::string http_version() const override { return "3"; }
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
    std::optional<std::int64_t> stream_id;
    Response response;                     // buffered: the whole response; streaming: status + headers
    std::weak_ptr<BodyReaderImpl> reader;  // streaming, once the headers are handed over
    bool answered = false;
    bool response_ended = false;           // END_STREAM of a complete response was received
    bool body_done = false;                // streaming: the reader reported the end or an error
    bool stream_closed = false;            // its stream closed before the response ended (see fail_after_batch)
    std::uint64_t bytes_received = 0;      // response body bytes (telemetry)
    bool reused = false;                   // an earlier request was accepted on this connection
    std::chrono::steady_clock::time_point started;
    bool early_eligible = false;           // may ride in 0-RTT early data (http::early_data_eligible)
    bool sent_early = false;               // went out as early data
    RequestBody early_body;                // a copy while sent early: resent if the server rejects it
    // A channel (connection_channels.cpp): its datagram endpoint, attached at a 2xx response and closed
    // when the call fails or its stream closes; `extended`: it sends :protocol (needs the peer's SETTINGS).
    std::shared_ptr<http::ChannelEndpoint> channel;
    bool extended = false;
    // Set when the channel's 2xx response says `capsule-protocol: ?1`: its stream data is capsules,
    // read here (DATAGRAM capsules become datagrams), never handed to the reader.
    std::unique_ptr<http::CapsuleReader> capsules;
  };

  // quic::DialTarget (the transport's events come through the dialer)
  Result<void> on_transport_created(std::shared_ptr<quic::QuicTransport> transport) override;
  void on_dial_failed(Error reason) override;
  void on_handshake_completed() override;
  void on_early_data_ready() override;
  void on_stream_credit() override;
  void on_transport_closed(Error reason) override;
  // SessionEvents (inside library callbacks: record, answer by posting, never run user code)
  void on_response_headers(std::int64_t stream_id, int status, Headers headers) override;
  void on_response_data(std::int64_t stream_id, std::span<const std::uint8_t> data) override;
  void on_response_trailers(std::int64_t stream_id, Headers trailers) override;
  void on_response_end(std::int64_t stream_id) override;
  void on_stream_reset(std::int64_t stream_id, std::uint64_t h3_code) override;
  void on_stream_stop_sending(std::int64_t stream_id, std::uint64_t h3_code) override;
  void on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t> h3_code) override;
  void on_goaway(std::int64_t id) override;
  void on_body_wanted(std::int64_t stream_id) override;
  void on_stream_malformed(std::int64_t stream_id, std::uint64_t h3_code) override;
  void on_header_section_too_large(std::int64_t stream_id, bool trailers, std::uint64_t bytes) override;
  void on_early_data_rejected() override;
  void on_peer_settings(const PeerSettings& settings) override;
  void on_datagram(std::int64_t stream_id, std::span<const std::uint8_t> payload) override;

  // Lifecycle (connection.cpp)
  void hold_self_until_closed();
  void on_connect_timeout();
  void transition(ConnectionState next);
  void enter_draining();
  void close_if_drained();
  void fail_everything(const Error& reason);
  Error handshake_error(const Error& cause) const;
  void notify_observer(std::function<void(ConnectionObserver&, Connection&)> notify);
  ConnectionEvent connection_event(ConnectionEvent::Type type) const;
  void emit(ConnectionEvent event);
  void emit(const Call& call, RequestEvent::Type type, const Error* error);
  void note_transfer(Call& call) const;

  // Calls (connection_calls.cpp)
  void accept(Request request, ResponseHandler on_response, StreamHandler on_headers,
              asio::cancellation_slot cancel, std::shared_ptr<http::ChannelEndpoint> channel = nullptr);
  void listen_for_cancel(asio::cancellation_slot cancel, RequestId id);
  std::optional<Error> refusal() const;
  void send_waiting();
  void send_early();
  std::size_t early_waiting() const;
  void send(Call& call);
  void answer(Call& call, Result<Response> result);
  void answer_headers(Call& call);
  void fail(Call& call, const Error& error);
  void abandon(RequestId id, const Error& error);
  bool needs_reset(const Call& call) const;
  Error reset_error(std::int64_t stream_id, std::uint64_t code) const;
  Error peer_failure(const Call& call, const Error& error) const;
  void fail_after_batch(RequestId id, Error error);
  void apply_goaway();
  Call* call_on_stream(std::int64_t stream_id);
  std::unique_ptr<asio::steady_timer> arm_deadline(RequestId id, std::chrono::milliseconds timeout);
  // Channels (connection_channels.cpp)
  bool waits_for_settings(const Call& call) const;
  std::optional<Error> channel_refusal(const Call& call) const;
  void open_channel_endpoint(Call& call, const Headers& response_headers);
  void end_channel(Call& call, const Error& reason);
  void read_capsules(Call& call, std::span<const std::uint8_t> data);
  void fail_capsules(Call& call, const Error& error);
  // Streamed request bodies (connection_calls.cpp)
  void pull_body(std::int64_t stream_id);
  RequestBody::ChunkCallback body_chunk_delivery(std::int64_t stream_id);
  void fail_body(std::int64_t stream_id, const Error& error);

  asio::any_io_executor executor_;
  Origin origin_;
  ConnectionOptions options_;
  ConnectionObserver* observer_;  // borrowed
  asio::steady_timer connect_timer_;
  asio::steady_timer drain_timer_;
  // The worker holds itself from start() until it is closed: a wait on this timer, which never expires,
  // holds shared_from_this() and is cancelled by fail_everything. So a request in flight always gets its
  // reply even if the owner dropped its pointer. Nothing below the worker holds it: the dialer and the
  // transport only borrow it as their events' target, and the destructor detaches them.
  asio::steady_timer held_until_closed_;
  quic::Dialer dialer_;                             // resolves, tries the addresses, builds the transports
  SessionOptions session_options_;                  // each attempt's session is built with them
  std::shared_ptr<quic::QuicTransport> transport_;  // the dialer's current one
  std::unique_ptr<H3Session> session_;  // created with the transport, before the handshake

  ConnectionState state_ = ConnectionState::connecting;
  bool started_ = false;
  bool control_streams_open_ = false;  // for 0-RTT before the handshake; again after rejected early data
  bool early_ready_ = false;           // 0-RTT possible: eligible requests go before the handshake
  std::uint64_t early_requests_ = 0;   // requests sent as early data (telemetry)
  std::chrono::steady_clock::time_point started_at_;
  std::chrono::steady_clock::time_point handshake_at_;  // when the handshake completed (Response::transfer)
  std::uint64_t accepted_ = 0;                          // requests accepted so far (connection reuse)
  std::optional<std::int64_t> goaway_id_;
  std::optional<PeerSettings> peer_settings_;  // the server's SETTINGS (channels), once they arrived
  std::uint64_t datagrams_unrouted_ = 0;        // datagrams for no open channel: dropped
  RequestId next_id_ = 1;
  std::unordered_map<RequestId, Call> calls_;
  std::deque<RequestId> waiting_;                       // calls without a stream, in arrival order
  std::unordered_map<std::int64_t, RequestId> streams_;  // calls with an open stream
  // Storage for streamed bodies waiting for their reader; shared with the readers, which may outlive us.
  std::shared_ptr<http::BlockPool> body_blocks_ = std::make_shared<http::BlockPool>();
  // Posts answers to callers and readers; each holds the transport's write until it has run.
  std::shared_ptr<PostedAnswers> answers_ = std::make_shared<PostedAnswers>();
};

}  // namespace quiver::h3

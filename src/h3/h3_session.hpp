#pragma once
// H3Session owns the client nghttp3_conn: control and QPACK streams, request submission, response
// assembly (header blocks into Headers), and request bodies waiting to be sent.
//
// It is the StreamApplication of a QuicTransport, so most of it runs inside ngtcp2 callbacks: it only
// records and forwards to SessionEvents, which must not call back into the transport's write path.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <deque>

#include <nghttp3/nghttp3.h>

#include "http/body_source.hpp"

#include "quic/quic_transport.hpp"
#include "quic/stream_transport.hpp"
#include "quiver/headers.hpp"
#include "quiver/options.hpp"
#include "util/c_handles.hpp"

namespace quiver::h3 {

// What the server's SETTINGS frame enabled that channels depend on.
struct PeerSettings {
  bool h3_datagram = false;       // SETTINGS_H3_DATAGRAM = 1 (RFC 9297)
  bool extended_connect = false;  // SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 9220)
};

class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  // The final (non-1xx) response header block.
  virtual void on_response_headers(std::int64_t stream_id, int status, Headers headers) = 0;
  // Body bytes; the receiver credits them back with H3Session::consume once consumed.
  virtual void on_response_data(std::int64_t stream_id, std::span<const std::uint8_t> data) = 0;
  virtual void on_response_trailers(std::int64_t stream_id, Headers trailers) = 0;
  // The response is complete (END_STREAM after a valid message).
  virtual void on_response_end(std::int64_t stream_id) = 0;
  // The peer reset the stream (RESET_STREAM) or asked us to stop sending (STOP_SENDING).
  virtual void on_stream_reset(std::int64_t stream_id, std::uint64_t h3_code) = 0;
  virtual void on_stream_stop_sending(std::int64_t stream_id, std::uint64_t h3_code) = 0;
  // The request stream is fully closed; `h3_code` is set when it closed abnormally.
  virtual void on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t> h3_code) = 0;
  // A GOAWAY from the peer: request streams with id >= `id` will not be processed.
  virtual void on_goaway(std::int64_t id) = 0;
  // The response on `stream_id` broke HTTP/3 rules; nghttp3 has us reset the stream with `h3_code`.
  virtual void on_stream_malformed(std::int64_t stream_id, std::uint64_t h3_code) = 0;
  // The header (`trailers`: trailer) section on `stream_id` reached `bytes`, over the options'
  // max_response_header_bytes (RFC 9114 §4.2.2 size, counted up to the field that crossed it). The
  // session resets the stream with H3_EXCESSIVE_LOAD; nothing but on_stream_closed follows for it.
  virtual void on_header_section_too_large(std::int64_t stream_id, bool trailers, std::uint64_t bytes) = 0;
  // A streamed request body needs its next chunk: call H3Session::pull_body soon, outside callbacks.
  virtual void on_body_wanted(std::int64_t stream_id) = 0;
  // The server rejected our 0-RTT early data: every request stream (and our control streams) is gone and
  // the session has started afresh (no control streams yet). The requests were not processed.
  virtual void on_early_data_rejected() {}
  // The server's SETTINGS arrived (once per session): what it enabled for channels.
  virtual void on_peer_settings(const PeerSettings&) {}
  // An HTTP datagram (RFC 9297) for the request stream `stream_id` (maybe unknown or closed).
  virtual void on_datagram(std::int64_t, std::span<const std::uint8_t>) {}
};

// Reads the SETTINGS frame at the start of the server's control stream, as its bytes pass on to nghttp3.
//
// Why: nghttp3 1.8's client ignores SETTINGS_ENABLE_CONNECT_PROTOCOL (nghttp3.h: "Client ignores this
// field"; the settings its recv_settings callback hands over never carry it), yet RFC 9220 §3 forbids
// sending :protocol unless the server sent it. The control stream's first frame must be SETTINGS
// (RFC 9114 §6.2.1), so a small parser of a stream's first bytes suffices; nghttp3 still reads and
// validates the same bytes, and fails the connection when they are malformed.
class ControlStreamSniffer {
 public:
  // Feeds the next bytes of one server unidirectional stream; true once the sniffer is done with it.
  bool feed(std::span<const std::uint8_t> data);
  bool done() const noexcept { return done_; }
  // The SETTINGS read (set when the stream was the control stream and its SETTINGS frame complete).
  const std::optional<PeerSettings>& settings() const noexcept { return settings_; }

 private:
  void parse();
  std::vector<std::uint8_t> buffer_;
  bool done_ = false;
  std::optional<PeerSettings> settings_;
};

// The HTTP/3 slice of the connection options (sliced once where the connection is built).
struct SessionOptions {
  std::uint64_t qpack_table_capacity = 0;
  std::uint64_t qpack_blocked_streams = 0;
  std::uint64_t max_response_header_bytes = 0;  // per header section
  std::uint64_t send_buffer = 0;                 // request body bytes in flight per stream
  bool h3_datagram = false;                      // offer SETTINGS_H3_DATAGRAM (RFC 9297)
};
SessionOptions session_options(const ConnectionOptions& options);  // the slice

class H3Session final : public quic::StreamApplication {
 public:
  // Both borrow; they must outlive the session.
  H3Session(quic::StreamTransport& transport, SessionEvents& events, const SessionOptions& options);
  ~H3Session() override;
  H3Session(const H3Session&) = delete;
  H3Session& operator=(const H3Session&) = delete;

  // Creates the nghttp3 connection. Call once, before the handshake: the server's control and QPACK
  // streams may arrive in the same packets that complete it.
  Result<void> start();
  // Opens and binds our control and QPACK encoder/decoder streams. Call once the handshake is complete.
  Result<void> open_control_streams();

  // Opens a request stream and submits the fields and body. Bytes are kept until the stream closes; a
  // file or producer body is pulled chunk by chunk (see on_body_wanted), at most `send_buffer` bytes
  // ahead of the peer's acknowledgements.
  Result<std::int64_t> submit_request(const std::vector<Header>& fields, RequestBody body);
  // What pull_body did besides queueing a chunk: a producer had nothing yet (pull again after
  // `retry_after`), or an asynchronous producer was asked (its answer goes to accept_body_chunk).
  struct BodyPull {
    std::optional<std::chrono::milliseconds> retry_after;
    bool awaiting_producer = false;
  };
  // Pulls the next chunk of a streamed body from its source and resumes the stream; an asynchronous
  // producer answers through `deliver_later` (any thread: the caller brings the answer back to the
  // executor, to accept_body_chunk). Runs user code (a producer): call it outside library callbacks.
  // Fails with body_failed when the source fails. No new pull is asked for (on_body_wanted) while a
  // retry or a producer's answer is outstanding.
  Result<BodyPull> pull_body(std::int64_t stream_id, RequestBody::ChunkCallback deliver_later);
  // Queues a chunk pulled from the body of `stream_id` (or its end) and resumes the stream.
  Result<void> accept_body_chunk(std::int64_t stream_id, Result<std::optional<std::string>> chunk);
  // Sends our GOAWAY: the peer may not push and should expect no new requests.
  void submit_goaway();
  // Returns consumed body bytes of `stream_id` to the peer as flow-control credit (after the stream
  // closed, only the connection's share).
  void consume(std::int64_t stream_id, std::size_t bytes);
  // Abandons a request: RESET_STREAM + STOP_SENDING with `h3_code`.
  void reset_stream(std::int64_t stream_id, std::uint64_t h3_code);
  // The server's SETTINGS, once they arrived (with H3_DATAGRAM only if we offered it too).
  const std::optional<PeerSettings>& peer_settings() const noexcept { return peer_settings_; }
  // The largest HTTP datagram payload for `stream_id` now (its quarter stream id deducted); 0 when
  // datagrams are not negotiated.
  std::size_t max_datagram_size(std::int64_t stream_id) const noexcept;
  // Queues an HTTP datagram on `stream_id`: datagrams_disabled, datagram_too_large or congestion_limited.
  Result<void> send_datagram(std::int64_t stream_id, std::span<const std::uint8_t> payload);

  // Whether the request body of `stream_id` is still being sent: some of it not yet handed to nghttp3,
  // and the upload neither stopped by the peer nor reset by us. (A complete response does not end it.)
  bool uploading(std::int64_t stream_id);

  // quic::StreamApplication
  bool on_stream_data(std::int64_t stream_id, std::span<const std::uint8_t> data, bool fin) override;
  bool on_stream_data_acked(std::int64_t stream_id, std::uint64_t length) override;
  bool on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t> app_error_code) override;
  bool on_stream_reset(std::int64_t stream_id, std::uint64_t app_error_code) override;
  bool on_stream_stop_sending(std::int64_t stream_id, std::uint64_t app_error_code) override;
  bool on_stream_send_credit(std::int64_t stream_id) override;
  bool next_outgoing(quic::OutgoingData& out) override;
  bool on_outgoing_accepted(std::int64_t stream_id, std::size_t bytes) override;
  void on_stream_blocked(std::int64_t stream_id) override;
  void on_stream_write_shut(std::int64_t stream_id) override;
  bool on_early_data_rejected() override;
  bool on_datagram(std::span<const std::uint8_t> datagram) override;
  std::pair<std::uint64_t, std::string> fatal_error() const override;
  std::string error_name(std::uint64_t app_error_code) const override { return h3_error_name(app_error_code); }

 private:
  struct Callbacks;  // the nghttp3 trampolines
  friend struct Callbacks;

  // Per request stream: the header block being assembled and the body being sent.
  struct Stream {
    Headers block;             // fields of the header or trailer block in progress
    int status = 0;
    bool in_trailers = false;
    std::uint64_t section_bytes = 0;  // RFC 9114 §4.2.2 size of the block in progress
    // The block went over max_response_header_bytes: the worker knows, no other event is reported for
    // the stream but its close, and the stream is reset once nghttp3 has returned.
    bool refused = false;
    // A bytes body is sent straight from `bytes` (kept until the stream closes: nghttp3 may resend).
    std::string bytes;
    std::size_t bytes_offset = 0;
    // A file or producer body: chunks pulled into `unsent`, moved to `unacked` when handed to nghttp3,
    // dropped once acknowledged. `buffered` counts both.
    std::unique_ptr<http::BodySource> source;
    std::deque<std::string> unsent;
    std::deque<std::string> unacked;
    std::size_t acked_in_front = 0;
    std::size_t buffered = 0;
    bool source_done = false;
    bool pull_requested = false;
    bool write_shut = false;   // the peer stopped our upload, or we reset it
  };

  nghttp3_ssize read_streamed_body(std::int64_t stream_id, Stream& stream, nghttp3_vec* vec,
                                   std::size_t vec_count, std::uint32_t* flags);
  void request_pull(std::int64_t stream_id, Stream& stream);
  void release_acked(Stream& stream, std::uint64_t length);
  void finish_stream(std::int64_t stream_id);  // the request stream is over for nghttp3 too
  bool admit_field(std::int64_t stream_id, Stream& stream, std::size_t name_size, std::size_t value_size);
  void reset_refused_streams();
  bool record_failure(int nghttp3_error, std::string where);
  void sniff(std::int64_t stream_id, std::span<const std::uint8_t> data);
  void report_peer_settings();
  Stream* find(std::int64_t stream_id);
  bool is_refused(std::int64_t stream_id);

  quic::StreamTransport& transport_;
  SessionEvents& events_;
  SessionOptions options_;
  util::Nghttp3ConnPtr conn_;
  std::unordered_map<std::int64_t, Stream> streams_;
  // QUIC close codes of request streams nghttp3 has not finished yet (QPACK-blocked headers).
  std::unordered_map<std::int64_t, std::optional<std::uint64_t>> close_codes_;
  // Refused streams (Stream::refused) still to be reset: nghttp3 must not be re-entered from its callbacks.
  std::vector<std::int64_t> refused_;
  std::vector<ngtcp2_vec> outgoing_chunks_;
  std::unordered_map<std::int64_t, ControlStreamSniffer> sniffers_;  // server uni streams, until done
  bool sniffing_ = true;                   // the server's control stream not yet found
  std::optional<PeerSettings> sniffed_;    // from the sniffer (extended CONNECT)
  bool nghttp3_settings_seen_ = false;     // nghttp3's recv_settings ran (H3_DATAGRAM)
  bool peer_h3_datagram_ = false;
  std::optional<PeerSettings> peer_settings_;
  std::uint64_t fatal_code_ = 0;
  std::string fatal_text_;
};

}  // namespace quiver::h3

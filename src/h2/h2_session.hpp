#pragma once
// H2Session owns the client nghttp2_session: the connection preface and SETTINGS, request submission,
// response assembly (header blocks into Headers), request bodies waiting to be sent, and flow-control
// credit returned as the consumer reads (automatic WINDOW_UPDATE is off).
//
// It moves no bytes itself: receive() takes what the TLS stream decrypted, next_output() gives what to
// send. Most of it runs inside nghttp2 callbacks (inside receive() and next_output()): it only records
// and forwards to SessionEvents, which must not call back into the session from there.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "http/body_source.hpp"
#include "quiver/error.hpp"
#include "quiver/headers.hpp"
#include "quiver/options.hpp"
#include "util/c_handles.hpp"

namespace quiver::h2 {

class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  // The server's SETTINGS arrived (the first one ends the connection preface); its concurrent stream
  // limit may have changed.
  virtual void on_settings() = 0;
  // The final (non-1xx) response header block.
  virtual void on_response_headers(std::int32_t stream_id, int status, Headers headers) = 0;
  // Body bytes; the receiver returns their credit with H2Session::consume once consumed.
  virtual void on_response_data(std::int32_t stream_id, std::span<const std::uint8_t> data) = 0;
  virtual void on_response_trailers(std::int32_t stream_id, Headers trailers) = 0;
  // The response is complete (END_STREAM after a valid message).
  virtual void on_response_end(std::int32_t stream_id) = 0;
  // The peer reset the stream (RST_STREAM with `code`).
  virtual void on_stream_reset(std::int32_t stream_id, std::uint32_t code) = 0;
  // The stream is closed for nghttp2; `code` is NO_ERROR (0) unless it closed abnormally. Last event of a
  // stream.
  virtual void on_stream_closed(std::int32_t stream_id, std::uint32_t code) = 0;
  // A GOAWAY from the peer: streams above `last_stream_id` were not processed.
  virtual void on_goaway(std::int32_t last_stream_id, std::uint32_t code) = 0;
  // The header (`trailers`: trailer) section on `stream_id` reached `bytes`, over the options'
  // max_response_header_bytes (each field's name and value plus 32). The stream is reset; nothing but
  // on_stream_closed follows for it.
  virtual void on_header_section_too_large(std::int32_t stream_id, bool trailers, std::uint64_t bytes) = 0;
  // A streamed request body needs its next chunk: call H2Session::pull_body soon, outside callbacks.
  virtual void on_body_wanted(std::int32_t stream_id) = 0;
};

// The HTTP/2 slice of the connection options (sliced once where the connection is built).
struct SessionOptions {
  std::uint32_t stream_window = 0;      // SETTINGS_INITIAL_WINDOW_SIZE
  std::uint32_t connection_window = 0;  // the connection's receive window
  std::uint64_t max_response_header_bytes = 0;  // per header section; SETTINGS_MAX_HEADER_LIST_SIZE
  std::uint64_t send_buffer = 0;        // streamed request body bytes read ahead per stream
};
SessionOptions session_options(const ConnectionOptions& options);  // the slice

class H2Session final {
 public:
  // `events` borrows; it must outlive the session.
  H2Session(SessionEvents& events, const SessionOptions& options);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Creates the nghttp2 session and queues the connection preface (SETTINGS, connection window).
  Result<void> start();
  // Processes bytes from the server. An error is a connection error (nghttp2 has queued a GOAWAY).
  Result<void> receive(std::span<const std::uint8_t> data);
  // The next serialized frames to send (valid until the next call), empty when nothing is due.
  Result<std::span<const std::uint8_t>> next_output();
  // False once the session has nothing more to do (GOAWAY exchanged and every stream closed, or after a
  // connection error once its GOAWAY has been taken).
  bool alive() const;

  // Whether the server's first SETTINGS arrived, and the concurrent streams it allows (nghttp2's count of
  // our open streams aside); a server without a limit counts as kUnlimitedStreams.
  bool settings_received() const noexcept { return settings_received_; }
  std::uint32_t max_concurrent_streams() const;
  static constexpr std::uint32_t kUnlimitedStreams = 1000;

  // Opens a stream with the fields and body. Bytes are sent from memory; a file or producer body is
  // pulled chunk by chunk (on_body_wanted), at most `send_buffer` bytes ahead of what nghttp2 took.
  Result<std::int32_t> submit_request(const std::vector<Header>& fields, RequestBody body);
  struct BodyPull {
    std::optional<std::chrono::milliseconds> retry_after;  // a producer had nothing yet
    bool awaiting_producer = false;                         // an asynchronous producer was asked
  };
  // As H3Session's: pulls the next chunk of a streamed body (user code: call outside callbacks).
  Result<BodyPull> pull_body(std::int32_t stream_id, RequestBody::ChunkCallback deliver_later);
  Result<void> accept_body_chunk(std::int32_t stream_id, Result<std::optional<std::string>> chunk);

  void submit_goaway();  // ours: no new streams from the server (it has none), our last processed is 0
  void submit_ping();
  // Returns consumed body bytes of `stream_id` to the peer (after the stream closed, the connection's
  // share only).
  void consume(std::int32_t stream_id, std::size_t bytes);
  // Abandons a request: RST_STREAM with `code`.
  void reset_stream(std::int32_t stream_id, std::uint32_t code);
  // Whether the request body of `stream_id` is still being sent.
  bool uploading(std::int32_t stream_id) const;
  // nghttp2's words for the connection error it ran into ("" if none): a protocol error by the peer ends
  // the session (alive() turns false) without a failed call.
  const std::string& fatal_text() const noexcept { return fatal_text_; }

 private:
  struct Callbacks;  // the nghttp2 trampolines
  friend struct Callbacks;

  struct Stream {
    Headers block;
    int status = 0;
    bool in_trailers = false;
    bool final_headers_seen = false;
    std::uint64_t section_bytes = 0;
    bool refused = false;  // over the header limit: no events but the close
    std::string bytes;     // a bytes body, sent from here
    std::size_t bytes_offset = 0;
    std::unique_ptr<http::BodySource> source;  // a file or producer body
    std::deque<std::string> unsent;
    std::size_t front_offset = 0;
    std::size_t buffered = 0;
    bool source_done = false;
    bool pull_requested = false;
    bool write_shut = false;  // reset by us or the peer
    bool deferred = false;    // nghttp2 waits for resume_data
  };

  ssize_t read_body(std::int32_t stream_id, Stream& stream, std::uint8_t* buf, std::size_t length,
                    std::uint32_t* flags);
  void request_pull(std::int32_t stream_id, Stream& stream);
  void on_headers_frame(const nghttp2_frame* frame);
  bool admit_field(std::int32_t stream_id, Stream& stream, std::size_t name_size, std::size_t value_size);
  Stream* find(std::int32_t stream_id);
  Error failure(int nghttp2_error, const std::string& where);

  SessionEvents& events_;
  SessionOptions options_;
  util::Nghttp2SessionPtr session_;
  std::unordered_map<std::int32_t, Stream> streams_;
  bool settings_received_ = false;
  std::string fatal_text_;
};

}  // namespace quiver::h2

#pragma once
// quiver::http::BodyReader — the body of a streamed response as the pool and the client see it, whatever
// protocol carries it. The workers share one implementation (http/body_reader_impl.hpp).

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "quiver/error.hpp"
#include "quiver/headers.hpp"
#include "quiver/response.hpp"

namespace quiver::http {

// The body of a streamed response, read chunk by chunk. Lives on the connection's executor: call its
// members there. Dropping the last reference before the end abandons the body (the protocol cancels the
// exchange: HTTP/3 resets the stream with H3_REQUEST_CANCELLED). The worker holds at most the per-stream
// window of unread bytes.
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
  // stops the request's upload if that is running (HTTP/3: the stream is reset with H3_REQUEST_CANCELLED).
  virtual void cancel() = 0;
};

struct StreamingResponse {
  int status = 0;
  Headers headers;
  std::shared_ptr<BodyReader> body;
  // Filled by the connection as for a buffered Response (peer, protocol, reuse, instants up to
  // first_byte); the Client completes it.
  TransferInfo transfer{};  // braced: `{status, headers, body}` stays warning-free
};

}  // namespace quiver::http

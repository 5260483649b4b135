#pragma once
// A request body: nothing, bytes in memory, a file read lazily, or a producer of chunks of unknown total
// length (called for each chunk, or asynchronous: it completes a callback when it has bytes). Bytes and
// files can be sent again (a transparent retry); a producer is one-shot.

#include "quiver/config.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "quiver/error.hpp"

namespace quiver {

class RequestBody {
 public:
  // Called on the connection's io thread each time the peer's flow-control window has room for more:
  // returns the next chunk, an empty optional at the end, or throws to fail the request (the stream is
  // reset and the request fails with body_failed naming the exception). It must not block.
  // An empty string means "nothing yet": the producer is asked again after a pause (1 ms, doubling up
  // to 64 ms while it stays empty), so the io thread never spins; bytes arriving from another thread
  // or socket are better streamed by an AsyncProducer, which is asked only when it has something.
  using Producer = std::function<std::optional<std::string>()>;

  // Completes one call of an AsyncProducer: the next chunk, an empty optional at the end of the body,
  // or an error (the request fails with body_failed carrying its message). Call it from any thread, at
  // any time (inside the producer too). Only the first call counts; dropping every copy uncalled
  // leaves the upload waiting (the request's timeout or a cancellation still end it).
  using ChunkCallback = std::function<void(Result<std::optional<std::string>>)>;
  // Called on an io thread each time the peer's flow-control window has room for more and the previous
  // chunk has been delivered: one call at a time, never while a ChunkCallback is outstanding. It must
  // not block: it keeps `next` and calls it when bytes are there. Throwing fails the request like an
  // error given to `next`.
  using AsyncProducer = std::function<void(ChunkCallback next)>;

  enum class Kind { none, bytes, file, producer };

  RequestBody() = default;
  RequestBody(std::string bytes);   // NOLINT(google-explicit-constructor): `request.body = "text"`
  RequestBody(const char* bytes);   // NOLINT(google-explicit-constructor)
  static RequestBody from_file(std::string path);
  static RequestBody from_producer(Producer producer);
  static RequestBody from_async_producer(AsyncProducer producer);

  Kind kind() const noexcept { return kind_; }
  // No body at all, or zero bytes.
  bool empty() const noexcept { return kind_ == Kind::none || (kind_ == Kind::bytes && bytes_.empty()); }
  // Bytes for Kind::bytes (empty otherwise).
  const std::string& bytes() const noexcept { return bytes_; }
  // Moves the bytes out (the library sends them without another copy).
  std::string take_bytes() && noexcept { return std::move(bytes_); }
  // The path for Kind::file (empty otherwise).
  const std::string& file_path() const noexcept { return path_; }
  // The producer for Kind::producer made by from_producer (null otherwise). Shared by copies of the
  // body: one-shot.
  const std::shared_ptr<Producer>& producer() const noexcept { return producer_; }
  // The producer for Kind::producer made by from_async_producer (null otherwise). Shared, one-shot.
  const std::shared_ptr<AsyncProducer>& async_producer() const noexcept { return async_producer_; }
  // Whether the body can be sent again from the start.
  bool replayable() const noexcept { return kind_ != Kind::producer; }

 private:
  Kind kind_ = Kind::none;
  std::string bytes_;
  std::string path_;
  std::shared_ptr<Producer> producer_;
  std::shared_ptr<AsyncProducer> async_producer_;
};

}  // namespace quiver

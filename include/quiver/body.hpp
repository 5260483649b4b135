#pragma once
// A request body: nothing, bytes in memory, a file read lazily, or a producer of chunks of unknown total
// length. Bytes and files can be sent again (a transparent retry); a producer is one-shot.

#include "quiver/config.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace quiver {

class RequestBody {
 public:
  // Called on the connection's io thread each time the peer's flow-control window has room for more:
  // returns the next chunk, an empty optional at the end, or throws to fail the request (the stream is
  // reset and the request fails with body_failed naming the exception). It must not block.
  using Producer = std::function<std::optional<std::string>()>;

  enum class Kind { none, bytes, file, producer };

  RequestBody() = default;
  RequestBody(std::string bytes);   // NOLINT(google-explicit-constructor): `request.body = "text"`
  RequestBody(const char* bytes);   // NOLINT(google-explicit-constructor)
  static RequestBody from_file(std::string path);
  static RequestBody from_producer(Producer producer);

  Kind kind() const noexcept { return kind_; }
  // No body at all, or zero bytes.
  bool empty() const noexcept { return kind_ == Kind::none || (kind_ == Kind::bytes && bytes_.empty()); }
  // Bytes for Kind::bytes (empty otherwise).
  const std::string& bytes() const noexcept { return bytes_; }
  // Moves the bytes out (the library sends them without another copy).
  std::string take_bytes() && noexcept { return std::move(bytes_); }
  // The path for Kind::file (empty otherwise).
  const std::string& file_path() const noexcept { return path_; }
  // The producer for Kind::producer (null otherwise). Shared by copies of the body: one-shot.
  const std::shared_ptr<Producer>& producer() const noexcept { return producer_; }
  // Whether the body can be sent again from the start.
  bool replayable() const noexcept { return kind_ != Kind::producer; }

 private:
  Kind kind_ = Kind::none;
  std::string bytes_;
  std::string path_;
  std::shared_ptr<Producer> producer_;
};

}  // namespace quiver

#pragma once
// Where the bytes of a streamed request body come from: a file read lazily, or the caller's producer
// (synchronous: next(); asynchronous: request_next()). Pulled by the worker outside any library callback
// (a producer is user code).

#include <chrono>
#include <cstddef>
#include <fstream>
#include <optional>
#include <string>

#include "quiver/body.hpp"
#include "quiver/error.hpp"

namespace quiver::http {

class BodySource {
 public:
  // `body` must be a file or producer body.
  explicit BodySource(const RequestBody& body) : body_(body) {}

  // Whether chunks come from an asynchronous producer (request_next) rather than from next().
  bool asynchronous() const noexcept { return static_cast<bool>(body_.async_producer()); }

  // The next chunk of at most `max_bytes`, an empty optional at the end, or body_failed naming the
  // problem (unreadable file, producer exception). An empty string: a producer has nothing yet.
  Result<std::optional<std::string>> next(std::size_t max_bytes);

  // Asks the asynchronous producer for its next chunk; `deliver` gets it (or body_failed) exactly once,
  // from any thread, perhaps inside this call.
  void request_next(RequestBody::ChunkCallback deliver);

  // How long to wait before asking a producer again after next() gave an empty string: 1 ms, doubling
  // with each empty answer in a row up to 64 ms (a chunk starts it over).
  std::chrono::milliseconds nothing_yet_pause();

 private:
  Result<std::optional<std::string>> next_from_file(std::size_t max_bytes);
  Result<std::optional<std::string>> next_from_producer();

  RequestBody body_;
  std::ifstream file_;
  bool opened_ = false;
  int empty_in_a_row_ = 0;
};

}  // namespace quiver::http

#pragma once
// Where the bytes of a streamed request body come from: a file read lazily, or the caller's producer.
// Pulled by the worker outside any library callback (a producer is user code).

#include <cstddef>
#include <fstream>
#include <optional>
#include <string>

#include "quiver/body.hpp"
#include "quiver/error.hpp"

namespace quiver::h3 {

class BodySource {
 public:
  // `body` must be a file or producer body.
  explicit BodySource(const RequestBody& body) : body_(body) {}

  // The next chunk of at most `max_bytes`, an empty optional at the end, or body_failed naming the
  // problem (unreadable file, producer exception).
  Result<std::optional<std::string>> next(std::size_t max_bytes);

 private:
  Result<std::optional<std::string>> next_from_file(std::size_t max_bytes);
  Result<std::optional<std::string>> next_from_producer();

  RequestBody body_;
  std::ifstream file_;
  bool opened_ = false;
};

}  // namespace quiver::h3

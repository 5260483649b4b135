#include "http/body_source.hpp"

#include <cerrno>
#include <algorithm>
#include <atomic>
#include <cstring>

#include <fmt/format.h>

namespace quiver::http {

namespace {

Error body_error(std::string message) {
  return Error(ErrorKind::body_failed, ErrorClass::invalid, std::move(message));
}

}  // namespace

Result<std::optional<std::string>> BodySource::next(std::size_t max_bytes) {
  if (body_.kind() == RequestBody::Kind::file) return next_from_file(max_bytes);
  return next_from_producer();
}

Result<std::optional<std::string>> BodySource::next_from_file(std::size_t max_bytes) {
  if (!opened_) {
    opened_ = true;
    file_.open(body_.file_path(), std::ios::binary);
    if (!file_) {
      return std::unexpected(body_error(fmt::format("cannot open body file '{}': {}", body_.file_path(),
                                                    std::strerror(errno))));
    }
  }
  std::string chunk(max_bytes, '\0');
  file_.read(chunk.data(), static_cast<std::streamsize>(max_bytes));
  if (file_.bad()) {
    return std::unexpected(body_error(fmt::format("cannot read body file '{}'", body_.file_path())));
  }
  chunk.resize(static_cast<std::size_t>(file_.gcount()));
  if (chunk.empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(chunk));
}

Result<std::optional<std::string>> BodySource::next_from_producer() {
  try {
    auto chunk = (*body_.producer())();
    if (!chunk || !chunk->empty()) empty_in_a_row_ = 0;
    return chunk;
  } catch (const std::exception& e) {
    return std::unexpected(body_error(fmt::format("request body producer failed: {}", e.what())));
  } catch (...) {
    return std::unexpected(body_error("request body producer failed with an unknown exception"));
  }
}

std::chrono::milliseconds BodySource::nothing_yet_pause() {
  int doublings = std::min(empty_in_a_row_++, 6);
  return std::chrono::milliseconds(1 << doublings);
}

void BodySource::request_next(RequestBody::ChunkCallback deliver) {
  // Only the first answer counts, whichever copy of the callback gives it (and from whichever thread).
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto once = [answered, deliver](Result<std::optional<std::string>> chunk) {
    if (answered->exchange(true)) return;
    if (!chunk) {
      return deliver(std::unexpected(body_error(fmt::format("request body producer failed: {}", chunk.error().message()))));
    }
    deliver(std::move(chunk));
  };
  try {
    (*body_.async_producer())(once);
  } catch (const std::exception& e) {
    once(std::unexpected(Error(ErrorKind::body_failed, e.what())));
  } catch (...) {
    once(std::unexpected(Error(ErrorKind::body_failed, "unknown exception")));
  }
}

}  // namespace quiver::http

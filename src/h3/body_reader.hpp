#pragma once
// The worker's BodyReader: the unread part of one streamed response body, and the consumer's pending
// read. Flow-control credit goes back to the peer only as the consumer takes bytes, so the buffer never
// holds more than the stream window.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "h3/connection.hpp"

namespace quiver::h3 {

// What a reader tells the worker that feeds it. Calls come on the worker's executor.
class BodyReaderOwner {
 public:
  virtual ~BodyReaderOwner() = default;
  virtual void on_body_consumed(RequestId id, std::size_t bytes) = 0;  // return the credit
  virtual void on_body_abandoned(RequestId id) = 0;                    // reset the stream
  virtual void on_body_finished(RequestId id, const std::optional<Error>& error) = 0;  // end or failure seen
};

class BodyReaderImpl final : public BodyReader, public std::enable_shared_from_this<BodyReaderImpl> {
 public:
  BodyReaderImpl(asio::any_io_executor executor, std::weak_ptr<BodyReaderOwner> owner, RequestId id,
                 std::chrono::milliseconds idle_timeout);
  ~BodyReaderImpl() override;  // abandons an unfinished body (posted to the owner's executor)

  // BodyReader
  void async_read(std::size_t max_bytes, ChunkHandler handler) override;
  const Headers& trailers() const override { return trailers_; }
  std::size_t buffered_bytes() const override { return buffered_; }
  void cancel() override;

  // Fed by the worker (possibly inside a library callback: they only buffer and post).
  void push(std::span<const std::uint8_t> data);
  void set_trailers(Headers trailers) { trailers_ = std::move(trailers); }
  void finish();               // the body is complete
  void fail(const Error& error);  // the body cannot complete; buffered bytes are dropped
  void start_idle_timer();     // call once the reader is handed to the consumer

 private:
  void serve_pending_read();
  void deliver(ChunkHandler handler, Result<std::optional<std::string>> result);
  void on_idle_check();
  bool done() const noexcept { return ended_ || error_.has_value(); }

  asio::any_io_executor executor_;
  std::weak_ptr<BodyReaderOwner> owner_;
  RequestId id_;
  std::chrono::milliseconds idle_timeout_;
  asio::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_activity_;

  std::deque<std::string> chunks_;  // unread bytes, in order
  std::size_t front_offset_ = 0;    // bytes of chunks_.front() already read
  std::size_t buffered_ = 0;        // unread bytes in chunks_
  ChunkHandler pending_;
  std::size_t pending_max_ = 0;
  Headers trailers_;
  bool ended_ = false;             // END_STREAM seen
  bool end_reported_ = false;      // the consumer has been told
  std::optional<Error> error_;
};

}  // namespace quiver::h3

#pragma once
// The workers' BodyReader (HTTP/3 and HTTP/2 alike): the unread part of one streamed response body, and
// the consumer's pending read. Flow-control credit goes back to the peer only as the consumer takes bytes, so the buffer never
// holds more than the stream window.
//
// Bytes arrive a packet (or record) at a time. While a buffer read (async_read_some) waits, they are copied straight
// into the consumer's buffer; otherwise they are appended to blocks from the connection's BlockPool (an
// emptied block goes back there). A pending read is answered from a posted step, so everything that
// arrived in one receive burst goes out in one answer; until that step runs the read stays pending, so
// bytes arriving meanwhile still go straight into its buffer (a read started while blocks hold bytes
// takes those first). A chunk read usually gets a whole block, moved.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "http/block_pool.hpp"
#include "http/connection.hpp"
#include "http/posted_answers.hpp"
#include "util/clock.hpp"

namespace quiver::http {

// A request's key inside its worker (calls, body readers); never handed to callers.
using RequestId = std::uint64_t;

// What a reader tells the worker that feeds it. Calls come on the worker's executor.
class BodyReaderOwner {
 public:
  virtual ~BodyReaderOwner() = default;
  // Returns the credit of `bytes` read from `stream_id`; owed even after the stream closed (its share of
  // the connection window is still held).
  virtual void on_body_consumed(std::int64_t stream_id, std::size_t bytes) = 0;
  virtual void on_body_abandoned(RequestId id) = 0;                    // reset the stream
  virtual void on_body_finished(RequestId id, const std::optional<Error>& error) = 0;  // end or failure seen
};

// What a reader shares with its connection (it may outlive the connection).
struct ReaderResources {
  asio::any_io_executor executor;  // the connection's: every call of the owner and of the reader runs there
  std::shared_ptr<BlockPool> blocks;
  std::shared_ptr<PostedAnswers> answers;  // the reader's answers are posted through it
};

class BodyReaderImpl final : public BodyReader, public std::enable_shared_from_this<BodyReaderImpl> {
 public:
  BodyReaderImpl(ReaderResources resources, std::weak_ptr<BodyReaderOwner> owner, RequestId id,
                 std::int64_t stream_id, std::chrono::milliseconds idle_timeout);
  ~BodyReaderImpl() override;  // abandons an unfinished body (posted to the owner's executor)

  // BodyReader
  void async_read(std::size_t max_bytes, ChunkHandler handler) override;
  void async_read_some(std::span<char> buffer, SizeHandler handler) override;
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
  // The consumer's read while it waits: a chunk of at most `max` bytes (on_chunk set), or bytes copied
  // into `buffer`, `filled` of them so far (on_bytes set).
  struct PendingRead {
    ChunkHandler on_chunk;
    SizeHandler on_bytes;
    std::size_t max = 0;
    std::span<char> buffer;
    std::size_t filled = 0;
    bool wants_chunk() const noexcept { return static_cast<bool>(on_chunk); }
  };

  void start_read(PendingRead read);
  std::size_t fill_pending(std::span<const std::uint8_t> data);
  std::size_t fill_pending_from_blocks();
  void append(std::span<const std::uint8_t> data);
  void schedule_serve();
  // How an answer reaches the consumer's handler: posted, unless the caller is itself a posted step
  // (never inside a library callback or the initiating call).
  enum class Delivery { posted, direct };
  void serve_pending_read(Delivery delivery = Delivery::posted);
  std::string take_front(std::size_t max_bytes);
  void pop_front_block();
  void deliver_chunk(Result<std::optional<std::string>> result, Delivery delivery);
  void deliver_bytes(Result<std::size_t> result, Delivery delivery);
  void deliver_error(const Error& error, Delivery delivery);
  void give_credit(std::size_t bytes);
  void on_idle_check();
  bool done() const noexcept { return ended_ || error_.has_value(); }

  asio::any_io_executor executor_;
  std::weak_ptr<BodyReaderOwner> owner_;
  std::shared_ptr<BlockPool> blocks_;
  std::shared_ptr<PostedAnswers> answers_;
  RequestId id_;
  std::int64_t stream_id_;
  std::chrono::milliseconds idle_timeout_;
  asio::steady_timer idle_timer_;
  util::CoarseClock::time_point last_activity_;  // per packet: a clock cheap to read

  std::deque<std::string> chunks_;  // unread bytes, in order; only the back block still grows
  std::size_t front_offset_ = 0;    // bytes of chunks_.front() already read
  std::size_t buffered_ = 0;        // unread bytes in chunks_
  std::optional<PendingRead> pending_;
  bool serve_scheduled_ = false;  // a posted serve_pending_read is on its way
  Headers trailers_;
  bool ended_ = false;             // END_STREAM seen
  bool end_reported_ = false;      // the consumer has been told
  std::optional<Error> error_;
};

}  // namespace quiver::http

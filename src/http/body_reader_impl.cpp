#include "http/body_reader_impl.hpp"

#include <algorithm>
#include <cstring>

#include <asio/post.hpp>
#include <fmt/format.h>

#include "util/clock.hpp"

namespace quiver::http {


BodyReaderImpl::BodyReaderImpl(ReaderResources resources, std::weak_ptr<BodyReaderOwner> owner, RequestId id,
                               std::int64_t stream_id, std::chrono::milliseconds idle_timeout)
    : executor_(resources.executor),
      owner_(std::move(owner)),
      blocks_(std::move(resources.blocks)),
      answers_(std::move(resources.answers)),
      id_(id),
      stream_id_(stream_id),
      idle_timeout_(idle_timeout),
      idle_timer_(executor_),
      last_activity_(util::CoarseClock::now()) {}

BodyReaderImpl::~BodyReaderImpl() {
  if (done()) return;
  // May run on any thread (the consumer dropped its reference): hop to the worker's executor.
  asio::post(executor_, [owner = owner_, id = id_, stream_id = stream_id_, unread = buffered_] {
    auto locked = owner.lock();
    if (!locked) return;
    locked->on_body_abandoned(id);
    locked->on_body_consumed(stream_id, unread);
  });
}

void BodyReaderImpl::async_read(std::size_t max_bytes, ChunkHandler handler) {
  PendingRead read;
  read.on_chunk = std::move(handler);
  read.max = std::max<std::size_t>(max_bytes, 1);
  start_read(std::move(read));
}

void BodyReaderImpl::async_read_some(std::span<char> buffer, SizeHandler handler) {
  if (buffer.empty()) {
    asio::post(executor_, [handler = std::move(handler)]() mutable {
      handler(std::unexpected(Error(ErrorKind::invalid_request, ErrorClass::invalid, "body read into an empty buffer")));
    });
    return;
  }
  PendingRead read;
  read.on_bytes = std::move(handler);
  read.buffer = buffer;
  start_read(std::move(read));
}

void BodyReaderImpl::start_read(PendingRead read) {
  last_activity_ = util::CoarseClock::now();
  if (pending_) {
    Error busy(ErrorKind::invalid_request, ErrorClass::invalid, "a body read is already pending");
    asio::post(executor_, [read = std::move(read), busy]() mutable {
      if (read.wants_chunk()) {
        read.on_chunk(std::unexpected(busy));
      } else {
        read.on_bytes(std::unexpected(busy));
      }
    });
    return;
  }
  pending_ = std::move(read);
  if (!pending_->wants_chunk()) give_credit(fill_pending_from_blocks());
  // The answer goes out from a posted step; until then the read stays pending, so bytes arriving in
  // between still go straight into its buffer instead of into blocks (and a second copy).
  if (error_ || !chunks_.empty() || pending_->filled > 0 || (ended_ && !end_reported_)) schedule_serve();
}

// Also after the end of the body: the request's upload may still run, and the owner stops it.
void BodyReaderImpl::cancel() {
  if (auto owner = owner_.lock()) owner->on_body_abandoned(id_);
  if (done()) return;
  fail(Error(ErrorKind::cancelled, ErrorClass::unrecoverable, "response body cancelled by the caller"));
}

void BodyReaderImpl::push(std::span<const std::uint8_t> data) {
  if (data.empty()) return;
  if (done()) {  // nobody will read these: their credit goes back at once
    give_credit(data.size());
    return;
  }
  last_activity_ = util::CoarseClock::now();
  const std::size_t copied = fill_pending(data);
  give_credit(copied);  // in the consumer's buffer: consumed, and the credit leaves with this burst's packets
  data = data.subspan(copied);
  if (!data.empty()) {
    append(data);
    buffered_ += data.size();
  }
  schedule_serve();
}

// Copies what fits of `data` into a waiting buffer read, if bytes may go there directly (nothing older
// is buffered); returns how many.
std::size_t BodyReaderImpl::fill_pending(std::span<const std::uint8_t> data) {
  if (!pending_ || pending_->wants_chunk() || !chunks_.empty()) return 0;
  const std::size_t n = std::min(data.size(), pending_->buffer.size() - pending_->filled);
  std::memcpy(pending_->buffer.data() + pending_->filled, data.data(), n);
  pending_->filled += n;
  return n;
}

// Moves buffered bytes into a waiting buffer read; returns how many (their credit is the caller's).
std::size_t BodyReaderImpl::fill_pending_from_blocks() {
  std::size_t moved = 0;
  while (!chunks_.empty() && pending_->filled < pending_->buffer.size()) {
    const std::string& front = chunks_.front();
    const std::size_t n = std::min(front.size() - front_offset_, pending_->buffer.size() - pending_->filled);
    std::memcpy(pending_->buffer.data() + pending_->filled, front.data() + front_offset_, n);
    pending_->filled += n;
    front_offset_ += n;
    moved += n;
    if (front_offset_ == front.size()) pop_front_block();
  }
  buffered_ -= moved;
  return moved;
}

void BodyReaderImpl::append(std::span<const std::uint8_t> data) {
  if (chunks_.empty() || chunks_.back().capacity() - chunks_.back().size() < data.size()) {
    chunks_.push_back(blocks_->take(data.size()));
  }
  chunks_.back().append(reinterpret_cast<const char*>(data.data()), data.size());
}

// Runs serve_pending_read after the current receive burst, once however many pushes it brings.
void BodyReaderImpl::schedule_serve() {
  if (!pending_ || serve_scheduled_) return;
  serve_scheduled_ = true;
  answers_->post(executor_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->serve_scheduled_ = false;
      self->serve_pending_read(Delivery::direct);
    }
  });
}

void BodyReaderImpl::finish() {
  if (done()) return;
  ended_ = true;
  idle_timer_.cancel();
  serve_pending_read();
}

void BodyReaderImpl::fail(const Error& error) {
  if (done()) return;
  error_ = error;
  give_credit(buffered_);  // dropped, but they still hold flow-control credit
  chunks_.clear();
  front_offset_ = 0;
  buffered_ = 0;
  idle_timer_.cancel();
  if (auto owner = owner_.lock()) owner->on_body_finished(id_, error_);
  serve_pending_read();
}

// Answers the pending read if there is something to answer with: bytes, the end, or the error.
void BodyReaderImpl::serve_pending_read(Delivery delivery) {
  if (!pending_) return;
  if (error_) return deliver_error(*error_, delivery);
  if (pending_->wants_chunk() && !chunks_.empty()) {
    std::string chunk = take_front(pending_->max);
    const std::size_t taken = chunk.size();
    buffered_ -= taken;
    give_credit(taken);
    return deliver_chunk(std::optional<std::string>(std::move(chunk)), delivery);
  }
  if (!pending_->wants_chunk()) {
    give_credit(fill_pending_from_blocks());
    if (const std::size_t filled = pending_->filled; filled > 0) return deliver_bytes(filled, delivery);
  }
  if (ended_ && !end_reported_) {
    end_reported_ = true;
    if (auto owner = owner_.lock()) owner->on_body_finished(id_, std::nullopt);
    if (pending_->wants_chunk()) return deliver_chunk(std::optional<std::string>(), delivery);
    deliver_bytes(std::size_t{0}, delivery);
  }
}

// Up to `max_bytes` from the front block: the block itself when the read takes all of it.
std::string BodyReaderImpl::take_front(std::size_t max_bytes) {
  std::string& front = chunks_.front();
  const std::size_t take = std::min(max_bytes, front.size() - front_offset_);
  if (front_offset_ == 0 && take == front.size()) {
    std::string chunk = std::move(front);
    chunks_.pop_front();
    return chunk;
  }
  std::string chunk = front.substr(front_offset_, take);
  front_offset_ += take;
  if (front_offset_ == front.size()) pop_front_block();
  return chunk;
}

// Drops the fully read front block; its storage goes back to the pool.
void BodyReaderImpl::pop_front_block() {
  blocks_->give(std::move(chunks_.front()));
  chunks_.pop_front();
  front_offset_ = 0;
}

void BodyReaderImpl::deliver_chunk(Result<std::optional<std::string>> result, Delivery delivery) {
  auto handler = std::move(pending_->on_chunk);
  pending_.reset();
  if (delivery == Delivery::direct) return handler(std::move(result));
  answers_->post(executor_, [handler = std::move(handler), result = std::move(result)]() mutable {
    handler(std::move(result));
  });
}

void BodyReaderImpl::deliver_bytes(Result<std::size_t> result, Delivery delivery) {
  auto handler = std::move(pending_->on_bytes);
  pending_.reset();
  if (delivery == Delivery::direct) return handler(result);
  answers_->post(executor_, [handler = std::move(handler), result]() mutable { handler(result); });
}

void BodyReaderImpl::deliver_error(const Error& error, Delivery delivery) {
  if (pending_->wants_chunk()) return deliver_chunk(std::unexpected(error), delivery);
  deliver_bytes(std::unexpected(error), delivery);
}

void BodyReaderImpl::give_credit(std::size_t bytes) {
  if (bytes == 0) return;
  if (auto owner = owner_.lock()) owner->on_body_consumed(stream_id_, bytes);
}

// The idle timer wakes at last activity + timeout; any activity in between just moves the next check.
void BodyReaderImpl::start_idle_timer() {
  if (idle_timeout_.count() <= 0 || done()) return;
  idle_timer_.expires_after(last_activity_ + idle_timeout_ - util::CoarseClock::now());
  idle_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = weak.lock();
    if (!ec && self) self->on_idle_check();
  });
}

void BodyReaderImpl::on_idle_check() {
  if (done()) return;
  if (util::CoarseClock::now() < last_activity_ + idle_timeout_) {
    start_idle_timer();
    return;
  }
  if (auto owner = owner_.lock()) owner->on_body_abandoned(id_);
  fail(Error(ErrorKind::idle_timeout, ErrorClass::unrecoverable,
             fmt::format("response body idle for {} ms (no read and no data)", idle_timeout_.count())));
}

}  // namespace quiver::http

#include "h3/body_reader.hpp"

#include <algorithm>

#include <asio/post.hpp>
#include <fmt/format.h>

namespace quiver::h3 {

BodyReaderImpl::BodyReaderImpl(asio::any_io_executor executor, std::weak_ptr<BodyReaderOwner> owner,
                               RequestId id, std::chrono::milliseconds idle_timeout)
    : executor_(executor),
      owner_(std::move(owner)),
      id_(id),
      idle_timeout_(idle_timeout),
      idle_timer_(executor),
      last_activity_(std::chrono::steady_clock::now()) {}

BodyReaderImpl::~BodyReaderImpl() {
  if (done()) return;
  // May run on any thread (the consumer dropped its reference): hop to the worker's executor.
  asio::post(executor_, [owner = owner_, id = id_] {
    if (auto locked = owner.lock()) locked->on_body_abandoned(id);
  });
}

void BodyReaderImpl::async_read(std::size_t max_bytes, ChunkHandler handler) {
  last_activity_ = std::chrono::steady_clock::now();
  if (pending_) {
    deliver(std::move(handler), std::unexpected(Error(ErrorKind::invalid_request, ErrorClass::invalid,
                                                      "a body read is already pending")));
    return;
  }
  pending_ = std::move(handler);
  pending_max_ = std::max<std::size_t>(max_bytes, 1);
  serve_pending_read();
}

void BodyReaderImpl::cancel() {
  if (done()) return;
  if (auto owner = owner_.lock()) owner->on_body_abandoned(id_);
  fail(Error(ErrorKind::cancelled, ErrorClass::unrecoverable, "response body cancelled by the caller"));
}

void BodyReaderImpl::push(std::span<const std::uint8_t> data) {
  if (done() || data.empty()) return;
  last_activity_ = std::chrono::steady_clock::now();
  chunks_.emplace_back(reinterpret_cast<const char*>(data.data()), data.size());
  buffered_ += data.size();
  serve_pending_read();
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
  chunks_.clear();
  front_offset_ = 0;
  buffered_ = 0;
  idle_timer_.cancel();
  if (auto owner = owner_.lock()) owner->on_body_finished(id_, error_);
  serve_pending_read();
}

// Answers the pending read if there is something to answer with: bytes, the end, or the error.
void BodyReaderImpl::serve_pending_read() {
  if (!pending_) return;
  if (error_) {
    deliver(std::move(pending_), std::unexpected(*error_));
    return;
  }
  if (!chunks_.empty()) {
    std::string& front = chunks_.front();
    std::size_t take = std::min(pending_max_, front.size() - front_offset_);
    std::string chunk;
    if (front_offset_ == 0 && take == front.size()) {
      chunk = std::move(front);
      chunks_.pop_front();
    } else {
      chunk = front.substr(front_offset_, take);
      front_offset_ += take;
      if (front_offset_ == front.size()) {
        chunks_.pop_front();
        front_offset_ = 0;
      }
    }
    buffered_ -= take;
    deliver(std::move(pending_), std::optional<std::string>(std::move(chunk)));
    if (auto owner = owner_.lock()) owner->on_body_consumed(id_, take);
    return;
  }
  if (ended_ && !end_reported_) {
    end_reported_ = true;
    deliver(std::move(pending_), std::optional<std::string>());
    if (auto owner = owner_.lock()) owner->on_body_finished(id_, std::nullopt);
  }
}

void BodyReaderImpl::deliver(ChunkHandler handler, Result<std::optional<std::string>> result) {
  asio::post(executor_, [handler = std::move(handler), result = std::move(result)]() mutable {
    handler(std::move(result));
  });
}

// The idle timer wakes at last activity + timeout; any activity in between just moves the next check.
void BodyReaderImpl::start_idle_timer() {
  if (idle_timeout_.count() <= 0 || done()) return;
  idle_timer_.expires_at(last_activity_ + idle_timeout_);
  idle_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = weak.lock();
    if (!ec && self) self->on_idle_check();
  });
}

void BodyReaderImpl::on_idle_check() {
  if (done()) return;
  if (std::chrono::steady_clock::now() < last_activity_ + idle_timeout_) {
    start_idle_timer();
    return;
  }
  if (auto owner = owner_.lock()) owner->on_body_abandoned(id_);
  fail(Error(ErrorKind::idle_timeout, ErrorClass::unrecoverable,
             fmt::format("response body idle for {} ms (no read and no data)", idle_timeout_.count())));
}

}  // namespace quiver::h3

#include "tcp/stream_source.hpp"

#include <asio/post.hpp>

namespace quiver::tcp {

DialedStream::DialedStream(asio::any_io_executor executor, Result<std::shared_ptr<TlsStream>> outcome,
                           std::chrono::steady_clock::time_point started_at)
    : executor_(std::move(executor)), outcome_(std::move(outcome)), started_at_(started_at) {}

void DialedStream::dial(Handler on_done) {
  on_done_ = std::move(on_done);
  asio::post(executor_, [self = shared_from_this()] { self->hand_over(); });
}

void DialedStream::abort(Error reason) {
  if (handed_over_) return;
  if (outcome_) (*outcome_)->close(reason);
  outcome_ = std::unexpected(std::move(reason));
  hand_over();
}

void DialedStream::hand_over() {
  if (handed_over_ || !on_done_) return;
  handed_over_ = true;
  auto done = std::move(on_done_);
  done(std::move(outcome_));
}

}  // namespace quiver::tcp

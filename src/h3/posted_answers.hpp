#pragma once
// The answers a connection has posted to its consumers (responses, body reads) that have not run yet.
//
// The transport's write waits behind them for a few hops: a consumer's handler often sends the next
// request, which then rides in the packet that carries the ACK, instead of costing a packet of its own
// (and the peer's ACK of that packet). Used only on the connection's executor.

#include <cstddef>
#include <memory>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

namespace quiver::h3 {

class PostedAnswers : public std::enable_shared_from_this<PostedAnswers> {
 public:
  // Posts `handler` (an answer) to `executor`; it counts as pending until it starts.
  template <class Handler>
  void post(const asio::any_io_executor& executor, Handler handler) {
    ++pending_;
    asio::post(executor, [self = shared_from_this(), handler = std::move(handler)]() mutable {
      --self->pending_;
      handler();
    });
  }

  std::size_t pending() const noexcept { return pending_; }

 private:
  std::size_t pending_ = 0;
};

}  // namespace quiver::h3

#pragma once
// The answers a connection posts to its consumers (responses, body reads): each holds the transport's
// flush (quic::WriteHold) from when it is posted until it has run, so a handler's follow-up request
// shares the packet that carries the ACK (the rule and the bound are the transport's: quic/write_hold.hpp).
// Used only on the connection's executor.

#include <memory>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

#include "quic/write_hold.hpp"

namespace quiver::h3 {

class PostedAnswers {
 public:
  // The transport whose flush the answers hold; until set, holds count on a handle nobody reads.
  void hold_writes_of(quic::WriteHolds holds) { holds_ = std::move(holds); }

  // Posts `handler` (an answer) to `executor`, holding the flush until it has run (or is dropped unrun).
  template <class Handler>
  void post(const asio::any_io_executor& executor, Handler handler) {
    asio::post(executor, [hold = holds_.take(), handler = std::move(handler)]() mutable {
      handler();
      hold.release();
    });
  }

 private:
  quic::WriteHolds holds_;
};

}  // namespace quiver::h3

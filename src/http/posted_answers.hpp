#pragma once
// The answers a connection posts to its consumers (responses, body reads): each holds the transport's
// flush (util::WriteHold) from when it is posted until it has run, so a handler's follow-up request
// shares the packet that carries the ACK (the rule and the bound are the transport's: util/write_hold.hpp).
// Used only on the connection's executor.

#include <memory>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

#include "util/write_hold.hpp"

namespace quiver::http {

class PostedAnswers {
 public:
  // The transport whose flush the answers hold; until set, holds count on a handle nobody reads.
  void hold_writes_of(util::WriteHolds holds) { holds_ = std::move(holds); }

  // Posts `handler` (an answer) to `executor`, holding the flush until it has run (or is dropped unrun).
  template <class Handler>
  void post(const asio::any_io_executor& executor, Handler handler) {
    asio::post(executor, [hold = holds_.take(), handler = std::move(handler)]() mutable {
      handler();
      hold.release();
    });
  }

 private:
  util::WriteHolds holds_;
};

}  // namespace quiver::http

#pragma once
// Counted holds on a transport's next flush: write coalescing, driven from below.
//
// The worker takes a WriteHold for each answer it posts to its callers (responses, body reads) and lets
// it go when the answer has run. A scheduled flush steps back behind the queued work while holds are
// alive, so the next requests those answers' handlers send ride in the packet that carries the ACK
// instead of costing a packet of their own. The transport knows nothing of who holds, only how many.
//
// Rule (kept from the measured behaviour, decided here in the transport, not by the worker): a flush
// waits only while MORE THAN ONE hold is alive. A single exchange's ACK goes at once, so the peer
// retires its stream while our caller works (measured: 10% faster); several answers share one packet.
// The wait has its own bound (`max_deferrals` hops), so a leaked or slow hold cannot stall a connection.
//
// Used on one executor only. The count is shared: holds may outlive the transport that gave them.

#include <cstddef>
#include <memory>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

namespace quiver::util {

// One hold on a transport's flush; released when destroyed. Move-only.
class WriteHold {
 public:
  WriteHold() = default;
  explicit WriteHold(std::shared_ptr<std::size_t> count) : count_(std::move(count)) {
    if (count_) ++*count_;
  }
  WriteHold(WriteHold&& other) noexcept = default;
  WriteHold& operator=(WriteHold&& other) noexcept {
    if (this != &other) {
      release();
      count_ = std::move(other.count_);
    }
    return *this;
  }
  WriteHold(const WriteHold&) = delete;
  WriteHold& operator=(const WriteHold&) = delete;
  ~WriteHold() { release(); }

  void release() noexcept {
    if (count_) --*count_;
    count_.reset();
  }

 private:
  std::shared_ptr<std::size_t> count_;
};

// The holds on one transport's flush: a handle that gives holds and counts the live ones. Copies share
// the count (the transport keeps one, the worker's answer bookkeeping another).
class WriteHolds {
 public:
  WriteHold take() const { return WriteHold(count_); }
  std::size_t alive() const noexcept { return *count_; }
  // Whether a flush should step back now (see the rule above).
  bool holding() const noexcept { return alive() > 1; }

  // Posts `flush` to `executor`. When it comes up while holding(), it is posted again behind the work
  // queued since, at most `max_deferrals` times; then it runs whatever the count.
  template <class Flush>
  void post_flush(const asio::any_io_executor& executor, std::size_t max_deferrals, Flush flush) const {
    asio::post(executor, [holds = *this, executor, max_deferrals, flush = std::move(flush)]() mutable {
      if (max_deferrals > 0 && holds.holding()) {
        holds.post_flush(executor, max_deferrals - 1, std::move(flush));
        return;
      }
      flush();
    });
  }

 private:
  std::shared_ptr<std::size_t> count_ = std::make_shared<std::size_t>(0);
};

}  // namespace quiver::util

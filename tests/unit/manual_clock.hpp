#pragma once
// A pool::Clock whose time moves only when the test says so. advance() fires the timers that fell due
// by posting their callbacks to their executors, in deadline order; it never runs a callback itself, so
// a callback still runs from the executor (the test polls it), never inside the test's own pool call.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

#include "pool/clock.hpp"

namespace quiver::pool::testing {

class ManualClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }

  std::unique_ptr<Timer> schedule(const asio::any_io_executor& executor, Duration delay,
                                  Callback callback) override {
    auto entry = std::make_shared<Entry>(Entry{now_ + delay, next_sequence_++, executor, std::move(callback)});
    entries_.push_back(entry);
    return std::make_unique<ManualTimer>(entry);
  }

  // Moves now() forward by `by`, then posts the callback of every timer due by then (deadline <= now()),
  // earliest deadline first (ties: scheduling order). A timer scheduled by one of those callbacks counts
  // from the new now(), since the callbacks run only once the test polls the executor.
  void advance(Duration by) {
    now_ += by;
    auto not_due = std::stable_partition(entries_.begin(), entries_.end(),
                                         [this](const EntryPtr& entry) { return entry->deadline <= now_; });
    std::vector<EntryPtr> due(entries_.begin(), not_due);
    entries_.erase(entries_.begin(), not_due);
    std::stable_sort(due.begin(), due.end(), [](const EntryPtr& a, const EntryPtr& b) {
      return a->deadline != b->deadline ? a->deadline < b->deadline : a->sequence < b->sequence;
    });
    for (const EntryPtr& entry : due) fire(entry);
  }

  // Timers scheduled and neither fired nor cancelled.
  std::size_t pending() const {
    return static_cast<std::size_t>(
        std::count_if(entries_.begin(), entries_.end(), [](const EntryPtr& entry) { return !entry->cancelled; }));
  }

 private:
  // One scheduled call, shared by the clock's list (until due) and its Timer; the callback is moved out
  // when it is posted (fired) or released (cancelled), so it is empty afterwards.
  struct Entry {
    TimePoint deadline;
    std::uint64_t sequence = 0;
    asio::any_io_executor executor;
    Callback callback;
    bool cancelled = false;
  };
  using EntryPtr = std::shared_ptr<Entry>;

  class ManualTimer final : public Timer {
   public:
    explicit ManualTimer(EntryPtr entry) : entry_(std::move(entry)) {}
    ~ManualTimer() override { cancel(); }
    // Like asio: the callback is released on the executor, never here (it may own the Timer's owner).
    void cancel() noexcept override {
      if (entry_->cancelled) return;
      entry_->cancelled = true;
      if (entry_->callback) asio::post(entry_->executor, [callback = std::exchange(entry_->callback, nullptr)] {});
    }

   private:
    EntryPtr entry_;
  };

  // The posted call checks `cancelled` again: a cancel between advance() and the poll wins.
  static void fire(const EntryPtr& entry) {
    if (entry->cancelled) return;
    asio::post(entry->executor, [entry, callback = std::exchange(entry->callback, nullptr)]() mutable {
      if (!entry->cancelled) callback();
    });
  }

  TimePoint now_{};
  std::uint64_t next_sequence_ = 0;
  std::vector<EntryPtr> entries_;  // not yet due, in scheduling order
};

}  // namespace quiver::pool::testing

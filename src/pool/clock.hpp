#pragma once
// The pool's time: the deadlines it schedules (checkout timeout, idle close, shutdown deadline). The pool
// depends only on this interface, so the unit tests move time by hand (tests/unit/manual_clock.hpp);
// everything else uses real_clock() (asio::steady_timer).

#include <chrono>
#include <functional>
#include <memory>

#include <asio/any_io_executor.hpp>

namespace quiver::pool {

// One scheduled call, from Clock::schedule. Destroying the Timer cancels it.
// Threading: cancel and destroy it on the executor its callback was scheduled on.
class Timer {
 public:
  virtual ~Timer() = default;
  Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // After cancel() the callback never runs, even if its deadline has passed and its call is already
  // queued on the executor. The callback object is destroyed later on the executor, never inside
  // cancel(), so it may hold the last reference to the Timer's owner. The Timer may be cancelled or
  // destroyed from inside its own callback.
  virtual void cancel() noexcept = 0;
};

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;
  using Callback = std::move_only_function<void()>;

  virtual ~Clock() = default;

  virtual TimePoint now() const = 0;
  // Calls `callback` once, posted to `executor` (never inline), when `delay` has passed, unless the
  // returned Timer is cancelled or destroyed first. The Timer does not need the Clock to outlive it.
  virtual std::unique_ptr<Timer> schedule(const asio::any_io_executor& executor, Duration delay,
                                          Callback callback) = 0;
};

// std::chrono::steady_clock and asio::steady_timer; stateless and shared.
std::shared_ptr<Clock> real_clock();

}  // namespace quiver::pool

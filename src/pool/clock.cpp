// The real clock: asio::steady_timer on the caller's executor.
#include "pool/clock.hpp"

#include <system_error>
#include <utility>

#include <asio/steady_timer.hpp>

namespace quiver::pool {

namespace {

class SteadyTimer final : public Timer {
 public:
  SteadyTimer(const asio::any_io_executor& executor, Clock::Duration delay, Clock::Callback callback)
      : timer_(executor, delay) {
    // The flag covers what asio's cancel cannot: a completion already queued with success.
    timer_.async_wait([cancelled = cancelled_, callback = std::move(callback)](std::error_code ec) mutable {
      if (!ec && !*cancelled) callback();
    });
  }
  ~SteadyTimer() override { cancel(); }

  // asio posts the aborted handler, so the callback is destroyed on the executor.
  void cancel() noexcept override {
    *cancelled_ = true;
    timer_.cancel();
  }

 private:
  std::shared_ptr<bool> cancelled_ = std::make_shared<bool>(false);  // shared with the wait handler
  asio::steady_timer timer_;
};

class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  std::unique_ptr<Timer> schedule(const asio::any_io_executor& executor, Duration delay,
                                  Callback callback) override {
    return std::make_unique<SteadyTimer>(executor, delay, std::move(callback));
  }
};

}  // namespace

std::shared_ptr<Clock> real_clock() {
  static const std::shared_ptr<Clock> clock = std::make_shared<SteadyClock>();
  return clock;
}

}  // namespace quiver::pool

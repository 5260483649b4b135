#include "console.hpp"

namespace quiver::cli {

namespace {
constexpr std::string_view erase_line = "\r\033[K";  // carriage return, then ANSI "erase to end of line"
}

void Console::line(std::string_view text) {
  std::lock_guard lock(mutex_);
  const bool redraw = !status_.empty();
  erase_status_locked();
  err_ << text << '\n';
  if (redraw) err_ << status_;
  err_.flush();
}

void Console::status(std::string text) {
  if (!terminal_) return;
  std::lock_guard lock(mutex_);
  erase_status_locked();
  status_ = std::move(text);
  err_ << status_;
  err_.flush();
}

void Console::end_status(bool keep) {
  std::lock_guard lock(mutex_);
  if (status_.empty()) return;
  if (keep) {
    err_ << '\n';
  } else {
    erase_status_locked();
  }
  status_.clear();
  err_.flush();
}

void Console::erase_status_locked() {
  if (!status_.empty()) err_ << erase_line;
}

StatusTicker::StatusTicker(Console& console, std::function<std::string()> render, std::chrono::milliseconds interval)
    : console_(console), render_(std::move(render)), interval_(interval) {
  if (console_.is_terminal()) thread_ = std::thread([this] { run(); });
}

StatusTicker::~StatusTicker() { stop(); }

void StatusTicker::stop(bool keep) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;
  thread_.join();
  if (keep) console_.status(render_());  // the final state, e.g. 100%
  console_.end_status(keep);
}

void StatusTicker::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    console_.status(render_());
    lock.lock();
  }
}

}  // namespace quiver::cli

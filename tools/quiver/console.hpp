#pragma once
// stderr as the CLI uses it: whole lines (logs, errors) from any thread, plus on a terminal one status
// line (progress bar, bench's live numbers) that is redrawn in place and kept below the other lines.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>

namespace quiver::cli {

class Console {
 public:
  // `err` is borrowed and must outlive the console. `terminal`: whether it is a terminal (isatty), the
  // only case where a status line is drawn.
  Console(std::ostream& err, bool terminal) : err_(err), terminal_(terminal) {}
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  bool is_terminal() const noexcept { return terminal_; }

  // Writes `text` and a newline. A status line on screen is erased first and redrawn after it.
  void line(std::string_view text);
  // Replaces the status line (a no-op unless is_terminal()).
  void status(std::string text);
  // Ends the status line: `keep` leaves its last text on screen, otherwise it is erased.
  void end_status(bool keep);

 private:
  void erase_status_locked();

  std::mutex mutex_;
  std::ostream& err_;
  const bool terminal_;
  std::string status_;  // what is on screen on the status line; empty: none
};

// Redraws a console's status line every `interval` from its own thread, with the text `render` returns,
// until stop() (or destruction), which draws it one last time. Does nothing unless the console is a
// terminal. `render` is called on the ticker's thread and must be thread-safe.
class StatusTicker {
 public:
  StatusTicker(Console& console, std::function<std::string()> render,
               std::chrono::milliseconds interval = std::chrono::milliseconds(200));
  ~StatusTicker();
  StatusTicker(const StatusTicker&) = delete;
  StatusTicker& operator=(const StatusTicker&) = delete;

  // Draws the final state and ends the line (`keep`: leave it on screen). Idempotent.
  void stop(bool keep = true);

 private:
  void run();

  Console& console_;  // borrowed
  std::function<std::string()> render_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace quiver::cli

#pragma once
// Transfer progress: counters the transfers bump from any thread, a rate estimate over the last
// seconds, and the one-line bar drawn on the console's status line:
//
//   [2/5]  42% [########------------]  4.20 MB / 10.0 MB  12.3 MB/s  ETA 0:01
//   upload  75% [###############-----]  48.0 KB / 64.0 KB  1.20 MB/s  ETA 0:00
//   1.20 MB  3.40 MB/s                                   (size unknown: no bar, no ETA)

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "console.hpp"

namespace quiver::cli {

// Totals over every transfer of a command. Lock-free; the transfers write, the renderer reads.
struct TransferCounters {
  std::atomic<std::uint64_t> downloaded{0};
  std::atomic<std::uint64_t> download_expected{0};  // sum of the known content-lengths
  std::atomic<std::uint32_t> unknown_sizes{0};      // responses without content-length
  std::atomic<std::uint64_t> uploaded{0};           // request body bytes handed to the library
  std::atomic<std::uint64_t> upload_expected{0};
  std::atomic<std::uint32_t> finished{0};
  std::uint32_t total = 1;                          // transfers in the command
};

// A consistent-enough copy of the counters, plus the rate, for formatting.
struct ProgressSnapshot {
  std::uint64_t downloaded = 0, download_expected = 0;
  bool download_size_known = false;
  std::uint64_t uploaded = 0, upload_expected = 0;
  std::uint32_t finished = 0, total = 1;
  double bytes_per_second = 0;  // uploads and downloads together
};

ProgressSnapshot snapshot(const TransferCounters& counters);

// The status line for `progress`; `bar_width` characters between the brackets.
std::string format_progress(const ProgressSnapshot& progress, std::size_t bar_width = 20);

// curl's -# bar: '#' for the part done over `width` columns, then the percentage ("######     42.0%");
// with an unknown size (nothing to measure against), the bytes so far.
std::string format_hash_progress(const ProgressSnapshot& progress, std::size_t width = 60);

// Bytes per second over a sliding window of recent samples. Not thread-safe (one renderer uses it).
class RateMeter {
 public:
  using Clock = std::chrono::steady_clock;
  // Counts from zero bytes at `start`, so the first rate is the average since then.
  explicit RateMeter(std::chrono::milliseconds window = std::chrono::milliseconds(3000), Clock::time_point start = Clock::now())
      : window_(window), samples_{{start, 0}} {}
  // Adds a sample of the running byte total and returns the rate over the window.
  double update(std::uint64_t total_bytes, Clock::time_point now = Clock::now());

 private:
  struct Sample {
    Clock::time_point at;
    std::uint64_t bytes;
  };
  std::chrono::milliseconds window_;
  std::deque<Sample> samples_;
};

// Draws the bar for `counters` on the console's status line until destroyed (nothing when the console
// is not a terminal), then leaves its final state on screen (`keep_last`) or erases it. Borrows both.
class ProgressBar {
 public:
  enum class Style { detailed, hashes };  // hashes: -#
  ProgressBar(Console& console, const TransferCounters& counters, bool keep_last = true,
              Style style = Style::detailed);
  ~ProgressBar() { ticker_.stop(keep_last_); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  std::string render();

  const TransferCounters& counters_;
  const bool keep_last_;
  const Style style_;
  RateMeter rate_;  // used only by the ticker's thread
  StatusTicker ticker_;  // last: its thread calls render()
};

}  // namespace quiver::cli

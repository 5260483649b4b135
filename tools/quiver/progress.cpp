#include "progress.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "units.hpp"

namespace quiver::cli {

namespace {

// " 42% [########------------]  4.20 MB / 10.0 MB"
std::string bar(std::uint64_t done, std::uint64_t expected, std::size_t width) {
  const double fraction = expected == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(expected));
  const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(width));
  return fmt::format("{:3.0f}% [{}{}]  {} / {}", fraction * 100, std::string(filled, '#'),
                     std::string(width - filled, '-'), format_bytes(done), format_bytes(expected));
}

std::string eta(std::uint64_t done, std::uint64_t expected, double rate) {
  if (rate <= 0 || done >= expected) return "";
  return "  ETA " + format_clock(std::chrono::duration<double>(static_cast<double>(expected - done) / rate));
}

}  // namespace

ProgressSnapshot snapshot(const TransferCounters& counters) {
  ProgressSnapshot s;
  s.downloaded = counters.downloaded.load();
  s.download_expected = counters.download_expected.load();
  s.download_size_known = counters.unknown_sizes.load() == 0 && s.download_expected > 0;
  s.uploaded = counters.uploaded.load();
  s.upload_expected = counters.upload_expected.load();
  s.finished = counters.finished.load();
  s.total = counters.total;
  return s;
}

std::string format_progress(const ProgressSnapshot& p, std::size_t bar_width) {
  std::string line = p.total > 1 ? fmt::format("[{}/{}] ", p.finished, p.total) : "";
  const std::string rate = format_rate(p.bytes_per_second);
  if (p.upload_expected > 0 && p.uploaded < p.upload_expected && p.downloaded == 0) {
    return line + "upload " + bar(p.uploaded, p.upload_expected, bar_width) + "  " + rate +
           eta(p.uploaded, p.upload_expected, p.bytes_per_second);
  }
  if (!p.download_size_known) return line + format_bytes(p.downloaded) + "  " + rate;
  return line + bar(p.downloaded, p.download_expected, bar_width) + "  " + rate +
         eta(p.downloaded, p.download_expected, p.bytes_per_second);
}

std::string format_hash_progress(const ProgressSnapshot& p, std::size_t width) {
  const bool uploading = p.upload_expected > 0 && p.uploaded < p.upload_expected && p.downloaded == 0;
  const std::uint64_t done = uploading ? p.uploaded : p.downloaded;
  const std::uint64_t expected = uploading ? p.upload_expected : p.download_expected;
  if (!uploading && !p.download_size_known) return format_bytes(p.downloaded);
  const double fraction = expected == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(expected));
  const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(width));
  return fmt::format("{}{} {:5.1f}%", std::string(filled, '#'), std::string(width - filled, ' '), fraction * 100);
}

double RateMeter::update(std::uint64_t total_bytes, Clock::time_point now) {
  samples_.push_back({now, total_bytes});
  while (samples_.size() > 2 && now - samples_.front().at > window_) samples_.pop_front();
  const Sample& first = samples_.front();
  const std::chrono::duration<double> span = now - first.at;
  if (span.count() <= 0) return 0;
  return static_cast<double>(total_bytes - first.bytes) / span.count();
}

ProgressBar::ProgressBar(Console& console, const TransferCounters& counters, bool keep_last, Style style)
    : counters_(counters), keep_last_(keep_last), style_(style), ticker_(console, [this] { return render(); }) {}

std::string ProgressBar::render() {
  ProgressSnapshot s = snapshot(counters_);
  s.bytes_per_second = rate_.update(s.downloaded + s.uploaded);
  return style_ == Style::hashes ? format_hash_progress(s) : format_progress(s);
}

}  // namespace quiver::cli

#include "test_server/body_source.hpp"

#include <algorithm>
#include <array>

namespace quiver::server {
namespace {

constexpr std::size_t kPatternPeriod = 26;
constexpr std::size_t kMaxView = 64 * 1024;

// kMaxView bytes from every phase of the pattern: the buffer is the pattern repeated from offset 0,
// one period longer than the longest view.
const std::array<std::uint8_t, kMaxView + kPatternPeriod>& pattern_buffer() noexcept {
  static const auto buffer = [] {
    std::array<std::uint8_t, kMaxView + kPatternPeriod> b{};
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>('a' + i % kPatternPeriod);
    return b;
  }();
  return buffer;
}

class PatternBody final : public BodySource {
 public:
  PatternBody(std::uint64_t chunk_count, std::uint64_t chunk_size, std::chrono::milliseconds interval,
              bool hold_at_end)
      : chunk_count_(chunk_count), chunk_size_(chunk_size), interval_(interval),
        hold_at_end_(hold_at_end), total_(chunk_count * chunk_size) {}

  Pull pull(std::size_t max, Clock::time_point now) override {
    release_due_chunks(now);
    if (offset_ < released_) {
      auto view = pattern_view(offset_, static_cast<std::size_t>(std::min<std::uint64_t>(max, released_ - offset_)));
      offset_ += view.size();
      return Pull::data(view, offset_ == total_ && !hold_at_end_);
    }
    if (offset_ == total_) return hold_at_end_ ? Pull::hold() : Pull::end();
    return Pull::wait(next_release_);
  }

 private:
  // Invariant: released_ == chunks_released_ * chunk_size_ <= total_.
  void release_due_chunks(Clock::time_point now) {
    if (chunks_released_ == 0 && chunk_count_ > 0) next_release_ = now;
    while (chunks_released_ < chunk_count_ && now >= next_release_) {
      ++chunks_released_;
      released_ += chunk_size_;
      next_release_ += interval_;
    }
  }

  const std::uint64_t chunk_count_, chunk_size_;
  const std::chrono::milliseconds interval_;
  const bool hold_at_end_;
  const std::uint64_t total_;
  std::uint64_t chunks_released_ = 0, released_ = 0, offset_ = 0;
  Clock::time_point next_release_{};
};

class StringBody final : public BodySource {
 public:
  explicit StringBody(std::string body) : body_(std::move(body)) {}

  Pull pull(std::size_t max, Clock::time_point) override {
    if (offset_ == body_.size()) return Pull::end();
    auto n = std::min(max, body_.size() - offset_);
    std::span<const std::uint8_t> view(reinterpret_cast<const std::uint8_t*>(body_.data()) + offset_, n);
    offset_ += n;
    return Pull::data(view, offset_ == body_.size());
  }

 private:
  const std::string body_;  // never modified: views into it are handed out
  std::size_t offset_ = 0;
};

}  // namespace

std::span<const std::uint8_t> pattern_view(std::uint64_t offset, std::size_t max) noexcept {
  const auto& buffer = pattern_buffer();
  return {buffer.data() + offset % kPatternPeriod, std::min(max, kMaxView)};
}

std::unique_ptr<BodySource> make_pattern_body(std::uint64_t chunk_count, std::uint64_t chunk_size,
                                              std::chrono::milliseconds interval, bool hold_at_end) {
  return std::make_unique<PatternBody>(chunk_count, chunk_size, interval, hold_at_end);
}

std::unique_ptr<BodySource> make_string_body(std::string body) {
  return std::make_unique<StringBody>(std::move(body));
}

}  // namespace quiver::server

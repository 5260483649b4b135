#pragma once
// Response bodies for the test server, produced lazily as the transport asks for them.
//
// Ownership: a BodySource hands out views of memory it owns (or of static memory). Each view stays
// valid for the source's whole life; the connection keeps the source until the stream closes, which
// is as long as nghttp3/ngtcp2 may need the bytes (they are retransmitted from these views).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace quiver::server {

using Clock = std::chrono::steady_clock;

// What a BodySource has to offer right now.
struct Pull {
  enum class Kind {
    data,  // `bytes` (non-empty) are the next body bytes; `last` if nothing follows them
    eof,   // the body is complete
    wait,  // nothing yet; ask again at `until`
    hold,  // nothing now and nothing later: the stream stays open until something else ends it
  };
  Kind kind = Kind::eof;
  std::span<const std::uint8_t> bytes;
  bool last = false;
  Clock::time_point until{};

  static Pull data(std::span<const std::uint8_t> bytes, bool last) {
    return {Kind::data, bytes, last, {}};
  }
  static Pull end() { return {Kind::eof, {}, false, {}}; }
  static Pull wait(Clock::time_point until) { return {Kind::wait, {}, false, until}; }
  static Pull hold() { return {Kind::hold, {}, false, {}}; }
};

class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next at most `max` (> 0) bytes, or why there are none. `now` is the caller's clock reading.
  virtual Pull pull(std::size_t max, Clock::time_point now) = 0;
};

// The deterministic test pattern: the byte at offset i is 'a' + i % 26.
// A view of static memory holding the pattern from `offset`, at most `max` (and at most 64 KiB) long.
std::span<const std::uint8_t> pattern_view(std::uint64_t offset, std::size_t max) noexcept;

// `chunk_count` chunks of `chunk_size` pattern bytes (offsets continue across chunks); the first chunk
// is available at once, each further one `interval` after the previous. With `hold_at_end` the source
// never reports eof after the last byte (used by /reset?after=).
std::unique_ptr<BodySource> make_pattern_body(std::uint64_t chunk_count, std::uint64_t chunk_size,
                                              std::chrono::milliseconds interval = {},
                                              bool hold_at_end = false);

// A body held in memory.
std::unique_ptr<BodySource> make_string_body(std::string body);

}  // namespace quiver::server

#pragma once
// http::CapsuleReader — the capsule protocol (RFC 9297 §3.2) read from a channel's stream: a sequence of
// Type (varint), Length (varint), Value. A DATAGRAM capsule (type 0x00) carries an HTTP datagram over the
// stream (when QUIC DATAGRAM frames are not used, or across an intermediary); every other type is skipped
// unread, as §3.2 asks of unknown capsules.
//
// Memory is bounded: only a DATAGRAM capsule's value is buffered, up to kMaxDatagramCapsule bytes; skipped
// capsules are counted down as they stream past, whatever their length.
//
// A malformed stream — a DATAGRAM capsule over the limit, or the stream ending inside a capsule — is an
// error that ends the channel with H3_DATAGRAM_ERROR (§3.3: "MUST treat ... as malformed").

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "quiver/error.hpp"

namespace quiver::http {

inline constexpr std::uint64_t kDatagramCapsule = 0x00;
// The largest DATAGRAM capsule value accepted: the largest UDP payload, plus a context id.
inline constexpr std::size_t kMaxDatagramCapsule = 65535 + 8;

// Appends one DATAGRAM capsule carrying `payload` to `out`.
void append_datagram_capsule(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload);

class CapsuleReader {
 public:
  using OnDatagram = std::function<void(std::span<const std::uint8_t>)>;

  // Reads `data`, the stream's next bytes, calling `on_datagram` for each complete DATAGRAM capsule (the
  // span is valid during the call). After an error the reader reads nothing more.
  Result<void> read(std::span<const std::uint8_t> data, const OnDatagram& on_datagram);
  // The stream ended: an error if it ended inside a capsule.
  Result<void> finish() const;
  bool failed() const noexcept { return state_ == State::failed; }

 private:
  enum class State { header, datagram_value, skipping, failed };
  Result<void> fail(std::string message);

  State state_ = State::header;
  std::vector<std::uint8_t> pending_;  // header bytes so far, or the DATAGRAM value so far
  std::uint64_t remaining_ = 0;        // value bytes still to come (datagram_value, skipping)
};

}  // namespace quiver::http

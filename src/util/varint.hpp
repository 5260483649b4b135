#pragma once
// QUIC variable-length integers (RFC 9000 §16): the encoding of HTTP/3 frame headers, quarter stream ids
// (RFC 9297 §2.1), capsules (RFC 9297 §3.2) and CONNECT-UDP context ids (RFC 9298 §4). The two high bits
// of the first byte give the size (1, 2, 4 or 8 bytes); the rest is the value, big-endian.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace quiver::util {

inline constexpr std::uint64_t kMaxVarint = (std::uint64_t{1} << 62) - 1;
inline constexpr std::size_t kMaxVarintSize = 8;

struct Varint {
  std::uint64_t value;
  std::size_t size;  // bytes it took
};

// The varint at `at` in `bytes`, or nothing when the bytes end inside it.
inline std::optional<Varint> read_varint(std::span<const std::uint8_t> bytes, std::size_t at = 0) noexcept {
  if (at >= bytes.size()) return std::nullopt;
  std::size_t size = std::size_t{1} << (bytes[at] >> 6);
  if (bytes.size() - at < size) return std::nullopt;
  std::uint64_t value = bytes[at] & 0x3f;
  for (std::size_t i = 1; i < size; ++i) value = (value << 8) | bytes[at + i];
  return Varint{value, size};
}

// The bytes `value` (at most kMaxVarint) takes, in its shortest form.
inline constexpr std::size_t varint_size(std::uint64_t value) noexcept {
  return value < 64 ? 1 : value < 16384 ? 2 : value < (std::uint64_t{1} << 30) ? 4 : 8;
}

// Writes `value` (at most kMaxVarint) at `out`, which has room for varint_size(value) bytes; returns that size.
inline std::size_t write_varint(std::uint64_t value, std::uint8_t* out) noexcept {
  std::size_t size = varint_size(value);
  for (std::size_t i = 0; i < size; ++i) out[size - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
  out[0] |= static_cast<std::uint8_t>((size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3) << 6);
  return size;
}

// Appends `value` (at most kMaxVarint) to `out` (a byte string or vector).
template <class Bytes>
void append_varint(Bytes& out, std::uint64_t value) {
  std::uint8_t encoded[kMaxVarintSize];
  std::size_t size = write_varint(value, encoded);
  out.insert(out.end(), encoded, encoded + size);
}

}  // namespace quiver::util

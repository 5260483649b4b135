#pragma once
// Hand-encoded HTTP/3 frames and QPACK field sections, for the routes that make the server misbehave
// (misbehave.hpp). Pure byte building, no protocol library: nghttp3 would refuse to produce most of
// these. QPACK uses the static table and literals only (Required Insert Count 0), RFC 9204 §4.5.

#include <cstdint>
#include <string_view>
#include <vector>

namespace quiver::server::raw {

using Bytes = std::vector<std::uint8_t>;

// HTTP/3 frame and stream types (RFC 9114 §7.2, §6.2).
inline constexpr std::uint64_t kData = 0x00, kHeaders = 0x01, kSettings = 0x04, kPushPromise = 0x05;
inline constexpr std::uint64_t kControlStream = 0x00;
// QPACK static table indices (RFC 9204 Appendix A).
inline constexpr std::uint64_t kStaticContentLength0 = 4, kStaticStatus200 = 25;

// Appends `value` as a QUIC variable-length integer (RFC 9000 §16); value < 2^62.
void put_varint(Bytes& out, std::uint64_t value);
// Appends `value` as an HPACK/QPACK prefixed integer (RFC 7541 §5.1): `first` holds the bits above the
// `prefix_bits`-bit prefix.
void put_prefixed_int(Bytes& out, std::uint8_t first, unsigned prefix_bits, std::uint64_t value);

// A QPACK field section (RFC 9204 §4.5): built line by line, static table and literals only.
class FieldSection {
 public:
  FieldSection();  // the prefix: Required Insert Count 0, Delta Base 0
  FieldSection& indexed(std::uint64_t static_index);                            // §4.5.2
  FieldSection& name_ref(std::uint64_t static_index, std::string_view value);   // §4.5.4
  FieldSection& literal(std::string_view name, std::string_view value);         // §4.5.6
  const Bytes& bytes() const noexcept { return bytes_; }

 private:
  void put_string(std::uint8_t first, unsigned prefix_bits, std::string_view text);
  Bytes bytes_;
};

// A frame: type, payload length, payload.
Bytes frame(std::uint64_t type, const Bytes& payload);
Bytes headers_frame(const FieldSection& fields);
Bytes data_frame(std::string_view payload);

// Appends `more` to `out`.
void append(Bytes& out, const Bytes& more);

}  // namespace quiver::server::raw

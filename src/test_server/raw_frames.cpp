#include "test_server/raw_frames.hpp"

#include <stdexcept>

#include "util/varint.hpp"

namespace quiver::server::raw {

void put_varint(Bytes& out, std::uint64_t value) {
  if (value > util::kMaxVarint) throw std::invalid_argument("varint out of range");
  util::append_varint(out, value);
}

void put_prefixed_int(Bytes& out, std::uint8_t first, unsigned prefix_bits, std::uint64_t value) {
  const std::uint64_t max = (1ULL << prefix_bits) - 1;
  if (value < max) {
    out.push_back(static_cast<std::uint8_t>(first | value));
    return;
  }
  out.push_back(static_cast<std::uint8_t>(first | max));
  value -= max;
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(0x80 | (value & 0x7f)));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

FieldSection::FieldSection() : bytes_{0x00, 0x00} {}

FieldSection& FieldSection::indexed(std::uint64_t static_index) {
  put_prefixed_int(bytes_, 0xc0, 6, static_index);  // 0b11: indexed, T=1 (static)
  return *this;
}

FieldSection& FieldSection::name_ref(std::uint64_t static_index, std::string_view value) {
  put_prefixed_int(bytes_, 0x50, 4, static_index);  // 0b01, N=0, T=1 (static)
  put_string(0x00, 7, value);                       // H=0: no Huffman
  return *this;
}

FieldSection& FieldSection::literal(std::string_view name, std::string_view value) {
  put_string(0x20, 3, name);  // 0b001, N=0, H=0
  put_string(0x00, 7, value);
  return *this;
}

void FieldSection::put_string(std::uint8_t first, unsigned prefix_bits, std::string_view text) {
  put_prefixed_int(bytes_, first, prefix_bits, text.size());
  bytes_.insert(bytes_.end(), text.begin(), text.end());
}

Bytes frame(std::uint64_t type, const Bytes& payload) {
  Bytes out;
  put_varint(out, type);
  put_varint(out, payload.size());
  append(out, payload);
  return out;
}

Bytes headers_frame(const FieldSection& fields) { return frame(kHeaders, fields.bytes()); }

Bytes data_frame(std::string_view payload) { return frame(kData, Bytes(payload.begin(), payload.end())); }

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

}  // namespace quiver::server::raw

#pragma once
// A cursor over a fuzz input, for the length-prefixed formats the targets document. Reading past the end
// yields zeros and empty strings, so every input is valid and truncated inputs still do something.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace quiver::fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data, size) {}

  bool empty() const noexcept { return pos_ >= data_.size(); }
  std::size_t remaining() const noexcept { return empty() ? 0 : data_.size() - pos_; }

  std::uint8_t u8() { return empty() ? 0 : data_[pos_++]; }
  std::uint16_t u16() {  // big-endian
    const std::uint16_t high = u8();
    return static_cast<std::uint16_t>(high << 8 | u8());
  }
  // The next `length` bytes (fewer at the end of the input).
  std::span<const std::uint8_t> bytes(std::size_t length) {
    const std::size_t n = length < remaining() ? length : remaining();
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  // A string with a one-byte length prefix.
  std::string string8() {
    auto b = bytes(u8());
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

}  // namespace quiver::fuzz

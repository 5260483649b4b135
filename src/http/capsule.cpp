#include "http/capsule.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "util/varint.hpp"

namespace quiver::http {

void append_datagram_capsule(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload) {
  util::append_varint(out, kDatagramCapsule);
  util::append_varint(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
}

Result<void> CapsuleReader::read(std::span<const std::uint8_t> data, const OnDatagram& on_datagram) {
  while (!data.empty()) {
    switch (state_) {
      case State::failed:
        return fail("the capsule stream already failed");
      case State::header: {
        // One byte at a time into pending_ until the type and the length are both whole (≤ 16 bytes).
        pending_.push_back(data.front());
        data = data.subspan(1);
        auto type = util::read_varint(pending_);
        if (!type) break;
        auto length = util::read_varint(pending_, type->size);
        if (!length) break;
        pending_.clear();
        remaining_ = length->value;
        if (type->value != kDatagramCapsule) {
          state_ = remaining_ == 0 ? State::header : State::skipping;
          break;
        }
        if (remaining_ > kMaxDatagramCapsule) {
          return fail(fmt::format("a DATAGRAM capsule of {} bytes, over the {} accepted", remaining_,
                                  kMaxDatagramCapsule));
        }
        if (remaining_ == 0) {
          on_datagram({});
          break;
        }
        pending_.reserve(remaining_);
        state_ = State::datagram_value;
        break;
      }
      case State::datagram_value: {
        std::size_t take = std::min<std::uint64_t>(remaining_, data.size());
        pending_.insert(pending_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
        data = data.subspan(take);
        remaining_ -= take;
        if (remaining_ == 0) {
          on_datagram(pending_);
          pending_.clear();
          state_ = State::header;
        }
        break;
      }
      case State::skipping: {
        std::size_t take = std::min<std::uint64_t>(remaining_, data.size());
        data = data.subspan(take);
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::header;
        break;
      }
    }
  }
  return {};
}

Result<void> CapsuleReader::finish() const {
  if (state_ == State::header && pending_.empty()) return {};
  Error error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
              "the channel's stream ended inside a capsule (RFC 9297 §3.3: malformed)");
  error.h3_code = h3_code::datagram_error;
  return std::unexpected(std::move(error));
}

Result<void> CapsuleReader::fail(std::string message) {
  state_ = State::failed;
  pending_ = {};
  Error error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
              fmt::format("malformed capsule on the channel's stream: {}", message));
  error.h3_code = h3_code::datagram_error;
  return std::unexpected(std::move(error));
}

}  // namespace quiver::http

#pragma once
// Spare body blocks of one connection. Streamed response bodies that arrive while their consumer has no
// read waiting are gathered in blocks; a block emptied by the consumer comes back here for the next
// reader, so a steady flow of responses allocates none. Used only on the connection's executor.

#include <cstddef>
#include <string>
#include <vector>

namespace quiver::http {

class BlockPool {
 public:
  static constexpr std::size_t kBlockBytes = 16 * 1024;
  static constexpr std::size_t kMaxSpare = 16;

  // An empty block that holds at least `bytes` (and at least kBlockBytes).
  std::string take(std::size_t bytes) {
    std::string block;
    if (!spare_.empty() && spare_.back().capacity() >= bytes) {
      block = std::move(spare_.back());
      spare_.pop_back();
    } else {
      block.reserve(bytes > kBlockBytes ? bytes : kBlockBytes);
    }
    return block;
  }

  // Takes back an emptied block (or frees it when enough are kept).
  void give(std::string block) {
    if (spare_.size() >= kMaxSpare || block.capacity() < kBlockBytes) return;
    block.clear();
    spare_.push_back(std::move(block));
  }

 private:
  std::vector<std::string> spare_;
};

}  // namespace quiver::http

// quic::GroKeyKeeper holds one UDP socket with GRO on per address family for its lifetime and closes
// them with it (a Client must not leak descriptors, however many it makes).
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "quic/udp_socket.hpp"

namespace quiver::quic {
namespace {

std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

TEST(GroKeyKeeper, HoldsOneSocketPerFamilyAndClosesThem) {
  const std::size_t before = open_descriptors();
  std::optional<GroKeyKeeper> keeper;
  keeper.emplace();
  EXPECT_EQ(open_descriptors(), before + 2) << "IPv4 and IPv6 sockets with UDP_GRO (this kernel has GRO)";
  keeper.reset();
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace quiver::quic

#pragma once

#include "quiver/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace quiver {

// A snapshot of one origin's pool.
struct PoolStats {
  struct ConnectionStats {
    std::string state;  // "connecting", "connected", "draining"
    std::uint64_t max_streams = 0;
    std::size_t in_flight = 0;
    std::string http_version;     // "3", "2" ("" until an auto connection's race is decided)
    std::string protocol_choice;  // HttpVersion::http3 (auto): why (TransferInfo::protocol_choice)
  };
  std::string origin;
  std::size_t connecting = 0;
  std::size_t connected = 0;
  std::size_t draining = 0;
  std::size_t in_flight = 0;  // requests on a connection
  std::size_t waiting = 0;    // requests waiting for a stream
  std::vector<ConnectionStats> connections;
};

}  // namespace quiver

#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace quiver {

struct TlsOptions {
  // Verify the server's certificate chain and host name. On by default; turning it off is for tests.
  bool verify_peer = true;
  // Extra trust anchors (PEM), in addition to the system trust store.
  std::string ca_file;
};

enum class CongestionControl { cubic, bbr, reno };

// Settings of one HTTP/3 connection.
struct ConnectionOptions {
  TlsOptions tls;
  // The handshake must finish within this, or queued requests fail with handshake_failed.
  std::chrono::milliseconds connect_timeout{5000};
  // QUIC max_idle_timeout we advertise; the connection closes after this much silence.
  std::chrono::milliseconds idle_timeout{30000};
  // Flow-control windows we grant the peer: whole connection, and each request stream.
  std::uint64_t connection_window = 16 * 1024 * 1024;
  std::uint64_t stream_window = 1024 * 1024;
  std::uint64_t max_udp_payload = 1452;
  std::uint64_t qpack_table_capacity = 4096;
  std::uint64_t qpack_blocked_streams = 100;
  CongestionControl congestion_control = CongestionControl::cubic;
};

}  // namespace quiver

#pragma once
// A UDP echo server on loopback, on its own thread: every datagram goes back to its sender unchanged.
// The target behind CONNECT-UDP in the tests (and the tunnel's far end in bench/tunnel).

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>

namespace quiver::test {

class UdpEchoServer {
 public:
  // Binds 127.0.0.1 (or `host`) on an ephemeral port and starts echoing.
  explicit UdpEchoServer(const char* host = "127.0.0.1");
  ~UdpEchoServer();  // stops and joins
  UdpEchoServer(const UdpEchoServer&) = delete;
  UdpEchoServer& operator=(const UdpEchoServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint64_t echoed() const { return echoed_.load(); }

 private:
  void receive();

  asio::io_context io_;
  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint sender_;
  std::array<char, 65536> buffer_{};
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> echoed_{0};
  std::thread thread_;
};

}  // namespace quiver::test

#pragma once
// A connected UDP socket for one QUIC connection: one peer, datagrams in and out, never blocking.

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include <asio/any_io_executor.hpp>
#include <asio/ip/udp.hpp>

namespace quiver::quic {

class UdpSocket {
 public:
  explicit UdpSocket(asio::any_io_executor executor) : socket_(std::move(executor)) {}

  // Opens a non-blocking socket of the peer's family and connects it (so the local address is known).
  std::error_code connect(const asio::ip::udp::endpoint& peer);
  asio::ip::udp::endpoint local_endpoint() const;
  asio::ip::udp::endpoint remote_endpoint() const;

  // Waits for a datagram to be readable; `handler(std::error_code)`.
  template <class Handler>
  void async_wait_readable(Handler&& handler) {
    socket_.async_wait(asio::ip::udp::socket::wait_read, std::forward<Handler>(handler));
  }
  template <class Handler>
  void async_wait_writable(Handler&& handler) {
    socket_.async_wait(asio::ip::udp::socket::wait_write, std::forward<Handler>(handler));
  }

  // Reads one datagram if one is waiting: its size, 0 with `would_block` set when none, or an error.
  std::size_t try_receive(std::span<std::uint8_t> buffer, std::error_code& ec);
  // Sends one datagram; `would_block` means the kernel queue is full and the caller should wait.
  std::error_code send(std::span<const std::uint8_t> datagram);

  void close() noexcept;
  bool is_open() const noexcept { return socket_.is_open(); }

 private:
  asio::ip::udp::socket socket_;
};

}  // namespace quiver::quic

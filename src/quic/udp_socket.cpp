#include "quic/udp_socket.hpp"

#include <asio/error.hpp>

namespace quiver::quic {

std::error_code UdpSocket::connect(const asio::ip::udp::endpoint& peer) {
  std::error_code ec;
  socket_.open(peer.protocol(), ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (!ec) socket_.connect(peer, ec);
  return ec;
}

asio::ip::udp::endpoint UdpSocket::local_endpoint() const {
  std::error_code ec;
  return socket_.local_endpoint(ec);
}

asio::ip::udp::endpoint UdpSocket::remote_endpoint() const {
  std::error_code ec;
  return socket_.remote_endpoint(ec);
}

std::size_t UdpSocket::try_receive(std::span<std::uint8_t> buffer, std::error_code& ec) {
  return socket_.receive(asio::buffer(buffer.data(), buffer.size()), 0, ec);
}

std::error_code UdpSocket::send(std::span<const std::uint8_t> datagram) {
  std::error_code ec;
  socket_.send(asio::buffer(datagram.data(), datagram.size()), 0, ec);
  return ec;
}

void UdpSocket::close() noexcept {
  std::error_code ignored;
  socket_.close(ignored);
}

}  // namespace quiver::quic

#include "quic/udp_socket.hpp"

#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/error.hpp>

namespace quiver::quic {

namespace {

std::error_code last_error() { return std::error_code(errno, std::system_category()); }

constexpr int kSocketBufferBytes = 4 * 1024 * 1024;

bool would_block(const std::error_code& ec) {
  return ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again;
}

}  // namespace

namespace {

// A UDP socket of `family` with GRO on, or -1.
int gro_socket(int family) {
  int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int on = 1;
  if (::setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

GroKeyKeeper::GroKeyKeeper() : v4_(gro_socket(AF_INET)), v6_(gro_socket(AF_INET6)) {}

GroKeyKeeper::~GroKeyKeeper() {
  if (v4_ >= 0) ::close(v4_);
  if (v6_ >= 0) ::close(v6_);
}

std::error_code UdpSocket::connect(const asio::ip::udp::endpoint& peer) {
  std::error_code ec;
  socket_.open(peer.protocol(), ec);
  if (!ec) socket_.non_blocking(true, ec);
  if (!ec) socket_.connect(peer, ec);
  if (!ec) {
    int on = 1;  // best effort: without GRO every datagram is read on its own
    (void)::setsockopt(socket_.native_handle(), IPPROTO_UDP, UDP_GRO, &on, sizeof(on));
    // Best effort, capped by net.core.{r,w}mem_max: the default ~200 KB holds too few of a fast
    // server's bursts, and every datagram dropped there is a loss that halves the congestion window.
    int bytes = kSocketBufferBytes;
    (void)::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    (void)::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  }
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

std::size_t UdpSocket::try_receive(std::span<std::uint8_t> buffer, std::size_t& segment_size,
                                   std::error_code& ec) {
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT);
  if (n < 0) {
    ec = last_error();
    if (would_block(ec)) ec = asio::error::would_block;
    return 0;
  }
  ec.clear();
  segment_size = static_cast<std::size_t>(n);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
      int gro = 0;
      std::memcpy(&gro, CMSG_DATA(c), sizeof(gro));
      if (gro > 0) segment_size = static_cast<std::size_t>(gro);
    }
  }
  return static_cast<std::size_t>(n);
}

std::error_code UdpSocket::send_segments(std::span<const std::uint8_t> packets, std::size_t segment_size,
                                         std::size_t& sent) {
  sent = 0;
  if (gso_ && packets.size() > segment_size) {
    std::error_code ec = send_gso(packets, segment_size);
    if (!ec) {
      sent = packets.size();
      return ec;
    }
    if (would_block(ec)) return asio::error::would_block;
    if (ec != std::errc::io_error && ec != std::errc::invalid_argument && ec != std::errc::operation_not_supported) {
      return ec;
    }
    gso_ = false;  // the kernel or device cannot segment: fall back for good
  }
  while (sent < packets.size()) {
    std::size_t length = std::min(segment_size, packets.size() - sent);
    std::error_code ec = send_one(packets.subspan(sent, length));
    if (ec) return would_block(ec) ? std::error_code(asio::error::would_block) : ec;
    sent += length;
  }
  return {};
}

std::error_code UdpSocket::send_one(std::span<const std::uint8_t> datagram) {
  if (::send(socket_.native_handle(), datagram.data(), datagram.size(), MSG_DONTWAIT) < 0) return last_error();
  return {};
}

std::error_code UdpSocket::send_gso(std::span<const std::uint8_t> packets, std::size_t segment_size) {
  iovec iov{const_cast<std::uint8_t*>(packets.data()), packets.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))]{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = IPPROTO_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
  auto size = static_cast<std::uint16_t>(segment_size);
  std::memcpy(CMSG_DATA(c), &size, sizeof(size));
  if (::sendmsg(socket_.native_handle(), &msg, MSG_DONTWAIT) < 0) return last_error();
  return {};
}

void UdpSocket::close() noexcept {
  std::error_code ignored;
  socket_.close(ignored);
}

}  // namespace quiver::quic

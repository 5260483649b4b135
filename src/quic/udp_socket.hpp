#pragma once
// A connected UDP socket for one QUIC connection: one peer, datagrams in and out, never blocking.
//
// Where the kernel offers them it batches: UDP GRO coalesces received datagrams of one size into one
// buffer (try_receive reports the segment size), and UDP GSO sends several equal-size packets from one
// buffer in one call (send_segments). Without them both fall back to one datagram per call.

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include <asio/any_io_executor.hpp>
#include <asio/ip/udp.hpp>

namespace quiver::quic {

// Keeps the kernel's UDP encapsulation switch on for as long as it lives, with one socket per address
// family that has UDP_GRO set and is never used. Turning UDP_GRO on enables a kernel static key when its
// count goes from 0 to 1, and closing the last such socket disables it again; each switch live-patches
// kernel text (an interrupt to every CPU), which measured a third of a new connection's client CPU when
// connections come one after another. With a keeper alive the count never drops to 0 between them. (A
// machine where another process holds such a socket, e.g. a QUIC server with GRO, never pays either way.)
// Made once per Client at the composition root (quic::DialShared); best effort: without GRO it holds
// nothing.
class GroKeyKeeper {
 public:
  GroKeyKeeper();
  ~GroKeyKeeper();
  GroKeyKeeper(const GroKeyKeeper&) = delete;
  GroKeyKeeper& operator=(const GroKeyKeeper&) = delete;

 private:
  int v4_ = -1;
  int v6_ = -1;
};

class UdpSocket {
 public:
  explicit UdpSocket(asio::any_io_executor executor) : socket_(std::move(executor)) {}

  // Opens a non-blocking socket of the peer's family and connects it (so the local address is known),
  // and turns on GRO when the kernel supports it.
  std::error_code connect(const asio::ip::udp::endpoint& peer);
  asio::ip::udp::endpoint local_endpoint() const;
  asio::ip::udp::endpoint remote_endpoint() const;

  template <class Handler>
  void async_wait_readable(Handler&& handler) {
    socket_.async_wait(asio::ip::udp::socket::wait_read, std::forward<Handler>(handler));
  }
  template <class Handler>
  void async_wait_writable(Handler&& handler) {
    socket_.async_wait(asio::ip::udp::socket::wait_write, std::forward<Handler>(handler));
  }

  // Reads what is waiting: its size (0 with `would_block` set when nothing is), and in `segment_size`
  // the size of each coalesced datagram (the last may be shorter; equal to the size without GRO).
  std::size_t try_receive(std::span<std::uint8_t> buffer, std::size_t& segment_size, std::error_code& ec);
  // Sends `packets`, consecutive datagrams of `segment_size` bytes (the last may be shorter): one GSO
  // call where available, otherwise one call each. `would_block` means nothing more was sent; `sent`
  // says how many bytes of `packets` went out.
  std::error_code send_segments(std::span<const std::uint8_t> packets, std::size_t segment_size,
                                std::size_t& sent);
  // Whether one send_segments call can carry several packets.
  bool gso_enabled() const noexcept { return gso_; }

  void close() noexcept;
  bool is_open() const noexcept { return socket_.is_open(); }

 private:
  std::error_code send_one(std::span<const std::uint8_t> datagram);
  std::error_code send_gso(std::span<const std::uint8_t> packets, std::size_t segment_size);

  asio::ip::udp::socket socket_;
  bool gso_ = true;  // until the kernel says otherwise
};

}  // namespace quiver::quic

#pragma once
// The server's CONNECT-UDP side (RFC 9298, `quiver serve --connect-udp`): which targets a client may reach,
// and the UDP socket that relays one tunnel's datagrams.
//
// Policy: a target is resolved (the system resolver; a test server may block its io thread for that) and
// the first address inside one of the allowed networks is used. None allowed → 403 with
// `proxy-status: quiver; error=destination_ip_prohibited`; no address → 502 with `error=dns_error` (RFC 9209).
// The default allows loopback only, so a test server is no open relay.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/udp.hpp>

#include "quiver/error.hpp"
#include "test_server/routes.hpp"

namespace quiver::server {

// The first entry of `networks` that is no CIDR ("ADDRESS/PREFIX"), if any.
std::optional<std::string> invalid_network(const std::vector<std::string>& networks);

// The address to relay to, or the answer that refuses the target (403, 502).
std::variant<asio::ip::udp::endpoint, ResponsePlan> resolve_udp_target(const UdpTarget& target,
                                                                      const std::vector<std::string>& allowed);

// One tunnel's UDP socket, connected to its target. Datagrams from the target go to `on_datagram` on the
// socket's executor (the connection's io thread); send() is best effort, as UDP is. Destroying the relay
// closes the socket; no callback runs after that.
class UdpRelay {
 public:
  using OnDatagram = std::function<void(std::span<const std::uint8_t>)>;
  static Result<std::unique_ptr<UdpRelay>> open(const asio::any_io_executor& executor,
                                                const asio::ip::udp::endpoint& target, OnDatagram on_datagram);
  ~UdpRelay();
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  void send(std::span<const std::uint8_t> payload);

 private:
  // Shared with the pending receive, whose handler may run after the relay is gone (then it only returns).
  struct Socket {
    explicit Socket(const asio::any_io_executor& executor) : socket(executor) {}
    asio::ip::udp::socket socket;
    std::array<std::uint8_t, 65536> buffer{};
    OnDatagram on_datagram;
    bool closed = false;
  };
  explicit UdpRelay(std::shared_ptr<Socket> socket) : socket_(std::move(socket)) {}
  static void receive_next(const std::shared_ptr<Socket>& socket);

  std::shared_ptr<Socket> socket_;
};

}  // namespace quiver::server

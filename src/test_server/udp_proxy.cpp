#include "test_server/udp_proxy.hpp"

#include <asio/ip/network_v4.hpp>
#include <asio/ip/network_v6.hpp>
#include <fmt/format.h>

namespace quiver::server {
namespace {

using asio::ip::address;

// `text` as a network: "ADDRESS/PREFIX", v4 or v6.
std::optional<std::variant<asio::ip::network_v4, asio::ip::network_v6>> parse_network(const std::string& text) {
  asio::error_code ec;
  auto v4 = asio::ip::make_network_v4(text, ec);
  if (!ec) return v4;
  auto v6 = asio::ip::make_network_v6(text, ec);
  if (!ec) return v6;
  return std::nullopt;
}

bool contains(const std::string& network_text, const address& ip) {
  auto network = parse_network(network_text);
  if (!network) return false;
  if (auto* v4 = std::get_if<asio::ip::network_v4>(&*network)) {
    return ip.is_v4() && asio::ip::network_v4(ip.to_v4(), v4->prefix_length()).canonical() == v4->canonical();
  }
  const auto& v6 = std::get<asio::ip::network_v6>(*network);
  return ip.is_v6() && asio::ip::network_v6(ip.to_v6(), v6.prefix_length()).canonical() == v6.canonical();
}

// A refusal with its RFC 9209 Proxy-Status (this server's name, the error type, a detail for people).
ResponsePlan refusal(int status, std::string_view error, std::string detail) {
  auto plan = text_response(status, detail + "\n");
  plan.headers.push_back({"proxy-status", fmt::format("quiver; error={}; details=\"{}\"", error, detail)});
  return plan;
}

}  // namespace

std::optional<std::string> invalid_network(const std::vector<std::string>& networks) {
  for (const auto& network : networks) {
    if (!parse_network(network)) return network;
  }
  return std::nullopt;
}

std::variant<asio::ip::udp::endpoint, ResponsePlan> resolve_udp_target(const UdpTarget& target,
                                                                      const std::vector<std::string>& allowed) {
  asio::io_context resolving;  // the system resolver, synchronously (see the header)
  asio::ip::udp::resolver resolver(resolving);
  asio::error_code ec;
  auto results = resolver.resolve(target.host, std::to_string(target.port), ec);
  if (ec || results.empty()) {
    return refusal(502, "dns_error", fmt::format("cannot resolve {}: {}", target.host, ec ? ec.message() : "no address"));
  }
  for (const auto& entry : results) {
    const auto ip = entry.endpoint().address();
    for (const auto& network : allowed) {
      if (contains(network, ip)) return entry.endpoint();
    }
  }
  return refusal(403, "destination_ip_prohibited",
                 fmt::format("{} ({}) is outside the networks this proxy may reach", target.host,
                             results.begin()->endpoint().address().to_string()));
}

Result<std::unique_ptr<UdpRelay>> UdpRelay::open(const asio::any_io_executor& executor,
                                                 const asio::ip::udp::endpoint& target, OnDatagram on_datagram) {
  auto socket = std::make_shared<Socket>(executor);
  asio::error_code ec;
  socket->socket.open(target.protocol(), ec);
  if (!ec) socket->socket.connect(target, ec);
  if (ec) {
    return std::unexpected(Error(ErrorKind::io_error, fmt::format("UDP socket to {}:{}: {}",
                                                                  target.address().to_string(), target.port(),
                                                                  ec.message())));
  }
  socket->on_datagram = std::move(on_datagram);
  receive_next(socket);
  return std::unique_ptr<UdpRelay>(new UdpRelay(std::move(socket)));
}

UdpRelay::~UdpRelay() {
  socket_->closed = true;
  socket_->on_datagram = nullptr;
  asio::error_code ignored;
  socket_->socket.close(ignored);
}

void UdpRelay::send(std::span<const std::uint8_t> payload) {
  asio::error_code ignored;  // best effort: a refused or dropped datagram is UDP's normal loss
  socket_->socket.send(asio::buffer(payload.data(), payload.size()), 0, ignored);
}

// A target's ICMP error (connection refused) fails one receive; the relay keeps listening.
void UdpRelay::receive_next(const std::shared_ptr<Socket>& socket) {
  socket->socket.async_receive(asio::buffer(socket->buffer), [socket](asio::error_code ec, std::size_t size) {
    if (socket->closed || ec == asio::error::operation_aborted) return;
    if (!ec) {
      auto on_datagram = socket->on_datagram;  // a copy: the call may destroy the relay
      on_datagram(std::span<const std::uint8_t>(socket->buffer.data(), size));
    }
    if (!socket->closed) receive_next(socket);
  });
}

}  // namespace quiver::server

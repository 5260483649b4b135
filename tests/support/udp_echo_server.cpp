#include "support/udp_echo_server.hpp"

#include <array>

namespace quiver::test {

UdpEchoServer::UdpEchoServer(const char* host)
    : socket_(io_, asio::ip::udp::endpoint(asio::ip::make_address(host), 0)) {
  port_ = socket_.local_endpoint().port();
  receive();
  thread_ = std::thread([this] { io_.run(); });
}

UdpEchoServer::~UdpEchoServer() {
  io_.stop();
  thread_.join();
}

void UdpEchoServer::receive() {
  socket_.async_receive_from(asio::buffer(buffer_), sender_, [this](asio::error_code ec, std::size_t size) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      asio::error_code ignored;  // a full socket buffer drops it, as UDP may
      socket_.send_to(asio::buffer(buffer_.data(), size), sender_, 0, ignored);
      ++echoed_;
    }
    receive();
  });
}

}  // namespace quiver::test

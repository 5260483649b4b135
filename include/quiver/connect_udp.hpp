#pragma once
// quiver::UdpTunnel — UDP through an HTTP/3 proxy (MASQUE CONNECT-UDP, RFC 9298): each send() is one UDP
// datagram to the target, each receive() one datagram from it, carried as HTTP datagrams on a channel.
//
//   quiver::ClientOptions options;
//   options.defaults.connection.http_datagrams = true;
//   quiver::Client client(options);
//   auto tunnel = client.connect_udp("https://proxy.example/.well-known/masque/udp/{target_host}/{target_port}/",
//                                    "192.0.2.10", 5353);
//   if (!tunnel) { /* e.g. proxy_refused: "403 ... error=destination_ip_prohibited" */ }
//   tunnel->send("query");                   // one UDP datagram (up to max_payload_size() bytes)
//   auto answer = tunnel->receive();         // blocking; async_receive(token)
//
// The URL template is RFC 6570's, level 1: `{target_host}` and `{target_port}` are replaced (the host
// percent-encoded, so an IPv6 address fits in a path segment); both must be present. The request is an
// extended CONNECT with `:protocol: connect-udp` and `capsule-protocol: ?1`; the proxy's 2xx opens the
// tunnel, any other status fails with proxy_refused (its status and Proxy-Status in the message).
//
// Datagrams use context id 0 (RFC 9298 §4), added and removed here; datagrams with any other context id
// are dropped. A DATAGRAM capsule on the stream counts as a datagram too. Delivery is UDP's: unreliable,
// unordered; a slow reader loses datagrams (channel().datagram_stats().dropped counts them).
// Threading and lifetime are the Channel's (quiver/channel.hpp).

#include <cstdint>
#include <string_view>

#include "quiver/channel.hpp"

namespace quiver {

class UdpTunnel {
 public:
  UdpTunnel(UdpTunnel&&) noexcept = default;
  UdpTunnel& operator=(UdpTunnel&&) noexcept = default;

  // Sends one UDP payload to the target: datagram_too_large (over max_payload_size()), congestion_limited,
  // datagrams_disabled or channel_closed as Channel::send_datagram.
  Result<void> send(std::string_view payload);
  // The largest UDP payload one datagram carries on the current path (0: datagrams disabled).
  std::size_t max_payload_size() const noexcept;

  // The next UDP payload from the target; completion signature void(Result<std::string>). After the
  // tunnel ends, the queued datagrams, then the error. One receive at a time; cancellable.
  template <class Token = asio::use_future_t<>>
  auto async_receive(Token&& token = {});
  // Blocking receive; refused on one of the client's io threads.
  Result<std::string> receive();

  // The CONNECT-UDP channel: the proxy's response head, datagram counters, the stream.
  Channel& channel() noexcept { return channel_; }
  const Channel& channel() const noexcept { return channel_; }
  // Ends the tunnel (the channel's close()). Idempotent; dropping the tunnel does it too.
  void close() { channel_.close(); }

 private:
  friend class detail::ChannelAccess;
  explicit UdpTunnel(Channel channel) : channel_(std::move(channel)) {}
  void receive(detail::DatagramCompletion completion, asio::cancellation_slot slot);

  Channel channel_;
};

namespace detail {
// The CONNECT-UDP request for `target_host`:`target_port` through the proxy's `url_template`, or the
// reason there is none (invalid_url: no template variable, or the expanded URL does not parse).
Result<Request> connect_udp_request(std::string_view url_template, std::string_view target_host,
                                    std::uint16_t target_port);
}  // namespace detail

// ---- templates ------------------------------------------------------------------------------------

template <class Token>
auto Client::async_connect_udp(std::string_view url_template, std::string_view target_host,
                               std::uint16_t target_port, Token&& token) {
  return asio::async_initiate<Token, void(Result<UdpTunnel>)>(
      [this](auto handler, Result<Request> built) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        submit_connect_udp(std::move(built),
                           detail::Completion<Handler, Result<UdpTunnel>>(std::move(handler), executor()), slot);
      },
      token, detail::connect_udp_request(url_template, target_host, target_port));
}

template <class Token>
auto UdpTunnel::async_receive(Token&& token) {
  return asio::async_initiate<Token, void(Result<std::string>)>(
      [this](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        receive(detail::Completion<Handler, Result<std::string>>(std::move(handler), channel_.default_executor()),
                slot);
      },
      token);
}

}  // namespace quiver

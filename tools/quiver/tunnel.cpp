#include "tunnel.hpp"

#include <array>
#include <charconv>
#include <csignal>

#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/signal_set.hpp>
#include <fmt/format.h>

#include "cli_request.hpp"
#include "exit_codes.hpp"
#include "quiver/connect_udp.hpp"

namespace quiver::cli {

namespace {

std::expected<asio::ip::udp::endpoint, Failure> listen_endpoint(const TunnelOptions& options) {
  asio::error_code ec;
  auto address = asio::ip::make_address(options.listen.host, ec);
  if (ec) {
    return std::unexpected(Failure{exit_code::usage, "usage",
                                   fmt::format("--listen: '{}' is no IP address", options.listen.host)});
  }
  return asio::ip::udp::endpoint(address, options.listen.port);
}
// The relay between the local socket and the tunnel, on one io_context (this thread). Owns neither.
class Relay {
 public:
  Relay(asio::io_context& io, asio::ip::udp::socket& local, UdpTunnel& tunnel, Terminal& terminal)
      : io_(io), local_(local), tunnel_(tunnel), terminal_(terminal) {}

  void start() {
    receive_local();
    receive_tunnel();
  }
  // Ctrl-C: the tunnel is closed, which ends the waiting receive, which stops the io_context (exit 0).
  void stop() {
    stopping_ = true;
    tunnel_.close();
  }
  int exit_code() const { return exit_code_; }

 private:
  void receive_local() {
    local_.async_receive_from(asio::buffer(buffer_), peer_, [this](asio::error_code ec, std::size_t size) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        have_peer_ = true;
        // A full congestion window or an oversized datagram loses it, as UDP would: say so once.
        if (auto sent = tunnel_.send({buffer_.data(), size}); !sent && !warned_) {
          terminal_.err << "quiver tunnel: datagram dropped: " << sent.error().message() << '\n';
          warned_ = true;
        }
      }
      receive_local();
    });
  }

  void receive_tunnel() {
    tunnel_.async_receive(asio::bind_executor(io_, [this](Result<std::string> datagram) {
      if (!datagram) return finish(datagram.error());
      asio::error_code ignored;  // best effort, as UDP
      if (have_peer_) local_.send_to(asio::buffer(*datagram), peer_, 0, ignored);
      receive_tunnel();
    }));
  }

  void finish(const Error& error) {
    if (error.kind() != ErrorKind::cancelled && !stopping_) {
      terminal_.err << failure_from(error).line() << '\n';
      exit_code_ = exit_code::connection_failed;
    }
    io_.stop();
  }

  asio::io_context& io_;
  asio::ip::udp::socket& local_;
  UdpTunnel& tunnel_;
  Terminal& terminal_;
  std::array<char, 65536> buffer_{};
  asio::ip::udp::endpoint peer_;
  bool have_peer_ = false;
  bool warned_ = false;
  bool stopping_ = false;
  int exit_code_ = exit_code::ok;
};

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  auto host = text.substr(0, colon), digits = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || port > 65535) return std::nullopt;
  return HostPort{std::string(host), static_cast<std::uint16_t>(port)};
}

std::string connect_udp_template(const std::string& proxy) {
  if (proxy.find("{target_host}") != std::string::npos) return proxy;
  std::string origin = proxy;
  while (origin.ends_with('/')) origin.pop_back();
  return origin + "/.well-known/masque/udp/{target_host}/{target_port}/";
}

int run_tunnel(const TunnelOptions& options, Terminal terminal) {
  auto listen = listen_endpoint(options);
  if (!listen) {
    terminal.err << listen.error().line() << '\n';
    return listen.error().exit_code;
  }
  auto connection = connection_options_for(options.tls);
  if (!connection) {
    terminal.err << connection.error().line() << '\n';
    return connection.error().exit_code;
  }
  ClientOptions client_options;
  client_options.defaults.connection = *connection;
  client_options.defaults.connection.http_version = HttpVersion::http3_only;  // datagrams need HTTP/3
  client_options.defaults.connection.http_datagrams = true;
  Client client(client_options);

  const std::string url_template = connect_udp_template(options.proxy);
  auto tunnel = client.connect_udp(url_template, options.target.host, options.target.port);
  if (!tunnel) {
    terminal.err << failure_from(tunnel.error()).line() << '\n';
    return exit_code_for(tunnel.error());
  }
  if (!tunnel->channel().datagrams_enabled()) {
    terminal.err << "quiver: datagrams_disabled: the proxy did not negotiate HTTP datagrams (RFC 9297), so it "
                    "cannot carry UDP\n";
    return exit_code::failure;
  }

  asio::io_context io;
  asio::ip::udp::socket local(io);
  asio::error_code ec;
  local.open(listen->protocol(), ec);
  if (!ec) local.bind(*listen, ec);
  if (ec) {
    terminal.err << fmt::format("quiver: io_error: cannot listen on {}:{}: {}\n", options.listen.host,
                                options.listen.port, ec.message());
    return exit_code::failure;
  }
  const auto bound = local.local_endpoint();
  terminal.out << fmt::format("quiver tunnel: {}:{} -> {}:{} through {} (max datagram payload {} bytes)\n",
                              bound.address().to_string(), bound.port(), options.target.host, options.target.port,
                              url_template, tunnel->max_payload_size())
               << std::flush;

  Relay relay(io, local, *tunnel, terminal);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](asio::error_code error, int) {
    if (!error) relay.stop();
  });
  relay.start();
  io.run();
  return relay.exit_code();
}

}  // namespace quiver::cli

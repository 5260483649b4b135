// Channels: an extended CONNECT (RFC 9220) kept open both ways, with HTTP datagrams (RFC 9297).
//
//   quiver_example_channel https://127.0.0.1:4433/datagram-echo [--cacert ca.pem]
//   (against `quiver serve --datagrams`, whose /datagram-echo echoes datagrams and stream data)
//
// A Channel is a request stream that stays open: datagrams go both ways (unreliable, unordered, each one
// QUIC DATAGRAM frame) beside the stream's own bytes (reliable, ordered). It opens when the 2xx response
// head arrives; errors say what is missing (extended_connect_disabled, datagrams_disabled, ...).

#include <cstring>
#include <iostream>

#include <quiver/channel.hpp>

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--cacert") == 0)) {
    std::cerr << "usage: " << argv[0] << " URL [--cacert FILE]\n";
    return 2;
  }
  auto url = quiver::Url::parse(argv[1]);
  if (!url) {
    std::cerr << url.error().to_string() << "\n";
    return 2;
  }

  quiver::ClientOptions options;
  if (argc == 4) options.defaults.connection.tls.ca_file = argv[3];
  options.defaults.connection.http_datagrams = true;  // offer HTTP datagrams (SETTINGS_H3_DATAGRAM)
  quiver::Client client(options);

  quiver::Request request;
  request.method = "CONNECT";
  request.protocol = "echo";  // the extended CONNECT's :protocol
  request.url = std::move(*url);
  auto channel = client.open_channel(std::move(request));
  if (!channel) {
    std::cerr << "channel failed: " << channel.error().to_string() << "\n";
    return 1;
  }
  std::cout << "channel open: status " << channel->status() << ", datagrams up to " << channel->max_datagram_size()
            << " bytes\n";

  // Datagrams: on loopback none is lost; on a real network a receive may wait for one that never comes,
  // so real code bounds it (async_receive_datagram with a cancellation slot, see cancellation.cpp).
  int echoed = 0;
  for (const char* text : {"one", "two", "three"}) {
    if (auto sent = channel->send_datagram(text); !sent) {
      std::cerr << "send failed: " << sent.error().to_string() << "\n";
      return 1;
    }
    auto back = channel->receive_datagram();
    if (!back) {
      std::cerr << "receive failed: " << back.error().to_string() << "\n";
      return 1;
    }
    echoed += *back == text;
  }
  std::cout << "echoed " << echoed << " datagrams\n";

  // The stream: write, end our side, read what comes back until the server ends its side.
  if (auto written = channel->write("hello, stream"); !written) {
    std::cerr << "write failed: " << written.error().to_string() << "\n";
    return 1;
  }
  channel->close_write();
  auto reply = channel->stream().read_all();
  if (!reply) {
    std::cerr << "read failed: " << reply.error().to_string() << "\n";
    return 1;
  }
  std::cout << "stream echo: " << *reply << "\n";
  return echoed == 3 ? 0 : 1;
}

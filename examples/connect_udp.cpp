// CONNECT-UDP (MASQUE, RFC 9298): UDP to a target through an HTTP/3 proxy.
//
//   quiver_example_connect_udp URL_TEMPLATE 127.0.0.1 5353 [--cacert ca.pem]
//   with URL_TEMPLATE https://127.0.0.1:4433/.well-known/masque/udp/{target_host}/{target_port}/
//   (against `quiver serve --connect-udp`, with a UDP service at 127.0.0.1:5353)
//
// The proxy's URI template names the target; the proxy resolves it, checks it is allowed and relays. A
// refusal is proxy_refused with the proxy's status and Proxy-Status (e.g. 403,
// error=destination_ip_prohibited). Each send() is one UDP datagram; receive() is the next one back.

#include <chrono>
#include <cstring>
#include <future>
#include <iostream>
#include <string>

#include <asio/bind_cancellation_slot.hpp>
#include <quiver/connect_udp.hpp>

int main(int argc, char** argv) {
  if (argc != 4 && !(argc == 6 && std::strcmp(argv[4], "--cacert") == 0)) {
    std::cerr << "usage: " << argv[0] << " URL_TEMPLATE TARGET_HOST TARGET_PORT [--cacert FILE]\n";
    return 2;
  }
  quiver::ClientOptions options;
  if (argc == 6) options.defaults.connection.tls.ca_file = argv[5];
  options.defaults.connection.http_datagrams = true;  // CONNECT-UDP carries UDP in HTTP datagrams
  quiver::Client client(options);

  auto tunnel = client.connect_udp(argv[1], argv[2], static_cast<std::uint16_t>(std::stoi(argv[3])));
  if (!tunnel) {
    std::cerr << "tunnel failed: " << tunnel.error().to_string() << "\n";
    return 1;
  }
  std::cout << "tunnel open: UDP payloads up to " << tunnel->max_payload_size() << " bytes\n";

  if (auto sent = tunnel->send("hello over MASQUE"); !sent) {
    std::cerr << "send failed: " << sent.error().to_string() << "\n";
    return 1;
  }
  // UDP may lose the answer: wait a bounded time, then cancel the receive (it completes with cancelled).
  asio::cancellation_signal give_up;
  auto answer = tunnel->async_receive(asio::bind_cancellation_slot(give_up.slot(), asio::use_future));
  if (answer.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    give_up.emit(asio::cancellation_type::terminal);
  }
  auto reply = answer.get();
  if (!reply) {
    std::cerr << "no answer: " << reply.error().to_string() << "\n";
    return 1;
  }
  std::cout << "answer: " << *reply << "\n";
  return 0;
}

// The client on your own io_context: no threads of its own; everything runs inside io.run().
//
//   quiver_example_io_context https://example.com/ [--cacert ca.pem]
//
// quiver::Client(io, options) puts the client's connections, pools and completions on `io`. The client
// keeps no work of its own there: io.run() returns once the requests are answered and the client has
// drained, which shutdown() starts (called here in the last handler; the destructor would too).

#include <cstring>
#include <iostream>
#include <thread>

#include <asio/io_context.hpp>
#include <quiver/client.hpp>

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--cacert") == 0)) {
    std::cerr << "usage: " << argv[0] << " URL [--cacert FILE]\n";
    return 2;
  }

  quiver::ClientOptions options;
  if (argc == 4) options.defaults.connection.tls.ca_file = argv[3];  // extra trust anchor (PEM)

  asio::io_context io;  // declared before the client: it must outlive it
  quiver::Client client(io, options);
  const std::thread::id main_thread = std::this_thread::get_id();
  int answered = 0;
  int exit_code = 0;

  // Two requests at once; the second handler to run shuts the client down.
  for (int i = 0; i < 2; ++i) {
    client.async_request(quiver::get(argv[1]), [&](quiver::Result<quiver::Response> response) {
      if (!response) {
        std::cerr << "request failed: " << response.error().to_string() << "\n";
        exit_code = 1;
      } else if (std::this_thread::get_id() != main_thread) {
        exit_code = 1;  // cannot happen: only this thread runs `io`
      }
      if (++answered == 2) {
        if (exit_code == 0) std::cout << "2 responses, both on the thread running io.run()\n";
        client.shutdown(std::chrono::seconds(1));  // here it only starts the drain
      }
    });
  }

  io.run();  // returns once both requests and the drain are over
  return exit_code;
}

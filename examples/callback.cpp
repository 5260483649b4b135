// Asynchronous request with a callback, completed on an executor of your choice.
//
//   quiver_example_callback https://example.com/ [--cacert ca.pem]
//
// async_request(request, handler) returns at once; the handler is called exactly once with
// quiver::Result<quiver::Response>. It runs on the handler's associated executor: here our own
// io_context, bound with asio::bind_executor. Without a bound executor it runs on one of the client's
// io threads (client.executor()), where it must be quick and must not call the blocking API.

#include <cstring>
#include <iostream>
#include <thread>

#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>
#include <quiver/client.hpp>

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--cacert") == 0)) {
    std::cerr << "usage: " << argv[0] << " URL [--cacert FILE]\n";
    return 2;
  }

  quiver::ClientOptions options;
  if (argc == 4) options.defaults.connection.tls.ca_file = argv[3];  // extra trust anchor (PEM)
  quiver::Client client(options);

  // The async API takes a quiver::Request; build() reports a bad URL before anything is sent.
  quiver::Result<quiver::Request> request = quiver::get(argv[1]).build();
  if (!request) {
    std::cerr << "bad request: " << request.error().to_string() << "\n";
    return 1;
  }

  asio::io_context io;  // our event loop; it runs on this (the main) thread below
  const std::thread::id main_thread = std::this_thread::get_id();
  int exit_code = 1;

  client.async_request(std::move(*request),
                       asio::bind_executor(io, [&](quiver::Result<quiver::Response> response) {
                         const bool here = std::this_thread::get_id() == main_thread;
                         if (!response) {
                           std::cerr << "request failed: " << response.error().to_string() << "\n";
                           return;
                         }
                         std::cout << "status " << response->status << ", " << response->body.size()
                                   << " bytes, on " << (here ? "the handler's thread" : "another thread")
                                   << "\n";
                         exit_code = 0;
                       }));

  // The client keeps `io` busy (a work guard) until the handler has run, so run() returns right after.
  io.run();
  return exit_code;
}

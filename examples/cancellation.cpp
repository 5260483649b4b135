// Cancelling a request in flight with an Asio cancellation slot: a timer gives the request 200 ms.
//
//   quiver_example_cancellation https://example.com/slow [--cacert ca.pem]
//
// Bind a slot of an asio::cancellation_signal to the handler (asio::bind_cancellation_slot); emitting
// the signal cancels the request: its HTTP/3 stream is reset (H3_REQUEST_CANCELLED), other requests on
// the connection are unaffected, and the handler gets ErrorKind::cancelled, once, promptly.
//
// Cancellation slots are not thread-safe: emit the signal on the thread (executor) where the handler
// runs. Here everything (the call, the timer, the handler) happens on one io_context on this thread.
//
// With coroutines the same timeout reads `co_await (request || timer)` using
// asio::experimental::awaitable_operators, which cancels the loser through the same mechanism.

#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <quiver/client.hpp>

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--cacert") == 0)) {
    std::cerr << "usage: " << argv[0] << " URL [--cacert FILE]\n";
    return 2;
  }

  quiver::ClientOptions options;
  if (argc == 4) options.defaults.connection.tls.ca_file = argv[3];  // extra trust anchor (PEM)
  quiver::Client client(options);

  quiver::Result<quiver::Request> request = quiver::get(argv[1]).build();
  if (!request) {
    std::cerr << "bad request: " << request.error().to_string() << "\n";
    return 1;
  }

  asio::io_context io;
  asio::cancellation_signal cancel;
  asio::steady_timer timer(io, std::chrono::milliseconds(200));
  const auto started = std::chrono::steady_clock::now();
  int exit_code = 1;

  client.async_request(
      std::move(*request),
      asio::bind_cancellation_slot(
          cancel.slot(), asio::bind_executor(io, [&](quiver::Result<quiver::Response> response) {
            timer.cancel();  // answered: the timer has nothing left to cancel
            auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - started);
            if (response) {
              std::cout << "completed in " << elapsed.count() << " ms: status " << response->status << "\n";
              exit_code = 0;
            } else if (response.error().kind() == quiver::ErrorKind::cancelled) {
              std::cout << "cancelled after " << elapsed.count() << " ms\n";
              exit_code = 0;
            } else {
              std::cerr << "request failed: " << response.error().to_string() << "\n";
            }
          })));

  timer.async_wait([&](std::error_code ec) {
    if (!ec) cancel.emit(asio::cancellation_type::terminal);  // the timer fired first: give up
  });

  io.run();  // returns once the handler has run and the timer is done
  return exit_code;
}

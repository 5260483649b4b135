// C++20 coroutines: asio::co_spawn + asio::use_awaitable.
//
//   quiver_example_coroutine https://example.com/ [--cacert ca.pem]
//
// `co_await client.async_request(request, asio::use_awaitable)` yields the
// quiver::Result<quiver::Response> (no exception for a failed request); the coroutine resumes on its
// own executor. The streamed form, async_stream, yields a ResponseStream as soon as the headers arrive,
// and async_next_chunk reads its body without blocking a thread.

// GCC 12 reports a false -Wmismatched-new-delete inside Asio's coroutine frame allocator
// (asio/impl/awaitable.hpp); the warning is spurious, and CI builds with -Werror.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <quiver/client.hpp>

asio::awaitable<int> fetch(quiver::Client& client, std::string url) {
  quiver::Result<quiver::Request> request = quiver::get(std::move(url)).build();
  if (!request) {
    std::cerr << "bad request: " << request.error().to_string() << "\n";
    co_return 1;
  }

  // 1. The whole response at once (async_request takes its own copy of the request).
  quiver::Result<quiver::Response> response = co_await client.async_request(*request, asio::use_awaitable);
  if (!response) {
    std::cerr << "request failed: " << response.error().to_string() << "\n";
    co_return 1;
  }
  std::cout << "status " << response->status << ", " << response->body.size() << " bytes\n";

  // 2. The same resource streamed: headers first, then the body chunk by chunk.
  quiver::Result<quiver::ResponseStream> stream =
      co_await client.async_stream(std::move(*request), asio::use_awaitable);
  if (!stream) {
    std::cerr << "stream failed: " << stream.error().to_string() << "\n";
    co_return 1;
  }
  std::size_t total = 0, chunks = 0;
  for (;;) {
    quiver::Result<std::optional<std::string>> chunk = co_await stream->async_next_chunk(asio::use_awaitable);
    if (!chunk) {
      std::cerr << "body failed: " << chunk.error().to_string() << "\n";
      co_return 1;
    }
    if (!*chunk) break;  // the end of the body
    total += (*chunk)->size();
    ++chunks;
  }
  std::cout << "streamed " << total << " bytes in " << chunks << " chunks (status " << stream->status() << ")\n";
  co_return 0;
}

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--cacert") == 0)) {
    std::cerr << "usage: " << argv[0] << " URL [--cacert FILE]\n";
    return 2;
  }

  quiver::ClientOptions options;
  if (argc == 4) options.defaults.connection.tls.ca_file = argv[3];  // extra trust anchor (PEM)
  quiver::Client client(options);

  asio::io_context io;  // the coroutine runs here, on this thread
  int exit_code = 1;
  asio::co_spawn(io, fetch(client, argv[1]), [&](std::exception_ptr error, int code) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        std::cerr << "coroutine threw: " << e.what() << "\n";
      }
      return;
    }
    exit_code = code;
  });
  io.run();  // returns when the coroutine has finished
  return exit_code;
}

// Asynchronous requests with std::future (asio::use_future).
//
//   quiver_example_future https://example.com/ [--cacert ca.pem]
//
// With asio::use_future, async_request returns std::future<quiver::Result<quiver::Response>>: start
// several requests, do other work, then collect them. The requests to one origin share one HTTP/3
// connection (one stream each). future.get() never throws for a failed request: the error is in the
// Result.

#include <chrono>
#include <cstring>
#include <future>
#include <iostream>
#include <vector>

#include <asio/use_future.hpp>
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

  // Three requests in flight at once (each call takes its own copy of the request).
  std::vector<std::future<quiver::Result<quiver::Response>>> futures;
  for (int i = 0; i < 3; ++i) futures.push_back(client.async_request(*request, asio::use_future));

  int exit_code = 0;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    if (futures[i].wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      std::cerr << "request " << i << ": no answer in 30 s\n";
      return 1;
    }
    quiver::Result<quiver::Response> response = futures[i].get();
    if (!response) {
      std::cerr << "request " << i << " failed: " << response.error().to_string() << "\n";
      exit_code = 1;
      continue;
    }
    std::cout << "request " << i << ": status " << response->status << ", " << response->body.size()
              << " bytes\n";
  }
  return exit_code;
}

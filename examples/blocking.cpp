// Blocking API: one call, one quiver::Result.
//
//   quiver_example_blocking https://example.com/ [--cacert ca.pem]
//
// client.request() sends the request, waits for the whole response and returns
// quiver::Result<quiver::Response>, which is std::expected<quiver::Response, quiver::Error>. Nothing
// throws for a failed request: the Error says what happened (kind), whether a retry could help (class)
// and why (message), plus protocol codes where they apply.

#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include <quiver/client.hpp>

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--cacert") == 0)) {
    std::cerr << "usage: " << argv[0] << " URL [--cacert FILE]\n";
    return 2;
  }

  quiver::ClientOptions options;
  // Trust this CA (PEM) in addition to the system trust store, e.g. for a test server.
  if (argc == 4) options.defaults.connection.tls.ca_file = argv[3];
  // A Client owns its io threads and one connection pool per origin: make one and share it.
  quiver::Client client(options);

  // The builder parses the URL when the request is sent; a bad URL becomes an invalid_url error.
  auto request = quiver::get(argv[1]).header("Accept", "*/*").timeout(std::chrono::seconds(10));

  // A request the server provably never processed (GOAWAY, H3_REQUEST_REJECTED) is already retried by
  // the pool. Other `transient` errors (the handshake failed, no stream freed up in time) are safe to
  // retry too, a little later.
  quiver::Result<quiver::Response> response = client.request(request);
  for (int attempt = 1; attempt < 3 && !response && response.error().error_class() == quiver::ErrorClass::transient;
       ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
    response = client.request(request);
  }

  if (!response) {
    const quiver::Error& error = response.error();
    // to_string(): "kind (class): message"
    std::cerr << "request failed: " << error.to_string() << "\n";

    // The kind: what happened.
    switch (error.kind()) {
      case quiver::ErrorKind::invalid_url:
        std::cerr << "  the URL must look like https://host[:port]/path\n";
        break;
      case quiver::ErrorKind::handshake_failed:
        if (error.handshake_failure == quiver::HandshakeFailure::certificate) {
          std::cerr << "  the server's certificate was not trusted (try --cacert)\n";
        } else if (error.handshake_failure == quiver::HandshakeFailure::timeout) {
          std::cerr << "  no answer: is an HTTP/3 server listening on that UDP port?\n";
        }
        break;
      case quiver::ErrorKind::stream_reset:
      case quiver::ErrorKind::transport_error:
        if (error.h3_code) std::cerr << "  HTTP/3 code " << quiver::h3_error_name(*error.h3_code) << "\n";
        if (error.transport_code) {
          std::cerr << "  QUIC code " << quiver::transport_error_name(*error.transport_code) << "\n";
        }
        break;
      case quiver::ErrorKind::request_timeout:
        std::cerr << "  the whole request took longer than its timeout\n";
        break;
      default:
        break;
    }

    // The class: what the caller may do about it.
    switch (error.error_class()) {
      case quiver::ErrorClass::transient:
        std::cerr << "  transient: the server did not process it; safe to try again later\n";
        break;
      case quiver::ErrorClass::invalid:
        std::cerr << "  invalid: change the request before trying again\n";
        break;
      case quiver::ErrorClass::unrecoverable:
        std::cerr << "  unrecoverable: retrying as-is is not known to be safe\n";
        break;
    }
    // Callers who prefer exceptions can write: throw quiver::Exception(error);
    return 1;
  }

  // Field names are lowercase; look-ups ignore case.
  std::cout << "status " << response->status << ", " << response->body.size() << " bytes\n";
  if (auto type = response->headers.get("content-type")) std::cout << "content-type: " << *type << "\n";
  return 0;
}

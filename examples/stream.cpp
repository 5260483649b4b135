// Blocking streamed response: headers first, then the body chunk by chunk, then the trailers.
//
//   quiver_example_stream https://example.com/big-file [--cacert ca.pem]
//
// client.stream() returns as soon as the response headers arrive. The body is read with next_chunk()
// (or read(span) / read_all()) as it arrives; the library holds at most one flow-control window of
// unread body (ConnectionOptions::stream_window), so a slow reader slows the server down instead of
// filling memory. Dropping the ResponseStream before the end abandons the body (its stream is reset).

#include <cstring>
#include <iostream>

#include <quiver/client.hpp>

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::strcmp(argv[2], "--cacert") == 0)) {
    std::cerr << "usage: " << argv[0] << " URL [--cacert FILE]\n";
    return 2;
  }

  quiver::ClientOptions options;
  if (argc == 4) options.defaults.connection.tls.ca_file = argv[3];  // extra trust anchor (PEM)
  quiver::Client client(options);

  quiver::Result<quiver::ResponseStream> stream = client.stream(quiver::get(argv[1]));
  if (!stream) {
    std::cerr << "request failed: " << stream.error().to_string() << "\n";
    return 1;
  }

  std::cout << "status " << stream->status() << "\n";
  for (const quiver::Header& field : stream->headers()) std::cout << field.name << ": " << field.value << "\n";

  std::size_t total = 0;
  for (;;) {
    // The next chunk of at most 16 KiB; an empty optional at the end of the body.
    quiver::Result<std::optional<std::string>> chunk = stream->next_chunk(16 * 1024);
    if (!chunk) {
      // e.g. stream_reset (the server gave up), idle_timeout, transport_error
      std::cerr << "body failed after " << total << " bytes: " << chunk.error().to_string() << "\n";
      return 1;
    }
    if (!*chunk) break;
    total += (*chunk)->size();
    std::cout << "chunk of " << (*chunk)->size() << " bytes\n";
  }
  std::cout << "body: " << total << " bytes\n";

  // Trailers are complete once the end of the body has been read.
  for (const quiver::Header& field : stream->trailers()) {
    std::cout << "trailer " << field.name << ": " << field.value << "\n";
  }
  return 0;
}

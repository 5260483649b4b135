#pragma once

#include "quiver/config.hpp"

#include <chrono>
#include <cstdint>
#include <string>

#include "quiver/headers.hpp"
#include "quiver/url.hpp"

namespace quiver {

// When each phase of a request ended, as curl's -w reports them: durations from the request's start
// (when the Client took it; with redirects, the first request's start). A phase that did not happen for
// this request is zero: a reused connection needs no name lookup, connect or TLS handshake. Over QUIC the
// TLS handshake is the connection's handshake, so `connect` and `tls` are the same instant (as curl
// reports HTTP/3).
struct Timings {
  std::chrono::nanoseconds name_lookup{0};  // time_namelookup: the host's addresses were known
  std::chrono::nanoseconds connect{0};      // time_connect: the connection was established
  std::chrono::nanoseconds tls{0};          // time_appconnect: the TLS handshake was complete
  std::chrono::nanoseconds first_byte{0};   // time_starttransfer: the final response's headers arrived
  std::chrono::nanoseconds total{0};        // time_total: the response was complete
};

// The steady-clock instants behind Timings (a default-constructed time_point where a phase did not
// happen). Filled by the connection that answered; the Client turns them into Timings.
struct TransferInstants {
  std::chrono::steady_clock::time_point start;        // the Client took the request
  std::chrono::steady_clock::time_point name_lookup;  // this connection's addresses were known
  std::chrono::steady_clock::time_point connect;      // this connection was established
  std::chrono::steady_clock::time_point tls;          // its TLS handshake was complete
  std::chrono::steady_clock::time_point first_byte;   // the final response's headers arrived
  std::chrono::steady_clock::time_point end;          // the response was complete
};

// What the library knows of how a response was obtained.
struct TransferInfo {
  Url url;                         // the URL that answered (after redirects: the last one)
  int redirects = 0;               // redirects followed to get here
  std::string http_version;        // "3", "2" or "1.1", as curl's -w %{http_version}
  std::string peer_address;        // the server's IP address ("127.0.0.1", "::1")
  std::uint16_t peer_port = 0;
  bool connection_reused = false;  // the connection had carried an earlier request
  // HttpVersion::http3 (auto): why the connection speaks this protocol ("HTTP/3 won the race",
  // "HTTP/3 marked broken: TCP only", "Alt-Svc h3 at :4433", ...); empty otherwise.
  std::string protocol_choice;
  Timings timings;
  TransferInstants instants;
};

// A complete HTTP response. Field names are lowercase, in the order the server sent them (a body the
// library decompressed keeps its content-encoding and content-length fields as sent).
struct Response {
  int status = 0;
  Headers headers;
  std::string body;
  Headers trailers;
  TransferInfo transfer{};  // braced: `Response{status, headers, body, trailers}` stays warning-free
};

}  // namespace quiver

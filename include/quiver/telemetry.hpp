#pragma once
// Telemetry: an optional sink for connection and request spans. Nothing is built or called when no sink
// is installed. Calls arrive on the connection's io thread; a sink must be quick and must not block.

#include "quiver/config.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "quiver/error.hpp"

namespace quiver {

// What a connection's handshake agreed on and who the server said it was (ConnectionEvent::ready; curl -v's
// "SSL connection using ..." and "Server certificate:" lines).
struct HandshakeDetails {
  std::string tls_version;  // "TLSv1.3", "TLSv1.2"
  std::string cipher;       // the cipher suite's IANA name, e.g. "TLS_AES_128_GCM_SHA256"
  std::string key_exchange; // the key-exchange group, as GnuTLS names it: "X25519", "SECP256R1"
  std::string alpn;         // "h3", "h2"
  // The server's certificate (the first of its chain): distinguished names as RFC 4514 writes them
  // ("CN=localhost,O=Quiver test") and its validity; empty / unset when none was seen.
  std::string certificate_subject;
  std::string certificate_issuer;
  std::optional<std::chrono::system_clock::time_point> certificate_not_before;
  std::optional<std::chrono::system_clock::time_point> certificate_not_after;
  // QUIC: the negotiated version (1 is RFC 9000's); 0 over TCP.
  std::uint32_t quic_version = 0;
  // The round-trip time estimate when the connection became ready: ngtcp2's smoothed RTT over QUIC, the
  // kernel's (TCP_INFO) over TCP; 0 if unknown.
  std::chrono::nanoseconds rtt{0};
};

struct ConnectionEvent {
  enum class Type {
    start,      // resolving and handshaking begins
    attempt,    // the dialer tries one address of the host: `peer` (curl -v's "Trying"); one per address
    ready,      // handshake complete; `duration` is the handshake time, `max_streams` the credit,
                // `resumed` / `early_data_*` what resumption and 0-RTT did
    exception,  // the handshake failed; `error` says why (no `closed` follows)
    draining,   // GOAWAY received or sent; `goaway_id` set when known
    closed,     // the connection ended; `duration` is its lifetime, `error` its reason
  };
  Type type;
  std::string origin;
  int http_version = 3;  // the connection's: 3 (HTTP/3 over QUIC), 2 (HTTP/2) or 1 (HTTP/1.1) over TCP
  // HttpVersion::http3 (auto): why this attempt was made (start) and why it is used (ready): e.g.
  // "HTTP/3 first (no Alt-Svc known)", "QUIC not connected after 250 ms", "HTTP/3 marked broken".
  std::string reason;
  std::string peer;  // attempt: the address tried, "127.0.0.1:443" or "[::1]:443"
  std::chrono::nanoseconds duration{0};
  std::uint64_t max_streams = 0;
  std::optional<std::uint64_t> goaway_id;
  std::optional<Error> error;
  // ready: the TLS session was resumed from a ticket a server gave an earlier connection (no certificate
  // exchange; the ticket came from a verified connection with the same TLS settings).
  bool resumed = false;
  // ready: requests went out as 0-RTT early data (`early_requests` of them), and whether the server
  // accepted it. Rejected early data (offered, not accepted) was sent again after the handshake.
  bool early_data_offered = false;
  bool early_data_accepted = false;
  std::uint64_t early_requests = 0;
  // ready: TLS version, cipher, ALPN, the server's certificate, QUIC version, RTT.
  HandshakeDetails handshake;
};

struct RequestEvent {
  enum class Type {
    start,      // the request was accepted by a connection
    headers,    // the final response headers arrived: `status`
    stop,       // the response is complete: `status`, `bytes` of body, `duration` from start
    exception,  // the request failed: `error`, `duration` from start
    retry,      // the pool is sending it again on another connection; `error` is why
  };
  Type type;
  std::string origin;
  std::string method;
  std::string target;
  std::optional<std::uint64_t> stream_id;
  int status = 0;
  std::uint64_t bytes = 0;
  std::chrono::nanoseconds duration{0};
  std::optional<Error> error;
};

class Telemetry {
 public:
  virtual ~Telemetry() = default;
  virtual void on_connection_event(const ConnectionEvent&) {}
  virtual void on_request_event(const RequestEvent&) {}
};

}  // namespace quiver

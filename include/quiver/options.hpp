#pragma once

#include "quiver/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quiver/telemetry.hpp"

namespace quiver {

struct TlsOptions {
  // Verify the server's certificate chain and host name. On by default; turning it off is for tests.
  bool verify_peer = true;
  // Trust anchors (PEM) in a file, in addition to the system store when system_trust is on.
  std::string ca_file;
  // Trust anchors (PEM) in every file of a directory (curl's --capath), likewise.
  std::string ca_path;
  // Public-key pinning (curl's --pinnedpubkey): when not empty, the server's public key must be one of
  // these, each "sha256//" and the base64 SHA-256 of the certificate's SubjectPublicKeyInfo; otherwise
  // the connection is closed after the handshake (handshake_failed, HandshakeFailure::certificate).
  // Checked in addition to verify_peer, not instead of it.
  std::vector<std::string> pinned_public_keys;
  // Also trust the system's store (when verifying). Off: only ca_file's anchors, as curl's --cacert
  // does; loading the system store costs a few MB and ~10 ms at the first connection.
  bool system_trust = true;
  // A client certificate (mutual TLS, curl's --cert and --key): the PEM file of the certificate (its
  // chain may follow it) and the PEM file of its private key ("": the key is in the certificate's file).
  // Sent when a server asks for one, over QUIC and TCP alike. A file that cannot be loaded fails every
  // connection (handshake_failed, HandshakeFailure::client_certificate, class invalid).
  std::string client_certificate;
  std::string client_key;
};

enum class CongestionControl { cubic, bbr, reno };

// Which HTTP version a connection speaks (curl's --http3, --http3-only, --http2 and --http1.1).
enum class HttpVersion {
  http3_only,  // HTTP/3 over QUIC, nothing else
  http2,       // TLS over TCP offering ALPN h2 and http/1.1: HTTP/2, or HTTP/1.1 where the server chooses it
  http1_1,     // HTTP/1.1 over TLS over TCP (ALPN http/1.1, or none): one request at a time per
               // connection, so raise PoolOptions::max_connections for concurrency
  // "auto", curl's --http3 (the default): HTTP/3 first, TCP as the fallback. Unless the origin's HTTP/3
  // is marked broken, QUIC starts (at the Alt-Svc authority when one is known); if its handshake has not
  // finished after http3_race_delay (at once when it fails), TCP starts too; the first ready wins. See
  // docs/api.md, "Protocol choice".
  http3,
};

// Where to connect instead of the URL's host and port (curl's --resolve and --connect-to). The TLS name
// (SNI, certificate check) and :authority stay the URL's: only the address the packets go to changes.
struct ConnectOverride {
  std::string host;                // the URL's host it applies to ("" or "*": any host)
  std::uint16_t port = 0;          // the URL's port it applies to (0: any port)
  std::string connect_host;        // a name (resolved) or IP address to connect to ("": the URL's host)
  std::uint16_t connect_port = 0;  // 0: the URL's port
};

// Settings of one connection (HTTP/3 first, TCP as the fallback, unless http_version says otherwise; the
// QUIC-only ones are marked).
struct ConnectionOptions {
  HttpVersion http_version = HttpVersion::http3;
  TlsOptions tls;
  // TCP (HTTP/2, HTTP/1.1): with several addresses, the next one is tried this long after the previous attempt
  // started, IPv6 first (RFC 8305, Happy Eyeballs v2); the first connection wins.
  std::chrono::milliseconds happy_eyeballs_delay{250};
  // HttpVersion::http3 (auto): how long QUIC has alone before TCP starts too (at once when QUIC fails).
  std::chrono::milliseconds http3_race_delay{250};
  // HttpVersion::http3 (auto): a QUIC attempt that failed where TCP worked marks the origin's HTTP/3
  // broken for this long, doubling with each further failure (at most 48 hours, as Chromium); new
  // connections then go straight to TCP. A QUIC handshake that completes clears the mark and the count.
  std::chrono::milliseconds http3_broken_time{300000};
  // The handshake must finish within this, or queued requests fail with handshake_failed.
  std::chrono::milliseconds connect_timeout{5000};
  // QUIC max_idle_timeout we advertise; the connection closes after this much silence. HTTP/2: the
  // connection closes after this long without a byte from the server; while requests are in flight a
  // PING goes out after half of it. HTTP/1.1: after this long without a byte either way.
  std::chrono::milliseconds idle_timeout{30000};
  // Flow-control windows we grant the peer: whole connection, and each request stream.
  // The per-stream window is also the most unconsumed body a streamed response holds in memory.
  std::uint64_t connection_window = 16 * 1024 * 1024;
  std::uint64_t stream_window = 1024 * 1024;
  // Most bytes of a file or producer body read ahead of what the peer's window accepts.
  std::uint64_t send_buffer = 256 * 1024;
  // A streamed response whose consumer neither reads nor receives for this long is reset
  // (H3_REQUEST_CANCELLED) and its reader gets idle_timeout.
  std::chrono::milliseconds stream_idle_timeout{30000};
  // How long a draining connection waits for its requests in flight before closing anyway, whether
  // the drain is ours (pool shutdown, idle close) or the server's (its GOAWAY). Requests still open
  // then fail with goaway, class unrecoverable (the server may have processed them). A Client's or
  // pool's shutdown deadline, when shorter, closes the connection first.
  std::chrono::milliseconds drain_timeout{10000};
  // The largest response header section we accept, and separately the largest trailer section, sized
  // as RFC 9114 §4.2.2 counts (each field's name and value lengths plus 32 bytes). Sent to the server
  // as SETTINGS_MAX_FIELD_SECTION_SIZE. A section over it fails that request with headers_too_large
  // and resets its stream with H3_EXCESSIVE_LOAD; the connection and its other requests carry on.
  // Independently of this limit, one field whose name is over 256 bytes or whose value is over
  // 65,536 bytes as sent (before Huffman decoding) is more than nghttp3's QPACK decoder accepts:
  // that closes the whole connection (transport_error, H3_INTERNAL_ERROR).
  std::uint64_t max_response_header_bytes = 64 * 1024;
  std::uint64_t max_udp_payload = 1452;  // QUIC
  // The QPACK dynamic table the server may use for response headers, and how many responses may wait
  // for its inserts. Off by default, as in libcurl and quic-go: a response is then decoded on arrival,
  // never blocked behind a lost encoder-stream packet, and needs no Section Acknowledgment back, so the
  // packet that acknowledges it carries only the ACK (which the server need not acknowledge in turn).
  // Repetitive response headers compress better with a table (try 4096 and 100).
  std::uint64_t qpack_table_capacity = 0;
  std::uint64_t qpack_blocked_streams = 0;
  CongestionControl congestion_control = CongestionControl::cubic;
  // HTTP datagrams (RFC 9297) for channels (Client::open_channel): offers SETTINGS_H3_DATAGRAM and QUIC
  // max_datagram_frame_size (RFC 9221). Datagrams flow only when the server offers both too. HTTP/3 only.
  bool http_datagrams = false;
  // Received datagrams a channel keeps for its reader; past this a datagram is dropped and counted
  // (Channel::datagrams_dropped). Datagrams are unreliable: a slow reader loses, never stalls, them.
  std::size_t channel_datagram_queue = 256;
  // The first override that matches the origin decides where its connections go (none: the URL's host).
  std::vector<ConnectOverride> connect_to;
  // QUIC: a folder where every connection writes its qlog (ngtcp2's JSON-SEQ events, one file per
  // connection named after its source connection id, "<hex>.sqlog"), for qvis and other qlog tools.
  // Empty: the QLOGDIR environment variable's folder, as libcurl and ngtcp2's examples do; neither: no qlog.
  std::string qlog_dir;
  // Optional span sink; shared by every connection that has these options.
  std::shared_ptr<Telemetry> telemetry;
};

// Settings of the connection pool of one origin (scheme, host, port).
struct PoolOptions {
  ConnectionOptions connection;
  // RFC 9114 §3.3 asks clients for one connection per origin; more is opt-in.
  std::size_t max_connections = 1;
  // Requests waiting for a stream beyond this are refused at once with checkout_timeout.
  std::size_t max_waiting = 10000;
  // A request waiting for a stream longer than this fails with checkout_timeout.
  std::chrono::milliseconds checkout_timeout{5000};
  // Default deadline of a whole request when the request sets none (0 = none).
  std::chrono::milliseconds request_timeout{0};
  // A connection with no request for this long is closed (0 = never).
  std::chrono::milliseconds idle_close{60000};
  // Transparent retries after a refusal: the server provably did not process the request (stream id at or
  // above its GOAWAY id, H3_REQUEST_REJECTED, refused because the connection was draining), and its body
  // can be replayed. A request may be refused this many times and still be sent again (so it is sent at
  // most 1 + max_refusal_retries times), never past its deadline (Request::timeout or request_timeout,
  // counted from its first send) and never again to a connection that refused it while another one may
  // take it. See docs/pool.md, "Transparent retries". 0 = report the first refusal to the caller.
  int max_refusal_retries = 10;
};

}  // namespace quiver

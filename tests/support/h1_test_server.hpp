#pragma once
// H1TestServer: a small HTTP/1.1 server on loopback (GnuTLS, ALPN http/1.1; requests parsed with
// http-parser) that can misbehave on purpose, to test the HTTP/1.1 worker through the real Client:
//   - keep-alive, with a record of how many connections were opened and how many were open at once;
//   - the stale keep-alive race: every connection closes, without a word, when its Nth request arrives;
//   - a server keep-alive timeout: a connection idle this long is closed;
//   - malformed responses (/raw/NAME).
// Routes: "/bytes/N" N bytes (test::deterministic_bytes(0, N)) with content-length; "/chunked/N" the
// same bytes chunked; "/eof/N" the same bytes delimited by the connection's close; "/echo" the request
// body (header x-request-chunked: yes|no); "/trailers" "body" chunked with trailer `x-checksum: 42`;
// "/close" answers "bye" with `Connection: close` and closes; "/status/N" status N (204 and 304 without a
// body, 304 with a content-length); "/continue" a 100 Continue, then "ok"; "/delay/MS" "ok" after MS ms;
// HEAD on any route: the GET's header section, no body. /raw/NAME sends prepared bytes: "bad-chunk" (a
// chunk size that is not hex), "too-long" (5 bytes more than content-length), "big-headers" (a header
// section of ~100 KB), "bad-status" (a status line that is not one), "truncated" (content-length 100,
// 10 bytes, close), "extra-later" (a good response, and 100 ms later a second one nobody asked for).
// Routes ignore the query. Anything else answers its path.
//
// Each connection runs on its own thread, all stopped and joined by the destructor. Counters are safe
// to read from the test thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace quiver::test {

struct H1ServerOptions {
  // Every connection closes (no response) when its request number N arrives (N >= 2; 0 = never).
  int drop_request_number = 0;
  // A connection with no request for this long is closed (0 = never).
  std::chrono::milliseconds idle_close{0};
  // Offer ALPN http/1.1 (off: no ALPN at all, as old servers).
  bool alpn = true;
};

class H1TestServer {
 public:
  // Listens on 127.0.0.1 at a free port with tests/data/server.pem; throws std::runtime_error on failure.
  explicit H1TestServer(H1ServerOptions options = {});
  ~H1TestServer();
  H1TestServer(const H1TestServer&) = delete;
  H1TestServer& operator=(const H1TestServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  int connections() const noexcept { return connections_.load(); }
  int peak_connections() const noexcept { return peak_open_.load(); }  // open at the same time
  int requests_received() const noexcept { return received_.load(); }
  int requests_dropped() const noexcept { return dropped_.load(); }
  std::vector<std::string> received_targets() const;  // in arrival order
  // Response bytes handed to TLS so far (the socket takes them only as the client reads).
  std::size_t bytes_sent() const noexcept { return bytes_sent_.load(); }

 private:
  struct Connection;
  void accept_loop();
  void serve(int fd);

  H1ServerOptions options_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> open_{0};
  std::atomic<int> peak_open_{0};
  std::atomic<int> received_{0};
  std::atomic<int> dropped_{0};
  std::atomic<std::size_t> bytes_sent_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> targets_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace quiver::test

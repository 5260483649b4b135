#pragma once
// H2TestServer: a small HTTP/2 server on loopback (nghttp2's server API over GnuTLS, ALPN h2) that can
// misbehave on purpose, to test the HTTP/2 worker's draining, retries and credit through the real Client:
//   - a low SETTINGS_MAX_CONCURRENT_STREAMS, and a record of the most streams it saw open at once;
//   - GOAWAY with a chosen last-stream-id once a number of requests arrived on the first connection
//     (requests on streams above it are left unanswered: not processed);
//   - RST_STREAM REFUSED_STREAM for the first requests;
//   - TLS session tickets (resumption), counting the handshakes that resumed one;
//   - a client certificate required (mTLS), verified against tests/data/ca.pem.
// Routes: "/bytes/N" answers N bytes (test::deterministic_bytes(0, N)); "/echo" answers the request body;
// "/trailers" answers "body" and the trailer `x-checksum: 42`; "/bad-status" answers `:status: abc` (a
// malformed response); "/big-headers" adds 20 fields of 500 bytes; anything else answers its path.
//
// Each connection runs on its own thread (blocking-free: poll + non-blocking GnuTLS), all of them stopped
// and joined by the destructor. Counters are safe to read from the test thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace quiver::test {

struct H2ServerOptions {
  std::uint32_t max_concurrent_streams = 100;
  // On the first connection: once this many requests have arrived (0 = never), send GOAWAY with
  // `goaway_last_stream_id`, answer the requests on streams up to it and leave the others unanswered.
  int goaway_after_requests = 0;
  std::int32_t goaway_last_stream_id = 0;
  // The first this many requests (over all connections) get RST_STREAM REFUSED_STREAM.
  int refuse_first_requests = 0;
  // Each answer waits this long (so that concurrent requests overlap on the server).
  std::chrono::milliseconds response_delay{0};
  // Send TLS session tickets (one key for the server's life), so clients can resume.
  bool session_tickets = false;
  // Refuse a handshake without a client certificate signed by tests/data/ca.pem.
  bool require_client_certificate = false;
  // Sent as `alt-svc` on every response when not empty (e.g. `h3=":4433"; ma=60`).
  std::string alt_svc = "";
  // The TCP port to listen on (0: a free one).
  std::uint16_t port = 0;
};

class H2TestServer {
 public:
  // Listens on 127.0.0.1 at a free port with tests/data/server.pem; throws std::runtime_error on failure.
  explicit H2TestServer(H2ServerOptions options = {});
  ~H2TestServer();
  H2TestServer(const H2TestServer&) = delete;
  H2TestServer& operator=(const H2TestServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  int connections() const noexcept { return connections_.load(); }
  int requests_answered() const noexcept { return answered_.load(); }   // responses submitted
  int requests_refused() const noexcept { return refused_.load(); }     // REFUSED_STREAM sent
  int requests_received() const noexcept { return received_.load(); }   // complete requests seen
  int peak_open_streams() const noexcept { return peak_open_.load(); }  // on any one connection
  int goaways_received() const noexcept { return goaways_.load(); }   // from clients
  int resumed_handshakes() const noexcept { return resumed_.load(); }  // that resumed a session ticket
  int failed_handshakes() const noexcept { return failed_handshakes_.load(); }
  // Response body bytes handed to nghttp2 so far (it takes them only as the client's window allows).
  std::size_t body_bytes_sent() const noexcept { return body_bytes_sent_.load(); }

 private:
  struct Connection;
  void accept_loop();
  void serve(int fd, int index);

  H2ServerOptions options_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a byte here stops every loop
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> answered_{0};
  std::atomic<int> refused_{0};
  std::atomic<int> received_{0};
  std::atomic<int> peak_open_{0};
  std::atomic<std::size_t> body_bytes_sent_{0};
  std::atomic<int> goaways_{0};
  std::atomic<int> resumed_{0};
  std::atomic<int> failed_handshakes_{0};
  std::string ticket_key_;  // the session ticket key (session_tickets)
  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;

  friend struct H2ServerCallbacks;
};

}  // namespace quiver::test

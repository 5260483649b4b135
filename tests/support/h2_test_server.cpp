#include "support/h2_test_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>
#include <string>

#include <gnutls/gnutls.h>
#include <nghttp2/nghttp2.h>

#include "support/loopback.hpp"

namespace quiver::test {

namespace {

using Clock = std::chrono::steady_clock;

struct TlsCredentials {
  gnutls_certificate_credentials_t credentials = nullptr;
  TlsCredentials() {
    gnutls_certificate_allocate_credentials(&credentials);
    if (gnutls_certificate_set_x509_key_file(credentials, data_file("server.pem").c_str(),
                                             data_file("server-key.pem").c_str(), GNUTLS_X509_FMT_PEM) < 0) {
      throw std::runtime_error("H2TestServer: cannot load tests/data/server.pem");
    }
    // Client certificates (require_client_certificate) are verified against the test CA.
    if (gnutls_certificate_set_x509_trust_file(credentials, data_file("ca.pem").c_str(), GNUTLS_X509_FMT_PEM) <= 0) {
      throw std::runtime_error("H2TestServer: cannot load tests/data/ca.pem");
    }
  }
  ~TlsCredentials() { gnutls_certificate_free_credentials(credentials); }
};

const TlsCredentials& credentials() {
  static const TlsCredentials shared;
  return shared;
}

void update_max(std::atomic<int>& max, int value) {
  int seen = max.load();
  while (value > seen && !max.compare_exchange_weak(seen, value)) {
  }
}

}  // namespace

// One connection's state; lives on its thread.
struct H2TestServer::Connection {
  struct Stream {
    std::string method, path, body;  // the request
    std::string answer;              // the response body being sent
    std::size_t sent = 0;
    bool trailers = false;
  };

  H2TestServer& server;
  int index;  // 0 for the first connection
  int fd;
  gnutls_session_t tls = nullptr;
  nghttp2_session* h2 = nullptr;
  std::map<std::int32_t, Stream> streams;
  int open = 0;
  int requests = 0;
  bool goaway_sent = false;
  std::vector<std::int32_t> held;                          // waiting for the GOAWAY decision
  std::deque<std::pair<Clock::time_point, std::int32_t>> due;  // answers to send

  Connection(H2TestServer& owner, int number, int socket) : server(owner), index(number), fd(socket) {}
  ~Connection() {
    if (h2 != nullptr) nghttp2_session_del(h2);
    if (tls != nullptr) gnutls_deinit(tls);
    ::close(fd);
  }

  bool send_all(const std::uint8_t* data, std::size_t size) {
    while (size > 0) {
      ssize_t n = gnutls_record_send(tls, data, size);
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
        pollfd out{fd, POLLOUT, 0};
        ::poll(&out, 1, 50);
        if (server.stopping_) return false;
        continue;
      }
      if (n < 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  bool flush() {
    for (;;) {
      const std::uint8_t* data = nullptr;
      ssize_t length = nghttp2_session_mem_send(h2, &data);
      if (length < 0) return false;
      if (length == 0) return true;
      if (!send_all(data, static_cast<std::size_t>(length))) return false;
    }
  }

  void on_request(std::int32_t stream_id) {
    ++server.received_;
    ++requests;
    const H2ServerOptions& options = server.options_;
    if (server.refused_.load() < options.refuse_first_requests) {
      ++server.refused_;
      nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (options.goaway_after_requests > 0 && index == 0) {
      if (goaway_sent) return;  // above the last stream id: not processed
      held.push_back(stream_id);
      if (requests < options.goaway_after_requests) return;
      goaway_sent = true;
      nghttp2_submit_goaway(h2, NGHTTP2_FLAG_NONE, options.goaway_last_stream_id, NGHTTP2_NO_ERROR, nullptr, 0);
      for (std::int32_t held_id : held) {
        if (held_id <= options.goaway_last_stream_id) due.emplace_back(Clock::now() + options.response_delay, held_id);
      }
      return;
    }
    due.emplace_back(Clock::now() + options.response_delay, stream_id);
  }

  void answer(std::int32_t stream_id) {
    auto it = streams.find(stream_id);
    if (it == streams.end()) return;
    Stream& stream = it->second;
    if (stream.path.starts_with("/bytes/")) {
      std::size_t size = 0;
      std::from_chars(stream.path.data() + 7, stream.path.data() + stream.path.size(), size);
      stream.answer = deterministic_bytes(0, size);
    } else if (stream.path == "/echo") {
      stream.answer = stream.body;
    } else if (stream.path == "/trailers") {
      stream.answer = "body";
      stream.trailers = true;
    } else {
      stream.answer = stream.path;
    }
    std::string length = std::to_string(stream.answer.size());
    std::string status = stream.path == "/bad-status" ? "abc" : "200";
    std::vector<nghttp2_nv> headers = {
        {(std::uint8_t*)":status", (std::uint8_t*)status.data(), 7, status.size(), NGHTTP2_NV_FLAG_NONE},
        {(std::uint8_t*)"content-length", (std::uint8_t*)length.data(), 14, length.size(), NGHTTP2_NV_FLAG_NONE},
    };
    if (!server.options_.alt_svc.empty()) {
      const std::string& alt_svc = server.options_.alt_svc;
      headers.push_back({(std::uint8_t*)"alt-svc", (std::uint8_t*)alt_svc.data(), 7, alt_svc.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string filler(500, 'f');
    if (stream.path == "/big-headers") {
      for (int i = 0; i < 20; ++i) {
        headers.push_back({(std::uint8_t*)"x-filler", (std::uint8_t*)filler.data(), 8, filler.size(), NGHTTP2_NV_FLAG_NONE});
      }
    }
    nghttp2_data_provider provider{};
    provider.read_callback = read_answer;
    nghttp2_submit_response(h2, stream_id, headers.data(), headers.size(), &provider);
    ++server.answered_;
  }

  static ssize_t read_answer(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source*, void* user_data) {
    auto& self = *static_cast<Connection*>(user_data);
    auto it = self.streams.find(stream_id);
    if (it == self.streams.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    Stream& stream = it->second;
    std::size_t n = std::min(length, stream.answer.size() - stream.sent);
    std::memcpy(buf, stream.answer.data() + stream.sent, n);
    stream.sent += n;
    self.server.body_bytes_sent_ += n;
    if (stream.sent == stream.answer.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (stream.trailers) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv trailer{(std::uint8_t*)"x-checksum", (std::uint8_t*)"42", 10, 2, NGHTTP2_NV_FLAG_NONE};
        nghttp2_submit_trailer(session, stream_id, &trailer, 1);
      }
    }
    return static_cast<ssize_t>(n);
  }
};

struct H2ServerCallbacks {
  using Connection = H2TestServer::Connection;
  static Connection& self(void* user_data) { return *static_cast<Connection*>(user_data); }

  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& c = self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    c.streams[frame->hd.stream_id];
    update_max(c.server.peak_open_, ++c.open);
    return 0;
  }
  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t name_length,
                    const std::uint8_t* value, std::size_t value_length, std::uint8_t, void* user_data) {
    auto& c = self(user_data);
    auto it = c.streams.find(frame->hd.stream_id);
    if (it == c.streams.end()) return 0;
    std::string_view field(reinterpret_cast<const char*>(name), name_length);
    std::string text(reinterpret_cast<const char*>(value), value_length);
    if (field == ":path") it->second.path = text;
    if (field == ":method") it->second.method = text;
    return 0;
  }
  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                        std::size_t length, void* user_data) {
    auto& c = self(user_data);
    if (auto it = c.streams.find(stream_id); it != c.streams.end()) {
      it->second.body.append(reinterpret_cast<const char*>(data), length);
    }
    return 0;
  }
  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& c = self(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) ++c.server.goaways_;
    bool ends = (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
                (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (ends && c.streams.contains(frame->hd.stream_id)) c.on_request(frame->hd.stream_id);
    return 0;
  }
  static int stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user_data) {
    auto& c = self(user_data);
    if (c.streams.erase(stream_id) > 0) --c.open;
    return 0;
  }
};

H2TestServer::H2TestServer(H2ServerOptions options) : options_(options) {
  (void)credentials();  // fail here, on the test thread, if the certificate is missing
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(options_.port);
  socklen_t length = sizeof address;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("H2TestServer: cannot listen: ") + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  if (options_.session_tickets) {
    gnutls_datum_t key{};
    if (gnutls_session_ticket_key_generate(&key) != 0) throw std::runtime_error("H2TestServer: no ticket key");
    ticket_key_.assign(reinterpret_cast<const char*>(key.data), key.size);
    gnutls_free(key.data);
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

H2TestServer::~H2TestServer() {
  stopping_ = true;
  [[maybe_unused]] auto written = ::write(wake_[1], "x", 1);
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(threads_mutex_);
    threads.swap(threads_);
  }
  for (auto& thread : threads) thread.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void H2TestServer::accept_loop() {
  int index = 0;
  while (!stopping_) {
    pollfd fds[] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 || (fds[1].revents & POLLIN) != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(threads_mutex_);
    threads_.emplace_back([this, fd, current = index++] { serve(fd, current); });
  }
}

// One connection: TLS handshake (ALPN h2), SETTINGS, then requests until the client leaves or we stop.
void H2TestServer::serve(int fd, int index) {
  Connection c(*this, index, fd);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  gnutls_init(&c.tls, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);  // EPIPE, not SIGPIPE
  gnutls_priority_set_direct(c.tls, "NORMAL", nullptr);
  gnutls_credentials_set(c.tls, GNUTLS_CRD_CERTIFICATE, credentials().credentials);
  gnutls_datum_t h2{(unsigned char*)"h2", 2};
  gnutls_alpn_set_protocols(c.tls, &h2, 1, GNUTLS_ALPN_SERVER_PRECEDENCE);
  if (!ticket_key_.empty()) {
    gnutls_datum_t key{reinterpret_cast<unsigned char*>(ticket_key_.data()), static_cast<unsigned>(ticket_key_.size())};
    gnutls_session_ticket_enable_server(c.tls, &key);
  }
  if (options_.require_client_certificate) {
    gnutls_certificate_server_set_request(c.tls, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(c.tls, nullptr, 0);
  }
  gnutls_transport_set_int(c.tls, fd);
  const auto handshake_deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    int rv = gnutls_handshake(c.tls);
    if (rv == 0) break;
    if (gnutls_error_is_fatal(rv) != 0 || stopping_ || Clock::now() > handshake_deadline) {
      ++failed_handshakes_;  // before the alert: a client that saw it may read the count at once
      if (gnutls_error_is_fatal(rv) != 0) gnutls_alert_send_appropriate(c.tls, rv);  // e.g. certificate_required
      return;
    }
    pollfd fds[] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    ::poll(fds, 2, 50);
  }
  if (gnutls_session_is_resumed(c.tls) != 0) ++resumed_;

  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, H2ServerCallbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, H2ServerCallbacks::header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, H2ServerCallbacks::data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, H2ServerCallbacks::frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, H2ServerCallbacks::stream_close);
  nghttp2_session_server_new(&c.h2, callbacks, &c);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams}};
  nghttp2_submit_settings(c.h2, NGHTTP2_FLAG_NONE, settings, 1);

  std::uint8_t buffer[16384];
  while (!stopping_) {
    if (!c.flush()) return;
    if (nghttp2_session_want_read(c.h2) == 0 && nghttp2_session_want_write(c.h2) == 0) return;
    if (gnutls_record_check_pending(c.tls) == 0) {
      pollfd fds[] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      ::poll(fds, 2, c.due.empty() ? 50 : 2);
    }
    for (;;) {
      ssize_t n = gnutls_record_recv(c.tls, buffer, sizeof buffer);
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) break;
      if (n == 0 || (n < 0 && gnutls_error_is_fatal(static_cast<int>(n)) != 0)) return;  // the client left
      if (n < 0) continue;
      if (nghttp2_session_mem_recv(c.h2, buffer, static_cast<std::size_t>(n)) < 0) return;
    }
    while (!c.due.empty() && c.due.front().first <= Clock::now()) {
      std::int32_t stream_id = c.due.front().second;
      c.due.pop_front();
      c.answer(stream_id);
    }
  }
}

}  // namespace quiver::test

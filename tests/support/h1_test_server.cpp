#include "support/h1_test_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <gnutls/gnutls.h>

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
      throw std::runtime_error("H1TestServer: cannot load tests/data/server.pem");
    }
  }
  ~TlsCredentials() { gnutls_certificate_free_credentials(credentials); }
};

const TlsCredentials& credentials() {
  static const TlsCredentials shared;
  return shared;
}

std::size_t number_after(const std::string& target, std::string_view prefix) {
  std::size_t n = 0;
  std::from_chars(target.data() + prefix.size(), target.data() + target.size(), n);
  return n;
}

std::string chunked(const std::string& body, std::size_t piece) {
  std::string out;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    std::string_view part = std::string_view(body).substr(at, piece);
    out += fmt::format("{:x}\r\n", part.size());
    out += part;
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

}  // namespace

// One connection; lives on its thread.
struct H1TestServer::Connection {
  struct Request {
    std::string method, target, body;
    bool chunked = false;
  };

  H1TestServer& server;
  int fd;
  gnutls_session_t tls = nullptr;
  http_parser parser{};
  http_parser_settings settings{};
  Request building;
  std::string field;
  std::deque<Request> complete;
  int requests = 0;
  bool closing = false;

  Connection(H1TestServer& owner, int socket) : server(owner), fd(socket) {
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = this;
    http_parser_settings_init(&settings);
    settings.on_url = [](http_parser* p, const char* at, std::size_t n) {
      self(p).building.target.append(at, n);
      return 0;
    };
    settings.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
      self(p).field.assign(at, n);
      return 0;
    };
    settings.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
      auto& c = self(p);
      if (strcasecmp(c.field.c_str(), "transfer-encoding") == 0 && std::string_view(at, n) == "chunked") {
        c.building.chunked = true;
      }
      return 0;
    };
    settings.on_body = [](http_parser* p, const char* at, std::size_t n) {
      self(p).building.body.append(at, n);
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
      auto& c = self(p);
      c.building.method = http_method_str(static_cast<http_method>(p->method));
      c.complete.push_back(std::move(c.building));
      c.building = Request{};
      return 0;
    };
  }
  ~Connection() {
    if (tls != nullptr) gnutls_deinit(tls);
    ::close(fd);
  }
  static Connection& self(http_parser* p) { return *static_cast<Connection*>(p->data); }

  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = gnutls_record_send(tls, bytes.data(), bytes.size());
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
        pollfd out{fd, POLLOUT, 0};
        ::poll(&out, 1, 50);
        if (server.stopping_) return false;
        continue;
      }
      if (n < 0) return false;
      server.bytes_sent_ += static_cast<std::size_t>(n);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void pause(std::chrono::milliseconds how_long) {
    auto until = Clock::now() + how_long;
    while (!server.stopping_ && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  static std::string head(int status, std::string_view reason, const std::string& fields) {
    return fmt::format("HTTP/1.1 {} {}\r\n{}\r\n", status, reason, fields);
  }

  // Answers one request; false when the connection ends after it.
  bool answer(const Request& request) {
    const std::string t = request.target.substr(0, request.target.find('?'));  // routes ignore the query
    const bool head_only = request.method == "HEAD";
    auto body_response = [&](const std::string& body, std::string extra = "") {
      std::string out = head(200, "OK", fmt::format("content-length: {}\r\n{}", body.size(), extra));
      if (!head_only) out += body;
      return send_all(out);
    };
    if (t.starts_with("/bytes/")) return body_response(deterministic_bytes(0, number_after(t, "/bytes/")));
    if (t == "/echo") return body_response(request.body, fmt::format("x-request-chunked: {}\r\n", request.chunked ? "yes" : "no"));
    if (t.starts_with("/chunked/")) {
      std::string out = head(200, "OK", "transfer-encoding: chunked\r\n");
      if (!head_only) out += chunked(deterministic_bytes(0, number_after(t, "/chunked/")), 4000);
      return send_all(out);
    }
    if (t == "/trailers") {
      std::string out = head(200, "OK", "transfer-encoding: chunked\r\ntrailer: x-checksum\r\n");
      if (!head_only) out += "4\r\nbody\r\n0\r\nx-checksum: 42\r\n\r\n";
      return send_all(out);
    }
    if (t.starts_with("/eof/")) {
      std::string out = head(200, "OK", "connection: close\r\n");
      if (!head_only) out += deterministic_bytes(0, number_after(t, "/eof/"));
      send_all(out);
      return false;
    }
    if (t == "/close") {
      send_all(head(200, "OK", "content-length: 3\r\nconnection: close\r\n") + (head_only ? "" : "bye"));
      return false;
    }
    if (t.starts_with("/status/")) {
      int status = static_cast<int>(number_after(t, "/status/"));
      if (status == 204) return send_all(head(204, "No Content", ""));
      if (status == 304) return send_all(head(304, "Not Modified", "content-length: 10\r\netag: \"x\"\r\n"));
      return send_all(head(status, "Status", "content-length: 6\r\n") + (head_only ? "" : "status"));
    }
    if (t == "/continue") return send_all("HTTP/1.1 100 Continue\r\n\r\n" + head(200, "OK", "content-length: 2\r\n") + "ok");
    if (t.starts_with("/delay/")) {
      pause(std::chrono::milliseconds(number_after(t, "/delay/")));
      return body_response("ok");
    }
    if (t == "/raw/bad-chunk") return send_all(head(200, "OK", "transfer-encoding: chunked\r\n") + "zz\r\nhello\r\n0\r\n\r\n");
    if (t == "/raw/too-long") return send_all(head(200, "OK", "content-length: 5\r\n") + "hello world");
    if (t == "/raw/bad-status") return send_all("HTTP/1.1 abc\r\ncontent-length: 0\r\n\r\n");
    if (t == "/raw/big-headers") {
      std::string fields;
      for (int i = 0; i < 200; ++i) fields += fmt::format("x-filler-{}: {}\r\n", i, std::string(500, 'f'));
      return send_all(head(200, "OK", fields + "content-length: 0\r\n"));
    }
    if (t == "/raw/truncated") {
      send_all(head(200, "OK", "content-length: 100\r\n") + "0123456789");
      return false;
    }
    if (t == "/raw/extra-later") {
      if (!body_response("first")) return false;
      pause(std::chrono::milliseconds(100));
      return send_all(head(200, "OK", "content-length: 5\r\n") + "extra");
    }
    return body_response(t);
  }

  // Requests in arrival order; false when the connection ends.
  bool serve_complete() {
    while (!complete.empty()) {
      Request request = std::move(complete.front());
      complete.pop_front();
      ++requests;
      ++server.received_;
      {
        std::lock_guard lock(server.mutex_);
        server.targets_.push_back(request.target);
      }
      if (server.options_.drop_request_number >= 2 && requests == server.options_.drop_request_number) {
        ++server.dropped_;
        return false;  // the stale keep-alive race: closed with the request unanswered
      }
      if (!answer(request)) return false;
    }
    return true;
  }
};

H1TestServer::H1TestServer(H1ServerOptions options) : options_(options) {
  (void)credentials();
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 128) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("H1TestServer: cannot listen: ") + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

H1TestServer::~H1TestServer() {
  stopping_ = true;
  [[maybe_unused]] auto written = ::write(wake_[1], "x", 1);
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& thread : threads) thread.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

std::vector<std::string> H1TestServer::received_targets() const {
  std::lock_guard lock(mutex_);
  return targets_;
}

void H1TestServer::accept_loop() {
  while (!stopping_) {
    pollfd fds[] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 || (fds[1].revents & POLLIN) != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void H1TestServer::serve(int fd) {
  Connection c(*this, fd);
  int open = ++open_;
  int seen = peak_open_.load();
  while (open > seen && !peak_open_.compare_exchange_weak(seen, open)) {
  }
  struct Closed {
    std::atomic<int>& open;
    ~Closed() { --open; }
  } closed{open_};
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  gnutls_init(&c.tls, GNUTLS_SERVER | GNUTLS_NONBLOCK);
  gnutls_priority_set_direct(c.tls, "NORMAL", nullptr);
  gnutls_credentials_set(c.tls, GNUTLS_CRD_CERTIFICATE, credentials().credentials);
  if (options_.alpn) {
    gnutls_datum_t h1{(unsigned char*)"http/1.1", 8};
    gnutls_alpn_set_protocols(c.tls, &h1, 1, GNUTLS_ALPN_SERVER_PRECEDENCE);
  }
  gnutls_transport_set_int(c.tls, fd);
  // A client that closes mid-response (as the worker does on a malformed one) must not kill the test
  // process with SIGPIPE: writes say EPIPE instead.
  gnutls_transport_set_push_function(c.tls, [](gnutls_transport_ptr_t ptr, const void* data, std::size_t size) {
    return ::send(static_cast<int>(reinterpret_cast<std::intptr_t>(ptr)), data, size, MSG_NOSIGNAL);
  });
  const auto handshake_deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    int rv = gnutls_handshake(c.tls);
    if (rv == 0) break;
    if (gnutls_error_is_fatal(rv) != 0 || stopping_ || Clock::now() > handshake_deadline) return;
    pollfd fds[] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    ::poll(fds, 2, 50);
  }

  char buffer[16384];
  auto last_request = Clock::now();
  while (!stopping_) {
    if (gnutls_record_check_pending(c.tls) == 0) {
      pollfd fds[] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      ::poll(fds, 2, 20);
    }
    for (;;) {
      ssize_t n = gnutls_record_recv(c.tls, buffer, sizeof buffer);
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) break;
      if (n == 0 || (n < 0 && gnutls_error_is_fatal(static_cast<int>(n)) != 0)) return;  // the client left
      if (n < 0) continue;
      std::size_t parsed = http_parser_execute(&c.parser, &c.settings, buffer, static_cast<std::size_t>(n));
      if (parsed != static_cast<std::size_t>(n) || HTTP_PARSER_ERRNO(&c.parser) != HPE_OK) {
        c.send_all("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
      }
      last_request = Clock::now();
    }
    if (!c.serve_complete()) {
      gnutls_bye(c.tls, GNUTLS_SHUT_WR);
      return;
    }
    if (options_.idle_close.count() > 0 && Clock::now() - last_request > options_.idle_close) {
      gnutls_bye(c.tls, GNUTLS_SHUT_WR);  // the server's keep-alive timeout
      return;
    }
  }
}

}  // namespace quiver::test

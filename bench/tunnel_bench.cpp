// tunnel_bench: UDP through a CONNECT-UDP tunnel (RFC 9298) on loopback, against the same UDP exchange
// without a tunnel (the floor: no proxy exists in Debian to compare with; see docs/benchmarks.md).
//
//   tunnel_bench [--seconds S] [--rtt-size BYTES] [--size BYTES] [--path tunnel|direct]
//
// The project's server runs in-process as the proxy (`quiver serve --connect-udp`'s server, on its own
// thread) and a plain UDP responder thread is the target. Two measurements per path:
//   round trips   one datagram of --rtt-size (64) bytes in flight: round trips per second, p50 and p99 RTT;
//   one way       --size-byte (1200) datagrams sent as fast as the path takes them (congestion_limited is waited
//                 out) to a counting sink: bytes per second that arrived, and the share lost.
// Prints one JSON object per path on stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "latency_histogram.hpp"
#include "quiver/connect_udp.hpp"
#include "test_server/server.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A UDP socket on 127.0.0.1 answering (echo) or counting (sink) on its own thread until destroyed.
class Responder {
 public:
  explicit Responder(bool echo) : echo_(echo), fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    timeval poll{0, 100'000};  // the thread checks stop_ this often
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &poll, sizeof poll);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Responder() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::uint16_t port() const { return port_; }
  std::uint64_t bytes() const { return bytes_.load(); }
  std::uint64_t datagrams() const { return datagrams_.load(); }

 private:
  void run() {
    char buffer[65536];
    while (!stop_) {
      sockaddr_storage from{};
      socklen_t length = sizeof from;
      ssize_t size = recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &length);
      if (size < 0) continue;
      bytes_ += static_cast<std::uint64_t>(size);
      ++datagrams_;
      if (echo_) sendto(fd_, buffer, static_cast<std::size_t>(size), 0, reinterpret_cast<sockaddr*>(&from), length);
    }
  }

  const bool echo_;
  const int fd_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> bytes_{0}, datagrams_{0};
  std::thread thread_;
};

// One path to a target: the tunnel, or a plain connected UDP socket.
class Path {
 public:
  virtual ~Path() = default;
  virtual bool send(const std::string& payload) = 0;  // false: not taken now (congestion), try again
  virtual bool receive(std::string& payload) = 0;     // blocking; false: the path ended
};

class TunnelPath final : public Path {
 public:
  explicit TunnelPath(quiver::UdpTunnel tunnel) : tunnel_(std::move(tunnel)) {}
  bool send(const std::string& payload) override {
    auto sent = tunnel_.send(payload);
    if (!sent && sent.error().kind() != quiver::ErrorKind::congestion_limited) {
      throw std::runtime_error(sent.error().to_string());
    }
    return sent.has_value();
  }
  bool receive(std::string& payload) override {
    auto datagram = tunnel_.receive();
    if (!datagram) return false;
    payload = std::move(*datagram);
    return true;
  }

 private:
  quiver::UdpTunnel tunnel_;
};

class DirectPath final : public Path {
 public:
  explicit DirectPath(std::uint16_t port) : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  ~DirectPath() override { close(fd_); }
  bool send(const std::string& payload) override { return ::send(fd_, payload.data(), payload.size(), 0) >= 0; }
  bool receive(std::string& payload) override {
    payload.resize(65536);
    ssize_t size = recv(fd_, payload.data(), payload.size(), 0);
    if (size < 0) return false;
    payload.resize(static_cast<std::size_t>(size));
    return true;
  }

 private:
  int fd_;
};

struct Options {
  std::chrono::seconds seconds{3};
  std::size_t rtt_size = 64;
  std::size_t size = 1200;
  std::string path = "tunnel";
};

void round_trips(Path& path, const Options& options, std::string& json) {
  quiver::bench::LatencyHistogram rtt;
  const std::string payload(options.rtt_size, 'r');
  std::string back;
  const auto end = Clock::now() + options.seconds;
  while (Clock::now() < end) {
    auto sent_at = Clock::now();
    while (!path.send(payload)) std::this_thread::yield();
    if (!path.receive(back) || back != payload) throw std::runtime_error("round trip lost or damaged");
    rtt.record(Clock::now() - sent_at);
  }
  const double seconds = static_cast<double>(options.seconds.count());
  json += fmt::format("\"round_trips_per_s\": {:.0f}, \"rtt_p50_us\": {}, \"rtt_p99_us\": {}",
                      static_cast<double>(rtt.count()) / seconds, rtt.percentile_us(50), rtt.percentile_us(99));
}

void one_way(Path& path, const Responder& sink, const Options& options, std::string& json) {
  const std::string payload(options.size, 'o');
  std::uint64_t sent = 0;
  const auto start = Clock::now();
  const auto end = start + options.seconds;
  while (Clock::now() < end) {
    if (path.send(payload)) {
      ++sent;
    } else {
      std::this_thread::yield();  // congestion_limited: the window is full
    }
  }
  std::this_thread::sleep_for(200ms);  // what is in flight lands
  const double seconds = std::chrono::duration<double>(end - start).count();
  const double arrived = static_cast<double>(sink.datagrams());
  json += fmt::format(", \"one_way_mb_per_s\": {:.1f}, \"one_way_datagrams_sent\": {}, \"one_way_lost_pct\": {:.2f}",
                      static_cast<double>(sink.bytes()) / seconds / 1e6, sent,
                      sent ? 100.0 * (1.0 - arrived / static_cast<double>(sent)) : 0.0);
}

// A path that carries `size`-byte datagrams: the tunnel's limit grows as path MTU discovery succeeds.
std::unique_ptr<Path> open_path(const Options& options, std::size_t size, quiver::Client& client,
                                quiver::server::Server& proxy, std::uint16_t port) {
  if (options.path == "direct") return std::make_unique<DirectPath>(port);
  auto url = fmt::format("https://127.0.0.1:{}/.well-known/masque/udp/{{target_host}}/{{target_port}}/", proxy.port());
  auto tunnel = client.connect_udp(url, "127.0.0.1", port);
  if (!tunnel) throw std::runtime_error(tunnel.error().to_string());
  for (auto until = Clock::now() + 3s; tunnel->max_payload_size() < size && Clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  if (size > tunnel->max_payload_size()) {
    throw std::runtime_error(fmt::format("{} bytes is over the tunnel's {}", size, tunnel->max_payload_size()));
  }
  return std::make_unique<TunnelPath>(std::move(*tunnel));
}

int run(const Options& options) {
  quiver::server::ServerOptions server_options;
  server_options.cert_file = QUIVER_BENCH_DATA_DIR "/server.pem";
  server_options.key_file = QUIVER_BENCH_DATA_DIR "/server-key.pem";
  server_options.port = 0;
  server_options.connect_udp = true;
  quiver::server::Server proxy(server_options);
  if (auto started = proxy.start(); !started) throw std::runtime_error(started.error().to_string());

  quiver::ClientOptions client_options;
  client_options.defaults.connection.http_version = quiver::HttpVersion::http3_only;
  client_options.defaults.connection.http_datagrams = true;
  client_options.defaults.connection.tls.ca_file = QUIVER_BENCH_DATA_DIR "/ca.pem";
  quiver::Client client(client_options);

  std::string json = fmt::format("{{\"path\": \"{}\", \"rtt_size\": {}, \"size\": {}, \"seconds\": {}, ",
                                 options.path, options.rtt_size, options.size, options.seconds.count());
  {
    Responder echo(true);
    auto path = open_path(options, options.rtt_size, client, proxy, echo.port());
    round_trips(*path, options, json);
  }
  {
    Responder sink(false);
    auto path = open_path(options, options.size, client, proxy, sink.port());
    one_way(*path, sink, options, json);
  }
  std::printf("%s}\n", json.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seconds") options.seconds = std::chrono::seconds(std::stoi(argv[i + 1]));
    else if (flag == "--rtt-size") options.rtt_size = std::stoul(argv[i + 1]);
    else if (flag == "--size") options.size = std::stoul(argv[i + 1]);
    else if (flag == "--path") options.path = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: tunnel_bench [--seconds S] [--rtt-size BYTES] [--size BYTES] [--path tunnel|direct]\n");
      return 2;
    }
  }
  try {
    return run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "tunnel_bench: %s\n", error.what());
    return 1;
  }
}

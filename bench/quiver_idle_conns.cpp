// quiver_idle_conns: opens N HTTP/3 connections to one origin through one quiver::Client, lets them sit
// idle, and prints the process's memory as one JSON object. bench/compare.sh --suite idle runs it for
// several N (and bench/curl_idle_conns for libcurl) and reports (RSS(N) - RSS(1)) / (N - 1) per
// connection. See docs/benchmarks.md, "Memory per idle connection".
//
// How the N connections are opened: the pool's max_connections is N, and N requests are submitted at
// once. The pool opens one more connection whenever more requests wait than connections are connecting
// (docs/pool.md), so the burst opens N connections before the first handshake completes. Each request is
// one GET of the URL; its body is dropped when its future is read. Then the pool's own statistics must
// show N connections "connected", or the program says so and exits 1.
//
// The connections never close by themselves during the measurement: the pool's idle_close is off and
// the QUIC idle timeout we advertise is 10 minutes (the server's own idle timeout still applies; the
// default of gtlsserver is 30 s, well above the idle time here).

#include <asio/use_future.hpp>
#include <quiver/client.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "idle_args.hpp"
#include "proc_memory.hpp"

namespace {

constexpr std::string_view usage_text = R"(usage: quiver_idle_conns [options] URL

  -c, --connections N   open N connections to the URL's origin (default 1)
      --cacert FILE     trust this CA (PEM) as well as the system store
      --idle SECONDS    how long the connections sit idle before memory is read (default 2)
  -h, --help            this text

Prints one JSON object: connections (asked, open), sockets, threads, rss_kb_before (the client alone,
before any connection), rss_kb / rss_anon_kb (after the idle time), hwm_kb (VmHWM). Exit status 0 when
N connections were open and idle, 1 when not, 2 on a usage error.
)";

[[noreturn]] void die(const std::string& message) { quiver::bench::die("quiver_idle_conns", message); }

std::size_t connected_of(const quiver::Client& client) {
  std::size_t connected = 0;
  for (const quiver::PoolStats& pool : client.stats()) connected += pool.connected;
  return connected;
}

}  // namespace

int main(int argc, char** argv) {
  const auto [url, ca_file, connections, idle_s] = quiver::bench::parse_idle_args(argc, argv, "quiver_idle_conns", usage_text);

  quiver::ClientOptions options;
  options.io_threads = 1;
  options.shutdown_deadline = std::chrono::seconds(2);
  options.defaults.max_connections = static_cast<std::size_t>(connections);
  options.defaults.idle_close = std::chrono::milliseconds(0);
  options.defaults.checkout_timeout = std::chrono::seconds(30);
  options.defaults.connection.idle_timeout = std::chrono::minutes(10);
  options.defaults.connection.tls.ca_file = ca_file;
  quiver::Client client(options);

  auto request = quiver::get(url).timeout(std::chrono::seconds(30)).build();
  if (!request) die("bad URL: " + request.error().to_string());

  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the io thread is up
  const quiver::bench::ProcMemory before = quiver::bench::read_proc_memory();

  std::vector<std::future<quiver::Result<quiver::Response>>> responses;
  responses.reserve(static_cast<std::size_t>(connections));
  for (long i = 0; i < connections; ++i) responses.push_back(client.async_request(*request, asio::use_future));
  long ok = 0;
  std::string first_error;
  for (auto& future : responses) {
    quiver::Result<quiver::Response> response = future.get();
    if (response && response->status == 200) {
      ++ok;
    } else if (first_error.empty()) {
      first_error = response ? "status " + std::to_string(response->status) : response.error().to_string();
    }
  }
  responses.clear();

  std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
  const quiver::bench::ProcMemory idle = quiver::bench::read_proc_memory();
  const int sockets = quiver::bench::count_sockets();
  const std::size_t open = connected_of(client);

  std::printf(
      "{\"client\": \"quiver\", \"connections\": %ld, \"connections_open\": %zu, \"requests_ok\": %ld, "
      "\"sockets\": %d, \"threads\": %lld, \"idle_s\": %.3f, \"rss_kb_before\": %lld, \"rss_anon_kb_before\": %lld, "
      "\"rss_kb\": %lld, \"rss_anon_kb\": %lld, \"hwm_kb\": %lld, \"first_error\": \"%s\"}\n",
      connections, open, ok, sockets, static_cast<long long>(idle.threads), idle_s,
      static_cast<long long>(before.rss_kb), static_cast<long long>(before.rss_anon_kb),
      static_cast<long long>(idle.rss_kb), static_cast<long long>(idle.rss_anon_kb),
      static_cast<long long>(idle.hwm_kb), first_error.empty() ? "" : "see stderr");
  std::fflush(stdout);
  if (!first_error.empty()) std::fprintf(stderr, "quiver_idle_conns: first error: %s\n", first_error.c_str());
  if (open != static_cast<std::size_t>(connections) || ok != connections) {
    std::fprintf(stderr, "quiver_idle_conns: %zu of %ld connections open, %ld of %ld requests ok\n", open,
                 connections, ok, connections);
    return 1;
  }
  return 0;
}

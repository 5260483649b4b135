// quiver_handshakes: the cost of a new connection. N requests, each on a new HTTP/3 connection (the
// pool closes a connection 1 ms after its request; the next request waits for its `closed` event),
// cold (no ticket kept), resumed (TLS session tickets) or early (resumed + 0-RTT). Prints one JSON line:
// time from the request to its complete response (median, p90), client CPU per connection (all
// threads), connections per second, and how many connections the client saw resumed / with early data
// accepted. With --auto the connections race HTTP/3 against TCP (bench/fallback.sh: servers without
// HTTP/3, UDP blackholed). With --one-thread the Client runs on this program's own io_context in its one
// thread. bench/handshakes.sh runs it beside curl_handshakes against the same server.
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "handshake_args.hpp"
#include "quiver/quiver.hpp"

namespace {

class Counts final : public quiver::Telemetry {
 public:
  void on_connection_event(const quiver::ConnectionEvent& event) override {
    if (event.type == quiver::ConnectionEvent::Type::ready) {
      if (event.resumed) ++resumed;
      if (event.early_data_accepted && event.early_requests > 0) ++early;
    }
    if (event.type == quiver::ConnectionEvent::Type::closed) {
      std::lock_guard lock(mutex_);
      ++closed_;
      changed_.notify_all();
    }
  }
  int closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  // Blocks until more than `seen` connections have closed in all, or for `limit` at most.
  void wait_closed_beyond(int seen, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return closed_ > seen; });
  }
  std::atomic<int> resumed{0}, early{0};

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int closed_ = 0;
};


quiver::ClientOptions client_options(const quiver::bench::HandshakeArgs& args, std::shared_ptr<Counts> counts,
                                     const std::string& ca_file) {
  using quiver::bench::HandshakeMode;
  quiver::ClientOptions options;
  options.defaults.connection.http_version = args.auto_protocol ? quiver::HttpVersion::http3 : quiver::HttpVersion::http3_only;
  options.defaults.connection.tls.ca_file = ca_file;
  options.defaults.connection.tls.system_trust = false;  // as curl with --cacert
  options.defaults.connection.telemetry = std::move(counts);
  options.defaults.idle_close = std::chrono::milliseconds(1);
  options.session_cache_size = args.mode == HandshakeMode::cold ? 0 : 16;
  options.early_data = args.mode == HandshakeMode::early;
  return options;
}

// --fresh-client: a copy of the CA file per connection, so each new Client also loads its trust anchors
// and has verified no chain yet (TLS contexts are shared per CA file), as libcurl loads them for each
// easy handle. Made before the clock starts; removed at exit.
class CaCopies {
 public:
  CaCopies(const std::string& ca_file, int count) {
    std::ifstream in(ca_file, std::ios::binary);
    const std::string pem((std::istreambuf_iterator<char>(in)), {});
    char pattern[] = "/tmp/quiver-handshakes-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) quiver::bench::handshake_die("quiver_handshakes", "cannot make a temporary folder");
    dir_ = pattern;
    for (int i = 0; i < count; ++i) {
      paths_.push_back(dir_ / ("ca-" + std::to_string(i) + ".pem"));
      std::ofstream(paths_.back(), std::ios::binary) << pem;
    }
  }
  ~CaCopies() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string path(int index) const { return paths_.at(static_cast<std::size_t>(index)).string(); }

 private:
  std::filesystem::path dir_;
  std::vector<std::filesystem::path> paths_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace quiver::bench;
  const HandshakeArgs args = parse_handshake_args(argc, argv, "quiver_handshakes");
  if (args.fresh_client && args.mode != HandshakeMode::cold) handshake_die("quiver_handshakes", "--fresh-client is for --mode cold");
  if (args.fresh_client && args.one_thread) handshake_die("quiver_handshakes", "--fresh-client and --one-thread exclude each other");
  auto counts = std::make_shared<Counts>();
  std::optional<CaCopies> copies;
  if (args.fresh_client) copies.emplace(args.ca_file, args.connections + 2);  // the first Client, the warm-up, N
  int made = 0;  // Clients made
  const auto ca_file = [&] { return copies ? copies->path(made++) : args.ca_file; };
  std::optional<asio::io_context> io;  // --one-thread: the Client's context, run by this thread
  if (args.one_thread) io.emplace();
  const auto make_client = [&] {
    auto options = client_options(args, counts, ca_file());
    return io ? std::make_unique<quiver::Client>(*io, std::move(options)) : std::make_unique<quiver::Client>(std::move(options));
  };
  auto client = make_client();
  auto url = quiver::Url::parse(args.url);
  if (!url) handshake_die("quiver_handshakes", url.error().message());
  quiver::Request request;
  request.url = *url;

  // Each request waits for the previous connection to be gone (idle_close), so it opens a new one: the
  // connection's `closed` event wakes the waiting thread (as libcurl's FORBID_REUSE closes in line), which
  // then checks the pools (a race may have made two connections).
  auto no_connection_left = [&] {
    for (const auto& pool : client->stats()) {
      if (!pool.connections.empty()) return false;
    }
    return true;
  };
  auto on_io_threads = [&]() -> std::optional<double> {
    // A fresh Client is made (its io threads) before the clock starts; it loads its trust anchors for its
    // first connection, inside the measured request, as libcurl does for each easy handle.
    if (args.fresh_client) client = make_client();
    const int closed_before = counts->closed();
    const auto start = std::chrono::steady_clock::now();
    auto response = client->request(request);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    for (int seen = closed_before; !no_connection_left(); seen = counts->closed()) {
      counts->wait_closed_beyond(seen, std::chrono::milliseconds(20));
    }
    if (!response || response->status != 200) return std::nullopt;
    return ms;
  };
  // --one-thread: the context runs until the response has come and its connection has closed (the
  // Client keeps no other work there), so the next request opens a new connection.
  auto on_this_thread = [&]() -> std::optional<double> {
    std::optional<double> ms;
    const auto start = std::chrono::steady_clock::now();
    client->async_request(request, [&](quiver::Result<quiver::Response> response) {
      if (response && response->status == 200) {
        ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      }
    });
    io->restart();
    io->run();
    return ms;
  };
  auto one = [&] { return io ? on_this_thread() : on_io_threads(); };
  // Warm-up: a first full handshake (loads the trust anchors, gets the first ticket); not counted.
  (void)one();
  const int resumed_before = counts->resumed.load(), early_before = counts->early.load();
  HandshakeTally tally;
  const auto cpu_start = process_cpu();
  const auto wall_start = std::chrono::steady_clock::now();
  for (int i = 0; i < args.connections; ++i) {
    if (auto ms = one()) tally.response_ms.push_back(*ms);
    else ++tally.failures;
  }
  const auto wall = std::chrono::steady_clock::now() - wall_start;
  const auto cpu = process_cpu() - cpu_start;
  tally.resumed = counts->resumed.load() - resumed_before;
  tally.early = counts->early.load() - early_before;
  tally.print("quiver", args, cpu, wall);
  return tally.failures == 0 ? 0 : 1;
}

// quiver_handshakes: the cost of a new connection. N requests, each on a new HTTP/3 connection (the
// pool closes a connection 1 ms after its request; the next request waits for that), cold (no ticket
// kept), resumed (TLS session tickets) or early (resumed + 0-RTT). Prints one JSON line: time from the
// request to its complete response (median, p90), client CPU per connection (all threads), connections
// per second, and how many connections the client saw resumed / with early data accepted.
// bench/handshakes.sh runs it beside curl_handshakes against the same server.
#include <atomic>
#include <thread>

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
    if (event.type == quiver::ConnectionEvent::Type::closed || event.type == quiver::ConnectionEvent::Type::exception)
      ++ended;
  }
  std::atomic<int> resumed{0}, early{0}, ended{0};
};

}  // namespace

int main(int argc, char** argv) {
  using namespace quiver::bench;
  const HandshakeArgs args = parse_handshake_args(argc, argv, "quiver_handshakes");
  auto counts = std::make_shared<Counts>();
  quiver::ClientOptions options;
  options.defaults.connection.tls.ca_file = args.ca_file;
  options.defaults.connection.tls.system_trust = false;  // as curl with --cacert
  options.defaults.connection.telemetry = counts;
  options.defaults.idle_close = std::chrono::milliseconds(1);
  options.session_cache_size = args.mode == HandshakeMode::cold ? 0 : 16;
  options.early_data = args.mode == HandshakeMode::early;
  quiver::Client client(options);
  auto url = quiver::Url::parse(args.url);
  if (!url) handshake_die("quiver_handshakes", url.error().message());

  auto one = [&](int ended_before) -> std::optional<double> {
    quiver::Request request;
    request.url = *url;
    const auto start = std::chrono::steady_clock::now();
    auto response = client.request(request);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    while (counts->ended.load() <= ended_before) std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (!response || response->status != 200) return std::nullopt;
    return ms;
  };

  // Warm-up: a first full handshake (loads the trust anchors, gets the first ticket); not counted.
  (void)one(0);
  const int resumed_before = counts->resumed.load(), early_before = counts->early.load();
  HandshakeTally tally;
  const auto cpu_start = process_cpu();
  const auto wall_start = std::chrono::steady_clock::now();
  for (int i = 0; i < args.connections; ++i) {
    if (auto ms = one(counts->ended.load())) tally.response_ms.push_back(*ms);
    else ++tally.failures;
  }
  const auto wall = std::chrono::steady_clock::now() - wall_start;
  const auto cpu = process_cpu() - cpu_start;
  tally.resumed = counts->resumed.load() - resumed_before;
  tally.early = counts->early.load() - early_before;
  tally.print("quiver", args, cpu, wall);
  return tally.failures == 0 ? 0 : 1;
}

// Faults on the path (issue 7): the project's server behind a seeded UdpFaultProxy that drops, reorders,
// duplicates and corrupts datagrams and black-holes the path. Every case has a numeric pass criterion and
// a bounded run time; each prints its measured result as a "[  RESULT  ]" line (docs/reliability.md).
#include <algorithm>
#include <functional>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>

#include "faults/fault_support.hpp"

namespace quiver::test {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// What drain() read: the bytes, whether they matched the server's pattern, and the error, if any.
struct Drained {
  std::size_t bytes = 0;
  bool pattern_ok = true;
  std::optional<Error> error;
};
// Reads a streamed body to its end or error, comparing it with the pattern from `offset` as it goes.
Drained drain(ResponseStream& stream, std::size_t offset = 0) {
  Drained result;
  for (;;) {
    auto chunk = stream.next_chunk(256 * 1024);
    if (!chunk) {
      result.error = chunk.error();
      return result;
    }
    if (!*chunk) return result;
    if (**chunk != deterministic_bytes(offset + result.bytes, (*chunk)->size())) result.pattern_ok = false;
    result.bytes += (*chunk)->size();
  }
}

// ---- the proxy itself ---------------------------------------------------------------------------------

// Sends `count` numbered datagrams through a proxy to a plain UDP socket and returns what arrived.
std::vector<std::string> through_proxy(std::uint64_t seed, PathFaults faults, int count, ProxyCounters& counters) {
  asio::io_context io;
  asio::ip::udp::socket server(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  UdpFaultProxy proxy(server.local_endpoint().port(), seed);
  proxy.set_faults(Direction::to_server, faults);
  asio::ip::udp::socket client(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::ip::udp::endpoint to(asio::ip::make_address("127.0.0.1"), proxy.port());
  server.set_option(asio::socket_base::receive_buffer_size(4 << 20));
  server.non_blocking(true);
  std::vector<std::string> arrived;
  auto receive_waiting = [&] {
    std::array<char, 64> buffer;
    std::error_code ec;
    asio::ip::udp::endpoint from;
    for (;;) {
      std::size_t n = server.receive_from(asio::buffer(buffer), from, 0, ec);
      if (ec) return;
      arrived.emplace_back(buffer.data(), n);
    }
  };
  for (int i = 0; i < count; ++i) {
    client.send_to(asio::buffer(fmt::format("datagram {:04}", i)), to);
    if (i % 20 == 19) {  // never overrun the kernel's queues
      std::this_thread::sleep_for(1ms);
      receive_waiting();
    }
  }
  auto deadline = Clock::now() + 2s;
  do {
    std::this_thread::sleep_for(2ms);
    receive_waiting();
    counters = proxy.counters(Direction::to_server);
  } while (Clock::now() < deadline &&
           (counters.received < static_cast<std::uint64_t>(count) || arrived.size() < counters.forwarded));
  return arrived;
}

TEST(UdpFaultProxy, SameSeedSameFatesAndTheRatesAreAsConfigured) {
  PathFaults faults{.drop = 0.1, .corrupt = 0.1, .duplicate = 0.1, .reorder = 0.1, .reorder_delay = 5ms};
  ProxyCounters a, b, c;
  auto first = through_proxy(7, faults, 2000, a);
  auto second = through_proxy(7, faults, 2000, b);
  auto other = through_proxy(8, faults, 2000, c);
  EXPECT_EQ(a.received, 2000u);
  EXPECT_EQ(a.send_errors, 0u);
  EXPECT_EQ(first.size(), a.forwarded);
  // The same seed gives every datagram the same fate.
  EXPECT_EQ(a.dropped, b.dropped);
  EXPECT_EQ(a.corrupted, b.corrupted);
  EXPECT_EQ(a.duplicated, b.duplicated);
  EXPECT_EQ(a.reordered, b.reordered);
  std::vector<std::string> sorted_first = first, sorted_second = second;
  std::sort(sorted_first.begin(), sorted_first.end());
  std::sort(sorted_second.begin(), sorted_second.end());
  EXPECT_EQ(sorted_first, sorted_second);  // the same datagrams, corrupted the same way
  EXPECT_NE(std::tie(a.dropped, a.corrupted, a.duplicated), std::tie(c.dropped, c.corrupted, c.duplicated));
  // Rates within 2 points of the setting (1 σ is 0.7 points at n = 2000).
  for (auto count : {a.dropped, a.corrupted, a.duplicated}) EXPECT_NEAR(count / 2000.0, 0.1, 0.02);
  EXPECT_NEAR(a.reordered / 2000.0, 0.1 * 0.9, 0.02);  // only datagrams that were not dropped
  // Reordered datagrams arrive after a later one.
  int out_of_order = 0;
  for (std::size_t i = 1; i < first.size(); ++i) out_of_order += first[i] < first[i - 1];
  EXPECT_GT(out_of_order, 50);
  report(fmt::format("seed 7: {}", to_string(a)));
}

TEST(UdpFaultProxy, BlackholeDropsEverythingForTheWindow) {
  ProxyCounters counters;
  asio::io_context io;
  asio::ip::udp::socket server(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  UdpFaultProxy proxy(server.local_endpoint().port(), 1);
  asio::ip::udp::socket client(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::ip::udp::endpoint to(asio::ip::make_address("127.0.0.1"), proxy.port());
  proxy.blackhole_for(200ms);
  EXPECT_TRUE(proxy.blackholed());
  for (int i = 0; i < 10; ++i) client.send_to(asio::buffer("x", 1), to);
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(proxy.blackholed());
  client.send_to(asio::buffer("y", 1), to);
  std::array<char, 8> buffer;
  asio::ip::udp::endpoint from;
  std::size_t n = server.receive_from(asio::buffer(buffer), from);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(buffer[0], 'y');
  auto deadline = Clock::now() + 1s;  // the proxy counts a datagram just after sending it
  do counters = proxy.counters(Direction::to_server);
  while (counters.forwarded == 0 && Clock::now() < deadline);
  EXPECT_EQ(counters.blackholed, 10u);
  EXPECT_EQ(counters.forwarded, 1u);
}

// ---- loss, reordering, corruption -----------------------------------------------------------------------

TEST_F(FaultTest, TwoPercentLossEachWayTenMegabytesByteIdenticalOneHandshake) {
  start_server(test_server_options(), 2);
  proxy_->set_faults(PathFaults{.drop = 0.02});
  Client client(client_options());
  constexpr std::size_t kSize = 10 * kMiB;
  auto started = Clock::now();
  auto response = client.request(get(url(fmt::format("/bytes/{}", kSize))).timeout(40s));
  double took = seconds_since(started);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  ASSERT_EQ(response->body.size(), kSize);
  EXPECT_TRUE(response->body == deterministic_bytes(0, kSize)) << "body differs from the pattern";
  EXPECT_EQ(telemetry_->starts, 1);
  EXPECT_EQ(telemetry_->ready, 1);
  EXPECT_EQ(proxy_->sessions(), 1u);  // one client socket: one connection
  auto up = proxy_->counters(Direction::to_server), down = proxy_->counters(Direction::to_client);
  EXPECT_GT(up.dropped, 0u);
  EXPECT_GT(down.dropped, 50u);
  EXPECT_NEAR(static_cast<double>(down.dropped) / down.received, 0.02, 0.01);
  report(fmt::format("10 MiB byte-identical in {:.2f} s, {} handshake(s); to server: {}; to client: {}", took,
                     telemetry_->ready.load(), to_string(up), to_string(down)));
}

// 50 connections at once, each a new h3::Connection sending one request, 30% loss both ways throughout.
//
// The tail that no client can avoid: RFC 9002 backs the Initial off from a 333 ms initial RTT (tries at 0,
// 1, 3, 7, 15 s), so a connection whose first four Initials are all lost (0.3^4 = 0.8%) cannot finish
// before 15 s, and the test server forgets a handshake after 10 s (ngtcp2 handshake_timeout). One run of
// 50 would then fail ~1 time in 3 for reasons outside the library. So a connection whose handshake fails
// (handshake_failed, a transient error: nothing was processed) gets one fresh attempt, as an application
// would make; the criterion is 50 of 50, and the first attempts are reported. Any other failure counts.
TEST_F(FaultTest, ThirtyPercentLossDuringHandshakesFiftyOfFiftyConnect) {
  start_server(test_server_options(), 3);
  proxy_->set_faults(PathFaults{.drop = 0.30});
  asio::io_context io;
  auto options = test_client_options();
  options.connect_timeout = 10s;
  options.idle_timeout = 20s;  // it runs during the handshake too
  constexpr int kConnections = 50;
  std::vector<std::shared_ptr<h3::Connection>> connections;
  std::vector<double> seconds(kConnections, -1);
  std::vector<int> attempts(kConnections, 0);
  Replies replies;
  auto started = Clock::now();
  std::function<void(int)> attempt = [&](int i) {
    ++attempts[i];
    auto connection = h3::Connection::create(io.get_executor(), quiver::Origin{"127.0.0.1", proxy_->port()}, options);
    connection->start();
    Request request;
    request.url = *Url::parse(url(fmt::format("/bytes/{}", 100 + i)));
    connection->request(std::move(request), [&, i](Result<Response> r) {
      if (!r && r.error().kind() == ErrorKind::handshake_failed && attempts[i] == 1) {
        attempt(i);
        return;
      }
      seconds[i] = seconds_since(started);
      replies.slot(i)(std::move(r));
    });
    connections.push_back(connection);
  };
  for (int i = 0; i < kConnections; ++i) replies.slots.emplace_back(), attempt(i);
  ASSERT_TRUE(run_until(io, [&] { return replies.all_received(); }, 30s));
  int ok = 0, first_attempt_ok = 0;
  std::vector<std::string> failures;
  for (int i = 0; i < kConnections; ++i) {
    auto& reply = *replies.slots[i];
    if (reply && reply->body == deterministic_bytes(0, 100 + i)) {
      ++ok;
      first_attempt_ok += attempts[i] == 1;
    } else {
      failures.push_back(reply ? fmt::format("status {}", reply->status) : reply.error().to_string());
    }
  }
  EXPECT_EQ(ok, kConnections) << fmt::format("{}", fmt::join(failures, "\n"));
  EXPECT_FALSE(replies.duplicate_reply);
  std::sort(seconds.begin(), seconds.end());
  auto up = proxy_->counters(Direction::to_server), down = proxy_->counters(Direction::to_client);
  report(fmt::format("{} of {} connected and answered ({} on the first attempt); median {:.2f} s, slowest {:.2f} s; "
                     "to server: {}; to client: {}",
                     ok, kConnections, first_attempt_ok, seconds[kConnections / 2], seconds.back(), to_string(up),
                     to_string(down)));
  for (auto& connection : connections) connection->close();
  run_until(io, [] { return false; }, 20ms);
}

// The first response on a connection carries a header section that refers to QPACK dynamic-table entries
// the server inserts for it (content-type, ...); the insertions travel on the server's encoder stream,
// possibly in another packet. When that packet is lost, the response stream can be complete (FIN
// received) while nghttp3 still holds its headers blocked on the encoder stream: the request must wait
// for the retransmission, not fail. 50 connections handshake without loss, then each sends its first
// request with 30% loss towards the client.
TEST_F(FaultTest, FirstResponsesUnderThirtyPercentLossAllArriveDespiteQpackBlocking) {
  start_server(test_server_options(), 10);
  asio::io_context io;
  auto options = test_client_options();
  options.qpack_table_capacity = 4096;  // off by default; without it the server never blocks a response
  options.qpack_blocked_streams = 100;
  constexpr int kConnections = 50;
  std::vector<std::shared_ptr<h3::Connection>> connections;
  for (int i = 0; i < kConnections; ++i) {
    connections.push_back(h3::Connection::create(io.get_executor(), quiver::Origin{"127.0.0.1", proxy_->port()}, options));
    connections.back()->start();
  }
  ASSERT_TRUE(run_until(io, [&] {
    return std::all_of(connections.begin(), connections.end(),
                       [](auto& c) { return c->state() == h3::ConnectionState::connected; });
  }, 10s));
  run_until(io, [] { return false; }, 100ms);  // the server's SETTINGS and stream credit are in
  proxy_->set_faults(Direction::to_client, PathFaults{.drop = 0.30});
  Replies replies;
  for (int i = 0; i < kConnections; ++i) {
    Request request;
    request.url = *Url::parse(url(fmt::format("/bytes/{}", 100 + i)));
    connections[i]->request(std::move(request), replies.slot(i));
  }
  ASSERT_TRUE(run_until(io, [&] { return replies.all_received(); }, 20s)) << "a request hung";
  int ok = 0;
  std::vector<std::string> failures;
  for (int i = 0; i < kConnections; ++i) {
    auto& reply = *replies.slots[i];
    if (reply && reply->body == deterministic_bytes(0, 100 + i)) {
      ++ok;
    } else if (failures.size() < 5) {
      failures.push_back(reply ? fmt::format("status {}", reply->status) : reply.error().to_string());
    }
  }
  EXPECT_EQ(ok, kConnections) << fmt::format("{}", fmt::join(failures, "\n"));
  report(fmt::format("{} of {} first responses intact with 30% loss towards the client; to client: {}", ok,
                     kConnections, to_string(proxy_->counters(Direction::to_client))));
  for (auto& connection : connections) connection->close();
  run_until(io, [] { return false; }, 20ms);
}

TEST_F(FaultTest, TenPercentReorderingTwoPercentCorruptionFiveMegabytesIntact) {
  start_server(test_server_options(), 4);
  // Duplication (2%) rides along: QUIC must discard the copies too.
  proxy_->set_faults(PathFaults{.corrupt = 0.02, .duplicate = 0.02, .reorder = 0.10});
  Client client(client_options());
  constexpr std::size_t kSize = 5 * kMiB;
  auto started = Clock::now();
  auto response = client.request(get(url(fmt::format("/bytes/{}", kSize))).timeout(30s));
  double took = seconds_since(started);
  ASSERT_TRUE(response) << response.error().to_string();
  ASSERT_EQ(response->body.size(), kSize);
  EXPECT_TRUE(response->body == deterministic_bytes(0, kSize)) << "body differs from the pattern";
  EXPECT_EQ(telemetry_->ready, 1);
  auto up = proxy_->counters(Direction::to_server), down = proxy_->counters(Direction::to_client);
  EXPECT_GT(down.corrupted, 10u);
  EXPECT_GT(down.reordered, 100u);
  EXPECT_GT(up.reordered, 0u);
  // The connection is still healthy afterwards.
  auto after = client.request(get(url("/bytes/1000")).timeout(10s));
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_EQ(after->body, deterministic_bytes(0, 1000));
  EXPECT_EQ(telemetry_->ready, 1);
  report(fmt::format("5 MiB intact in {:.2f} s; to server: {}; to client: {}", took, to_string(up), to_string(down)));
}

// ---- black holes -----------------------------------------------------------------------------------------

TEST_F(FaultTest, TwoSecondBlackholeMidTransferCompletesOnTheSameConnection) {
  start_server(test_server_options(), 5);
  Client client(client_options(5s));
  constexpr std::size_t kSize = 8 * kMiB;
  auto stream = client.stream(get(url(fmt::format("/bytes/{}", kSize))).timeout(30s));
  ASSERT_TRUE(stream) << stream.error().to_string();
  auto first = stream->next_chunk(256 * 1024);
  ASSERT_TRUE(first && *first);
  std::size_t before = (*first)->size();
  ASSERT_EQ(**first, deterministic_bytes(0, before));
  auto hole_started = Clock::now();
  proxy_->blackhole_for(2s);
  auto rest = drain(*stream, before);
  double took = seconds_since(hole_started);
  ASSERT_FALSE(rest.error) << rest.error->to_string();
  EXPECT_EQ(before + rest.bytes, kSize);
  EXPECT_TRUE(rest.pattern_ok);
  EXPECT_GE(took, 2.0);  // the transfer really waited for the hole to close
  EXPECT_EQ(telemetry_->ready, 1);
  EXPECT_EQ(telemetry_->closed, 0);
  EXPECT_EQ(proxy_->sessions(), 1u);
  auto up = proxy_->counters(Direction::to_server), down = proxy_->counters(Direction::to_client);
  // The hole swallowed the server's data. The client's direction may see nothing to swallow: a receiving
  // client sends only ACKs (not ack-eliciting, so no PTO probes) and flow-control credit once it consumed
  // what arrived, and nothing arrives during the hole. (Before the GSO batching fix in
  // QuicTransport::write_packets, a packet larger than the one batched before it was sent as garbage, lost,
  // and probed for during the hole: that is where this test used to see up > 0.)
  EXPECT_GT(down.blackholed, 0u);
  report(fmt::format("8 MiB completed {:.2f} s after a 2 s black hole began, same connection; black-holed {} up, {} down",
                     took, up.blackholed, down.blackholed));
}

TEST_F(FaultTest, BlackholeLongerThanTheIdleTimeoutFailsThePoolDropsTheConnectionTheNextSucceeds) {
  start_server(test_server_options(), 6);
  constexpr auto kIdle = 1000ms;
  Client client(client_options(kIdle));
  ASSERT_TRUE(client.request(get(url("/bytes/10"))));
  Outcomes outcomes(1);
  client.async_request(*get(url("/delay/5000")).build(), outcomes.handler(0));
  std::this_thread::sleep_for(100ms);  // the request is on the wire
  auto hole_started = Clock::now();
  proxy_->start_blackhole();
  ASSERT_TRUE(outcomes.wait_all(hole_started + kIdle + 3s)) << "the request hung";
  auto& outcome = outcomes.all()[0];
  double failed_after = std::chrono::duration<double>(outcome.at - hole_started).count();
  ASSERT_FALSE(*outcome.result) << "succeeded through a black hole";
  EXPECT_LE(failed_after, 2.0) << "criterion: idle timeout (1 s) + 1 s";
  std::string error = outcome.result->error().to_string();
  // The pool lets the dead connection go.
  bool dropped = false;
  auto deadline = Clock::now() + 1s;
  while (!dropped && Clock::now() < deadline) {
    auto stats = client.stats();
    dropped = stats.size() == 1 && stats[0].connections.empty();
    if (!dropped) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(dropped) << "the pool still holds the connection";
  proxy_->stop_blackhole();
  auto next = client.request(get(url("/bytes/100")).timeout(5s));
  ASSERT_TRUE(next) << next.error().to_string();
  EXPECT_EQ(next->body, deterministic_bytes(0, 100));
  EXPECT_EQ(telemetry_->ready, 2);      // a second handshake
  EXPECT_EQ(proxy_->sessions(), 2u);    // from a new socket
  report(fmt::format("failed {:.2f} s after the black hole began ({}); pool dropped it: {}; next request on a new "
                     "connection: ok",
                     failed_after, error, dropped));
}

// ---- the server dies --------------------------------------------------------------------------------------

// Requests in flight when the server goes away: three silent ones and one mid-body, read as a stream.
void kill_server_mid_stream(Client& client, const std::function<void()>& kill,
                            const std::string& how, const std::function<std::string(const std::string&)>& url,
                            std::chrono::milliseconds idle) {
  Outcomes outcomes(3);
  for (int i = 0; i < 3; ++i) client.async_request(*get(url(fmt::format("/delay/10000?n={}", i))).build(), outcomes.handler(i));
  auto stream = client.stream(get(url("/stream/100000?size=1000&delay_ms=1")));
  ASSERT_TRUE(stream) << stream.error().to_string();
  auto first = stream->next_chunk();
  ASSERT_TRUE(first && *first) << "no body yet";
  std::this_thread::sleep_for(100ms);
  auto killed_at = Clock::now();
  kill();
  auto rest = drain(*stream);
  double stream_failed_after = seconds_since(killed_at);
  EXPECT_TRUE(rest.error.has_value()) << "the stream ended cleanly after the server died";
  ASSERT_TRUE(outcomes.wait_all(killed_at + idle + 3s)) << "a request hung";
  double slowest = stream_failed_after;
  for (auto& outcome : outcomes.all()) {
    EXPECT_FALSE(*outcome.result);
    slowest = std::max(slowest, std::chrono::duration<double>(outcome.at - killed_at).count());
  }
  EXPECT_LE(slowest, std::chrono::duration<double>(idle).count() + 1.0) << "criterion: idle timeout + 1 s";
  std::string error = rest.error ? rest.error->to_string() : "none";
  ::testing::Test::RecordProperty(how + "_slowest_failure_s", std::to_string(slowest));
  report(fmt::format("{}: all 4 in-flight requests failed, the slowest {:.3f} s after ({})", how, slowest, error));
}

TEST_F(FaultTest, ServerStoppedOrCrashedMidStreamFailsEveryRequestInFlightThenThePoolReconnects) {
  start_server(test_server_options(), 7);
  constexpr auto kIdle = 1000ms;
  Client client(client_options(kIdle));
  auto u = [this](const std::string& target) { return url(target); };

  // 1. Server::stop(): CONNECTION_CLOSE reaches the client.
  kill_server_mid_stream(client, [&] { stop_server(); }, "stop (CONNECTION_CLOSE)", u, kIdle);
  if (HasFatalFailure()) return;
  bool same_port = restart_server();
  auto again = client.request(get(url("/bytes/100")).timeout(5s));
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(telemetry_->ready, 2);

  // 2. A crash: nothing reaches the client any more; only the idle timeout can tell.
  kill_server_mid_stream(client, [&] { crash_server(); }, "crash (silence)", u, kIdle);
  proxy_->stop_blackhole();
  if (HasFatalFailure()) return;
  same_port = restart_server() && same_port;
  auto after_crash = client.request(get(url("/bytes/100")).timeout(5s));
  ASSERT_TRUE(after_crash) << after_crash.error().to_string();
  EXPECT_EQ(after_crash->body, deterministic_bytes(0, 100));
  EXPECT_EQ(telemetry_->ready, 3);
  report(fmt::format("after each restart (same port: {}) the pool reconnected and a request succeeded", same_port));
}

// ---- keep-alive --------------------------------------------------------------------------------------------

TEST_F(FaultTest, PingsKeepAQuietConnectionAliveThroughTheProxy) {
  auto server_options = test_server_options();
  server_options.idle_timeout = 1000ms;
  start_server(server_options, 8);
  Client client(client_options(1000ms));
  ASSERT_TRUE(client.request(get(url("/bytes/1"))));
  auto sent_before = proxy_->counters(Direction::to_server).forwarded;
  auto started = Clock::now();
  auto response = client.request(get(url("/delay/3000")).timeout(10s));  // three idle timeouts of silence
  double took = seconds_since(started);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, "delayed");
  EXPECT_EQ(telemetry_->ready, 1);
  EXPECT_EQ(telemetry_->closed, 0);
  // The request, its acknowledgements, and PINGs at half the idle timeout (~every 0.5 s).
  auto sent = proxy_->counters(Direction::to_server).forwarded - sent_before;
  EXPECT_GE(sent, 5u);
  report(fmt::format("/delay/3000 with 1 s idle timeouts succeeded in {:.2f} s on one connection; {} datagrams to "
                     "the server meanwhile",
                     took, sent));
}

}  // namespace
}  // namespace quiver::test

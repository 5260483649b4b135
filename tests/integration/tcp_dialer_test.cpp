// tcp::Dialer over loopback: Happy Eyeballs v2 (RFC 8305) ordering and racing, ALPN, refusal. An address
// "that does not answer" is a listening socket whose accept queue is full: the kernel drops further SYNs,
// so a connect there neither succeeds nor fails.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "support/h2_test_server.hpp"
#include "support/loopback.hpp"
#include "tcp/dialer.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using Endpoint = asio::ip::tcp::endpoint;

Endpoint loopback(std::uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

// A listener with a backlog of 0 and one connection already queued: SYNs to it go unanswered.
class SilentListener {
 public:
  explicit SilentListener(asio::io_context& io) : acceptor_(io), filler_(io) {
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.bind(loopback(0));
    acceptor_.listen(0);
    filler_.connect(acceptor_.local_endpoint());  // fills the accept queue (never accepted)
  }
  Endpoint endpoint() const { return acceptor_.local_endpoint(); }

 private:
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::socket filler_;
};

struct DialOutcome {
  std::optional<Result<std::shared_ptr<tcp::TlsStream>>> result;
};

tcp::DialConfig config(std::chrono::milliseconds delay) {
  tcp::DialConfig config;
  config.host = "127.0.0.1";
  config.tls.ca_file = data_file("ca.pem");
  config.happy_eyeballs_delay = delay;
  return config;
}

// Dials `endpoints`; gives up (aborts, so the test fails instead of hanging) after `limit`.
DialOutcome dial(asio::io_context& io, tcp::DialConfig dial_config, std::vector<Endpoint> endpoints,
                 std::chrono::milliseconds limit = 5s) {
  DialOutcome outcome;
  auto dialer = std::make_shared<tcp::Dialer>(io.get_executor(), std::move(dial_config));
  asio::steady_timer guard(io, limit);
  guard.async_wait([dialer](std::error_code ec) {
    if (!ec) dialer->abort(Error(ErrorKind::handshake_failed, "the test's time limit"));
  });
  dialer->dial(std::move(endpoints), [&](Result<std::shared_ptr<tcp::TlsStream>> result) {
    outcome.result = std::move(result);
    guard.cancel();
  });
  run_until(io, [&] { return outcome.result.has_value(); }, limit + 2s);
  return outcome;
}

TEST(HappyEyeballs, OrderPrefersIpv6AndInterleavesFamilies) {
  auto v4a = loopback(1), v4b = Endpoint(asio::ip::make_address("127.0.0.2"), 1);
  auto v6a = Endpoint(asio::ip::make_address("::1"), 1), v6b = Endpoint(asio::ip::make_address("::2"), 1);
  EXPECT_EQ(tcp::happy_eyeballs_order({v4a, v4b, v6a, v6b}), (std::vector<Endpoint>{v6a, v4a, v6b, v4b}));
  EXPECT_EQ(tcp::happy_eyeballs_order({v4a, v4b}), (std::vector<Endpoint>{v4a, v4b}));
  EXPECT_EQ(tcp::happy_eyeballs_order({v6a, v4a, v4b}), (std::vector<Endpoint>{v6a, v4a, v4b}));
}

// The first address never answers; the second starts after the delay and wins; TLS agrees on h2. Each
// attempt is reported (curl -v's "Trying") as it starts.
TEST(TcpDialer, AnAddressThatDoesNotAnswerListedFirstLosesTheRace) {
  H2TestServer server;
  asio::io_context io;
  SilentListener silent(io);
  auto attempts = std::make_shared<AttemptLog>();
  tcp::DialConfig dial_config = config(50ms);
  dial_config.report_attempt = AttemptReport{attempts, "https://127.0.0.1", 2};
  auto outcome = dial(io, std::move(dial_config), {silent.endpoint(), loopback(server.port())});
  ASSERT_TRUE(outcome.result.has_value());
  ASSERT_TRUE(*outcome.result) << outcome.result->error().to_string();
  const tcp::TlsStream& stream = ***outcome.result;
  EXPECT_EQ(stream.peer(), loopback(server.port()));
  EXPECT_EQ(stream.negotiated_alpn(), "h2");
  // The dial's steps in order; the second address started a delay (50 ms) after the first.
  const tcp::DialInstants& instants = stream.instants();
  EXPECT_LE(instants.started, instants.resolved);
  EXPECT_GE(instants.connected - instants.resolved, 50ms);
  EXPECT_LE(instants.connected, instants.handshaken);
  EXPECT_EQ(attempts->attempts(), (std::vector<std::string>{fmt::format("127.0.0.1:{} h2", silent.endpoint().port()),
                                                            fmt::format("127.0.0.1:{} h2", server.port())}));
  (**outcome.result)->close(Error(ErrorKind::transport_error, "test over"));
}

// A refused first attempt starts the next at once, long before the (here 10 s) delay.
TEST(TcpDialer, ARefusedAttemptStartsTheNextAtOnce) {
  H2TestServer server;
  std::uint16_t closed_port = 0;
  {
    H2TestServer gone;
    closed_port = gone.port();
  }
  asio::io_context io;
  auto outcome = dial(io, config(10s), {loopback(closed_port), loopback(server.port())});
  ASSERT_TRUE(outcome.result.has_value());
  ASSERT_TRUE(*outcome.result) << outcome.result->error().to_string();
  (**outcome.result)->close(Error(ErrorKind::transport_error, "test over"));
}

TEST(TcpDialer, EveryAddressRefusedFailsWithConnectionRefused) {
  std::uint16_t closed_port = 0;
  {
    H2TestServer gone;
    closed_port = gone.port();
  }
  asio::io_context io;
  auto outcome = dial(io, config(50ms), {loopback(closed_port), loopback(closed_port)});
  ASSERT_TRUE(outcome.result.has_value());
  ASSERT_FALSE(*outcome.result);
  EXPECT_EQ(outcome.result->error().kind(), ErrorKind::connection_refused) << outcome.result->error().to_string();
}

TEST(TcpDialer, UntrustedCertificateNamesTheProblem) {
  H2TestServer server;
  asio::io_context io;
  auto untrusting = config(50ms);
  untrusting.tls.ca_file = data_file("selfsigned.pem");
  untrusting.tls.system_trust = false;
  auto outcome = dial(io, untrusting, {loopback(server.port())});
  ASSERT_TRUE(outcome.result.has_value());
  ASSERT_FALSE(*outcome.result);
  EXPECT_EQ(outcome.result->error().handshake_failure, HandshakeFailure::certificate)
      << outcome.result->error().to_string();
}

}  // namespace
}  // namespace quiver::test

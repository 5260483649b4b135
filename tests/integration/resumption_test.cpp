// TLS session resumption against the project's server: a second connection resumes with the ticket the
// first one received; a ticket is used once; a ticket is never offered under other trust settings.
// Seen from both sides: the worker's telemetry (ConnectionEvent::resumed) and the server's counters.
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include "support/connection_fixture.hpp"
#include "tls/session_cache.hpp"

namespace quiver::test {
namespace {

// The `resumed` flag of every ready event, in order.
class ReadyEvents final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type != ConnectionEvent::Type::ready) return;
    std::lock_guard lock(mutex_);
    resumed_.push_back(event.resumed);
  }
  std::vector<bool> resumed() const {
    std::lock_guard lock(mutex_);
    return resumed_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<bool> resumed_;
};

class ResumptionTest : public ConnectionTest {
 protected:
  // One connection with the shared cache: fetches /bytes/10, waits for `tickets` tickets in the cache
  // (they come after the handshake) when asked, then closes. Returns the response's status.
  int exchange(const ConnectionOptions& base, std::size_t wait_for_tickets = 0) {
    ConnectionOptions options = base;
    options.telemetry = events_;
    connection_ = h3::Connection::create(io_.get_executor(), Origin{"127.0.0.1", server_->port()}, options,
                                         &observer_, quic::DialShared{cache_, false, nullptr});
    connection_->start();
    auto reply = fetch(get("/bytes/10"));
    EXPECT_TRUE(reply) << (reply ? "" : reply.error().to_string());
    if (wait_for_tickets > 0) {
      EXPECT_TRUE(run_until(io_, [&] { return cache_->size() >= wait_for_tickets; }, 5s)) << "no ticket arrived";
    }
    connection_->close();
    run_until(io_, [&] { return observer_.closed > closed_before_; }, 5s);
    closed_before_ = observer_.closed;
    return reply ? reply->status : 0;
  }

  std::shared_ptr<tls::SessionCache> cache_ = std::make_shared<tls::SessionCache>(16);
  std::shared_ptr<ReadyEvents> events_ = std::make_shared<ReadyEvents>();
  int closed_before_ = 0;
};

TEST_F(ResumptionTest, SecondConnectionResumes) {
  start_server();
  EXPECT_EQ(exchange(test_client_options(), 1), 200);
  EXPECT_EQ(server_->stats().handshakes_resumed, 0u);
  EXPECT_EQ(exchange(test_client_options()), 200);
  EXPECT_EQ(events_->resumed(), (std::vector<bool>{false, true}));
  EXPECT_EQ(server_->stats().handshakes_resumed, 1u);
}

// Without a cache (the default for a bare worker) nothing is resumed: the flag reflects what happened.
TEST_F(ResumptionTest, NoCacheNoResumption) {
  start_server();
  cache_.reset();
  for (int i = 0; i < 2; ++i) {
    auto options = test_client_options();
    options.telemetry = events_;
    connect(options);
    ASSERT_TRUE(fetch(get("/bytes/1")));
    connection_->close();
    run_until(io_, [&] { return observer_.closed > i; }, 5s);
  }
  EXPECT_EQ(events_->resumed(), (std::vector<bool>{false, false}));
  EXPECT_EQ(server_->stats().handshakes_resumed, 0u);
}

// The second connection takes the only ticket; with the server issuing no new one, the third connection
// has none left and does a full handshake: the ticket was not offered twice.
TEST_F(ResumptionTest, TicketIsUsedOnlyOnce) {
  start_server();
  EXPECT_EQ(exchange(test_client_options(), 1), 200);
  server_->issue_session_tickets(false);
  EXPECT_EQ(exchange(test_client_options()), 200);
  EXPECT_EQ(cache_->size(), 0u);
  EXPECT_EQ(exchange(test_client_options()), 200);
  EXPECT_EQ(events_->resumed(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(server_->stats().handshakes_resumed, 1u);
}

// A ticket from a connection verified against one CA file is not offered by a connection that trusts
// another (here: the same CA at another path, which the server would gladly accept), nor by one that
// does not verify; the connection with the original settings still finds it.
TEST_F(ResumptionTest, TicketIsNotUsedUnderOtherTrustSettings) {
  start_server();
  auto copy = std::filesystem::path(::testing::TempDir()) / "quiver-resumption-ca-copy.pem";
  std::filesystem::copy_file(data_file("ca.pem"), copy, std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(exchange(test_client_options(), 1), 200);

  auto other_ca = test_client_options();
  other_ca.tls.ca_file = copy.string();
  EXPECT_EQ(exchange(other_ca), 200);
  auto unverified = test_client_options();
  unverified.tls.verify_peer = false;
  EXPECT_EQ(exchange(unverified), 200);
  EXPECT_EQ(server_->stats().handshakes_resumed, 0u);

  EXPECT_EQ(exchange(test_client_options()), 200);
  EXPECT_EQ(events_->resumed(), (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(server_->stats().handshakes_resumed, 1u);
  std::filesystem::remove(copy);
}

// A resumed connection is as verified as the one that got the ticket: a ticket is only ever stored
// from a completed (verified) handshake, so a connection whose certificate check fails stores none.
TEST_F(ResumptionTest, FailedVerificationStoresNoTicket) {
  start_server();
  auto untrusting = test_client_options();
  untrusting.tls.ca_file.clear();  // the test CA is not in the system store
  connection_ = h3::Connection::create(io_.get_executor(), Origin{"127.0.0.1", server_->port()}, untrusting,
                                       &observer_, quic::DialShared{cache_, false, nullptr});
  connection_->start();
  auto reply = fetch(get("/bytes/1"));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().handshake_failure, HandshakeFailure::certificate);
  run_until(io_, [] { return false; }, 100ms);
  EXPECT_EQ(cache_->size(), 0u);
}

}  // namespace
}  // namespace quiver::test

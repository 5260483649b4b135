// quic::Dialer against the project's server on loopback: it tries the addresses in order and connects on
// the first that answers; it reports the negotiated ALPN.
#include <gtest/gtest.h>

#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>

#include "quic/dialer.hpp"
#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

// A loopback UDP endpoint with nothing bound to it (answered by ICMP port unreachable).
asio::ip::udp::endpoint closed_endpoint() {
  return asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), closed_udp_port());
}

// A stream layer that takes whatever comes (the server's control streams) and sends nothing.
struct IdleApplication : quic::StreamApplication {
  bool on_stream_data(std::int64_t, std::span<const std::uint8_t>, bool) override { return true; }
  bool on_stream_data_acked(std::int64_t, std::uint64_t) override { return true; }
  bool on_stream_closed(std::int64_t, std::optional<std::uint64_t>) override { return true; }
  bool on_stream_reset(std::int64_t, std::uint64_t) override { return true; }
  bool on_stream_stop_sending(std::int64_t, std::uint64_t) override { return true; }
  bool on_stream_send_credit(std::int64_t) override { return true; }
  bool next_outgoing(quic::OutgoingData& out) override {
    out.stream_id = -1;
    return true;
  }
  bool on_outgoing_accepted(std::int64_t, std::size_t) override { return true; }
  void on_stream_blocked(std::int64_t) override {}
  void on_stream_write_shut(std::int64_t) override {}
  std::pair<std::uint64_t, std::string> fatal_error() const override { return {0, ""}; }
  std::string error_name(std::uint64_t code) const override { return std::to_string(code); }
};

struct RecordingTarget : quic::DialTarget {
  Result<void> on_transport_created(std::shared_ptr<quic::QuicTransport> transport) override {
    ++transports_created;
    transport->set_application(&application);
    return {};
  }
  void on_dial_failed(Error reason) override { failure = std::move(reason); }
  void on_handshake_completed() override { handshake_completed = true; }
  void on_stream_credit() override {}
  void on_transport_closed(Error reason) override { failure = std::move(reason); }

  IdleApplication application;
  int transports_created = 0;
  bool handshake_completed = false;
  std::optional<Error> failure;
};

class DialerTest : public ConnectionTest {
 protected:
  std::shared_ptr<int> owner_ = std::make_shared<int>(0);  // stands for the dialer's owner (the worker)
  RecordingTarget target_;
};

// Each attempt is reported (curl -v's "Trying") as it starts.
TEST_F(DialerTest, ARefusingAddressIsSkippedAndTheNextOneConnects) {
  start_server();
  auto options = test_client_options();
  options.connect_timeout = 20s;  // the refusal, not a timeout, must move the dial on
  auto attempts = std::make_shared<AttemptLog>();
  options.telemetry = attempts;
  quic::Dialer dialer(io_.get_executor(), quic::dial_config("127.0.0.1", server_->port(), options), target_);
  const asio::ip::udp::endpoint server(asio::ip::make_address("127.0.0.1"), server_->port());
  const asio::ip::udp::endpoint refusing = closed_endpoint();
  dialer.dial(owner_, {refusing, server});
  ASSERT_TRUE(run_until(io_, [&] { return target_.handshake_completed || target_.failure; }, 15s));
  EXPECT_FALSE(target_.failure) << target_.failure->to_string();
  EXPECT_TRUE(target_.handshake_completed);
  EXPECT_EQ(target_.transports_created, 2);
  EXPECT_EQ(dialer.peer(), server);
  EXPECT_EQ(dialer.negotiated_alpn(), "h3");
  EXPECT_EQ(attempts->attempts(), (std::vector<std::string>{fmt::format("127.0.0.1:{} h3", refusing.port()),
                                                            fmt::format("127.0.0.1:{} h3", server_->port())}));
  dialer.abort(0, Error(ErrorKind::transport_error, "test over"));
  run_until(io_, [&] { return target_.failure.has_value(); }, 5s);
}

TEST_F(DialerTest, WhenEveryAddressRefusesTheLastRefusalIsReported) {
  auto options = test_client_options();
  options.connect_timeout = 20s;
  quic::Dialer dialer(io_.get_executor(), quic::dial_config("127.0.0.1", 443, options), target_);
  dialer.dial(owner_, {closed_endpoint(), closed_endpoint()});
  ASSERT_TRUE(run_until(io_, [&] { return target_.failure.has_value(); }, 15s));
  EXPECT_EQ(target_.failure->kind(), ErrorKind::connection_refused) << target_.failure->to_string();
  EXPECT_EQ(target_.transports_created, 2);
  EXPECT_EQ(dialer.negotiated_alpn(), "");
}

TEST_F(DialerTest, AHostNameIsResolvedAndDialed) {
  start_server();
  quic::Dialer dialer(io_.get_executor(), quic::dial_config("localhost", server_->port(), test_client_options()),
                      target_);
  dialer.dial(owner_);
  ASSERT_TRUE(run_until(io_, [&] { return target_.handshake_completed || target_.failure; }, 15s));
  // localhost may resolve to ::1 first, where the server (on 127.0.0.1) refuses: the dialer moves on.
  EXPECT_TRUE(target_.handshake_completed) << (target_.failure ? target_.failure->to_string() : "");
  EXPECT_EQ(dialer.negotiated_alpn(), "h3");
  dialer.abort(0, Error(ErrorKind::transport_error, "test over"));
  run_until(io_, [&] { return target_.failure.has_value(); }, 5s);
}

}  // namespace
}  // namespace quiver::test

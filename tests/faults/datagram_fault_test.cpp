// HTTP datagrams through the fault proxy: loss on the path shows as datagram loss (unreliable, as RFC 9297
// says), never as a hang, a failed channel or a damaged datagram.
#include <asio/bind_cancellation_slot.hpp>
#include <asio/use_future.hpp>

#include "faults/fault_support.hpp"
#include "quiver/channel.hpp"

namespace quiver::test {
namespace {

// The next datagram within `limit`, or nothing.
std::optional<std::string> receive_within(Channel& channel, std::chrono::milliseconds limit) {
  asio::cancellation_signal signal;
  auto future = channel.async_receive_datagram(asio::bind_cancellation_slot(signal.slot(), asio::use_future));
  if (future.wait_for(limit) != std::future_status::ready) signal.emit(asio::cancellation_type::terminal);
  auto datagram = future.get();
  if (!datagram) return std::nullopt;
  return *datagram;
}

TEST_F(FaultTest, TwentyPercentLossIsDatagramLossNotAHang) {
  auto options = test_server_options();
  options.datagrams = options.extended_connect = true;
  start_server(options);
  auto client_opts = client_options();
  client_opts.defaults.connection.http_datagrams = true;
  client_opts.defaults.connection.max_udp_payload = 1200;
  Client client(client_opts);
  Request request;
  request.method = "CONNECT";
  request.protocol = "echo-test";
  request.url = *Url::parse(url("/datagram-echo"));
  auto channel = client.open_channel(request);
  ASSERT_TRUE(channel) << channel.error().to_string();

  proxy_->set_faults(PathFaults{.drop = 0.20});  // both ways: a datagram survives the round trip ~64 %
  constexpr int kCount = 200;
  int back = 0;
  const auto start = Clock::now();
  for (int i = 0; i < kCount; ++i) {
    const std::string payload = fmt::format("datagram {:04} {}", i, std::string(200, 'd'));
    ASSERT_TRUE(channel->send_datagram(payload)) << i;
    // One in flight: a lost one costs the wait, then the next goes out.
    if (auto echoed = receive_within(*channel, 40ms)) {
      // A late echo of an earlier datagram may arrive: each is intact, whichever it is.
      EXPECT_TRUE(echoed->starts_with("datagram ") && echoed->ends_with(std::string(200, 'd'))) << *echoed;
      ++back;
    }
  }
  proxy_->clear_faults();
  report(fmt::format("{} of {} datagrams echoed through 20 % loss each way in {:.1f} s", back, kCount,
                     seconds_since(start)));
  EXPECT_GT(back, kCount * 45 / 100);  // ~64 % expected; far fewer means more than the path's loss
  EXPECT_LT(back, kCount * 85 / 100);  // the loss did happen: these were datagrams, not a reliable stream
  // The channel and its connection are unharmed: a clean path echoes again.
  ASSERT_TRUE(channel->send_datagram("after the loss"));
  std::optional<std::string> last;
  for (int i = 0; i < 20 && last != "after the loss"; ++i) last = receive_within(*channel, 250ms);
  EXPECT_EQ(last, "after the loss");
}

}  // namespace
}  // namespace quiver::test

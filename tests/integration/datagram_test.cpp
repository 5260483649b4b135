// HTTP datagrams (RFC 9297) and extended CONNECT (RFC 9220) against the project's server on loopback:
// negotiation per connection, then channels.
#include <gtest/gtest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/use_future.hpp>

#include <map>
#include <set>
#include <thread>

#include "quiver/channel.hpp"
#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

server::ServerOptions datagram_server(bool datagrams, bool extended_connect) {
  auto options = test_server_options();
  options.datagrams = datagrams;
  options.extended_connect = extended_connect;
  return options;
}

ConnectionOptions datagram_client(bool datagrams = true) {
  auto options = test_client_options();
  options.http_datagrams = datagrams;
  return options;
}

class DatagramNegotiation : public ConnectionTest {
 protected:
  http::ChannelSupport support_after_settings() {
    EXPECT_TRUE(wait_connected());
    // The SETTINGS come on the server's control stream, maybe after the handshake's last packet.
    EXPECT_TRUE(run_until(io_, [&] { return connection_->channel_support().settings_known; }));
    return connection_->channel_support();
  }
};

TEST_F(DatagramNegotiation, BothEnabledWhenTheServerOffersThemAndWeAsk) {
  start_server(datagram_server(true, true));
  connect(datagram_client());
  auto support = support_after_settings();
  EXPECT_TRUE(support.extended_connect);
  EXPECT_TRUE(support.datagrams);
}

TEST_F(DatagramNegotiation, ExtendedConnectIsLearntFromTheControlStreamAlone) {
  // nghttp3's client never reports SETTINGS_ENABLE_CONNECT_PROTOCOL: this is the sniffer's reading.
  start_server(datagram_server(false, true));
  connect(datagram_client());
  auto support = support_after_settings();
  EXPECT_TRUE(support.extended_connect);
  EXPECT_FALSE(support.datagrams);
}

TEST_F(DatagramNegotiation, NothingWhenTheServerOffersNothing) {
  start_server(datagram_server(false, false));
  connect(datagram_client());
  auto support = support_after_settings();
  EXPECT_FALSE(support.extended_connect);
  EXPECT_FALSE(support.datagrams);
}

TEST_F(DatagramNegotiation, NoDatagramsUnlessWeAsk) {
  start_server(datagram_server(true, true));
  connect(datagram_client(false));
  auto support = support_after_settings();
  EXPECT_TRUE(support.extended_connect);
  EXPECT_FALSE(support.datagrams);
}

// ---- channels through the Client ----------------------------------------------------------------

class ChannelTest : public ::testing::Test {
 protected:
  void start_server(bool datagrams = true, bool extended_connect = true) {
    auto options = datagram_server(datagrams, extended_connect);
    server_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*server_);
  }
  Client& client(std::size_t queue = 256, std::uint64_t max_udp_payload = 1452) {
    ClientOptions options;
    options.defaults.connection = datagram_client();
    options.defaults.connection.channel_datagram_queue = queue;
    options.defaults.connection.max_udp_payload = max_udp_payload;
    options.defaults.max_connections = 1;
    client_ = std::make_unique<Client>(std::move(options));
    return *client_;
  }
  Request echo_request(std::string target = "/datagram-echo") {
    Request request;
    request.method = "CONNECT";
    request.protocol = "echo-test";
    request.url = *Url::parse(fmt::format("https://127.0.0.1:{}{}", server_->port(), target));
    return request;
  }
  // The next datagram within `limit`, or the error (cancelled when none came).
  static Result<std::string> receive_within(Channel& channel, std::chrono::milliseconds limit = 5s) {
    asio::cancellation_signal signal;
    auto future = channel.async_receive_datagram(asio::bind_cancellation_slot(signal.slot(), asio::use_future));
    if (future.wait_for(limit) != std::future_status::ready) signal.emit(asio::cancellation_type::terminal);
    return future.get();
  }
  static bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }

  std::unique_ptr<server::Server> server_;
  std::unique_ptr<Client> client_;  // destroyed before the server
};

// Datagram `seq` of `size` bytes: its number (4 bytes, big-endian), then a pattern that depends on both.
std::string numbered_datagram(std::uint32_t seq, std::size_t size) {
  std::string datagram(size, '\0');
  for (std::size_t i = 0; i < 4 && i < size; ++i) datagram[i] = static_cast<char>(seq >> (24 - 8 * i));
  for (std::size_t i = 4; i < size; ++i) datagram[i] = static_cast<char>('a' + (seq + i) % 26);
  return datagram;
}

std::uint32_t sequence_of(const std::string& datagram) {
  std::uint32_t seq = 0;
  for (std::size_t i = 0; i < 4; ++i) seq = (seq << 8) | static_cast<unsigned char>(datagram[i]);
  return seq;
}

TEST_F(ChannelTest, ExtendedConnectOpensAChannelWithDatagrams) {
  start_server();
  auto channel = client().open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  EXPECT_EQ(channel->status(), 200);
  EXPECT_TRUE(channel->datagrams_enabled());
  EXPECT_GT(channel->max_datagram_size(), 1000u);  // a 1200-byte path at least, less QUIC's overhead
  ASSERT_TRUE(channel->send_datagram("ping"));
  auto echoed = receive_within(*channel);
  ASSERT_TRUE(echoed) << echoed.error().to_string();
  EXPECT_EQ(*echoed, "ping");
}

// Every datagram comes back, byte for byte: sizes from 4 bytes up to max_datagram_size() (at most 32 in
// flight, so nothing is dropped for want of room: on loopback without a fault proxy none may be lost).
// The client's packets are pinned to 1 200 bytes, QUIC's minimum path, which the echo's direction carries
// too: max_datagram_size() is for our direction as path MTU discovery finds it, and a datagram sized for a
// larger path than the server has discovered yet back to us cannot be echoed (legitimate loss, not tested).
TEST_F(ChannelTest, ThousandDatagramsOfVariedSizesAreEchoedIntact) {
  start_server();
  auto channel = client(/*queue=*/256, /*max_udp_payload=*/1200).open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  constexpr std::uint32_t kCount = 1000;
  constexpr std::uint32_t kWindow = 32;
  std::set<std::uint32_t> seen;
  std::map<std::uint32_t, std::size_t> sizes;
  std::size_t largest = 0;
  auto take_one = [&]() -> bool {
    auto echoed = receive_within(*channel);
    if (!echoed) {
      auto stats = channel->datagram_stats();
      ADD_FAILURE() << "datagram lost: " << echoed.error().to_string() << " after " << seen.size() << " (sent "
                    << stats.sent << ", failed " << stats.failed << ", received " << stats.received << ", dropped "
                    << stats.dropped << ")";
      return false;
    }
    std::uint32_t seq = sequence_of(*echoed);
    EXPECT_TRUE(sizes.contains(seq)) << "unknown sequence " << seq;
    EXPECT_EQ(*echoed, numbered_datagram(seq, sizes[seq])) << "datagram " << seq << " changed";
    EXPECT_TRUE(seen.insert(seq).second) << "datagram " << seq << " twice";
    return true;
  };
  for (std::uint32_t seq = 0; seq < kCount; ++seq) {
    std::size_t max = channel->max_datagram_size();
    std::size_t size = seq % 50 == 49 ? max : 4 + (seq * 97) % (max - 3);
    largest = std::max(largest, size);
    sizes[seq] = size;
    auto sent = channel->send_datagram(numbered_datagram(seq, size));
    ASSERT_TRUE(sent) << "datagram " << seq << ": " << sent.error().to_string();
    if (seq + 1 - seen.size() >= kWindow && !take_one()) return;
  }
  while (seen.size() < kCount) {
    if (!take_one()) return;
  }
  EXPECT_EQ(channel->datagram_stats().sent, kCount);
  EXPECT_EQ(channel->datagram_stats().dropped, 0u);
  EXPECT_GT(largest, 1000u);
}

TEST_F(ChannelTest, DatagramOverTheLimitIsRefusedAsInvalid) {
  start_server();
  auto channel = client().open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  std::size_t max = channel->max_datagram_size();
  auto refused = channel->send_datagram(std::string(max + 1, 'x'));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::datagram_too_large);
  EXPECT_EQ(refused.error().error_class(), ErrorClass::invalid);
  EXPECT_NE(refused.error().message().find(std::to_string(max)), std::string::npos) << refused.error().message();
  EXPECT_TRUE(channel->send_datagram(std::string(max, 'x')));  // the limit itself goes
}

TEST_F(ChannelTest, ServerWithoutDatagramsGivesDatagramsDisabled) {
  start_server(/*datagrams=*/false, /*extended_connect=*/true);
  auto channel = client().open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  EXPECT_EQ(channel->status(), 200);
  EXPECT_FALSE(channel->datagrams_enabled());
  EXPECT_EQ(channel->max_datagram_size(), 0u);
  auto refused = channel->send_datagram("ping");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::datagrams_disabled);
}

TEST_F(ChannelTest, ExtendedConnectDisabledFailsAtOnceWithoutARequest) {
  start_server(/*datagrams=*/true, /*extended_connect=*/false);
  auto channel = client().open_channel(echo_request());
  ASSERT_FALSE(channel);
  EXPECT_EQ(channel.error().kind(), ErrorKind::extended_connect_disabled);
  EXPECT_EQ(channel.error().error_class(), ErrorClass::unrecoverable);
  EXPECT_EQ(server_->stats().requests_started, 0u);  // no :protocol reached the server
  // The connection is fine for requests.
  auto response = client_->request(get(fmt::format("https://127.0.0.1:{}/bytes/10", server_->port())));
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
}

TEST_F(ChannelTest, StreamDataIsEchoedAndEndsWithOurFin) {
  start_server();
  auto channel = client().open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  ASSERT_TRUE(channel->write("hello "));
  ASSERT_TRUE(channel->write(std::string(100000, 'z')));
  channel->close_write();
  EXPECT_FALSE(channel->write("late"));
  auto all = channel->stream().read_all();
  ASSERT_TRUE(all) << all.error().to_string();
  EXPECT_EQ(*all, "hello " + std::string(100000, 'z'));
}

TEST_F(ChannelTest, SlowReaderDropsDatagramsAndCountsThem) {
  start_server();
  auto channel = client(/*queue=*/8).open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  constexpr std::uint32_t kCount = 100;
  for (std::uint32_t seq = 0; seq < kCount; ++seq) ASSERT_TRUE(channel->send_datagram(numbered_datagram(seq, 64)));
  ASSERT_TRUE(eventually([&] { return channel->datagram_stats().received == kCount; }))
      << "received " << channel->datagram_stats().received;
  EXPECT_EQ(channel->datagram_stats().dropped, kCount - 8);
  for (std::uint32_t seq = 0; seq < 8; ++seq) {  // the queue kept the oldest
    auto datagram = receive_within(*channel);
    ASSERT_TRUE(datagram) << datagram.error().to_string();
    EXPECT_EQ(sequence_of(*datagram), seq);
  }
}

TEST_F(ChannelTest, ClosedChannelRefusesDatagramsAndEndsReceives) {
  start_server();
  auto channel = client().open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  channel->close();
  auto refused = channel->send_datagram("late");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::channel_closed);
  auto ended = receive_within(*channel);
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().kind(), ErrorKind::channel_closed);
}

TEST_F(ChannelTest, NonTwoHundredResponseOpensNoDatagrams) {
  start_server();
  Request request = echo_request("/datagram-echo");
  request.protocol.reset();  // a plain CONNECT (no :path): the test server is no proxy and answers 400 at once
  auto channel = client().open_channel(request);
  ASSERT_TRUE(channel) << channel.error().to_string();
  EXPECT_EQ(channel->status(), 400);
  auto refused = channel->send_datagram("x");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::channel_closed);
  auto write = channel->write("x");  // no tunnel: our side of the stream ended with the answer
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().kind(), ErrorKind::channel_closed);
  auto body = channel->stream().read_all();  // the answer's body, then the stream's end
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_NE(body->find("not a CONNECT proxy"), std::string::npos) << *body;
}

// A GOAWAY above the channel's stream leaves it working: its stream is below the id.
TEST_F(ChannelTest, ChannelBelowTheGoawayIdKeepsWorking) {
  start_server();
  auto channel = client().open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  server_->send_goaway();
  std::this_thread::sleep_for(50ms);  // the GOAWAY frames arrive
  ASSERT_TRUE(channel->send_datagram("after goaway"));
  auto echoed = receive_within(*channel);
  ASSERT_TRUE(echoed) << echoed.error().to_string();
  EXPECT_EQ(*echoed, "after goaway");
  ASSERT_TRUE(channel->write("still open"));
  channel->close_write();
  auto all = channel->stream().read_all();
  ASSERT_TRUE(all) << all.error().to_string();
  EXPECT_EQ(*all, "still open");
}

TEST_F(ChannelTest, RequestAndStreamRefuseAProtocol) {
  start_server();
  Request request = echo_request();
  request.method = "GET";
  auto response = client().request(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::invalid_request);
}

// ---- lifetimes: a Channel and its Client end in any order, and nothing waits forever ----------------

TEST_F(ChannelTest, DestroyingTheClientEndsAnOpenChannelsWaitingReceive) {
  start_server();
  auto channel = client().open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  auto waiting = channel->async_receive_datagram(asio::use_future);
  client_.reset();
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready) << "a receive outlived its client";
  auto ended = waiting.get();
  ASSERT_FALSE(ended);
  // The connection's end ends its channels with its error (here: closed by the client's shutdown).
  EXPECT_FALSE(ended.error().message().empty());
}

TEST_F(ChannelTest, AChannelKeptAfterItsClientFailsEveryCallCleanly) {
  start_server();
  std::optional<Channel> kept;
  {
    auto channel = client().open_channel(echo_request());
    ASSERT_TRUE(channel) << channel.error().to_string();
    kept.emplace(std::move(*channel));
  }
  client_.reset();
  auto sent = kept->send_datagram("late");
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind(), ErrorKind::channel_closed) << sent.error().to_string();
  auto received = kept->receive_datagram();  // blocking: must return
  ASSERT_FALSE(received);
  auto asynchronous = kept->async_receive_datagram(asio::use_future);
  ASSERT_EQ(asynchronous.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(asynchronous.get());
  EXPECT_FALSE(kept->write("late"));
  kept->close_write();
  kept->close();
  kept->close();  // idempotent
  auto body = kept->stream().read_all();
  EXPECT_FALSE(body);
  kept.reset();  // destroyed after its client: no use of freed state
}

TEST_F(ChannelTest, CallsAfterCloseFailWithChannelClosed) {
  start_server();
  auto channel = client().open_channel(echo_request());
  ASSERT_TRUE(channel) << channel.error().to_string();
  channel->close();
  EXPECT_EQ(channel->send_datagram("x").error().kind(), ErrorKind::channel_closed);
  EXPECT_EQ(channel->write("x").error().kind(), ErrorKind::channel_closed);
  auto received = channel->receive_datagram();
  ASSERT_FALSE(received);
  EXPECT_EQ(received.error().kind(), ErrorKind::channel_closed);
  // The client is fine afterwards: the channel's stream went back to the credit.
  auto response = client_->request(get(fmt::format("https://127.0.0.1:{}/bytes/10", server_->port())));
  ASSERT_TRUE(response) << response.error().to_string();
}

}  // namespace
}  // namespace quiver::test

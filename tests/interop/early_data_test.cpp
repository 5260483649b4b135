// Resumption and 0-RTT against ngtcp2's gtlsserver (GnuTLS; it sends a ticket after each handshake and
// accepts early data): quiver's telemetry says resumed / early data accepted, and the server's qlog shows
// it received 0-RTT packets.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>

#include <asio/io_context.hpp>

#include "docroot.hpp"
#include "external_server.hpp"
#include "h3/connection.hpp"
#include "quiver/quiver.hpp"
#include "tls/session_cache.hpp"

namespace quiver::interop {
namespace {

using namespace std::chrono_literals;

class ReadyEvents final : public Telemetry {
 public:
  void on_connection_event(const ConnectionEvent& event) override {
    if (event.type == ConnectionEvent::Type::ready) last = event;  // one io thread: the test's
  }
  std::optional<ConnectionEvent> last;
};

// How many of the server's qlog files record a received 0-RTT packet.
int qlogs_with_0rtt(const std::filesystem::path& dir) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string text(std::istreambuf_iterator<char>(in), {});
    if (text.find("\"0RTT\"") != std::string::npos) ++count;
  }
  return count;
}

class GtlsserverEarlyDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto docroot = Docroot::create();
    ASSERT_TRUE(docroot) << docroot.error();
    docroot_.emplace(std::move(*docroot));
    auto started = ExternalServer::start(ServerKind::gtlsserver, docroot_->path());
    ASSERT_TRUE(started) << started.error();
    server_ = std::move(*started);
  }

  // One connection, one GET of the 1 KB file sent before the handshake; waits for a ticket afterwards.
  void fetch_once() {
    asio::io_context io;
    ConnectionOptions options;
    options.tls.ca_file = test_ca_file().string();
    options.telemetry = events_;
    auto connection = h3::Connection::create(io.get_executor(), Origin{"127.0.0.1", server_->port()}, options,
                                             nullptr, quic::DialShared{cache_, true, nullptr});
    connection->start();
    const auto& file = standard_files().front();
    Request request;
    request.url = *Url::parse("https://127.0.0.1:" + std::to_string(server_->port()) + "/" + file.name);
    std::optional<Result<Response>> reply;
    connection->request(std::move(request), [&](Result<Response> r) { reply = std::move(r); });
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((!reply || cache_->size() == 0) && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
    ASSERT_TRUE(reply) << "no reply; server log:\n" << server_->log_tail();
    ASSERT_TRUE(*reply) << reply->error().to_string() << "\n" << server_->log_tail();
    EXPECT_EQ((*reply)->body, docroot_->contents(file.name));
    EXPECT_GT(cache_->size(), 0u) << "gtlsserver sent no ticket";
    connection->close();
    io.run_for(50ms);
  }

  std::optional<Docroot> docroot_;
  std::unique_ptr<ExternalServer> server_;
  std::shared_ptr<tls::SessionCache> cache_ = std::make_shared<tls::SessionCache>(16);
  std::shared_ptr<ReadyEvents> events_ = std::make_shared<ReadyEvents>();
};

TEST_F(GtlsserverEarlyDataTest, SecondConnectionResumesWithEarlyData) {
  fetch_once();
  ASSERT_TRUE(events_->last);
  EXPECT_FALSE(events_->last->resumed);
  EXPECT_FALSE(events_->last->early_data_offered);
  EXPECT_EQ(qlogs_with_0rtt(server_->qlog_dir()), 0);

  fetch_once();
  ASSERT_TRUE(events_->last);
  EXPECT_TRUE(events_->last->resumed);
  EXPECT_TRUE(events_->last->early_data_offered);
  EXPECT_TRUE(events_->last->early_data_accepted);
  EXPECT_EQ(events_->last->early_requests, 1u);
  EXPECT_EQ(qlogs_with_0rtt(server_->qlog_dir()), 1) << "the server received no 0-RTT packet";
}

// gtlsserver has no switch to refuse early data, but a restarted one has a new ticket key: the ticket
// (moved to the new server's port in the cache) cannot be resumed, so the early data is rejected, the
// handshake is a full one (certificate verified), and the early request is sent again and answered
// (fetch_once checks the body).
TEST_F(GtlsserverEarlyDataTest, EarlyDataRejectedByARestartedServerIsSentAgain) {
  fetch_once();
  ConnectionOptions verifying;
  verifying.tls.ca_file = test_ca_file().string();
  auto ticket = cache_->take(tls::session_key("h3", "127.0.0.1", server_->port(), verifying.tls));
  ASSERT_TRUE(ticket);
  server_.reset();
  auto restarted = ExternalServer::start(ServerKind::gtlsserver, docroot_->path());
  ASSERT_TRUE(restarted) << restarted.error();
  server_ = std::move(*restarted);
  cache_->put(tls::session_key("h3", "127.0.0.1", server_->port(), verifying.tls), std::move(*ticket));

  fetch_once();
  ASSERT_TRUE(events_->last);
  EXPECT_FALSE(events_->last->resumed);
  EXPECT_TRUE(events_->last->early_data_offered);
  EXPECT_FALSE(events_->last->early_data_accepted);
  EXPECT_EQ(events_->last->early_requests, 1u);
  // The server could not read the early data (no 0-RTT keys without the ticket): it received none.
  EXPECT_EQ(qlogs_with_0rtt(server_->qlog_dir()), 0);
}

}  // namespace
}  // namespace quiver::interop

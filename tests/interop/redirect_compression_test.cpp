// Redirects and decompression against Debian's caddy (quic-go): its `redir` and `encode zstd gzip`
// directives (external_server.cpp's Caddyfile), through quiver::Client with verification on.
#include <gtest/gtest.h>

#include <fstream>

#include "docroot.hpp"
#include "external_server.hpp"
#include "quiver/quiver.hpp"

namespace quiver::interop {
namespace {

using namespace std::chrono_literals;

class CaddyTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::create("caddy-encode");
    ASSERT_TRUE(dir) << dir.error();
    docroot_.emplace(std::move(*dir));
    for (int i = 0; page_.size() < 200 * 1024; ++i) page_ += "caddy compresses this line, number " + std::to_string(i) + "\n";
    std::ofstream(docroot_->path() / "page.txt", std::ios::binary) << page_;
    auto server = ExternalServer::start(ServerKind::caddy, docroot_->path());
    ASSERT_TRUE(server) << server.error();
    server_ = std::move(*server);
    ClientOptions options;
    options.defaults.connection.tls.ca_file = test_ca_file().string();
    options.defaults.request_timeout = 20s;
    client_ = std::make_unique<Client>(options);
  }

  std::string url(const std::string& target) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + target;
  }

  std::optional<TempDir> docroot_;
  std::string page_;
  std::unique_ptr<ExternalServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(CaddyTransferTest, RedirectsAreFollowed) {
  for (const char* start : {"/moved", "/moved-relative"}) {
    auto response = client_->request(get(url(start)).follow_redirects());
    ASSERT_TRUE(response) << start << ": " << response.error().to_string() << "\n" << server_->log_tail();
    EXPECT_EQ(response->status, 200) << start;
    EXPECT_EQ(response->transfer.redirects, 1) << start;
    EXPECT_EQ(response->transfer.url.to_string(), url("/page.txt")) << start;
    EXPECT_TRUE(response->body == page_) << start << ": " << response->body.size() << " bytes";
  }
}

TEST_F(CaddyTransferTest, EncodedBodiesAreDecoded) {
  for (const char* coding : {"gzip", "zstd"}) {
    auto response = client_->request(get(url("/page.txt")).header("accept-encoding", coding).decompress());
    ASSERT_TRUE(response) << coding << ": " << response.error().to_string() << "\n" << server_->log_tail();
    EXPECT_EQ(response->headers.get("content-encoding"), coding) << "caddy compressed it";
    EXPECT_TRUE(response->body == page_) << coding << ": " << response->body.size() << " bytes";
  }
  auto streamed = client_->stream(get(url("/moved")).follow_redirects().decompress());
  ASSERT_TRUE(streamed) << streamed.error().to_string();
  EXPECT_TRUE(streamed->headers().contains("content-encoding"));
  auto body = streamed->read_all();
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_TRUE(*body == page_) << body->size() << " bytes";
}

}  // namespace
}  // namespace quiver::interop

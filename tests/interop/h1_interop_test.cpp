// HTTP/1.1 interop: quiver's Client with http_version = http1_1 against Debian's caddy (Go's net/http
// HTTP/1.1: the client offers only ALPN http/1.1, so caddy's h1/h2/h3 site speaks pure HTTP/1.1 over TLS),
// with certificate verification on: byte-identical 1 KB / 1 MB / 10 MB downloads over one kept-alive
// connection, a streamed download, and concurrent requests over a few connections.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "docroot.hpp"
#include "external_server.hpp"
#include "quiver/client.hpp"

namespace quiver::interop {
namespace {

using namespace std::chrono_literals;

const Docroot& docroot() {
  static const Docroot shared = [] {
    auto created = Docroot::create();
    if (!created) throw std::runtime_error("cannot create the document root: " + created.error());
    return std::move(*created);
  }();
  return shared;
}

class H1Interop : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = ExternalServer::start(ServerKind::caddy, docroot().path());
    ASSERT_TRUE(started) << started.error();
    server_ = std::move(*started);
    ClientOptions options;
    options.defaults.connection.http_version = HttpVersion::http1_1;
    options.defaults.connection.tls.ca_file = test_ca_file().string();
    options.defaults.max_connections = 4;
    client_ = std::make_unique<Client>(options);
  }

  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::string diagnostics() const { return "\n--- " + server_->command_line() + " ---\n" + server_->log_tail(); }

  std::unique_ptr<ExternalServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(H1Interop, DownloadsAreByteIdenticalOverOneConnection) {
  bool first = true;
  for (const ServedFile& file : standard_files()) {
    auto response = client_->request(*get(url("/" + file.name)).timeout(60s).build());
    ASSERT_TRUE(response) << file.label << ": " << response.error().to_string() << diagnostics();
    EXPECT_EQ(response->status, 200) << file.label;
    EXPECT_EQ(response->transfer.http_version, "1.1") << file.label;
    EXPECT_EQ(response->transfer.connection_reused, !first) << file.label;  // keep-alive
    EXPECT_TRUE(response->body == docroot().contents(file.name)) << file.label << ": " << response->body.size()
                                                                 << " bytes differ from the file";
    first = false;
  }
}

TEST_F(H1Interop, StreamedDownloadIsByteIdentical) {
  const ServedFile& large = standard_files().back();
  auto stream = client_->stream(*get(url("/" + large.name)).timeout(60s).build());
  ASSERT_TRUE(stream) << stream.error().to_string() << diagnostics();
  EXPECT_EQ(stream->transfer().http_version, "1.1");
  std::string body;
  std::vector<char> buffer(32 * 1024);
  for (;;) {
    auto read = stream->read(buffer);
    ASSERT_TRUE(read) << read.error().to_string();
    if (*read == 0) break;
    body.append(buffer.data(), *read);
  }
  EXPECT_TRUE(body == docroot().contents(large.name)) << body.size() << " bytes differ from the file";
}

TEST_F(H1Interop, ConcurrentRequestsOverAFewConnections) {
  const ServedFile& small = standard_files().front();
  std::vector<std::future<Result<Response>>> futures;
  for (int i = 0; i < 40; ++i) futures.push_back(client_->async_request(*get(url("/" + small.name)).timeout(60s).build()));
  for (auto& future : futures) {
    auto response = future.get();
    ASSERT_TRUE(response) << response.error().to_string() << diagnostics();
    EXPECT_TRUE(response->body == docroot().contents(small.name));
  }
  auto stats = client_->stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_LE(stats.front().connections.size(), 4u);
}

}  // namespace
}  // namespace quiver::interop

// HTTP/2 interop: quiver's Client with http_version = http2 against Debian's caddy (Go's net/http HTTP/2)
// and nghttp2's nghttpd, with certificate verification on: byte-identical 1 KB / 1 MB / 10 MB downloads,
// a streamed download, 100 concurrent requests on one connection, an upload echoed back and trailers
// (nghttpd).
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

class H2Interop : public ::testing::TestWithParam<ServerKind> {
 protected:
  void SetUp() override {
    auto started = ExternalServer::start(GetParam(), docroot().path());
    ASSERT_TRUE(started) << started.error();
    server_ = std::move(*started);
    ClientOptions options;
    options.defaults.connection.http_version = HttpVersion::http2;
    options.defaults.connection.tls.ca_file = test_ca_file().string();
    client_ = std::make_unique<Client>(options);
  }

  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::string diagnostics() const { return "\n--- " + server_->command_line() + " ---\n" + server_->log_tail(); }

  std::unique_ptr<ExternalServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_P(H2Interop, DownloadsAreByteIdentical) {
  for (const ServedFile& file : standard_files()) {
    auto response = client_->request(*get(url("/" + file.name)).timeout(60s).build());
    ASSERT_TRUE(response) << file.label << ": " << response.error().to_string() << diagnostics();
    EXPECT_EQ(response->status, 200) << file.label;
    EXPECT_EQ(response->transfer.http_version, "2") << file.label;
    EXPECT_TRUE(response->body == docroot().contents(file.name)) << file.label << ": " << response->body.size()
                                                                 << " bytes differ from the file";
  }
}

TEST_P(H2Interop, StreamedDownloadIsByteIdentical) {
  const ServedFile& large = standard_files().back();
  auto stream = client_->stream(*get(url("/" + large.name)).timeout(60s).build());
  ASSERT_TRUE(stream) << stream.error().to_string() << diagnostics();
  EXPECT_EQ(stream->transfer().http_version, "2");
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

TEST_P(H2Interop, HundredConcurrentRequests) {
  const ServedFile& small = standard_files().front();
  std::vector<std::future<Result<Response>>> futures;
  for (int i = 0; i < 100; ++i) futures.push_back(client_->async_request(*get(url("/" + small.name)).timeout(60s).build()));
  for (auto& future : futures) {
    auto response = future.get();
    ASSERT_TRUE(response) << response.error().to_string() << diagnostics();
    EXPECT_TRUE(response->body == docroot().contents(small.name));
  }
  auto stats = client_->stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_LE(stats.front().connections.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Servers, H2Interop, ::testing::Values(ServerKind::caddy, ServerKind::nghttpd),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// nghttpd --echo-upload answers a POST with its body, and adds the trailer it was given.
TEST(H2InteropNghttpd, UploadIsEchoedAndTrailersArrive) {
  auto started = ExternalServer::start(ServerKind::nghttpd, docroot().path());
  ASSERT_TRUE(started) << started.error();
  ClientOptions options;
  options.defaults.connection.http_version = HttpVersion::http2;
  options.defaults.connection.tls.ca_file = test_ca_file().string();
  Client client(options);
  std::string base = "https://127.0.0.1:" + std::to_string((*started)->port());
  std::string upload = deterministic_bytes(2 * 1024 * 1024, 7);
  auto echoed = client.request(*post(base + "/echo").body(RequestBody(upload)).timeout(60s).build());
  ASSERT_TRUE(echoed) << echoed.error().to_string() << (*started)->log_tail();
  EXPECT_EQ(echoed->status, 200);
  EXPECT_TRUE(echoed->body == upload) << echoed->body.size() << " bytes came back";

  auto response = client.request(*get(base + "/" + standard_files().front().name).build());
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->trailers.get("x-quiver-trailer"), std::optional<std::string_view>("served"));
}

}  // namespace
}  // namespace quiver::interop

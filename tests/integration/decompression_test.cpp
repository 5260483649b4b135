// Response body decompression through the real Client against the project's server: httpbin's /gzip,
// /deflate, /brotli and /zstd decoded for buffered and streamed responses; off by default; bombs and
// corrupt bodies fail with their own kinds and leave the connection usable.
#include <gtest/gtest.h>

#include <array>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class DecompressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<server::Server>(test_server_options());
    start_or_throw(*server_);
    client_ = make_client(Decompression{});
  }

  static std::unique_ptr<Client> make_client(Decompression decompression) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.request_timeout = 20s;
    options.decompression = decompression;
    return std::make_unique<Client>(options);
  }

  std::string url(const std::string& target) const { return fmt::format("https://127.0.0.1:{}{}", server_->port(), target); }

  std::unique_ptr<server::Server> server_;
  std::unique_ptr<Client> client_;
};

struct Coded {
  const char* route;
  const char* coding;
  const char* flag;
};
constexpr Coded kCoded[] = {{"/gzip", "gzip", "gzipped"}, {"/deflate", "deflate", "deflated"},
                            {"/brotli", "br", "brotli"}, {"/zstd", "zstd", "zstd"}};

TEST_F(DecompressionTest, OffByDefaultTheBodyIsAsSentAndNothingIsAsked) {
  auto get_response = client_->request(get(url("/get")));
  ASSERT_TRUE(get_response) << get_response.error().to_string();
  EXPECT_FALSE(json::parse(get_response->body)["headers"].contains("Accept-Encoding"));
  auto response = client_->request(get(url("/gzip")));
  ASSERT_TRUE(response) << response.error().to_string();
  ASSERT_GE(response->body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(response->body[0]), 0x1f) << "gzip's magic bytes: not decoded";
  EXPECT_EQ(static_cast<unsigned char>(response->body[1]), 0x8b);
}

TEST_F(DecompressionTest, EveryCodingIsDecodedForABufferedResponse) {
  auto client = make_client(Decompression{.enabled = true});
  for (const auto& coded : kCoded) {
    auto response = client->request(get(url(coded.route)));
    ASSERT_TRUE(response) << coded.route << ": " << response.error().to_string();
    EXPECT_EQ(response->headers.get("content-encoding"), coded.coding) << "headers stay as sent";
    auto body = json::parse(response->body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << coded.route << ": " << response->body.substr(0, 40);
    EXPECT_EQ(body[coded.flag], true) << coded.route;
    EXPECT_EQ(body["headers"]["Accept-Encoding"], "gzip, deflate, br, zstd") << coded.route;
  }
}

TEST_F(DecompressionTest, EveryCodingIsDecodedForAStreamedResponse) {
  for (const auto& coded : kCoded) {
    auto stream = client_->stream(get(url(coded.route)).decompress());
    ASSERT_TRUE(stream) << coded.route << ": " << stream.error().to_string();
    std::string body;
    std::array<char, 7> small{};  // many small reads: the decoder resumes mid-stream each time
    for (;;) {
      auto read = stream->read(small);
      ASSERT_TRUE(read) << coded.route << ": " << read.error().to_string();
      if (*read == 0) break;
      body.append(small.data(), *read);
    }
    EXPECT_EQ(json::parse(body)[coded.flag], true) << coded.route;
  }
}

TEST_F(DecompressionTest, TheCallersOwnAcceptEncodingIsKept) {
  auto response = client_->request(get(url("/gzip")).header("Accept-Encoding", "gzip").decompress());
  ASSERT_TRUE(response) << response.error().to_string();
  auto body = json::parse(response->body, nullptr, false);
  ASSERT_FALSE(body.is_discarded());
  EXPECT_EQ(body["headers"]["Accept-Encoding"], "gzip");
}

TEST_F(DecompressionTest, ABombFailsWithBodyTooLargeAndTheConnectionCarriesOn) {
  auto client = make_client(Decompression{.enabled = true});
  for (const char* coding : {"gzip", "zstd", "br"}) {
    auto response = client->request(get(url(fmt::format("/bomb/{}?size={}", coding, 512u << 20))));
    ASSERT_FALSE(response) << coding << ": a 512 MiB body was delivered";
    EXPECT_EQ(response.error().kind(), ErrorKind::body_too_large) << coding;
    EXPECT_NE(response.error().message().find("decompression bomb"), std::string::npos) << response.error().message();
  }
  auto after = client->request(get(url("/gzip")));
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_TRUE(after->transfer.connection_reused) << "the bombs did not cost the connection";
}

TEST_F(DecompressionTest, TheDecodedSizeLimitStopsAStreamedBody) {
  auto stream = client_->stream(get(url("/bomb/gzip?size=8388608"))
                                    .decompress(Decompression{.enabled = true, .max_decoded_bytes = 1 << 20}));
  ASSERT_TRUE(stream) << stream.error().to_string();
  auto body = stream->read_all();
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().kind(), ErrorKind::body_too_large);
}

TEST_F(DecompressionTest, ACorruptOrTruncatedBodyFailsWithDecompressionFailed) {
  auto client = make_client(Decompression{.enabled = true});
  for (const char* target : {"/corrupt/gzip", "/corrupt/gzip?truncate=1", "/corrupt/zstd", "/corrupt/deflate"}) {
    auto response = client->request(get(url(target)));
    ASSERT_FALSE(response) << target;
    EXPECT_EQ(response.error().kind(), ErrorKind::decompression_failed) << target;
  }
  auto truncated = client->request(get(url("/corrupt/br?truncate=1")));
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.error().message().find("truncated"), std::string::npos) << truncated.error().message();
}

TEST_F(DecompressionTest, HeadWithAContentEncodingIsFine) {
  auto response = client_->request(head(url("/gzip")).decompress());
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "");
}

}  // namespace
}  // namespace quiver::test

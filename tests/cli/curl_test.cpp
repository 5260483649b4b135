// libcurl (GnuTLS + ngtcp2 build from bookworm-backports) as a client of `quiver serve`, over HTTP/3, and
// over HTTP/2 and HTTP/1.1 (the server's TCP side): another implementation's view of our server.
#include <curl/curl.h>

#include <csignal>

#include <fmt/format.h>

#include "cli/cli_fixture.hpp"
#include "cli/serve_process.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  long http_version = 0;
  std::string body;
  std::string error;
};

std::size_t append(char* data, std::size_t size, std::size_t count, void* into) {
  static_cast<std::string*>(into)->append(data, size * count);
  return size * count;
}

// One request over HTTP/3 only (or `version`), trusting `ca_file`; a POST when `post_body` is set.
CurlResult curl_h3(const std::string& url, const std::string& ca_file, const std::string* post_body = nullptr,
                   long version = CURL_HTTP_VERSION_3ONLY, std::string* headers = nullptr) {
  CurlResult result;
  CURL* curl = curl_easy_init();
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, version);
  if (headers) {
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, headers);
  }
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (post_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
  }
  result.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &result.http_version);
  result.error = error;
  curl_easy_cleanup(curl);
  return result;
}

class CurlClient : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  static void TearDownTestSuite() { curl_global_cleanup(); }

  // GET /bytes/N and a 64 KB POST to /echo, both byte-identical.
  static void exchange(const ServeProcess& serve, const std::string& ca_file) {
    auto download = curl_h3(serve.url("/bytes/100000"), ca_file);
    ASSERT_EQ(download.code, CURLE_OK) << curl_easy_strerror(download.code) << ": " << download.error;
    EXPECT_EQ(download.status, 200);
    EXPECT_EQ(download.http_version, CURL_HTTP_VERSION_3);
    EXPECT_EQ(download.body, deterministic_bytes(0, 100000));

    const std::string body = deterministic_bytes(11, 64 * 1024);
    auto echo = curl_h3(serve.url("/echo"), ca_file, &body);
    ASSERT_EQ(echo.code, CURLE_OK) << curl_easy_strerror(echo.code) << ": " << echo.error;
    EXPECT_EQ(echo.status, 200);
    EXPECT_TRUE(echo.body == body) << "echo differs: " << echo.body.size() << " bytes";
  }

  // The same over HTTP/2 (TLS over TCP, ALPN h2) or `version`; the response headers go to `headers`.
  static void exchange_h2(const ServeProcess& serve, const std::string& ca_file, std::string& headers,
                          long version = CURL_HTTP_VERSION_2TLS) {
    const long expected = version == CURL_HTTP_VERSION_2TLS ? CURL_HTTP_VERSION_2_0 : version;
    auto download = curl_h3(serve.url("/bytes/100000"), ca_file, nullptr, version, &headers);
    ASSERT_EQ(download.code, CURLE_OK) << curl_easy_strerror(download.code) << ": " << download.error;
    EXPECT_EQ(download.status, 200);
    EXPECT_EQ(download.http_version, expected);
    EXPECT_EQ(download.body, deterministic_bytes(0, 100000));

    const std::string body = deterministic_bytes(11, 2 * 1024 * 1024);  // large enough for expect: 100-continue
    auto echo = curl_h3(serve.url("/echo"), ca_file, &body, version);
    ASSERT_EQ(echo.code, CURLE_OK) << curl_easy_strerror(echo.code) << ": " << echo.error;
    EXPECT_EQ(echo.status, 200);
    EXPECT_EQ(echo.http_version, expected);
    EXPECT_TRUE(echo.body == body) << "echo differs: " << echo.body.size() << " bytes";
  }
};

TEST_F(CurlClient, GetAndPostAgainstServeWithTheTestCertificate) {
  ServeProcess serve({"--cert", data_file("server.pem"), "--key", data_file("server-key.pem")});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  exchange(serve, data_file("ca.pem"));
  auto result = serve.stop(SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.out.find("] POST /echo 200 65536 bytes"), std::string::npos) << result.out;
}

TEST_F(CurlClient, GetAndPostAgainstServeWithItsSelfSignedCertificate) {
  ServeProcess serve({});
  ASSERT_FALSE(serve.generated_certificate().empty()) << serve.describe();
  exchange(serve, serve.generated_certificate());
  EXPECT_EQ(serve.stop(SIGTERM).exit_code, 0);
}

TEST_F(CurlClient, Http2AgainstServeAdvertisesHttp3) {
  ServeProcess serve({"--cert", data_file("server.pem"), "--key", data_file("server-key.pem")});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  std::string headers;
  exchange_h2(serve, data_file("ca.pem"), headers);
  EXPECT_NE(headers.find(fmt::format("alt-svc: h3=\":{}\"; ma=86400", serve.port())), std::string::npos) << headers;
  auto result = serve.stop(SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.out.find("] POST /echo 200 2097152 bytes"), std::string::npos) << result.out;
}

TEST_F(CurlClient, Http11AgainstServeAdvertisesHttp3) {
  ServeProcess serve({"--cert", data_file("server.pem"), "--key", data_file("server-key.pem")});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  std::string headers;
  exchange_h2(serve, data_file("ca.pem"), headers, CURL_HTTP_VERSION_1_1);
  EXPECT_TRUE(headers.starts_with("HTTP/1.1 200 OK\r\n")) << headers;
  EXPECT_NE(headers.find(fmt::format("alt-svc: h3=\":{}\"; ma=86400", serve.port())), std::string::npos) << headers;
  auto result = serve.stop(SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.out.find("] POST /echo 200 2097152 bytes"), std::string::npos) << result.out;
}

TEST_F(CurlClient, Http2AgainstServeWithHttp3Off) {
  ServeProcess serve({"--no-h3"});
  ASSERT_FALSE(serve.generated_certificate().empty()) << serve.describe();
  std::string headers;
  exchange_h2(serve, serve.generated_certificate(), headers);
  EXPECT_EQ(headers.find("alt-svc"), std::string::npos) << headers;
  auto h3 = curl_h3(serve.url("/bytes/1"), serve.generated_certificate());
  EXPECT_NE(h3.code, CURLE_OK) << "HTTP/3 is off";
  EXPECT_EQ(serve.stop(SIGTERM).exit_code, 0);
}

}  // namespace
}  // namespace quiver::test

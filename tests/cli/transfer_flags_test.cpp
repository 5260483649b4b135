// -L/--max-redirs, --compressed and -w/--write-out of the built `quiver` against the project's server,
// and the same command lines through libcurl (HTTP/3, the curl reference) for the -w fields that do not
// depend on time.
#include <curl/curl.h>

#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_fixture.hpp"
#include "cli/serve_process.hpp"

namespace quiver::test {
namespace {

using nlohmann::json;

class TransferFlagsTest : public CliServerTest {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  static void TearDownTestSuite() { curl_global_cleanup(); }
};

constexpr const char* kStableFields =
    "%{http_code} %{num_redirects} %{url_effective} %{content_type} %{remote_ip} %{remote_port} %{http_version}";

// What libcurl reports for the same request: the -w fields kStableFields names, in that order.
std::string curl_stable_fields(const std::string& url, bool follow, const std::string& ca_file) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_3ONLY));
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, std::size_t size, std::size_t count, void*) { return size * count; });
  const CURLcode code = curl_easy_perform(curl);
  long status = 0, redirects = 0, port = 0, version = 0;
  char* effective = nullptr;
  char* type = nullptr;
  char* ip = nullptr;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(curl, CURLINFO_REDIRECT_COUNT, &redirects);
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &ip);
  curl_easy_getinfo(curl, CURLINFO_PRIMARY_PORT, &port);
  curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &version);
  auto fields = code != CURLE_OK ? std::string(curl_easy_strerror(code))
                                 : fmt::format("{:03d} {} {} {} {} {} {}", status, redirects, effective ? effective : "",
                                               type ? type : "", ip ? ip : "", port, version == CURL_HTTP_VERSION_3 ? "3" : "?");
  curl_easy_cleanup(curl);
  return fields;
}

TEST_F(TransferFlagsTest, WriteOutFieldsAgreeWithLibcurl) {
  const std::pair<std::string, bool> cases[] = {
      {"/get", false}, {"/redirect/2", false}, {"/redirect/2", true}, {"/absolute-redirect/1", true}, {"/status/404", false}};
  for (const auto& [target, follow] : cases) {
    std::vector<std::string> args{"-s", "-o", "/dev/null", "--cacert", ca_file(), "-w", kStableFields};
    if (follow) args.push_back("-L");
    args.push_back(url(target));
    auto result = quiver(args);
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, curl_stable_fields(url(target), follow, ca_file())) << target << (follow ? " -L" : "");
  }
}

TEST_F(TransferFlagsTest, WriteOutTimesAreOrderedSecondsAndEscapesWork) {
  auto result = quiver({"-s", "-o", "/dev/null", "--cacert", ca_file(), "-w",
                        "%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}\\n"
                        "%{size_download} %{exitcode} 100%%\\t.",
                        url("/bytes/1234")});
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  std::smatch m;
  const std::regex shape(R"((\d+\.\d{6}) (\d+\.\d{6}) (\d+\.\d{6}) (\d+\.\d{6}) (\d+\.\d{6})\n1234 0 100%\t\.)");
  ASSERT_TRUE(std::regex_match(result.out, m, shape)) << result.out;
  for (int i = 1; i < 5; ++i) EXPECT_LE(std::stod(m[i]), std::stod(m[i + 1])) << result.out;
  EXPECT_GT(std::stod(m[2]), 0.0) << "a connection was made";
}

TEST_F(TransferFlagsTest, WriteOutFromAFileAndAfterAFailure) {
  TempDir dir;
  auto format = dir.write("format.txt", "code=%{http_code} exit=%{exitcode} msg=%{errormsg}");
  auto result = quiver({"-s", "--cacert", ca_file(), "-w", "@" + format, "-L", "--max-redirs", "1", url("/redirect/3")});
  EXPECT_EQ(result.exit_code, 47) << describe(result);
  EXPECT_TRUE(result.out.starts_with("code=000 exit=47 msg=maximum (1) redirects followed")) << result.out;
  auto missing = quiver({"--cacert", ca_file(), "-w", "@" + (dir.path() / "none").string(), url("/get")});
  EXPECT_EQ(missing.exit_code, 26) << describe(missing);
}

TEST_F(TransferFlagsTest, LocationFollowsAndMaxRedirsStops) {
  auto followed = quiver({"--cacert", ca_file(), "-L", url("/redirect/3")});
  ASSERT_EQ(followed.exit_code, 0) << describe(followed);
  EXPECT_EQ(json::parse(followed.out)["url"], url("/get"));

  auto not_followed = quiver({"--cacert", ca_file(), "-w", "%{http_code}", url("/redirect/1")});
  ASSERT_EQ(not_followed.exit_code, 0) << describe(not_followed);
  EXPECT_TRUE(not_followed.out.ends_with("302")) << not_followed.out;

  auto stopped = quiver({"--cacert", ca_file(), "-L", "--max-redirs", "2", url("/redirect/3")});
  EXPECT_EQ(stopped.exit_code, 47) << describe(stopped);
  EXPECT_NE(stopped.err.find("quiver: too_many_redirects: maximum (2) redirects followed"), std::string::npos) << stopped.err;

  auto downgrade = quiver({"--cacert", ca_file(), "-L", url("/redirect-to?url=http://127.0.0.1/get")});
  EXPECT_EQ(downgrade.exit_code, 1) << describe(downgrade);
  EXPECT_NE(downgrade.err.find("https to http"), std::string::npos) << downgrade.err;
}

TEST_F(TransferFlagsTest, CompressedDecodesEveryCodingAndRefusesABomb) {
  for (const char* route : {"/gzip", "/deflate", "/brotli", "/zstd"}) {
    auto result = quiver({"--cacert", ca_file(), "--compressed", url(route)});
    ASSERT_EQ(result.exit_code, 0) << route << ": " << describe(result);
    auto body = json::parse(result.out, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << route << ": " << result.out.substr(0, 60);
    EXPECT_EQ(body["headers"]["Accept-Encoding"], "gzip, deflate, br, zstd") << route;
  }
  auto bomb = quiver({"--cacert", ca_file(), "--compressed", "-o", "/dev/null", url("/bomb/gzip?size=268435456")});
  EXPECT_EQ(bomb.exit_code, 63) << describe(bomb);
  EXPECT_NE(bomb.err.find("body_too_large"), std::string::npos) << bomb.err;
  auto corrupt = quiver({"--cacert", ca_file(), "--compressed", "-o", "/dev/null", url("/corrupt/gzip")});
  EXPECT_EQ(corrupt.exit_code, 61) << describe(corrupt);
}

TEST_F(TransferFlagsTest, ResolveAndConnectToSendThePacketsElsewhere) {
  const auto port = server_->port();
  auto resolved = quiver({"--cacert", ca_file(), "--resolve", fmt::format("localhost:{}:127.0.0.1", port), "-w",
                          "\n%{remote_ip}", fmt::format("https://localhost:{}/get", port)});
  ASSERT_EQ(resolved.exit_code, 0) << describe(resolved);
  EXPECT_TRUE(resolved.out.ends_with("\n127.0.0.1")) << resolved.out;

  auto moved = quiver({"--cacert", ca_file(), "--connect-to", fmt::format("localhost:1:127.0.0.1:{}", port),
                       "https://localhost:1/get"});
  ASSERT_EQ(moved.exit_code, 0) << describe(moved);
  EXPECT_EQ(json::parse(moved.out)["headers"]["Host"], "localhost:1") << "the URL's authority is kept";

  auto unresolvable = quiver({"-k", "--connect-timeout", "2", "--resolve", fmt::format("quiver-test.invalid:{}:[::1]", port),
                              "--resolve", fmt::format("quiver-test.invalid:{}:127.0.0.1", port),
                              fmt::format("https://quiver-test.invalid:{}/get", port)});
  EXPECT_NE(unresolvable.exit_code, 6) << "the first --resolve applies (::1, where nothing listens), not DNS: "
                                       << describe(unresolvable);
  EXPECT_NE(unresolvable.exit_code, 0) << "only the first --resolve for a host and port applies";

  for (const char* bad : {"--resolve=nonsense", "--resolve=h:0:1.2.3.4", "--connect-to=a:b"}) {
    auto result = quiver({bad, url("/get")});
    EXPECT_EQ(result.exit_code, 2) << bad << ": " << describe(result);
  }
}

TEST_F(TransferFlagsTest, CapathTrustsTheCertificatesOfADirectory) {
  TempDir dir;
  auto without = quiver({"--cacert", ca_file(), "--capath", dir.path().string(), url("/get")});
  EXPECT_NE(without.exit_code, 0) << "an empty directory holds no anchor: " << describe(without);
  dir.write("test-ca.pem", read_file(ca_file()));
  // The system store stays (as curl's --capath); the test CA is only in the directory.
  auto trusted = quiver({"--capath", dir.path().string(), "-w", "%{http_code}", "-o", "/dev/null", url("/get")});
  ASSERT_EQ(trusted.exit_code, 0) << describe(trusted);
  EXPECT_EQ(trusted.out, "200");
  auto missing = quiver({"--capath", (dir.path() / "none").string(), url("/get")});
  EXPECT_EQ(missing.exit_code, 77) << describe(missing);
}

TEST_F(TransferFlagsTest, PinnedPubkeyMustMatchTheServersKey) {
  // A pin from a first, unpinned connection would prove nothing; the wrong pin's error names the real one.
  auto wrong = quiver({"--cacert", ca_file(), "--pinnedpubkey", "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", url("/get")});
  EXPECT_EQ(wrong.exit_code, 60) << describe(wrong);
  const auto at = wrong.err.find("public key sha256//");
  ASSERT_NE(at, std::string::npos) << wrong.err;
  const auto pin = wrong.err.substr(at + 11, wrong.err.find(' ', at + 11) - at - 11);
  auto right = quiver({"--cacert", ca_file(), "--pinnedpubkey", "sha256//x;" + pin, "-o", "/dev/null", url("/get")});
  EXPECT_EQ(right.exit_code, 0) << pin << ": " << describe(right);
  auto file = quiver({"--pinnedpubkey", "key.pem", url("/get")});
  EXPECT_EQ(file.exit_code, 2) << describe(file);
}

TEST_F(TransferFlagsTest, ServePrintsThePinOfItsGeneratedCertificate) {
  ServeProcess serve({});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  std::smatch pin;
  ASSERT_TRUE(std::regex_search(serve.banner(), pin, std::regex("public key (sha256//[A-Za-z0-9+/=]{44})"))) << serve.banner();
  auto pinned = quiver({"--cacert", serve.generated_certificate(), "--pinnedpubkey", pin[1], "-o", "/dev/null", serve.url("/get")});
  EXPECT_EQ(pinned.exit_code, 0) << describe(pinned);
  auto other = quiver({"--cacert", serve.generated_certificate(), "--pinnedpubkey",
                       "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", serve.url("/get")});
  EXPECT_EQ(other.exit_code, 60) << describe(other);
}

}  // namespace
}  // namespace quiver::test

// `quiver serve` as a process: the port from its first line, requests through the library's Client, the
// access log, and a graceful stop on SIGTERM/SIGINT.
#include <csignal>
#include <future>
#include <regex>

#include <asio/use_future.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_fixture.hpp"
#include "cli/serve_process.hpp"
#include "quiver/client.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

ClientOptions trusting(const std::string& ca_file) {
  ClientOptions options;
  options.defaults.connection.tls.ca_file = ca_file;
  options.defaults.request_timeout = 5s;
  return options;
}

TEST(Serve, WithTheTestCertificate) {
  ServeProcess serve({"--cert", data_file("server.pem"), "--key", data_file("server-key.pem")});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  {
    Client client(trusting(data_file("ca.pem")));
    auto response = client.request(get(serve.url("/bytes/100")));
    ASSERT_TRUE(response) << response.error().to_string();
    EXPECT_EQ(response->body, deterministic_bytes(0, 100));
    auto echo = client.request(post(serve.url("/echo")).body("hello"));
    ASSERT_TRUE(echo) << echo.error().to_string();
    EXPECT_EQ(echo->body, "hello");
  }
  auto result = serve.stop(SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_TRUE(std::regex_search(result.out, std::regex(R"(\] GET /bytes/100 200 100 bytes [0-9.]+ ms)"))) << result.out;
  EXPECT_NE(result.out.find("] POST /echo 200 5 bytes"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("quiver serve: stopped"), std::string::npos) << result.out;
}

// --goaway-after N: each connection serves N requests, then GOAWAY; the client's refused requests are
// retried on new connections. Every request succeeds and the access log shows each one exactly once.
TEST(Serve, GoawayAfterServesEachRequestOnceAcrossConnections) {
  ServeProcess serve({"--cert", data_file("server.pem"), "--key", data_file("server-key.pem"), "--goaway-after", "4"});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  constexpr int requests = 30;
  {
    Client client(trusting(data_file("ca.pem")));
    std::vector<std::future<Result<Response>>> replies;
    for (int i = 0; i < requests; ++i) {
      replies.push_back(client.async_request(*get(serve.url(fmt::format("/bytes/{}", 100 + i))).build(), asio::use_future));
    }
    for (int i = 0; i < requests; ++i) {
      auto response = replies[i].get();
      ASSERT_TRUE(response) << i << ": " << response.error().to_string();
      EXPECT_EQ(response->body.size(), static_cast<std::size_t>(100 + i));
    }
  }
  auto result = serve.stop(SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  for (int i = 0; i < requests; ++i) {
    const auto line = fmt::format("] GET /bytes/{} 200 ", 100 + i);
    const auto first = result.out.find(line);
    ASSERT_NE(first, std::string::npos) << line << "\n" << result.out;
    EXPECT_EQ(result.out.find(line, first + 1), std::string::npos) << "served twice: " << line << "\n" << result.out;
  }
}

TEST(Serve, GeneratesASelfSignedCertificateAndPrintsItsFingerprint) {
  ServeProcess serve({});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  const std::string& cert = serve.generated_certificate();
  ASSERT_FALSE(cert.empty()) << serve.describe();
  EXPECT_TRUE(std::regex_search(serve.banner(), std::regex("SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}"))) << serve.banner();
  {
    Client client(trusting(cert));  // verification on, trusting exactly that certificate
    auto response = client.request(get(serve.url("/bytes/10")));
    ASSERT_TRUE(response) << response.error().to_string();
    EXPECT_EQ(response->status, 200);
    auto by_name = client.request(get(fmt::format("https://localhost:{}/bytes/1", serve.port())));
    ASSERT_TRUE(by_name) << by_name.error().to_string();
  }
  auto result = serve.stop(SIGINT);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_FALSE(std::filesystem::exists(cert)) << "the temporary certificate outlived the server";
}

TEST(Serve, GracefulStopLetsARequestInFlightFinish) {
  ServeProcess serve({"--cert", data_file("server.pem"), "--key", data_file("server-key.pem")});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  Client client(trusting(data_file("ca.pem")));
  // The response head has arrived: the server is processing the request when it is told to stop.
  auto slow = client.stream(*get(serve.url("/stream/5?size=10&delay_ms=100")).build());
  ASSERT_TRUE(slow) << slow.error().to_string();
  auto result = serve.stop(SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  auto body = slow->read_all();
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_EQ(body->size(), 50u);
  EXPECT_NE(result.out.find("draining 1 connection"), std::string::npos) << result.out;
}

// httpbin's routes on `quiver serve`, asked by the `quiver` command as a curl user would ask httpbin.
TEST(Serve, AnswersHttpbinRoutesToTheQuiverCommand) {
  ServeProcess serve({"--cert", data_file("server.pem"), "--key", data_file("server-key.pem")});
  ASSERT_NE(serve.port(), 0) << serve.describe();
  const auto ca = data_file("ca.pem");

  auto got = quiver({"--cacert", ca, "-H", "X-Asked-By: cli", serve.url("/get?show=1")});
  EXPECT_EQ(got.exit_code, 0) << describe(got);
  auto got_json = nlohmann::json::parse(got.out, nullptr, false);
  ASSERT_FALSE(got_json.is_discarded()) << got.out;
  EXPECT_EQ(got_json["args"]["show"], "1");
  EXPECT_EQ(got_json["headers"]["X-Asked-By"], "cli");
  EXPECT_EQ(got_json["url"], serve.url("/get?show=1"));

  auto posted = quiver({"--cacert", ca, "-d", "name=quiver&kind=cli", serve.url("/post")});  // -d: a urlencoded form
  EXPECT_EQ(posted.exit_code, 0) << describe(posted);
  auto posted_json = nlohmann::json::parse(posted.out, nullptr, false);
  ASSERT_FALSE(posted_json.is_discarded()) << posted.out;
  EXPECT_EQ(posted_json["form"], nlohmann::json::parse(R"({"name": "quiver", "kind": "cli"})"));

  auto cookie = quiver({"-i", "--cacert", ca, serve.url("/cookies/set?flavour=oat")});
  EXPECT_EQ(cookie.exit_code, 0) << describe(cookie);
  EXPECT_TRUE(cookie.out.starts_with("HTTP/3 302")) << cookie.out;
  EXPECT_NE(cookie.out.find("set-cookie: flavour=oat; Path=/"), std::string::npos) << cookie.out;
  EXPECT_NE(cookie.out.find("location: /cookies"), std::string::npos) << cookie.out;

  auto denied = quiver({"-f", "--cacert", ca, serve.url("/basic-auth/user/pass")});
  EXPECT_EQ(denied.exit_code, 22) << describe(denied);

  auto result = serve.stop(SIGTERM);
  EXPECT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_NE(result.out.find("] GET /get?show=1 200 "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("] POST /post 200 "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("] GET /basic-auth/user/pass 401 "), std::string::npos) << result.out;
}

TEST(Serve, HelpListsTheHttpbinRoutes) {
  auto help = quiver({"serve", "--help"});
  EXPECT_EQ(help.exit_code, 0) << describe(help);
  for (const std::string route : {"/get", "/anything", "/cookies/set", "/basic-auth/USER/PASSWD", "/range/N", "/drip"})
    EXPECT_NE(help.out.find(route), std::string::npos) << route << "\n" << help.out;
}

TEST(Serve, UnreadableCertificateExits1) {
  auto result = quiver({"serve", "--port", "0", "--cert", "/nonexistent/c.pem", "--key", "/nonexistent/k.pem"});
  EXPECT_EQ(result.exit_code, 1) << describe(result);
  EXPECT_TRUE(result.err.starts_with("quiver: serve: ")) << result.err;
}

}  // namespace
}  // namespace quiver::test

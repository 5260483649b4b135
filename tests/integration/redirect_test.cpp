// Redirects through the real Client against the project's server (httpbin's /redirect routes): off by
// default, followed per client or per request, methods and bodies as curl, credentials kept within an
// origin only, https -> http refused, loops stopped at the maximum; for buffered and streamed responses.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <thread>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class RedirectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = test_server_options();
    options.access_log = log_.sink();
    server_ = std::make_unique<server::Server>(options);
    start_or_throw(*server_);
    client_ = make_client(RedirectPolicy{});
  }

  static std::unique_ptr<Client> make_client(RedirectPolicy redirects) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.request_timeout = 10s;
    options.redirects = redirects;
    return std::make_unique<Client>(options);
  }

  std::string url(const std::string& target, const server::Server* server = nullptr) const {
    return fmt::format("https://127.0.0.1:{}{}", (server ? server : server_.get())->port(), target);
  }

  Response send(Client& client, const RequestBuilder& builder) {
    auto response = client.request(builder);
    EXPECT_TRUE(response) << response.error().to_string();
    return response ? std::move(*response) : Response{};
  }

  // The server's access log once it has at least `count` entries (a stream is logged when it closes,
  // which may be just after the client has its answer), within a bounded wait.
  std::vector<server::AccessLogEntry> entries_once(std::size_t count) const {
    for (int i = 0; i < 2000 && log_.entries().size() < count; ++i) std::this_thread::sleep_for(5ms);
    return log_.entries();
  }

  static json body_json(const Response& response) {
    auto parsed = json::parse(response.body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << response.body;
    return parsed.is_discarded() ? json::object() : parsed;
  }

  AccessLog log_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(RedirectTest, OffByDefaultTheRedirectIsTheAnswer) {
  auto response = send(*client_, get(url("/redirect/2")));
  EXPECT_EQ(response.status, 302);
  EXPECT_EQ(response.headers.get("location"), "/relative-redirect/1");
  EXPECT_EQ(response.transfer.redirects, 0);
  EXPECT_EQ(response.transfer.url.to_string(), url("/redirect/2"));
}

TEST_F(RedirectTest, TheClientsPolicyFollowsRelativeAndAbsoluteLocations) {
  auto client = make_client(RedirectPolicy{.follow = true});
  for (const char* start : {"/redirect/3", "/absolute-redirect/3"}) {
    auto response = send(*client, get(url(start)));
    ASSERT_EQ(response.status, 200) << start;
    EXPECT_EQ(response.transfer.redirects, 3) << start;
    EXPECT_EQ(response.transfer.url.to_string(), url("/get")) << start;
    EXPECT_EQ(body_json(response)["url"], url("/get")) << start;
  }
}

TEST_F(RedirectTest, TheRequestsPolicyWinsOverTheClients) {
  auto followed = send(*client_, get(url("/redirect/1")).follow_redirects());
  EXPECT_EQ(followed.status, 200);
  EXPECT_EQ(followed.transfer.redirects, 1);

  auto following_client = make_client(RedirectPolicy{.follow = true});
  auto request = get(url("/redirect/1")).build().value();
  request.redirects = RedirectPolicy{};  // not for this one
  auto answer = following_client->request(std::move(request));
  ASSERT_TRUE(answer) << answer.error().to_string();
  EXPECT_EQ(answer->status, 302);
}

TEST_F(RedirectTest, ALocationWithDotSegmentsResolvesAsRfc3986) {
  auto response = send(*client_, get(url("/redirect-to?url=../anything/a/./b/../c%3Fx%3D1")).follow_redirects());
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(body_json(response)["url"], url("/anything/a/c?x=1"));
}

TEST_F(RedirectTest, ALoopStopsAtTheMaximumWithTooManyRedirects) {
  auto response = client_->request(get(url("/redirect/10")).follow_redirects(3));
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::too_many_redirects);
  EXPECT_NE(response.error().message().find("maximum (3) redirects"), std::string::npos) << response.error().message();
  EXPECT_EQ(entries_once(4).size(), 4u) << "the first request and three redirects were sent, no more";
}

TEST_F(RedirectTest, HttpsToHttpIsRefused) {
  auto target = fmt::format("http://127.0.0.1:{}/get", server_->port());
  auto response = client_->request(get(url("/redirect-to?url=" + target)).follow_redirects());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::redirect_failed);
  EXPECT_NE(response.error().message().find("https to http"), std::string::npos) << response.error().message();
  EXPECT_EQ(entries_once(1).size(), 1u);
}

TEST_F(RedirectTest, PostBecomesGetOn302ButKeepsItsBodyOn307And308) {
  auto turned = send(*client_, post(url("/redirect-to?url=/anything")).body("payload").follow_redirects());
  ASSERT_EQ(turned.status, 200);
  EXPECT_EQ(body_json(turned)["method"], "GET");
  EXPECT_EQ(body_json(turned)["data"], "");
  for (int status : {307, 308}) {
    auto kept = send(*client_, post(url(fmt::format("/redirect-to?url=/anything&status_code={}", status)))
                                   .header("content-type", "text/plain")
                                   .body("payload")
                                   .follow_redirects());
    ASSERT_EQ(kept.status, 200) << status;
    EXPECT_EQ(body_json(kept)["method"], "POST") << status;
    EXPECT_EQ(body_json(kept)["data"], "payload") << status;
  }
}

TEST_F(RedirectTest, A307WithABodyThatCannotBeReplayedFailsClearly) {
  auto sent = std::make_shared<bool>(false);
  auto response = client_->request(post(url("/redirect-to?url=/anything&status_code=307"))
                                       .body_from_producer([sent]() -> std::optional<std::string> {
                                         if (std::exchange(*sent, true)) return std::nullopt;
                                         return std::string("once");
                                       })
                                       .follow_redirects());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind(), ErrorKind::redirect_failed);
  EXPECT_NE(response.error().message().find("cannot be replayed"), std::string::npos) << response.error().message();
}

TEST_F(RedirectTest, CredentialsStayWithinTheOrigin) {
  server::Server other(test_server_options());
  start_or_throw(other);
  auto with_credentials = [](RequestBuilder builder) {
    return std::move(builder).header("Authorization", "Bearer secret").header("Cookie", "id=1").header("X-Kept", "yes").follow_redirects();
  };
  auto same = send(*client_, with_credentials(get(url("/redirect-to?url=/anything"))));
  ASSERT_EQ(same.status, 200);
  EXPECT_EQ(body_json(same)["headers"]["Authorization"], "Bearer secret");
  EXPECT_EQ(body_json(same)["headers"]["Cookie"], "id=1");

  auto elsewhere = send(*client_, with_credentials(get(url("/redirect-to?url=" + url("/anything", &other)))));
  ASSERT_EQ(elsewhere.status, 200);
  auto headers = body_json(elsewhere)["headers"];
  EXPECT_FALSE(headers.contains("Authorization")) << headers.dump();
  EXPECT_FALSE(headers.contains("Cookie")) << headers.dump();
  EXPECT_EQ(headers["X-Kept"], "yes");
  EXPECT_EQ(elsewhere.transfer.url.to_string(), url("/anything", &other));
  EXPECT_EQ(elsewhere.transfer.peer_port, other.port());
}

TEST_F(RedirectTest, AStreamedResponseFollowsToo) {
  auto stream = client_->stream(get(url("/redirect/2")).follow_redirects());
  ASSERT_TRUE(stream) << stream.error().to_string();
  EXPECT_EQ(stream->status(), 200);
  EXPECT_EQ(stream->transfer().redirects, 2);
  EXPECT_EQ(stream->transfer().url.to_string(), url("/get"));
  auto body = stream->read_all();
  ASSERT_TRUE(body) << body.error().to_string();
  EXPECT_EQ(json::parse(*body)["url"], url("/get"));
}

TEST_F(RedirectTest, AsyncRequestsFollowAndCanBeCancelledBetweenHops) {
  auto followed = client_->async_request(get(url("/redirect/1")).follow_redirects().build().value()).get();
  ASSERT_TRUE(followed) << followed.error().to_string();
  EXPECT_EQ(followed->transfer.redirects, 1);

  // The second hop waits 5 s at the server; the cancellation reaches the exchange after the first hop.
  asio::cancellation_signal signal;
  auto future = client_->async_request(
      get(url("/redirect-to?url=/delay/5000")).follow_redirects().build().value(),
      asio::bind_cancellation_slot(signal.slot(), asio::use_future));
  // Once the server has answered the first hop (the access log has it), cancel: whether the second hop
  // is on its way or about to be sent, the exchange ends cancelled instead of answering after 5 s.
  ASSERT_GE(entries_once(1).size(), 1u);
  signal.emit(asio::cancellation_type::terminal);
  auto cancelled = future.get();
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().kind(), ErrorKind::cancelled);
}

}  // namespace
}  // namespace quiver::test

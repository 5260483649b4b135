// httpbin's everyday routes on the project's server (src/test_server/httpbin_routes.hpp), through the
// library's Client: httpbin's status codes, fields and JSON shapes, and HEAD on every one of them; each
// over HTTP/3, HTTP/2 and HTTP/1.1 (the server's TCP side), which must answer the same.
#include <gtest/gtest.h>

#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "quiver/client.hpp"
#include "support/loopback.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class HttpbinRoutesTest : public ::testing::TestWithParam<HttpVersion> {
 protected:
  void SetUp() override {
    server_ = std::make_unique<server::Server>(test_server_options());
    start_or_throw(*server_);
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.http_version = GetParam();
    options.defaults.request_timeout = 10s;
    client_ = std::make_unique<Client>(options);
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
  }

  // The response to `builder`; fails the test (and returns a 0-status response) on an error.
  Response send(const RequestBuilder& builder) {
    auto response = client_->request(builder);
    EXPECT_TRUE(response) << response.error().to_string();
    return response ? std::move(*response) : Response{};
  }
  Response fetch(const std::string& target) { return send(get(url(target))); }

  // The body as JSON, checking the response says it is JSON and its content-length is the body's.
  static json body_json(const Response& response) {
    EXPECT_EQ(response.headers.get("content-type"), "application/json");
    EXPECT_EQ(response.headers.get("content-length"), std::to_string(response.body.size()));
    auto parsed = json::parse(response.body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << response.body;
    return parsed.is_discarded() ? json::object() : parsed;
  }

  std::unique_ptr<server::Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_P(HttpbinRoutesTest, GetShowsArgsHeadersOriginAndUrl) {
  auto response = send(get(url("/get?a=1&a=2&b=x%20y+z&empty")).header("X-Thing", "one"));
  ASSERT_EQ(response.status, 200);
  auto body = body_json(response);
  EXPECT_EQ(body["args"], json::parse(R"({"a": ["1", "2"], "b": "x y z", "empty": ""})"));
  EXPECT_EQ(body["headers"]["X-Thing"], "one");
  EXPECT_EQ(body["headers"]["Host"], fmt::format("127.0.0.1:{}", server_->port()));
  EXPECT_FALSE(body["headers"].contains(":path")) << "pseudo-headers are not request fields";
  EXPECT_EQ(body["origin"], "127.0.0.1");
  EXPECT_EQ(body["url"], url("/get?a=1&a=2&b=x%20y+z&empty"));
  EXPECT_FALSE(body.contains("data")) << "/get has no body fields";
  EXPECT_TRUE(response.body.ends_with("}\n")) << "httpbin's JSON ends with a newline";
}

TEST_P(HttpbinRoutesTest, PostShowsTheBodyAsDataAndJson) {
  auto response = send(post(url("/post?q=1")).header("content-type", "application/json").body(R"({"x": [1, 2]})"));
  ASSERT_EQ(response.status, 200);
  auto body = body_json(response);
  EXPECT_EQ(body["data"], R"({"x": [1, 2]})");
  EXPECT_EQ(body["json"], json::parse(R"({"x": [1, 2]})"));
  EXPECT_EQ(body["form"], json::object());
  EXPECT_EQ(body["files"], json::object());
  EXPECT_EQ(body["args"]["q"], "1");
  EXPECT_EQ(body["headers"]["Content-Type"], "application/json");
}

TEST_P(HttpbinRoutesTest, PostParsesAnUrlencodedFormAndShowsBinaryDataAsADataUrl) {
  auto form = body_json(send(post(url("/post"))
                                 .header("content-type", "application/x-www-form-urlencoded")
                                 .body("name=J%C3%BCrgen+X&tag=a&tag=b")));
  EXPECT_EQ(form["form"], json::parse(R"({"name": "Jürgen X", "tag": ["a", "b"]})"));
  EXPECT_EQ(form["data"], "");
  EXPECT_TRUE(form["json"].is_null());

  auto binary = body_json(send(post(url("/post")).body(std::string("\xff\xfe\x00\x01", 4))));
  EXPECT_EQ(binary["data"], "data:application/octet-stream;base64,//4AAQ==");
  EXPECT_TRUE(binary["json"].is_null());
}

TEST_P(HttpbinRoutesTest, PutPatchAndDeleteAnswerTheirOwnMethod) {
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"PUT", "/put"}, {"PATCH", "/patch"}, {"DELETE", "/delete"}}) {
    SCOPED_TRACE(method);
    auto response = send(RequestBuilder(method, url(path)).body("payload"));
    ASSERT_EQ(response.status, 200);
    EXPECT_EQ(body_json(response)["data"], "payload");
    EXPECT_EQ(send(RequestBuilder("GET", url(path))).status, 405);
  }
}

TEST_P(HttpbinRoutesTest, AnythingAnswersAnyMethodOnAnySubpathAndNamesTheMethod) {
  for (const std::string method : {"GET", "POST", "PUT", "DELETE", "PATCH", "BREW"}) {
    SCOPED_TRACE(method);
    auto response = send(RequestBuilder(method, url("/anything/some/where?k=v")).body("b"));
    ASSERT_EQ(response.status, 200);
    auto body = body_json(response);
    EXPECT_EQ(body["method"], method);
    EXPECT_EQ(body["url"], url("/anything/some/where?k=v"));
    EXPECT_EQ(body["args"]["k"], "v");
    EXPECT_EQ(body["data"], "b");
  }
  EXPECT_EQ(body_json(fetch("/anything"))["method"], "GET");
}

TEST_P(HttpbinRoutesTest, AMethodTheRouteDoesNotTakeIs405WithAllowAndOptionsLists) {
  auto refused = send(post(url("/get")));
  EXPECT_EQ(refused.status, 405);
  EXPECT_EQ(refused.headers.get("allow"), "GET, HEAD, OPTIONS");
  auto options = send(RequestBuilder("OPTIONS", url("/post")));
  EXPECT_EQ(options.status, 200);
  EXPECT_EQ(options.headers.get("allow"), "POST, OPTIONS");
  EXPECT_TRUE(options.body.empty());
  EXPECT_EQ(send(head(url("/post"))).status, 405) << "HEAD only where GET is";
}

TEST_P(HttpbinRoutesTest, ResponseHeadersSetsTheFieldsAndShowsThemWithTheirLength) {
  auto response = fetch("/response-headers?X-Colour=blue&X-Many=1&X-Many=2&Server=httpbin");
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.get("x-colour"), "blue");
  EXPECT_EQ(response.headers.get_all("x-many"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_EQ(response.headers.get("server"), "httpbin");
  auto body = body_json(response);
  EXPECT_EQ(body["X-Colour"], "blue");
  EXPECT_EQ(body["X-Many"], json::parse(R"(["1", "2"])"));
  EXPECT_EQ(body["Content-Type"], "application/json");
  EXPECT_EQ(body["Content-Length"], std::to_string(response.body.size())) << "the length it states is its own";

  auto own_type = fetch("/response-headers?Content-Type=text/plain");
  EXPECT_EQ(own_type.headers.get_all("content-type"), (std::vector<std::string_view>{"text/plain"}));
  EXPECT_EQ(fetch("/response-headers?bad%0Aname=x").status, 400) << "a field a response cannot carry";
}

TEST_P(HttpbinRoutesTest, CookiesShowsTheCookieFields) {
  auto body = body_json(send(get(url("/cookies")).header("cookie", "a=1; b=two").header("cookie", "c=3")));
  EXPECT_EQ(body, json::parse(R"({"cookies": {"a": "1", "b": "two", "c": "3"}})"));
  EXPECT_EQ(body_json(fetch("/cookies")), json::parse(R"({"cookies": {}})"));
}

TEST_P(HttpbinRoutesTest, CookiesSetAndDeleteAnswerSetCookieAndRedirectToCookies) {
  auto set = fetch("/cookies/set?a=1&b=two");
  EXPECT_EQ(set.status, 302);
  EXPECT_EQ(set.headers.get("location"), "/cookies");
  EXPECT_EQ(set.headers.get_all("set-cookie"), (std::vector<std::string_view>{"a=1; Path=/", "b=two; Path=/"}));

  auto one = fetch("/cookies/set/name/value");
  EXPECT_EQ(one.status, 302);
  EXPECT_EQ(one.headers.get("set-cookie"), "name=value; Path=/");

  auto deleted = fetch("/cookies/delete?a");
  EXPECT_EQ(deleted.status, 302);
  EXPECT_EQ(deleted.headers.get("location"), "/cookies");
  EXPECT_EQ(deleted.headers.get("set-cookie"), "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/");
}

TEST_P(HttpbinRoutesTest, BasicAuthIs401WithAChallengeUnlessTheCredentialsMatch) {
  auto none = fetch("/basic-auth/user/pass");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers.get("www-authenticate"), "Basic realm=\"Fake Realm\"");
  EXPECT_EQ(send(get(url("/basic-auth/user/pass")).header("authorization", "Basic dXNlcjp3cm9uZw==")).status, 401)
      << "user:wrong";
  auto good = send(get(url("/basic-auth/user/pass")).header("authorization", "Basic dXNlcjpwYXNz"));  // user:pass
  ASSERT_EQ(good.status, 200);
  EXPECT_EQ(body_json(good), json::parse(R"({"authenticated": true, "user": "user"})"));
}

TEST_P(HttpbinRoutesTest, BearerIs401WithAChallengeWithoutAToken) {
  auto none = fetch("/bearer");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers.get("www-authenticate"), "Bearer");
  EXPECT_EQ(send(get(url("/bearer")).header("authorization", "Basic dXNlcjpwYXNz")).status, 401);
  auto good = send(get(url("/bearer")).header("authorization", "Bearer tok3n"));
  ASSERT_EQ(good.status, 200);
  EXPECT_EQ(body_json(good), json::parse(R"({"authenticated": true, "token": "tok3n"})"));
}

TEST_P(HttpbinRoutesTest, RangeHonoursRangeWith206And416) {
  auto whole = fetch("/range/30");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, deterministic_bytes(0, 30));
  EXPECT_EQ(whole.headers.get("accept-ranges"), "bytes");
  EXPECT_EQ(whole.headers.get("etag"), "\"range30\"");
  EXPECT_FALSE(whole.headers.contains("content-range"));

  struct Case {
    std::string range;
    std::size_t first, last;
  };
  for (const auto& c : std::vector<Case>{{"bytes=2-5", 2, 5}, {"bytes=25-", 25, 29}, {"bytes=-4", 26, 29},
                                         {"bytes=28-100", 28, 29}, {"bytes=0-0, 5-6", 0, 0}}) {
    SCOPED_TRACE(c.range);
    auto part = send(get(url("/range/30")).header("range", c.range));
    EXPECT_EQ(part.status, 206);
    EXPECT_EQ(part.body, deterministic_bytes(c.first, c.last - c.first + 1));
    EXPECT_EQ(part.headers.get("content-range"), fmt::format("bytes {}-{}/30", c.first, c.last));
    EXPECT_EQ(part.headers.get("content-length"), std::to_string(c.last - c.first + 1));
  }
  for (const std::string range : {"bytes=30-", "bytes=40-50", "bytes=-0"}) {
    SCOPED_TRACE(range);
    auto unsatisfiable = send(get(url("/range/30")).header("range", range));
    EXPECT_EQ(unsatisfiable.status, 416);
    EXPECT_EQ(unsatisfiable.headers.get("content-range"), "bytes */30");
    EXPECT_TRUE(unsatisfiable.body.empty());
  }
  EXPECT_EQ(send(get(url("/range/30")).header("range", "bytes=5-2")).status, 200) << "malformed: ignored";
  EXPECT_EQ(fetch("/range/0").status, 404);
  EXPECT_EQ(fetch("/range/102401").status, 404);
  EXPECT_EQ(fetch("/range/102400").body.size(), 102400u);
}

TEST_P(HttpbinRoutesTest, EtagAnswers304OnIfNoneMatchAnd412OnAnIfMatchMismatch) {
  auto plain = fetch("/etag/abc");
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.headers.get("etag"), "\"abc\"");
  EXPECT_EQ(body_json(plain)["url"], url("/etag/abc"));

  for (const std::string tags : {"\"abc\"", "\"x\", W/\"abc\"", "*"}) {
    SCOPED_TRACE(tags);
    auto not_modified = send(get(url("/etag/abc")).header("if-none-match", tags));
    EXPECT_EQ(not_modified.status, 304);
    EXPECT_EQ(not_modified.headers.get("etag"), "\"abc\"");
    EXPECT_TRUE(not_modified.body.empty());
  }
  EXPECT_EQ(send(get(url("/etag/abc")).header("if-none-match", "\"other\"")).status, 200);
  EXPECT_EQ(send(get(url("/etag/abc")).header("if-match", "\"other\"")).status, 412);
  EXPECT_EQ(send(get(url("/etag/abc")).header("if-match", "\"abc\"")).status, 200);
  EXPECT_EQ(send(get(url("/etag/abc")).header("if-match", "*")).status, 200);
}

TEST_P(HttpbinRoutesTest, CacheAnswers304ToAConditionalRequestAndCacheNSetsMaxAge) {
  auto fresh = fetch("/cache");
  EXPECT_EQ(fresh.status, 200);
  EXPECT_TRUE(std::regex_match(std::string(fresh.headers.get("last-modified").value_or("")),
                               std::regex(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)")))
      << fresh.headers.get("last-modified").value_or("(none)");
  EXPECT_TRUE(std::regex_match(std::string(fresh.headers.get("etag").value_or("")), std::regex(R"("[0-9a-f]{32}")")));
  EXPECT_EQ(body_json(fresh)["url"], url("/cache"));

  auto since = send(get(url("/cache")).header("if-modified-since", std::string(*fresh.headers.get("last-modified"))));
  EXPECT_EQ(since.status, 304);
  EXPECT_TRUE(since.body.empty());
  EXPECT_EQ(send(get(url("/cache")).header("if-none-match", "\"x\"")).status, 304);

  auto cached = fetch("/cache/60");
  EXPECT_EQ(cached.status, 200);
  EXPECT_EQ(cached.headers.get("cache-control"), "public, max-age=60");
  EXPECT_EQ(body_json(cached)["url"], url("/cache/60"));
}

TEST_P(HttpbinRoutesTest, UuidJsonAndBase64) {
  const std::regex v4(R"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");
  auto first = body_json(fetch("/uuid"))["uuid"].get<std::string>();
  auto second = body_json(fetch("/uuid"))["uuid"].get<std::string>();
  EXPECT_TRUE(std::regex_match(first, v4)) << first;
  EXPECT_NE(first, second);

  auto slideshow = body_json(fetch("/json"));
  EXPECT_EQ(slideshow["slideshow"]["title"], "Sample Slide Show");
  EXPECT_EQ(slideshow["slideshow"]["slides"].size(), 2u);

  auto decoded = fetch("/base64/SFRUUEJJTiBpcyBhd2Vzb21l");
  EXPECT_EQ(decoded.body, "HTTPBIN is awesome");
  EXPECT_EQ(decoded.headers.get("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(fetch("/base64/Pz8_").body, "?" "?" "?") << "URL-safe alphabet ('_' for '/')";
  EXPECT_EQ(fetch("/base64/PD8").body, "<?") << "padding optional";
  // "abc" is base64 for 0x69 0xb7, which is not UTF-8 text.
  EXPECT_EQ(fetch("/base64/abc").body, "Incorrect Base64 data try: SFRUUEJJTiBpcyBhd2Vzb21l");
}

TEST_P(HttpbinRoutesTest, DripSendsNumbytesStarsOverTheDurationAfterTheDelayWithTheCode) {
  const auto start = std::chrono::steady_clock::now();
  auto response = fetch("/drip?numbytes=4&duration=0.4&delay=0.2&code=201");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.body, "****");
  EXPECT_EQ(response.headers.get("content-length"), "4");
  EXPECT_EQ(response.headers.get("content-type"), "application/octet-stream");
  // The delay, then the last byte three pauses (0.1 s each) after the first: a lower bound only.
  EXPECT_GE(took, 500ms);

  EXPECT_EQ(fetch("/drip?numbytes=3&duration=0").body, "***");
  EXPECT_EQ(fetch("/drip?numbytes=0").status, 400);
  EXPECT_EQ(fetch("/drip?duration=abc").status, 400);
  EXPECT_EQ(fetch("/drip?duration=0&code=404").status, 404);
}

TEST_P(HttpbinRoutesTest, HeadOnEveryRouteGetsGetsStatusAndFieldsAndNoBody) {
  const std::vector<std::string> targets = {
      "/get?a=1",      "/anything",        "/response-headers?X-A=b", "/cookies",      "/cookies/set?a=1",
      "/cookies/delete?a", "/basic-auth/u/p", "/bearer",              "/range/100",    "/etag/abc",
      "/cache",        "/cache/10",        "/uuid",                   "/json",         "/base64/SFRUUEJJTiBpcyBhd2Vzb21l",
      "/drip?numbytes=5&duration=0",
  };
  for (const auto& target : targets) {
    SCOPED_TRACE(target);
    auto got = fetch(target);
    auto headed = send(head(url(target)));
    EXPECT_EQ(headed.status, got.status);
    EXPECT_TRUE(headed.body.empty()) << headed.body.size() << " body bytes";
    EXPECT_EQ(headed.headers.get("content-type"), got.headers.get("content-type"));
    if (target != "/anything") {  // the JSON names the method, so HEAD's length is GET's + 1
      EXPECT_EQ(headed.headers.get("content-length"), got.headers.get("content-length"));
    }
  }
  auto range = send(head(url("/range/100")).header("range", "bytes=10-19"));
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.headers.get("content-range"), "bytes 10-19/100");
  EXPECT_TRUE(range.body.empty());
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpbinRoutesTest,
                         ::testing::Values(HttpVersion::http3_only, HttpVersion::http2, HttpVersion::http1_1),
                         [](const ::testing::TestParamInfo<HttpVersion>& info) {
                           return info.param == HttpVersion::http2     ? "h2"
                                  : info.param == HttpVersion::http1_1 ? "h1"
                                                                       : "h3";
                         });

}  // namespace
}  // namespace quiver::test

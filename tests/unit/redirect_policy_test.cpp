// The redirect policy (src/client/redirects.hpp): which responses are followed, where to (RFC 3986
// resolution by uriparser), and what the next request keeps.
#include <gtest/gtest.h>

#include "client/redirects.hpp"

namespace quiver::client {
namespace {

RedirectPolicy following(int max = 30) { return RedirectPolicy{.follow = true, .max_redirects = max}; }

Request request_to(std::string url, std::string method = "GET") {
  Request request;
  request.method = std::move(method);
  request.url = Url::parse(url).value();
  return request;
}

Headers location(std::string value) { return Headers{{"location", std::move(value)}}; }

// The next request, failing the test if there is none or it is an error.
Request follow(const Request& sent, int status, const std::string& to, int followed = 0) {
  auto next = next_request(sent, status, location(to), following(), followed);
  EXPECT_TRUE(next.has_value()) << "not followed";
  if (!next) return {};
  EXPECT_TRUE(next->has_value()) << next->error().to_string();
  return next->has_value() ? std::move(**next) : Request{};
}

Error refusal(const Request& sent, int status, const std::string& to, RedirectPolicy policy = following(),
              int followed = 0) {
  auto next = next_request(sent, status, location(to), policy, followed);
  EXPECT_TRUE(next.has_value() && !next->has_value()) << "expected a refusal";
  if (!next || next->has_value()) return Error(ErrorKind::io_error, "none");
  return next->error();
}

TEST(RedirectPolicyTest, ResolvesReferencesAsRfc3986Section54) {
  const std::string base = "http://a/b/c/d;p?q";
  const std::pair<const char*, const char*> examples[] = {
      {"g", "http://a/b/c/g"},          {"./g", "http://a/b/c/g"},        {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},             {"//g", "http://g"},              {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},      {"#s", "http://a/b/c/d;p?q#s"},   {";x", "http://a/b/c/;x"},
      {"", "http://a/b/c/d;p?q"},       {".", "http://a/b/c/"},           {"..", "http://a/b/"},
      {"../g", "http://a/b/g"},         {"../..", "http://a/"},           {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},     {"/./g", "http://a/g"},           {"g/../h", "http://a/b/c/h"},
      {"g;x=1/../y", "http://a/b/c/y"}, {"https://x.example/z", "https://x.example/z"},
  };
  for (const auto& [reference, expected] : examples) {
    auto resolved = resolve_reference(base, reference);
    ASSERT_TRUE(resolved) << reference << ": " << resolved.error().to_string();
    EXPECT_EQ(*resolved, expected) << "reference '" << reference << "'";
  }
}

TEST(RedirectPolicyTest, AnInvalidReferenceIsARedirectFailure) {
  auto resolved = resolve_reference("https://a/b", "http://[::1");
  ASSERT_FALSE(resolved);
  EXPECT_EQ(resolved.error().kind(), ErrorKind::redirect_failed);
  EXPECT_NE(resolved.error().message().find("http://[::1"), std::string::npos);
}

TEST(RedirectPolicyTest, OnlyRedirectStatusesWithALocationAreFollowed) {
  auto sent = request_to("https://h/a");
  for (int status : {200, 204, 300, 304, 305, 306, 400}) {
    EXPECT_FALSE(next_request(sent, status, location("/b"), following(), 0)) << status;
  }
  for (int status : {301, 302, 303, 307, 308}) {
    EXPECT_TRUE(next_request(sent, status, location("/b"), following(), 0)) << status;
    EXPECT_FALSE(next_request(sent, status, Headers{}, following(), 0)) << status << " without location";
  }
  EXPECT_FALSE(next_request(sent, 302, location("/b"), RedirectPolicy{}, 0)) << "off by default";
}

TEST(RedirectPolicyTest, ARelativeLocationIsResolvedAgainstTheUrlThatAnswered) {
  auto sent = request_to("https://h.example:8443/a/b/c?q=1");
  EXPECT_EQ(follow(sent, 302, "../x?y=2").url.to_string(), "https://h.example:8443/a/x?y=2");
  EXPECT_EQ(follow(sent, 302, "/top").url.to_string(), "https://h.example:8443/top");
  EXPECT_EQ(follow(sent, 302, "//other.example/p").url.to_string(), "https://other.example/p");
  EXPECT_EQ(follow(sent, 302, "sibling").url.to_string(), "https://h.example:8443/a/b/sibling");
}

TEST(RedirectPolicyTest, PostBecomesGetOn301302And303WithoutItsBodyFields) {
  for (int status : {301, 302, 303}) {
    auto sent = request_to("https://h/form", "POST");
    sent.body = "a=1";
    sent.headers.add("Content-Type", "application/x-www-form-urlencoded");
    sent.headers.add("content-length", "3");
    sent.headers.add("x-custom", "kept");
    auto next = follow(sent, status, "/done");
    EXPECT_EQ(next.method, "GET") << status;
    EXPECT_TRUE(next.body.empty()) << status;
    EXPECT_FALSE(next.headers.contains("content-type")) << status;
    EXPECT_FALSE(next.headers.contains("content-length")) << status;
    EXPECT_EQ(next.headers.get("x-custom"), "kept") << status;
  }
}

TEST(RedirectPolicyTest, OtherMethodsKeepTheirBodyOn301And302ButNotOn303) {
  auto put = request_to("https://h/r", "PUT");
  put.body = "payload";
  for (int status : {301, 302, 307, 308}) {
    auto next = follow(put, status, "/s");
    EXPECT_EQ(next.method, "PUT") << status;
    EXPECT_EQ(next.body.bytes(), "payload") << status;
  }
  EXPECT_EQ(follow(put, 303, "/s").method, "GET");
  EXPECT_EQ(follow(request_to("https://h/r", "HEAD"), 303, "/s").method, "HEAD");
}

TEST(RedirectPolicyTest, Status307And308KeepPostAndItsBody) {
  for (int status : {307, 308}) {
    auto sent = request_to("https://h/upload", "POST");
    sent.body = "data";
    sent.headers.add("content-type", "text/plain");
    auto next = follow(sent, status, "/elsewhere");
    EXPECT_EQ(next.method, "POST");
    EXPECT_EQ(next.body.bytes(), "data");
    EXPECT_EQ(next.headers.get("content-type"), "text/plain");
  }
}

TEST(RedirectPolicyTest, ABodyThatCannotBeReplayedIsARefusalNotALoss) {
  auto sent = request_to("https://h/upload", "POST");
  sent.body = RequestBody::from_producer([] { return std::optional<std::string>(); });
  auto error = refusal(sent, 307, "/elsewhere");
  EXPECT_EQ(error.kind(), ErrorKind::redirect_failed);
  EXPECT_EQ(error.error_class(), ErrorClass::invalid);
  EXPECT_NE(error.message().find("cannot be replayed"), std::string::npos) << error.message();
  EXPECT_EQ(follow(sent, 302, "/elsewhere").method, "GET") << "a POST turned GET needs no body";
}

TEST(RedirectPolicyTest, CredentialsAreDroppedOnlyAcrossOrigins) {
  auto sent = request_to("https://h.example/a");
  sent.headers.add("Authorization", "Bearer secret");
  sent.headers.add("Cookie", "id=1");
  sent.headers.add("Proxy-Authorization", "Basic x");
  sent.headers.add("x-other", "1");
  auto same = follow(sent, 302, "/b");
  EXPECT_EQ(same.headers.get("authorization"), "Bearer secret");
  EXPECT_EQ(same.headers.get("cookie"), "id=1");
  for (const char* elsewhere : {"https://other.example/b", "https://h.example:8443/b"}) {
    auto next = follow(sent, 302, elsewhere);
    EXPECT_FALSE(next.headers.contains("authorization")) << elsewhere;
    EXPECT_FALSE(next.headers.contains("cookie")) << elsewhere;
    EXPECT_FALSE(next.headers.contains("proxy-authorization")) << elsewhere;
    EXPECT_EQ(next.headers.get("x-other"), "1") << elsewhere;
  }
}

TEST(RedirectPolicyTest, HttpsToHttpIsRefused) {
  auto error = refusal(request_to("https://h/a"), 301, "http://h/a");
  EXPECT_EQ(error.kind(), ErrorKind::redirect_failed);
  EXPECT_NE(error.message().find("https to http"), std::string::npos) << error.message();
  EXPECT_NE(error.message().find("http://h/a"), std::string::npos) << error.message();
  EXPECT_EQ(refusal(request_to("https://h/a"), 302, "ftp://h/file").kind(), ErrorKind::redirect_failed);
}

TEST(RedirectPolicyTest, TheRedirectAfterTheMaximumFails) {
  auto sent = request_to("https://h/loop");
  EXPECT_TRUE(follow(sent, 302, "/loop", 2).url.to_string() == "https://h/loop");
  auto error = refusal(sent, 302, "/loop", following(3), 3);
  EXPECT_EQ(error.kind(), ErrorKind::too_many_redirects);
  EXPECT_NE(error.message().find("maximum (3) redirects"), std::string::npos) << error.message();
  EXPECT_EQ(refusal(sent, 302, "/loop", following(0), 0).kind(), ErrorKind::too_many_redirects);
}

}  // namespace
}  // namespace quiver::client

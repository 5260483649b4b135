// HEAD on every route of the project's server: GET's status and fields, no body (a body would make the
// response malformed, and nghttp3 would close the whole connection).
#include <fmt/format.h>

#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

TEST_F(ConnectionTest, HeadGetsTheHeadersOfEveryRouteAndNoBody) {
  start_server();
  connect();
  ASSERT_TRUE(wait_connected());
  struct Case {
    std::string target;
    int status;
  };
  const std::vector<Case> cases = {
      {"/bytes/1000", 200}, {"/echo", 200},     {"/status/404", 404},  {"/status/200", 200},
      {"/headers", 200},    {"/delay/10", 200}, {"/stream/3?size=100", 200},
      {"/trailers", 200},   {"/slow-upload", 200}, {"/nowhere", 404},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.target);
    Request head = get(c.target);
    head.method = "HEAD";
    auto headed = fetch(std::move(head));
    ASSERT_TRUE(headed) << headed.error().to_string();
    EXPECT_EQ(headed->status, c.status);
    EXPECT_TRUE(headed->body.empty()) << headed->body.size() << " body bytes";
    EXPECT_TRUE(headed->trailers.empty());
    // The same fields as GET, content-length included where GET has one.
    auto got = fetch(get(c.target));
    ASSERT_TRUE(got) << got.error().to_string();
    if (c.target == "/headers") {  // the JSON names the method: HEAD's is one byte longer than GET's
      EXPECT_TRUE(headed->headers.contains("content-length"));
    } else {
      EXPECT_EQ(headed->headers.get("content-length"), got->headers.get("content-length"));
    }
    EXPECT_EQ(headed->headers.get("content-type"), got->headers.get("content-type"));
    ASSERT_EQ(connection_->state(), h3::ConnectionState::connected) << "the HEAD broke the connection";
  }
  EXPECT_EQ(fetch(get("/bytes/1000"))->headers.get("content-length"), "1000");
}

}  // namespace
}  // namespace quiver::test

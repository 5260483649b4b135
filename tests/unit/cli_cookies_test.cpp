// The fetch command's cookie engine (tools/quiver/cookies.*): curl's Netscape jar, RFC 6265 matching,
// libpsl's public suffixes.
#include <gtest/gtest.h>

#include "cookies.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

Url url(const std::string& text) { return Url::parse(text).value(); }

const CookieJar::Clock::time_point now = CookieJar::Clock::time_point(std::chrono::seconds(1'700'000'000));

TEST(CookieJar, HostOnlyCookieIsSentBackToItsHostAndPath) {
  CookieJar jar;
  EXPECT_FALSE(jar.receive(url("https://example.com/a/b"), "id=42; Path=/a", now).has_value());
  EXPECT_EQ(jar.header_for(url("https://example.com/a/c"), now), "id=42");
  EXPECT_EQ(jar.header_for(url("https://example.com/a"), now), "id=42");
  EXPECT_EQ(jar.header_for(url("https://example.com/ab"), now), "");      // not a path match
  EXPECT_EQ(jar.header_for(url("https://www.example.com/a/"), now), "");  // host-only
}

TEST(CookieJar, DefaultPathIsTheRequestDirectory) {
  CookieJar jar;
  jar.receive(url("https://h.test/dir/page?x=1"), "k=v", now);
  ASSERT_EQ(jar.cookies().size(), 1u);
  EXPECT_EQ(jar.cookies().front().path, "/dir");
}

TEST(CookieJar, DomainCookieReachesSubdomainsAndLongerPathsComeFirst) {
  CookieJar jar;
  jar.receive(url("https://www.example.com/"), "wide=1; Domain=.example.com; Path=/", now);
  jar.receive(url("https://www.example.com/"), "deep=2; Domain=example.com; Path=/x/y", now);
  EXPECT_EQ(jar.header_for(url("https://api.example.com/x/y/z"), now), "deep=2; wide=1");
  EXPECT_EQ(jar.header_for(url("https://example.org/"), now), "");
}

// libpsl: a site may not set a cookie for everyone under a public suffix.
TEST(CookieJar, PublicSuffixDomainIsRefused) {
  EXPECT_TRUE(is_public_suffix("com"));
  EXPECT_TRUE(is_public_suffix("co.uk"));
  EXPECT_FALSE(is_public_suffix("example.co.uk"));
  CookieJar jar;
  auto refused = jar.receive(url("https://www.example.co.uk/"), "evil=1; Domain=co.uk", now);
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->find("co.uk"), std::string::npos) << *refused;
  EXPECT_FALSE(jar.receive(url("https://www.example.co.uk/"), "ok=1; Domain=example.co.uk", now).has_value());
  EXPECT_EQ(jar.header_for(url("https://shop.example.co.uk/"), now), "ok=1");
  EXPECT_TRUE(jar.receive(url("https://www.example.com/"), "x=1; Domain=other.com", now).has_value());
  EXPECT_TRUE(jar.receive(url("https://127.0.0.1/"), "x=1; Domain=0.0.1", now).has_value());
}

TEST(CookieJar, ExpiryByMaxAgeAndExpires) {
  CookieJar jar;
  jar.receive(url("https://h.test/"), "short=1; Max-Age=10", now);
  jar.receive(url("https://h.test/"), "dated=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", now);  // in the past
  jar.receive(url("https://h.test/"), "session=1", now);
  EXPECT_EQ(jar.header_for(url("https://h.test/"), now), "short=1; session=1");
  EXPECT_EQ(jar.header_for(url("https://h.test/"), now + 11s), "session=1");
  jar.receive(url("https://h.test/"), "session=; Max-Age=0", now);  // deletion, as /cookies/delete does
  EXPECT_EQ(jar.header_for(url("https://h.test/"), now), "short=1");
}

TEST(CookieJar, MalformedSetCookieIsRefused) {
  CookieJar jar;
  EXPECT_TRUE(jar.receive(url("https://h.test/"), "novalue", now).has_value());
  EXPECT_TRUE(jar.receive(url("https://h.test/"), "=v", now).has_value());
  EXPECT_TRUE(jar.cookies().empty());
}

// The file curl writes with -c and reads with -b: tab-separated, "#HttpOnly_" prefix, comments.
TEST(CookieJar, NetscapeFormatRoundTrip) {
  CookieJar jar;
  jar.receive(url("https://www.example.com/"), "a=1; Domain=example.com; Secure; HttpOnly; Max-Age=100", now);
  jar.receive(url("https://127.0.0.1:4433/cookies/set"), "b=2; Path=/", now);
  const std::string file = jar.netscape(now);
  EXPECT_TRUE(file.starts_with("# Netscape HTTP Cookie File\n")) << file;
  EXPECT_NE(file.find("#HttpOnly_.example.com\tTRUE\t/\tTRUE\t1700000100\ta\t1\n"), std::string::npos) << file;
  EXPECT_NE(file.find("127.0.0.1\tFALSE\t/\tFALSE\t0\tb\t2\n"), std::string::npos) << file;

  CookieJar loaded;
  loaded.load(file);
  EXPECT_EQ(loaded.cookies(), jar.cookies());
}

TEST(CookieJar, LoadsCurlsFileAndSkipsOtherLines) {
  CookieJar jar;
  jar.load("# Netscape HTTP Cookie File\r\n"
           "\n"
           "not a cookie line\n"
           ".example.com\tTRUE\t/\tFALSE\t0\tk\tv\r\n"
           "h.test\tFALSE\t/p\tFALSE\t0\tempty\n");
  EXPECT_EQ(jar.header_for(url("https://www.example.com/"), now), "k=v");
  EXPECT_EQ(jar.header_for(url("https://h.test/p/q"), now), "empty=");
}

TEST(CookieJar, ExpiredCookiesAreLeftOutOfTheFile) {
  CookieJar jar;
  jar.load("h.test\tFALSE\t/\tFALSE\t1000\told\t1\n");
  EXPECT_EQ(jar.netscape(now).find("old"), std::string::npos);
}

}  // namespace
}  // namespace quiver::cli

#include <gtest/gtest.h>

#include "quiver/url.hpp"

namespace quiver {
namespace {

Url parse_ok(std::string_view text) {
  auto url = Url::parse(text);
  EXPECT_TRUE(url.has_value()) << text << ": " << (url ? "" : url.error().to_string());
  return url.value_or(Url{});
}

// The error message for `text`, which must fail to parse with invalid_url.
std::string parse_error(std::string_view text) {
  auto url = Url::parse(text);
  if (url) {
    ADD_FAILURE() << "expected an error for " << text << ", got " << url->to_string();
    return {};
  }
  EXPECT_EQ(url.error().kind(), ErrorKind::invalid_url);
  EXPECT_EQ(url.error().error_class(), ErrorClass::invalid);
  return url.error().message();
}

TEST(Url, ParsesHostPortAndTarget) {
  Url url = parse_ok("https://example.com:8443/a/b?x=1&y=2");
  EXPECT_EQ(url.scheme(), "https");
  EXPECT_EQ(url.host(), "example.com");
  EXPECT_EQ(url.port(), 8443);
  EXPECT_EQ(url.target(), "/a/b?x=1&y=2");
  EXPECT_EQ(url.authority(), "example.com:8443");
  EXPECT_EQ(url.origin(), "https://example.com:8443");
  EXPECT_EQ(url.to_string(), "https://example.com:8443/a/b?x=1&y=2");
}

TEST(Url, DefaultsPortAndPath) {
  Url url = parse_ok("https://example.com");
  EXPECT_EQ(url.port(), 443);
  EXPECT_EQ(url.target(), "/");
  EXPECT_EQ(url.authority(), "example.com");
  EXPECT_EQ(url.origin(), "https://example.com");
}

TEST(Url, ExplicitPort443IsOmittedFromAuthority) {
  EXPECT_EQ(parse_ok("https://example.com:443/").authority(), "example.com");
}

TEST(Url, QueryWithoutPathGetsSlash) { EXPECT_EQ(parse_ok("https://h?q=1").target(), "/?q=1"); }

TEST(Url, SchemeAndHostAreCaseInsensitive) {
  Url url = parse_ok("HTTPS://Example.COM/Path");
  EXPECT_EQ(url.scheme(), "https");
  EXPECT_EQ(url.host(), "example.com");
  EXPECT_EQ(url.target(), "/Path");  // the path is case-sensitive and kept verbatim
}

TEST(Url, FragmentIsDropped) {
  EXPECT_EQ(parse_ok("https://h/p?q#frag").target(), "/p?q");
  EXPECT_EQ(parse_ok("https://h#frag").target(), "/");
  EXPECT_EQ(parse_ok("https://h:8443#frag").port(), 8443);
}

TEST(Url, PathIsKeptVerbatim) {
  EXPECT_EQ(parse_ok("https://h/a%20b/../c;p=1?x=%2F").target(), "/a%20b/../c;p=1?x=%2F");
}

TEST(Url, Ipv4Literal) {
  Url url = parse_ok("https://127.0.0.1:4433/");
  EXPECT_EQ(url.host(), "127.0.0.1");
  EXPECT_FALSE(url.host_is_ipv6());
  EXPECT_EQ(url.authority(), "127.0.0.1:4433");
}

TEST(Url, Ipv6LiteralIsBracketedInAuthority) {
  Url url = parse_ok("https://[::1]:4433/x");
  EXPECT_EQ(url.host(), "::1");
  EXPECT_TRUE(url.host_is_ipv6());
  EXPECT_EQ(url.port(), 4433);
  EXPECT_EQ(url.authority(), "[::1]:4433");
  EXPECT_EQ(url.origin(), "https://[::1]:4433");
  EXPECT_EQ(parse_ok("https://[::1]").authority(), "[::1]");
}

TEST(Url, Ipv6LiteralIsCanonical) {
  EXPECT_EQ(parse_ok("https://[2001:DB8:0:0::1]/").host(), "2001:db8::1");
  EXPECT_EQ(parse_ok("https://[0:0::1]/"), parse_ok("https://[::1]:443/"));
}

TEST(Url, PortEdges) {
  EXPECT_EQ(parse_ok("https://h:1/").port(), 1);
  EXPECT_EQ(parse_ok("https://h:65535/").port(), 65535);
  EXPECT_NE(parse_error("https://h:0/").find("'0'"), std::string::npos);
  EXPECT_NE(parse_error("https://h:65536/").find("'65536'"), std::string::npos);
  EXPECT_NE(parse_error("https://h:99999999999999999999/").find("99999999999999999999"), std::string::npos);
  EXPECT_NE(parse_error("https://h:-1/").find("'-1'"), std::string::npos);
  EXPECT_NE(parse_error("https://h:8o/").find("'8o'"), std::string::npos);
  EXPECT_NE(parse_error("https://h:+80/").find("'+80'"), std::string::npos);
  EXPECT_NE(parse_error("https://h:/").find("missing port"), std::string::npos);
  EXPECT_NE(parse_error("https://[::1]:0/").find("'0'"), std::string::npos);
}

TEST(Url, HttpSchemeExplainsHttps) {
  const std::string message = parse_error("http://example.com/");
  EXPECT_NE(message.find("'http'"), std::string::npos) << message;
  EXPECT_NE(message.find("https"), std::string::npos) << message;
}

TEST(Url, OtherSchemesAndMissingSchemeFail) {
  EXPECT_NE(parse_error("ftp://example.com/").find("'ftp'"), std::string::npos);
  EXPECT_NE(parse_error("example.com/path").find("https://"), std::string::npos);
  EXPECT_NE(parse_error("https:/example.com").find("https://"), std::string::npos);
  parse_error("");
  parse_error("1https://h/");
}

TEST(Url, UserinfoIsRejectedWithoutEchoingThePassword) {
  const std::string message = parse_error("https://alice:secret@example.com/");
  EXPECT_NE(message.find("alice@"), std::string::npos) << message;
  EXPECT_EQ(message.find("secret"), std::string::npos) << message;
  EXPECT_NE(parse_error("https://user@h/").find("user@"), std::string::npos);
}

TEST(Url, HostIsRequired) {
  EXPECT_NE(parse_error("https:///path").find("missing host"), std::string::npos);
  EXPECT_NE(parse_error("https://:443/").find("missing host"), std::string::npos);
}

TEST(Url, SpacesAndControlCharactersAreNamed) {
  EXPECT_NE(parse_error("https://exa mple.com/").find("space in host"), std::string::npos);
  EXPECT_NE(parse_error("https://h/a b").find("space in path"), std::string::npos);
  EXPECT_NE(parse_error("https://h/a?b c").find("space in query"), std::string::npos);
  EXPECT_NE(parse_error("https://h/a\r\nX: y").find("CR in path"), std::string::npos);
  EXPECT_NE(parse_error("https://h/a\nb").find("LF"), std::string::npos);
  EXPECT_NE(parse_error(std::string_view("https://h/a\0b", 13)).find("NUL"), std::string::npos);
  EXPECT_NE(parse_error("https://h\x01/").find("0x01"), std::string::npos);
  EXPECT_NE(parse_error(" https://h/").find("scheme"), std::string::npos);
}

TEST(Url, InvalidHostCharactersAreNamed) {
  EXPECT_NE(parse_error("https://ex!ample.com/").find("'!'"), std::string::npos);
  EXPECT_NE(parse_error("https://ex\\ample.com/").find("'\\'"), std::string::npos);
  EXPECT_NE(parse_error("https://b\xc3\xbc" "cher.de/").find("punycode"), std::string::npos);
  EXPECT_NE(parse_error("https://a..b/").find("empty label"), std::string::npos);
}

TEST(Url, MalformedIpLiterals) {
  EXPECT_NE(parse_error("https://[::1/").find("']'"), std::string::npos);
  EXPECT_NE(parse_error("https://[not-ipv6]/").find("IPv6"), std::string::npos);
  EXPECT_NE(parse_error("https://[::1]x/").find("'x'"), std::string::npos);
  EXPECT_NE(parse_error("https://::1/").find("brackets"), std::string::npos);
  EXPECT_NE(parse_error("https://1.2.3/").find("IPv4"), std::string::npos);
  EXPECT_NE(parse_error("https://256.1.1.1/").find("IPv4"), std::string::npos);
}

}  // namespace
}  // namespace quiver

#include <algorithm>

#include <gtest/gtest.h>

#include "http/request_fields.hpp"

namespace quiver::http {
namespace {

Request request_for(std::string_view url, Headers headers = {}) {
  Request request;
  request.url = Url::parse(url).value();
  request.headers = std::move(headers);
  return request;
}

std::vector<Header> fields_ok(const Request& request) {
  auto fields = build_request_fields(request);
  EXPECT_TRUE(fields.has_value()) << (fields ? "" : fields.error().to_string());
  return fields.value_or(std::vector<Header>{});
}

// The rejection message for `request`, which must fail with invalid_request.
std::string rejection(const Request& request) {
  auto fields = build_request_fields(request);
  if (fields) {
    ADD_FAILURE() << "expected a rejection";
    return {};
  }
  EXPECT_EQ(fields.error().kind(), ErrorKind::invalid_request);
  EXPECT_EQ(fields.error().error_class(), ErrorClass::invalid);
  return fields.error().message();
}

std::string rejection_of_header(std::string name, std::string value) {
  return rejection(request_for("https://h/", Headers{{std::move(name), std::move(value)}}));
}

TEST(RequestFields, PseudoHeadersFirstThenUserFieldsLowercasedInOrder) {
  Request request = request_for("https://example.com:8443/p?q=1", {{"X-B", "2"}, {"Accept", "*/*"}, {"x-a", "1"}});
  EXPECT_EQ(fields_ok(request), (std::vector<Header>{{":method", "GET"},
                                                     {":scheme", "https"},
                                                     {":authority", "example.com:8443"},
                                                     {":path", "/p?q=1"},
                                                     {"x-b", "2"},
                                                     {"accept", "*/*"},
                                                     {"x-a", "1"}}));
}

TEST(RequestFields, HostHeaderBecomesAuthorityAndIsNotSent) {
  Request request = request_for("https://[::1]:4433/", {{"Host", "example.org"}, {"x", "y"}});
  EXPECT_EQ(fields_ok(request), (std::vector<Header>{{":method", "GET"},
                                                     {":scheme", "https"},
                                                     {":authority", "example.org"},
                                                     {":path", "/"},
                                                     {"x", "y"}}));
}

TEST(RequestFields, AuthorityDefaultsToUrl) {
  EXPECT_EQ(fields_ok(request_for("https://[::1]:4433/"))[2], (Header{":authority", "[::1]:4433"}));
  EXPECT_EQ(fields_ok(request_for("https://h:443/"))[2], (Header{":authority", "h"}));
}

TEST(RequestFields, BadHostHeaders) {
  EXPECT_NE(rejection(request_for("https://h/", {{"host", "a"}, {"Host", "b"}})).find("Host"), std::string::npos);
  EXPECT_NE(rejection_of_header("Host", "").find("Host"), std::string::npos);
  EXPECT_NE(rejection_of_header("Host", "a\r\nb").find("'Host'"), std::string::npos);
}

TEST(RequestFields, TeTrailersIsAllowedOtherValuesAreNot) {
  auto fields = fields_ok(request_for("https://h/", {{"TE", "trailers"}}));
  EXPECT_EQ(fields.back(), (Header{"te", "trailers"}));
  const std::string message = rejection_of_header("TE", "gzip");
  EXPECT_NE(message.find("TE"), std::string::npos) << message;
  EXPECT_NE(message.find("gzip"), std::string::npos) << message;
  rejection_of_header("te", "trailers, deflate");
}

TEST(RequestFields, ConnectionSpecificFieldsAreRejectedByName) {
  for (const char* name : {"Connection", "Keep-Alive", "proxy-connection", "Transfer-Encoding", "UPGRADE"}) {
    const std::string message = rejection_of_header(name, "x");
    EXPECT_NE(message.find(std::string("'") + name + "'"), std::string::npos) << message;
  }
}

TEST(RequestFields, MalformedNamesAreRejectedByName) {
  EXPECT_NE(rejection_of_header("", "x").find("empty header name"), std::string::npos);
  EXPECT_NE(rejection_of_header("Bad Name", "x").find("'Bad Name'"), std::string::npos);
  EXPECT_NE(rejection_of_header("a:b", "x").find("'a:b'"), std::string::npos);
  EXPECT_NE(rejection_of_header("na(me", "x").find("'('"), std::string::npos);
  EXPECT_NE(rejection_of_header("X\r\nInjected", "x").find("CR"), std::string::npos);
  EXPECT_NE(rejection_of_header("X-\xc3\xa9", "x").find("'X-\xc3\xa9'"), std::string::npos);
}

TEST(RequestFields, CrLfNulInValuesAreRejectedByName) {
  EXPECT_NE(rejection_of_header("X-Cr", "a\rb").find("'X-Cr'"), std::string::npos);
  EXPECT_NE(rejection_of_header("X-Lf", "a\nb").find("'X-Lf'"), std::string::npos);
  const std::string message = rejection_of_header("X-Nul", std::string("a\0b", 3));
  EXPECT_NE(message.find("'X-Nul'"), std::string::npos) << message;
  EXPECT_NE(message.find("NUL"), std::string::npos) << message;
}

TEST(RequestFields, UserPseudoHeadersAreRejected) {
  EXPECT_NE(rejection_of_header(":path", "/other").find("':path'"), std::string::npos);
  EXPECT_NE(rejection_of_header(":foo", "x").find("pseudo-header"), std::string::npos);
}

TEST(RequestFields, MethodMustBeAToken) {
  Request request = request_for("https://h/");
  request.method = "";
  EXPECT_NE(rejection(request).find("method"), std::string::npos);
  request.method = "GE T";
  EXPECT_NE(rejection(request).find("'GE T'"), std::string::npos);
  request.method = "CONNECT";
  EXPECT_NE(rejection(request).find("CONNECT"), std::string::npos);
  request.method = "PURGE";
  EXPECT_EQ(fields_ok(request)[0], (Header{":method", "PURGE"}));
}

TEST(RequestFields, ContentLengthAddedForBody) {
  Request request = request_for("https://h/", {{"x", "y"}});
  request.method = "POST";
  request.body = "hello";
  auto fields = fields_ok(request);
  EXPECT_EQ(fields.back(), (Header{"content-length", "5"}));
  EXPECT_EQ(std::ranges::count(fields, std::string("content-length"), &Header::name), 1);
}

TEST(RequestFields, NoContentLengthWithoutBody) {
  auto fields = fields_ok(request_for("https://h/"));
  EXPECT_EQ(std::ranges::count(fields, std::string("content-length"), &Header::name), 0);
}

TEST(RequestFields, UserContentLengthIsKeptWhenItMatches) {
  Request request = request_for("https://h/", {{"Content-Length", "5"}});
  request.body = "hello";
  auto fields = fields_ok(request);
  EXPECT_EQ(std::ranges::count(fields, std::string("content-length"), &Header::name), 1);
  EXPECT_EQ(fields.back(), (Header{"content-length", "5"}));

  request.headers = Headers{{"Content-Length", "4"}};
  EXPECT_NE(rejection(request).find("content-length"), std::string::npos);
}

}  // namespace
}  // namespace quiver::http

namespace quiver::http {
namespace {

TEST(RequestFieldsSize, OversizedHeaderSectionIsRefusedBeforeSending) {
  Request request;
  request.url = *Url::parse("https://example.com/");
  request.headers.add("x-big", std::string(kMaxRequestFieldSection, 'a'));
  auto fields = build_request_fields(request);
  ASSERT_FALSE(fields);
  EXPECT_EQ(fields.error().kind(), ErrorKind::invalid_request);
  EXPECT_NE(fields.error().message().find("header section"), std::string::npos) << fields.error().message();

  Request fits;
  fits.url = request.url;
  fits.headers.add("x-big", std::string(kMaxRequestFieldSection / 2, 'a'));
  EXPECT_TRUE(build_request_fields(fits));
}

}  // namespace
}  // namespace quiver::http

#include <gtest/gtest.h>

#include "quiver/headers.hpp"

namespace quiver {
namespace {

std::vector<std::string> names(const Headers& headers) {
  std::vector<std::string> result;
  for (const Header& h : headers) result.push_back(h.name);
  return result;
}

TEST(Headers, GetIgnoresCase) {
  Headers headers{{"Content-Type", "text/plain"}};
  EXPECT_EQ(headers.get("content-type"), "text/plain");
  EXPECT_EQ(headers.get("CONTENT-TYPE"), "text/plain");
  EXPECT_TRUE(headers.contains("Content-type"));
  EXPECT_FALSE(headers.get("content-length").has_value());
  EXPECT_FALSE(headers.contains("content"));
}

TEST(Headers, AddKeepsOrderAndDuplicates) {
  Headers headers;
  headers.add("b", "1");
  headers.add("A", "2");
  headers.add("b", "3");
  EXPECT_EQ(names(headers), (std::vector<std::string>{"b", "A", "b"}));
  EXPECT_EQ(headers.get("B"), "1");
  EXPECT_EQ(headers.get_all("B"), (std::vector<std::string_view>{"1", "3"}));
  EXPECT_EQ(headers.size(), 3u);
}

TEST(Headers, SetReplacesAllMatchesAtTheFirstPosition) {
  Headers headers{{"a", "1"}, {"X-Tag", "old1"}, {"b", "2"}, {"x-tag", "old2"}};
  headers.set("X-TAG", "new");
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0], (Header{"a", "1"}));
  EXPECT_EQ(headers[1], (Header{"X-TAG", "new"}));
  EXPECT_EQ(headers[2], (Header{"b", "2"}));
}

TEST(Headers, SetAppendsWhenAbsent) {
  Headers headers{{"a", "1"}};
  headers.set("b", "2");
  EXPECT_EQ(names(headers), (std::vector<std::string>{"a", "b"}));
}

TEST(Headers, RemoveIgnoresCaseAndCounts) {
  Headers headers{{"a", "1"}, {"Cookie", "x"}, {"b", "2"}, {"COOKIE", "y"}};
  EXPECT_EQ(headers.remove("cookie"), 2u);
  EXPECT_EQ(names(headers), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(headers.remove("cookie"), 0u);
  EXPECT_FALSE(headers.empty());
}

TEST(Headers, Iequals) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("content-length", "content-lengt"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("[", "{"));  // differ by 0x20 but are not letters
}

}  // namespace
}  // namespace quiver

// The CLI's --resolve / --connect-to parsing (connect_overrides.hpp) and -w expansion (write_out.hpp).
#include <gtest/gtest.h>

#include <sstream>

#include "connect_overrides.hpp"
#include "write_out.hpp"

namespace quiver::cli {
namespace {

TEST(CliConnectOverrides, ResolveTakesHostPortAndTheFirstAddress) {
  auto rule = parse_resolve("example.com:443:192.0.2.1,192.0.2.2");
  ASSERT_TRUE(rule) << rule.error();
  EXPECT_EQ(rule->host, "example.com");
  EXPECT_EQ(rule->port, 443);
  EXPECT_EQ(rule->connect_host, "192.0.2.1");
  EXPECT_EQ(rule->connect_port, 0);
  auto v6 = parse_resolve("example.com:8443:[::1]");
  ASSERT_TRUE(v6) << v6.error();
  EXPECT_EQ(v6->connect_host, "::1");
  for (const char* bad : {"example.com", "example.com:443", "example.com:443:", ":443:1.2.3.4", "h:0:1.2.3.4",
                          "h:99999:1.2.3.4", "h:x:1.2.3.4", "h:443:[::1"}) {
    EXPECT_FALSE(parse_resolve(bad)) << bad;
  }
}

TEST(CliConnectOverrides, ConnectToAllowsEmptyParts) {
  auto rule = parse_connect_to("example.com:443:[2001:db8::1]:8443");
  ASSERT_TRUE(rule) << rule.error();
  EXPECT_EQ(rule->host, "example.com");
  EXPECT_EQ(rule->port, 443);
  EXPECT_EQ(rule->connect_host, "2001:db8::1");
  EXPECT_EQ(rule->connect_port, 8443);
  auto any = parse_connect_to("::other.example:");
  ASSERT_TRUE(any) << any.error();
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 0);
  EXPECT_EQ(any->connect_host, "other.example");
  EXPECT_EQ(any->connect_port, 0);
  for (const char* bad : {"a:b", "h:443:x", "h:443:x:70000", "h:-1:x:1"}) EXPECT_FALSE(parse_connect_to(bad)) << bad;
}

TEST(CliWriteOut, ExpandsVariablesEscapesAndPercent) {
  TransferReport report;
  report.url = "https://h/a";
  report.http_code = 200;
  report.content_type = "text/plain";
  report.size_download = 42;
  TransferInfo info;
  info.url = Url::parse("https://h/b").value();
  info.redirects = 1;
  info.http_version = "3";
  info.peer_address = "127.0.0.1";
  info.peer_port = 4433;
  info.timings.connect = std::chrono::microseconds(1500);
  info.timings.total = std::chrono::milliseconds(2);
  report.transfer = info;
  EXPECT_EQ(format_write_out("%{http_code} %{url_effective} %{num_redirects} %{http_version} %{remote_ip}:%{remote_port}"
                             " %{size_download} %{content_type} %{time_connect} %{time_total}",
                             report),
            "200 https://h/b 1 3 127.0.0.1:4433 42 text/plain 0.001500 0.002000");
  EXPECT_EQ(format_write_out("a\\nb\\tc\\\\d 100%% %{unknown}|%{http_code", report), "a\nb\tc\\d 100% |%{http_code");
}

TEST(CliWriteOut, WithoutAResponseTheCodeIs000AndTheUrlIsTheRequested) {
  TransferReport report;
  report.url = "https://h/a";
  report.exit_code = 47;
  report.errormsg = "maximum (1) redirects followed";
  EXPECT_EQ(format_write_out("%{http_code} %{url_effective} %{exitcode} %{errormsg}", report),
            "000 https://h/a 47 maximum (1) redirects followed");
}

TEST(CliWriteOut, AFormatFromStdinOrAFile) {
  std::istringstream in("%{http_code}\\n");
  auto from_stdin = load_write_out("@-", in);
  ASSERT_TRUE(from_stdin);
  EXPECT_EQ(*from_stdin, "%{http_code}\\n");
  EXPECT_EQ(load_write_out("plain", in).value(), "plain");
  auto missing = load_write_out("@/nonexistent/quiver-format", in);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().exit_code, 26);
}

}  // namespace
}  // namespace quiver::cli

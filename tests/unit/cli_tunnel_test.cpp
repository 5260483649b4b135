// `quiver tunnel`'s arguments: TARGET and --listen as HOST:PORT, the proxy URL as a URI template; and the
// library's template expansion it relies on.
#include <gtest/gtest.h>

#include "quiver/connect_udp.hpp"
#include "tunnel.hpp"

namespace quiver::cli {
namespace {

TEST(TunnelArguments, HostPortSplitsAtTheLastColon) {
  auto v4 = parse_host_port("127.0.0.1:53");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 53);
  auto v6 = parse_host_port("[::1]:5353");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 5353);
  EXPECT_EQ(parse_host_port("::1:0")->host, "::1");  // unbracketed v6: the last colon splits
  EXPECT_FALSE(parse_host_port("no-port"));
  EXPECT_FALSE(parse_host_port(":53"));
  EXPECT_FALSE(parse_host_port("host:"));
  EXPECT_FALSE(parse_host_port("host:65536"));
  EXPECT_FALSE(parse_host_port("host:5x"));
}

TEST(TunnelArguments, AnOriginGetsTheWellKnownTemplate) {
  EXPECT_EQ(connect_udp_template("https://proxy:4433/"),
            "https://proxy:4433/.well-known/masque/udp/{target_host}/{target_port}/");
  EXPECT_EQ(connect_udp_template("https://proxy/masque?h={target_host}&p={target_port}"),
            "https://proxy/masque?h={target_host}&p={target_port}");
}

TEST(ConnectUdpRequest, TemplateVariablesAreExpandedAndTheHostEncoded) {
  auto request = detail::connect_udp_request("https://proxy:4433/.well-known/masque/udp/{target_host}/{target_port}/",
                                             "fe80::1%eth0", 443);
  ASSERT_TRUE(request) << request.error().to_string();
  EXPECT_EQ(request->method, "CONNECT");
  EXPECT_EQ(request->protocol, "connect-udp");
  EXPECT_EQ(request->headers.get("capsule-protocol"), "?1");
  EXPECT_EQ(request->url.target(), "/.well-known/masque/udp/fe80%3A%3A1%25eth0/443/");
  auto no_port = detail::connect_udp_request("https://proxy/{target_host}/", "h", 1);
  ASSERT_FALSE(no_port);
  EXPECT_EQ(no_port.error().kind(), ErrorKind::invalid_url);
  EXPECT_FALSE(detail::connect_udp_request("https://proxy/{target_host}/{target_port}", "", 1));
}

}  // namespace
}  // namespace quiver::cli

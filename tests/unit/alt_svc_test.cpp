// Alt-Svc (RFC 7838): the field parser, the per-Client cache (replace, clear, ma expiry, bound), its file
// (curl's format, 0600, a bad file rejected whole) and the broken-HTTP/3 marks (exponential, cleared by a
// working handshake) that choose how an auto connection starts.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "client/alt_svc.hpp"
#include "client/protocol_memory.hpp"

namespace quiver::client {
namespace {

using namespace std::chrono_literals;

struct ManualSystemClock {
  std::chrono::system_clock::time_point now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  AltSvcCache::Clock function() {
    return [this] { return now; };
  }
};

std::filesystem::path temp_file(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  std::filesystem::remove(path);
  return path;
}

const Origin kOrigin{"example.com", 443};

TEST(AltSvcParse, ReadsAlternativesPortsAndMaxAge) {
  auto field = parse_alt_svc(R"(h3=":8443"; ma=60, h2="alt.example.com:443", h3-29=":443"; persist=1)");
  ASSERT_TRUE(field);
  EXPECT_FALSE(field->clear);
  ASSERT_EQ(field->alternatives.size(), 3u);
  EXPECT_EQ(field->alternatives[0].alpn, "h3");
  EXPECT_EQ(field->alternatives[0].host, "");
  EXPECT_EQ(field->alternatives[0].port, 8443);
  EXPECT_EQ(field->alternatives[0].max_age, 60s);
  EXPECT_EQ(field->alternatives[1].host, "alt.example.com");
  EXPECT_EQ(field->alternatives[1].max_age, 86400s);  // the default
  EXPECT_EQ(field->alternatives[2].alpn, "h3-29");
}

TEST(AltSvcParse, ClearPercentEncodingAndIPv6) {
  ASSERT_TRUE(parse_alt_svc("clear"));
  EXPECT_TRUE(parse_alt_svc(" clear ")->clear);
  auto field = parse_alt_svc(R"(h%33="[::1]:443")");
  ASSERT_TRUE(field);
  EXPECT_EQ(field->alternatives[0].alpn, "h3");
  EXPECT_EQ(field->alternatives[0].host, "::1");
}

TEST(AltSvcParse, RejectsMalformedFields) {
  for (const char* bad : {"", "h3", "h3=\":0\"", "h3=\":99999\"", "h3=\"no-port\"", "h3=\":443\"; ma=soon",
                          "h3=\":443\"; ma", "=\":443\"", "h3=\":44x\""}) {
    EXPECT_FALSE(parse_alt_svc(bad)) << bad;
  }
}

TEST(AltSvcCacheTest, KeepsTheFirstSameHostH3AlternativeUntilItExpires) {
  ManualSystemClock clock;
  AltSvcCache cache(10, {}, clock.function());
  cache.on_field(kOrigin, R"(h2=":443", h3="other.example:4433", h3=":8443"; ma=100)");
  auto entry = cache.lookup(kOrigin);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->h3_port, 8443);  // another host's alternative is never used
  EXPECT_FALSE(cache.lookup(Origin{"example.com", 8443}));  // per origin
  clock.now += 99s;
  EXPECT_TRUE(cache.lookup(kOrigin));
  clock.now += 1s;
  EXPECT_FALSE(cache.lookup(kOrigin));  // ma honoured
  EXPECT_EQ(cache.size(), 0u);
}

TEST(AltSvcCacheTest, ANewFieldReplacesClearRemovesAndMalformedChangesNothing) {
  ManualSystemClock clock;
  AltSvcCache cache(10, {}, clock.function());
  cache.on_field(kOrigin, R"(h3=":8443")");
  cache.on_field(kOrigin, "h3=\":");  // malformed: ignored
  EXPECT_EQ(cache.lookup(kOrigin)->h3_port, 8443);
  cache.on_field(kOrigin, R"(h3=":9443")");
  EXPECT_EQ(cache.lookup(kOrigin)->h3_port, 9443);
  cache.on_field(kOrigin, "clear");
  EXPECT_FALSE(cache.lookup(kOrigin));
  cache.on_field(kOrigin, R"(h3=":8443")");
  cache.on_field(kOrigin, R"(h2=":443")");  // no h3 alternative any more (RFC 7838 §3: replaces all)
  EXPECT_FALSE(cache.lookup(kOrigin));
  cache.on_field(kOrigin, R"(h3=":8443"; ma=0)");
  EXPECT_FALSE(cache.lookup(kOrigin));
}

TEST(AltSvcCacheTest, BoundedDroppingTheLeastRecentlyAnnounced) {
  AltSvcCache cache(2);
  for (std::uint16_t port : {1, 2, 3}) cache.on_field(Origin{"example.com", port}, R"(h3=":8443")");
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.lookup(Origin{"example.com", 1}));
  EXPECT_TRUE(cache.lookup(Origin{"example.com", 3}));
}

TEST(AltSvcCacheTest, FileRoundTripInCurlsFormatMode0600) {
  auto path = temp_file("quiver-alt-svc");
  {
    AltSvcCache cache(10, path.string());
    cache.on_field(kOrigin, R"(h3=":8443"; ma=3600)");
    cache.on_field(Origin{"::1", 4433}, R"(h3=":4434")");
  }
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("h2 example.com 443 h3 example.com 8443 \""), std::string::npos) << text;
  EXPECT_NE(text.find("h2 [::1] 4433 h3 [::1] 4434 \""), std::string::npos) << text;

  AltSvcCache loaded(10, path.string());
  ASSERT_EQ(loaded.load_file().value_or(0), 2u);
  EXPECT_EQ(loaded.lookup(kOrigin)->h3_port, 8443);
  EXPECT_EQ(loaded.lookup(Origin{"::1", 4433})->h3_port, 4434);
  std::filesystem::remove(path);
}

TEST(AltSvcCacheTest, ReadsCurlsLinesSkipsOtherAlternativesAndExpiredOnes) {
  auto decoded = AltSvcCache::decode(
      "# comment\n"
      "h2 example.com 443 h3 example.com 8443 \"20990101 00:00:00\" 0 0\n"
      "h1 example.com 80 h2 example.com 443 \"20990101 00:00:00\" 1 0\n"
      "h2 example.org 443 h3 example.org 443 \"20000101 00:00:00\" 0 0\n");
  ASSERT_TRUE(decoded) << decoded.error().message();
  ASSERT_EQ(decoded->size(), 2u);  // the h2 alternative is skipped; the expired one decodes...
  auto path = temp_file("quiver-alt-svc-curl");
  std::ofstream(path) << "h2 example.com 443 h3 example.com 8443 \"20990101 00:00:00\" 0 0\n"
                      << "h2 example.org 443 h3 example.org 443 \"20000101 00:00:00\" 0 0\n";
  AltSvcCache cache(10, path.string());
  EXPECT_EQ(cache.load_file().value_or(99), 1u);  // ...but is not loaded
  std::filesystem::remove(path);
}

TEST(AltSvcCacheTest, ABadFileIsRejectedWholeWithTheReason) {
  auto path = temp_file("quiver-alt-svc-bad");
  std::ofstream(path) << "h2 example.com 443 h3 example.com 8443 \"20990101 00:00:00\" 0 0\n"
                      << "this is not an alt-svc line\n";
  AltSvcCache cache(10, path.string());
  auto loaded = cache.load_file();
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().kind(), ErrorKind::io_error);
  EXPECT_NE(loaded.error().message().find("line 2"), std::string::npos) << loaded.error().message();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(AltSvcCache(10, "/nonexistent/dir/file").load_file().value_or(99), 0u);  // missing: no error
  std::filesystem::remove(path);
}

TEST(ProtocolMemoryTest, PlansHttp3FirstAltSvcAuthorityOrTcpOnlyWhileBroken) {
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  ProtocolMemory memory(10, {}, [&] { return now; });
  RacePlan plan = memory.plan(kOrigin);
  EXPECT_TRUE(plan.http3);
  EXPECT_EQ(plan.http3_port, 443);
  EXPECT_EQ(plan.reason, "no Alt-Svc known");

  memory.on_response_fields(kOrigin, Headers{{"alt-svc", R"(h3=":8443")"}});
  plan = memory.plan(kOrigin);
  EXPECT_EQ(plan.http3_port, 8443);
  EXPECT_NE(plan.reason.find("Alt-Svc"), std::string::npos);

  // A mark is per QUIC authority: the alternative's port.
  EXPECT_EQ(memory.mark_broken(Origin{"example.com", 8443}, 100ms), 100ms);
  plan = memory.plan(kOrigin);
  EXPECT_FALSE(plan.http3);
  EXPECT_NE(plan.reason.find("marked broken"), std::string::npos) << plan.reason;
  now += 100ms;
  EXPECT_TRUE(memory.plan(kOrigin).http3);  // expired
}

TEST(ProtocolMemoryTest, MarksDoubleUntilAHandshakeConfirmsHttp3) {
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  ProtocolMemory memory(10, {}, [&] { return now; });
  EXPECT_EQ(memory.mark_broken(kOrigin, 100ms), 100ms);
  EXPECT_EQ(memory.mark_broken(kOrigin, 100ms), 200ms);
  EXPECT_EQ(memory.mark_broken(kOrigin, 100ms), 400ms);
  EXPECT_EQ(memory.mark_broken(kOrigin, 24h), ProtocolMemory::kLongestMark);  // capped
  memory.confirm_http3(kOrigin);
  EXPECT_FALSE(memory.broken_for(kOrigin));
  EXPECT_EQ(memory.mark_broken(kOrigin, 100ms), 100ms);  // the count starts over
}

}  // namespace
}  // namespace quiver::client

// The TLS session cache's rules (tls/session_cache.hpp): single use, expiry, bounds, keys that keep
// tickets apart, and the session file (atomic, 0600, all or nothing).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tls/session_cache.hpp"

namespace quiver::tls {
namespace {

using namespace std::chrono_literals;
using SystemClock = std::chrono::system_clock;

StoredSession ticket(std::uint8_t tag, SystemClock::time_point expires = SystemClock::now() + 1h) {
  return StoredSession{{tag, 1, 2, 3}, {9, tag}, expires};
}

TlsOptions with_ca(const std::string& ca_file) {
  TlsOptions tls;
  tls.ca_file = ca_file;
  return tls;
}

// A fresh folder per test, removed at the end.
class SessionFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("quiver-sessions-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string read(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void write(const std::string& file, const std::string& text) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  }

  std::filesystem::path dir_;
};

TEST(SessionCacheTest, TicketIsUsedOnce) {
  SessionCache cache(8);
  cache.put("k", ticket(1));
  auto first = cache.take("k");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->tls_data.front(), 1);
  EXPECT_EQ(first->transport_params, (std::vector<std::uint8_t>{9, 1}));
  EXPECT_FALSE(cache.take("k"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SessionCacheTest, NewestTicketFirst) {
  SessionCache cache(8);
  cache.put("k", ticket(1));
  cache.put("k", ticket(2));
  EXPECT_EQ(cache.take("k")->tls_data.front(), 2);
  EXPECT_EQ(cache.take("k")->tls_data.front(), 1);
}

TEST(SessionCacheTest, ExpiredTicketIsNeverReturned) {
  auto now = SystemClock::now();
  SessionCache cache(8, {}, [&] { return now; });
  cache.put("k", ticket(1, now + 10s));
  cache.put("gone", ticket(2, now - 1s));  // already expired: not kept
  EXPECT_EQ(cache.size(), 1u);
  now += 11s;
  EXPECT_FALSE(cache.take("k"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SessionCacheTest, LifetimeIsCappedAtSevenDays) {
  auto now = SystemClock::now();
  SessionCache cache(8, {}, [&] { return now; });
  cache.put("k", ticket(1, now + 30 * 24h));
  now += SessionCache::kMaxLifetime + 1s;
  EXPECT_FALSE(cache.take("k"));
}

TEST(SessionCacheTest, BoundedLeastRecentlyStoredGoesFirst) {
  SessionCache cache(2);
  cache.put("a", ticket(1));
  cache.put("b", ticket(2));
  cache.put("c", ticket(3));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.take("a"));
  EXPECT_TRUE(cache.take("b"));
  EXPECT_TRUE(cache.take("c"));
}

TEST(SessionCacheTest, AtMostFourTicketsPerKey) {
  SessionCache cache(100);
  for (std::uint8_t i = 0; i < 10; ++i) cache.put("k", ticket(i));
  cache.put("other", ticket(50));
  EXPECT_EQ(cache.size(), SessionCache::kTicketsPerKey + 1);
  EXPECT_EQ(cache.take("k")->tls_data.front(), 9);  // the newest survive
}

TEST(SessionCacheTest, CapacityZeroKeepsNothing) {
  SessionCache cache(0);
  cache.put("k", ticket(1));
  EXPECT_FALSE(cache.take("k"));
}

// Everything a ticket's safe use depends on is in the key.
TEST(SessionCacheTest, KeySeparatesOriginAlpnAndTrustSettings) {
  const auto base = session_key("h3", "example.com", 443, with_ca("/etc/ca-a.pem"));
  EXPECT_EQ(base, session_key("h3", "example.com", 443, with_ca("/etc/ca-a.pem")));
  EXPECT_NE(base, session_key("h3", "example.com", 443, with_ca("/etc/ca-b.pem")));
  EXPECT_NE(base, session_key("h3", "example.com", 443, with_ca("")));
  EXPECT_NE(base, session_key("h2", "example.com", 443, with_ca("/etc/ca-a.pem")));
  EXPECT_NE(base, session_key("h3", "example.org", 443, with_ca("/etc/ca-a.pem")));
  EXPECT_NE(base, session_key("h3", "example.com", 8443, with_ca("/etc/ca-a.pem")));
  TlsOptions unverified = with_ca("/etc/ca-a.pem");
  unverified.verify_peer = false;
  EXPECT_NE(base, session_key("h3", "example.com", 443, unverified));
  TlsOptions no_system = with_ca("/etc/ca-a.pem");
  no_system.system_trust = false;
  EXPECT_NE(base, session_key("h3", "example.com", 443, no_system));
  TlsOptions with_dir = with_ca("/etc/ca-a.pem");
  with_dir.ca_path = "/etc/ssl/certs";
  EXPECT_NE(base, session_key("h3", "example.com", 443, with_dir));
  TlsOptions with_client = with_ca("/etc/ca-a.pem");
  with_client.client_certificate = "/etc/client.pem";
  EXPECT_NE(base, session_key("h3", "example.com", 443, with_client));
}

TEST_F(SessionFileTest, SavedTicketsLoadInAnotherCache) {
  const auto file = path("sessions");
  {
    SessionCache cache(8, file);
    cache.put("k", ticket(7));  // written at once
  }
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  SessionCache later(8, file);
  auto loaded = later.load_file();
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  EXPECT_EQ(*loaded, 1u);
  auto taken = later.take("k");
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->tls_data, ticket(7).tls_data);
  EXPECT_EQ(taken->transport_params, ticket(7).transport_params);
  // Taking it changed the file: a third process finds no ticket to reuse.
  SessionCache third(8, file);
  EXPECT_EQ(third.load_file().value_or(99), 0u);
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(SessionFileTest, MissingFileIsNoError) {
  SessionCache cache(8, path("absent"));
  auto loaded = cache.load_file();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, 0u);
}

// A file that is not ours, corrupt or truncated: rejected as a whole, with a reason, nothing loaded.
TEST_F(SessionFileTest, ForeignCorruptOrTruncatedFileLoadsNothing) {
  const auto file = path("sessions");
  {
    SessionCache cache(8, file);
    cache.put("a", ticket(1));
    cache.put("b", ticket(2));
  }
  const std::string good = read(file);
  std::string corrupt = good;
  corrupt[good.find('\n') + 20] ^= 0x01;  // one bit in the first ticket line
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"foreign", "# some other program's file\nhello\n"},
      {"corrupt", corrupt},
      {"truncated", good.substr(0, good.size() / 2)},
      {"without end line", good.substr(0, good.rfind("end "))},
      {"empty", ""},
      {"binary", std::string("\0\x01\x02quiver", 9)},
  };
  for (const auto& [what, text] : bad) {
    write(file, text);
    SessionCache cache(8, file);
    auto loaded = cache.load_file();
    ASSERT_FALSE(loaded) << what;
    EXPECT_EQ(loaded.error().kind(), ErrorKind::io_error) << what;
    EXPECT_NE(loaded.error().message().find(file), std::string::npos) << loaded.error().message();
    EXPECT_EQ(cache.size(), 0u) << what;
    EXPECT_FALSE(cache.take("a")) << what;
    EXPECT_EQ(read(file), text) << what;  // left alone until the cache changes
  }
  // The good file still loads: the checks reject damage, not the format.
  write(file, good);
  SessionCache cache(8, file);
  EXPECT_EQ(cache.load_file().value_or(0), 2u);
}

TEST_F(SessionFileTest, DecodeRejectsACountThatDoesNotMatch) {
  SessionCache cache(8);
  cache.put("a", ticket(1));
  std::string text = cache.encode();
  ASSERT_TRUE(SessionCache::decode(text));
  // Drop the ticket line but keep the end line: count and checksum no longer match.
  std::string first_line = text.substr(0, text.find('\n') + 1);
  std::string end_line = text.substr(text.rfind("end "));
  EXPECT_FALSE(SessionCache::decode(first_line + end_line));
}

}  // namespace
}  // namespace quiver::tls

// tls::VerifiedChains: what a remembered verification may answer for, and for how long.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tls/verified_chains.hpp"

namespace quiver::tls {
namespace {

using namespace std::chrono_literals;
using Clock = VerifiedChains::Clock;

gnutls_datum_t datum(std::string& bytes) {
  return {reinterpret_cast<unsigned char*>(bytes.data()), static_cast<unsigned>(bytes.size())};
}

class VerifiedChainsTest : public ::testing::Test {
 protected:
  std::string key_for(const std::string& host, std::vector<std::string> certificates,
                      std::vector<std::string> ocsp = {}) {
    std::vector<gnutls_datum_t> chain, stapled;
    kept_.push_back(std::move(certificates));
    for (std::string& der : kept_.back()) chain.push_back(datum(der));
    kept_.push_back(std::move(ocsp));
    for (std::string& response : kept_.back()) stapled.push_back(datum(response));
    return VerifiedChains::key(host, chain, stapled);
  }

  VerifiedChains chains_;
  const Clock::time_point now_ = Clock::now();
  const Clock::time_point far_ = now_ + 24h * 365;
  std::vector<std::vector<std::string>> kept_;
};

TEST_F(VerifiedChainsTest, AnswersOnlyForTheSameHostChainAndStapledResponses) {
  chains_.remember(key_for("example.com", {"leaf", "intermediate"}), far_, now_);
  EXPECT_TRUE(chains_.contains(key_for("example.com", {"leaf", "intermediate"}), now_));
  EXPECT_FALSE(chains_.contains(key_for("example.org", {"leaf", "intermediate"}), now_)) << "another host";
  EXPECT_FALSE(chains_.contains(key_for("example.com", {"leaf"}), now_)) << "a shorter chain";
  EXPECT_FALSE(chains_.contains(key_for("example.com", {"leaf", "intermediatf"}), now_)) << "one byte differs";
  EXPECT_FALSE(chains_.contains(key_for("example.com", {"leaf", "intermediate"}, {"ocsp"}), now_))
      << "a stapled OCSP response that was not part of the verification";
  // Fields are length-prefixed: moving a byte from one certificate to the next is a different key.
  EXPECT_FALSE(chains_.contains(key_for("example.com", {"lea", "fintermediate"}), now_));
}

TEST_F(VerifiedChainsTest, AnEntryLastsTheLimitOrUntilTheChainExpires) {
  const std::string key = key_for("example.com", {"leaf"});
  chains_.remember(key, far_, now_);
  EXPECT_TRUE(chains_.contains(key, now_ + VerifiedChains::kVerifiedFor - 1s));
  EXPECT_FALSE(chains_.contains(key, now_ + VerifiedChains::kVerifiedFor));
  EXPECT_EQ(chains_.size(), 0u) << "an expired entry is dropped when found";

  chains_.remember(key, now_ + 10s, now_);  // a certificate of the chain expires in 10 s
  EXPECT_TRUE(chains_.contains(key, now_ + 9s));
  EXPECT_FALSE(chains_.contains(key, now_ + 10s));

  chains_.remember(key, now_ - 1s, now_);  // already expired: not remembered at all
  EXPECT_EQ(chains_.size(), 0u);
}

TEST_F(VerifiedChainsTest, KeepsAtMostTheLimitDroppingTheLeastRecentlyUsed) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < VerifiedChains::kMaxChains; ++i) {
    keys.push_back(key_for("host" + std::to_string(i), {"leaf"}));
    chains_.remember(keys.back(), far_, now_);
  }
  ASSERT_TRUE(chains_.contains(keys.front(), now_));  // now the most recently used
  chains_.remember(key_for("one-more", {"leaf"}), far_, now_);
  EXPECT_EQ(chains_.size(), VerifiedChains::kMaxChains);
  EXPECT_TRUE(chains_.contains(keys.front(), now_));
  EXPECT_FALSE(chains_.contains(keys[1], now_)) << "the least recently used one goes";
}

}  // namespace
}  // namespace quiver::tls

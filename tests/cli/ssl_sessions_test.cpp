// `quiver --ssl-sessions FILE`: TLS session tickets kept across processes, so a second quiver resumes
// (-v says so, and the server counts it); the file is private (0600); a damaged file is ignored with a
// warning and replaced.
#include <sys/stat.h>

#include "cli/cli_fixture.hpp"

namespace quiver::test {
namespace {

constexpr std::string_view kResumed = "TLS session resumed";

class SslSessionsTest : public CliServerTest {
 protected:
  ProcessResult fetch_with_sessions() {
    return quiver({"-v", "--ssl-sessions", sessions_.string(), "--cacert", ca_file(), url("/bytes/3")});
  }

  TempDir dir_;
  std::filesystem::path sessions_ = dir_.path() / "tls-sessions";
};

TEST_F(SslSessionsTest, SecondProcessResumes) {
  auto first = fetch_with_sessions();
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_EQ(first.out, "abc");
  EXPECT_EQ(first.err.find(kResumed), std::string::npos) << first.err;
  struct stat info {};
  ASSERT_EQ(::stat(sessions_.c_str(), &info), 0) << "no session file written";
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  auto second = fetch_with_sessions();
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_EQ(second.out, "abc");
  EXPECT_NE(second.err.find(kResumed), std::string::npos) << second.err;
  EXPECT_EQ(server_->stats().handshakes_resumed, 1u);
}

// Without the option nothing is kept: the second process does a full handshake.
TEST_F(SslSessionsTest, WithoutTheOptionNothingResumes) {
  for (int run = 0; run < 2; ++run) {
    auto result = quiver({"-v", "--cacert", ca_file(), url("/bytes/3")});
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.err.find(kResumed), std::string::npos) << result.err;
  }
  EXPECT_EQ(server_->stats().handshakes_resumed, 0u);
}

TEST_F(SslSessionsTest, DamagedFileIsIgnoredWithAWarningAndReplaced) {
  auto good = fetch_with_sessions();
  ASSERT_EQ(good.exit_code, 0) << describe(good);
  const std::string valid = read_file(sessions_);
  for (const std::string& damaged : {std::string("not a session file\n"), valid.substr(0, valid.size() / 2)}) {
    dir_.write("tls-sessions", damaged);
    auto result = fetch_with_sessions();
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "abc");
    EXPECT_NE(result.err.find("warning"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find(sessions_.string()), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find(kResumed), std::string::npos) << result.err;
  }
  // The last run replaced the damaged file with its own ticket: the next one resumes, without a warning.
  auto after = fetch_with_sessions();
  ASSERT_EQ(after.exit_code, 0) << describe(after);
  EXPECT_NE(after.err.find(kResumed), std::string::npos) << after.err;
  EXPECT_EQ(after.err.find("warning"), std::string::npos) << after.err;
}

}  // namespace
}  // namespace quiver::test

namespace quiver::test {
namespace {

// --tls-earlydata: the second process sends its GET in 0-RTT early data, through the Client's pool;
// -v says so and the server had the request before its handshake completed.
TEST_F(SslSessionsTest, SecondProcessSendsItsGetAsEarlyData) {
  const std::vector<std::string> args = {"-v", "--tls-earlydata", "--ssl-sessions", sessions_.string(),
                                         "--cacert", ca_file(), url("/bytes/3")};
  auto first = quiver(args);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_EQ(first.err.find("Early data"), std::string::npos) << first.err;
  auto second = quiver(args);
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_EQ(second.out, "abc");
  EXPECT_NE(second.err.find("Early data (0-RTT): 1 request(s) sent early, accepted"), std::string::npos)
      << second.err;
  EXPECT_EQ(server_->stats().early_requests, 1u);
}

// The server refuses early data: the request is sent again after the handshake and answered once.
TEST_F(SslSessionsTest, RejectedEarlyDataIsSentAgain) {
  const std::vector<std::string> args = {"-v", "--tls-earlydata", "--ssl-sessions", sessions_.string(),
                                         "--cacert", ca_file(), url("/bytes/3")};
  ASSERT_EQ(quiver(args).exit_code, 0);
  server_->accept_early_data(false);
  const auto before = server_->stats().requests_started;
  auto second = quiver(args);
  ASSERT_EQ(second.exit_code, 0) << describe(second);
  EXPECT_EQ(second.out, "abc");
  EXPECT_NE(second.err.find("rejected by the server, sent again"), std::string::npos) << second.err;
  EXPECT_EQ(server_->stats().requests_started - before, 1u);
  EXPECT_EQ(server_->stats().early_requests, 0u);
}

}  // namespace
}  // namespace quiver::test

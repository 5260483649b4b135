// The interop fixture itself: each external server starts, listens on its port, and stops without
// leaving a process or a bound port behind. If this fails, the download tests' failures mean nothing.

#include <gtest/gtest.h>

#include <fstream>

#include "docroot.hpp"
#include "external_server.hpp"

namespace quiver::interop {
namespace {

class ServerLifecycle : public ::testing::TestWithParam<ServerKind> {};

TEST_P(ServerLifecycle, StartsListensAndStopsWithoutLeavingAProcess) {
  auto docroot = TempDir::create("lifecycle-docroot");
  ASSERT_TRUE(docroot) << docroot.error();
  std::ofstream(docroot->path() / "hello.txt") << "hello\n";

  auto server = ExternalServer::start(GetParam(), docroot->path());
  ASSERT_TRUE(server) << server.error();
  const pid_t pid = (*server)->pid();
  const std::uint16_t port = (*server)->port();
  ASSERT_GT(pid, 0);
  ASSERT_NE(port, 0);
  EXPECT_TRUE((*server)->running());
  EXPECT_TRUE((*server)->listening()) << (*server)->command_line() << "\n" << (*server)->log_tail();

  server->reset();  // stops and reaps

  EXPECT_FALSE(process_exists(pid)) << to_string(GetParam()) << " pid " << pid << " still exists";
}

TEST(ServerFixture, MissingBinaryFailsWithAClearMessage) {
  ::setenv("QUIVER_GTLSSERVER", "/nonexistent/gtlsserver", 1);
  auto server = ExternalServer::start(ServerKind::gtlsserver, "/tmp");
  ::unsetenv("QUIVER_GTLSSERVER");
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().find("not installed"), std::string::npos) << server.error();
  EXPECT_NE(server.error().find("/nonexistent/gtlsserver"), std::string::npos) << server.error();
}

INSTANTIATE_TEST_SUITE_P(Servers, ServerLifecycle,
                         ::testing::Values(ServerKind::caddy, ServerKind::gtlsserver),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace quiver::interop

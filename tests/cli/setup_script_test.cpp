// scripts/apt_sources.sh (setup.sh's apt step) against a temporary apt directory: a bookworm-backports
// entry is added only when no source file has one, whatever the file's format.
#include <fstream>

#include <fmt/format.h>

#include "cli/cli_fixture.hpp"

namespace quiver::test {
namespace {

using namespace std::chrono_literals;

const std::string script = std::string(QUIVER_TEST_DATA_DIR) + "/../../scripts/apt_sources.sh";

class AptSourcesTest : public ::testing::Test {
 protected:
  AptSourcesTest() { std::filesystem::create_directories(dir_.path() / "sources.list.d"); }

  void write(const std::string& name, const std::string& contents) const {
    std::ofstream(dir_.path() / name) << contents;
  }
  // Runs ensure_bookworm_backports with the temporary directory as /etc/apt.
  ProcessResult ensure() const {
    const std::string command =
        fmt::format("QUIVER_APT_DIR='{}'; source '{}'; ensure_bookworm_backports", dir_.path().string(), script);
    return run_process({"/bin/bash", "-c", command}, 15s);
  }
  std::string added() const { return read_file(dir_.path() / "sources.list.d/quiver-bookworm-backports.list"); }
  bool was_added() const {
    return std::filesystem::exists(dir_.path() / "sources.list.d/quiver-bookworm-backports.list");
  }

  TempDir dir_;
};

constexpr const char* debian_sources =
    "Types: deb\n"
    "URIs: http://mirror.example/debian\n"
    "Suites: bookworm bookworm-updates\n"
    "Components: main\n"
    "\n"
    "Types: deb\n"
    "URIs: http://mirror.example/debian-security\n"
    "Suites: bookworm-security\n"
    "Components: main\n";

TEST_F(AptSourcesTest, AddsBackportsFromTheBookwormMirrorOnce) {
  write("sources.list.d/debian.sources", debian_sources);
  auto first = ensure();
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  EXPECT_EQ(added(), "deb http://mirror.example/debian bookworm-backports main\n");
  auto again = ensure();
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_NE(again.out.find("already has bookworm-backports"), std::string::npos) << describe(again);
  EXPECT_EQ(added(), "deb http://mirror.example/debian bookworm-backports main\n");
}

TEST_F(AptSourcesTest, ExistingDeb822BackportsIsKept) {
  write("sources.list.d/debian.sources",
        std::string(debian_sources) +
            "\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm-backports\nComponents: main\n");
  auto result = ensure();
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_FALSE(was_added());
}

TEST_F(AptSourcesTest, ExistingOneLineBackportsIsKeptInAnyListFile) {
  write("sources.list.d/debian.sources", debian_sources);
  write("sources.list.d/backports.list",
        "# a comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm-backports main\n");
  auto result = ensure();
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_FALSE(was_added());
}

TEST_F(AptSourcesTest, ExistingBackportsInSourcesListIsKept) {
  write("sources.list", "deb http://mirror.example/debian bookworm main\n"
                        "deb http://mirror.example/debian bookworm-backports main contrib\n");
  auto result = ensure();
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_FALSE(was_added());
}

// Commented-out, deb-src-only and disabled entries do not count.
TEST_F(AptSourcesTest, InactiveBackportsEntriesDoNotCount) {
  write("sources.list", "deb http://mirror.example/debian bookworm main\n"
                        "# deb http://mirror.example/debian bookworm-backports main\n"
                        "deb-src http://mirror.example/debian bookworm-backports main\n");
  write("sources.list.d/off.sources",
        "Types: deb\nURIs: http://other.example/debian\nSuites: bookworm-backports\nEnabled: no\n");
  auto result = ensure();
  ASSERT_EQ(result.exit_code, 0) << describe(result);
  EXPECT_EQ(added(), "deb http://mirror.example/debian bookworm-backports main\n");
}

TEST_F(AptSourcesTest, NoBookwormEntryFails) {
  write("sources.list.d/other.list", "deb http://mirror.example/debian trixie main\n");
  auto result = ensure();
  EXPECT_EQ(result.exit_code, 1) << describe(result);
  EXPECT_NE(result.err.find("no bookworm entry found"), std::string::npos) << describe(result);
  EXPECT_FALSE(was_added());
}

}  // namespace
}  // namespace quiver::test

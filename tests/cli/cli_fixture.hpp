#pragma once
// Shared by the CLI tests: running the built `quiver` binary (QUIVER_CLI_PATH) with bounded waits, the
// project's server in-process with the test certificate, temporary directories.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/process.hpp"
#include "test_server/server.hpp"
#include "support/loopback.hpp"

namespace quiver::test {

// Runs `quiver args...`; killed (and reported as timed out) after `limit`.
ProcessResult quiver(const std::vector<std::string>& args,
                     std::chrono::milliseconds limit = std::chrono::seconds(15), const std::string& stdin_data = "");

// Polls `done` every few milliseconds until it is true (returns true) or `limit` passes (false): how a
// test waits for something another process or thread does, without guessing how long it takes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(15));

// Streams a result's output into a failure message.
std::string describe(const ProcessResult& result);

std::string read_file(const std::filesystem::path& path);

// A fresh directory under the temp dir, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  // Writes `contents` to `name` in the directory; returns its path.
  std::string write(const std::string& name, const std::string& contents) const;

 private:
  std::filesystem::path path_;
};

// A test with the project's server running on 127.0.0.1 (any port) with the test certificate.
class CliServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::string url(const std::string& target) const;
  static std::string ca_file() { return data_file("ca.pem"); }

  AccessLog access_log_;
  std::unique_ptr<server::Server> server_;
};

}  // namespace quiver::test

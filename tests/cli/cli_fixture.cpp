#include "cli/cli_fixture.hpp"

#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace quiver::test {

ProcessResult quiver(const std::vector<std::string>& args, std::chrono::milliseconds limit,
                     const std::string& stdin_data) {
  std::vector<std::string> argv{QUIVER_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, limit, stdin_data);
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string describe(const ProcessResult& result) {
  return fmt::format("exit {} signal {}{}\n--- stdout ---\n{}\n--- stderr ---\n{}", result.exit_code, result.signal,
                     result.timed_out ? " (timed out)" : "", result.out.substr(0, 4000), result.err.substr(0, 4000));
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return std::move(contents).str();
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "quiver-cli-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& contents) const {
  const auto file = path_ / name;
  std::ofstream(file, std::ios::binary) << contents;
  return file.string();
}

void CliServerTest::SetUp() {
  auto options = test_server_options();
  options.tcp = false;  // HTTP/3 only: quiver's default race (auto) then always ends on HTTP/3
  options.access_log = access_log_.sink();
  server_ = std::make_unique<server::Server>(std::move(options));
  start_or_throw(*server_);
}

void CliServerTest::TearDown() { server_.reset(); }

std::string CliServerTest::url(const std::string& target) const {
  return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
}

}  // namespace quiver::test

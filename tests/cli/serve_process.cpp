#include "cli/serve_process.hpp"

#include <chrono>
#include <regex>

#include <fmt/format.h>

namespace quiver::test {

using namespace std::chrono_literals;

ServeProcess::ServeProcess(const std::vector<std::string>& args) {
  std::vector<std::string> argv{QUIVER_CLI_PATH, "serve", "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  child_ = std::make_unique<ChildProcess>(argv);
  // The banner ends with the routes line.
  while (auto line = child_->read_line(10s)) {
    banner_ += *line + "\n";
    std::smatch match;
    if (std::regex_search(*line, match, std::regex(R"(^quiver serve: listening on https://[^ ]+:(\d+) \(.*\)$)"))) {
      port_ = static_cast<std::uint16_t>(std::stoi(match[1]));
    }
    if (std::regex_search(*line, match, std::regex(R"(self-signed certificate (\S+) \(SHA-256)"))) {
      certificate_ = match[1];
    }
    if (line->find("routes") != std::string::npos) break;
  }
}

std::string ServeProcess::url(const std::string& target) const {
  return fmt::format("https://127.0.0.1:{}{}", port_, target);
}

std::string ServeProcess::describe() const {
  return fmt::format("--- serve stdout ---\n{}\n--- serve stderr ---\n{}", child_->out(), child_->err());
}

ProcessResult ServeProcess::stop(int signal) {
  child_->send_signal(signal);
  return child_->wait(10s);
}

}  // namespace quiver::test

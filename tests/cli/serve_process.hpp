#pragma once
// `quiver serve --port 0 ...` running in the background for a test: its port and generated certificate
// parsed from the banner, stopped with a signal.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/process.hpp"

namespace quiver::test {

class ServeProcess {
 public:
  // Starts the server with `args` after "serve --port 0" and reads its banner (bounded). port() is 0
  // when no banner came.
  explicit ServeProcess(const std::vector<std::string>& args);

  std::uint16_t port() const noexcept { return port_; }
  std::string url(const std::string& target) const;  // https://127.0.0.1:PORT + target
  const std::string& banner() const noexcept { return banner_; }
  // The self-signed certificate file it announced ("" when --cert was given).
  const std::string& generated_certificate() const noexcept { return certificate_; }
  // The banner and whatever else was read, for failure messages.
  std::string describe() const;

  // Sends `signal` and waits (bounded) for the exit; the result holds all of its output.
  ProcessResult stop(int signal);

 private:
  std::unique_ptr<ChildProcess> child_;
  std::string banner_;
  std::uint16_t port_ = 0;
  std::string certificate_;
};

}  // namespace quiver::test

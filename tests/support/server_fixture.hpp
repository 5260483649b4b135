#pragma once
// A test with the project's server on loopback (access log recorded) and Clients of any protocol against
// it: what the server tests per protocol share. Header-only.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "quiver/client.hpp"
#include "support/loopback.hpp"
#include "support/route_answer.hpp"

namespace quiver::test {

class ServerFixture : public ::testing::Test {
 protected:
  void start_server(server::ServerOptions options = test_server_options()) {
    options.access_log = access_log_.sink();
    server_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*server_);
  }

  static std::unique_ptr<Client> make_client(HttpVersion version, std::shared_ptr<Telemetry> telemetry = nullptr) {
    ClientOptions options;
    options.defaults.connection = test_client_options();
    options.defaults.connection.http_version = version;
    options.defaults.connection.telemetry = std::move(telemetry);
    options.defaults.request_timeout = std::chrono::seconds(10);
    return std::make_unique<Client>(options);
  }

  std::string url(const std::string& target) const {
    return fmt::format("https://127.0.0.1:{}{}", server_->port(), target);
  }

  // The server's access log entries for `path` (a request the server processed). The server logs a
  // stream when it closes, which may be just after the client has the whole response: waits (briefly)
  // for the first entry.
  std::size_t processed(const std::string& path) const {
    auto count = [&] {
      std::size_t n = 0;
      for (const auto& entry : access_log_.entries()) n += entry.path == path ? 1 : 0;
      return n;
    };
    wait_for([&] { return count() > 0; }, std::chrono::seconds(2));
    return count();
  }

  AccessLog access_log_;
  std::unique_ptr<server::Server> server_;
};

}  // namespace quiver::test

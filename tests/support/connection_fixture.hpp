#pragma once
// A GoogleTest fixture: the project's server on loopback, one worker connection to it, an observer and
// the server's access log.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "support/loopback.hpp"

namespace quiver::test {

using namespace std::chrono_literals;

class ConnectionTest : public ::testing::Test {
 public:
 protected:
  void start_server(server::ServerOptions options = test_server_options()) {
    options.access_log = access_log_.sink();
    server_ = std::make_unique<server::Server>(std::move(options));
    start_or_throw(*server_);
  }

  std::shared_ptr<h3::Connection> connect(ConnectionOptions options = test_client_options(),
                                          std::string host = "127.0.0.1") {
    connection_ = h3::Connection::create(io_.get_executor(), quiver::Origin{host, server_->port()}, options,
                                         &observer_);
    connection_->start();
    return connection_;
  }

  Request get(const std::string& target) {
    Request request;
    std::string host = connection_ ? connection_->origin().host : "127.0.0.1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    request.url = *Url::parse(fmt::format("https://{}:{}{}", host, server_->port(), target));
    return request;
  }

  // Sends one request and waits for its reply.
  Result<Response> fetch(Request request) {
    std::optional<Result<Response>> reply;
    connection_->request(std::move(request), [&](Result<Response> r) { reply = std::move(r); });
    EXPECT_TRUE(run_until(io_, [&] { return reply.has_value(); })) << "no reply";
    return reply.value_or(std::unexpected(Error(ErrorKind::io_error, "test: no reply")));
  }

  bool wait_connected() {
    return run_until(io_, [&] { return connection_->state() != h3::ConnectionState::connecting; });
  }

  void TearDown() override {
    if (connection_) {
      connection_->close();
      run_until(io_, [] { return false; }, 20ms);
    }
  }

  asio::io_context io_;
  AccessLog access_log_;
  RecordingObserver observer_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<h3::Connection> connection_;
};


}  // namespace quiver::test

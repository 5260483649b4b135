// Downloads from real third-party HTTP/3 servers — caddy (quic-go) and gtlsserver (ngtcp2) — through
// quiver::h3::Connection with certificate verification on, and checks every byte.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "docroot.hpp"
#include "external_server.hpp"
#include "h3/connection.hpp"
#include "quiver/quiver.hpp"

namespace quiver::interop {
namespace {

using namespace std::chrono_literals;

// A bug in the client must fail a test, not hang the suite: the connection is closed after this, and
// the event loop is abandoned shortly after (well inside ctest's 120 s per test).
constexpr auto safety_timeout = 60s;
constexpr auto hard_stop_margin = 10s;

// The document root every test serves, generated once per process and removed at exit.
const Docroot& shared_docroot() {
  static const Docroot docroot = [] {
    auto created = Docroot::create();
    if (!created) {
      throw std::runtime_error("cannot create the document root: " + created.error());
    }
    return std::move(*created);
  }();
  return docroot;
}

// What one request's handler saw. The handler must run exactly once.
struct Outcome {
  int calls = 0;
  std::optional<Result<Response>> result;  // from the first call
};

// Client options for the interop servers: verification on, trusting only tests/data/ca.pem besides
// the system store.
ConnectionOptions trusting_test_ca() {
  ConnectionOptions options;
  options.tls.ca_file = test_ca_file().string();
  return options;
}

// Runs GET requests for `paths` concurrently over ONE connection to https://127.0.0.1:port.
// Lifetime: the connection is released first (its socket must not outlive io_); handlers still queued
// in io_ are then destroyed, never run. `running_` guards against a handler invoked from the
// connection's destructor: it must not touch timer_, which io_ outlives only by declaration order.
class OneConnectionFetch {
 public:
  OneConnectionFetch(std::uint16_t port, const std::vector<std::string>& paths,
                     ConnectionOptions options = trusting_test_ca())
      : port_(port), paths_(paths), outcomes_(paths.size()), remaining_(paths.size()) {
    connection_ = h3::Connection::create(io_.get_executor(), quiver::Origin{"127.0.0.1", port}, options);
  }

  ~OneConnectionFetch() {
    running_ = false;
    connection_.reset();
  }

  // Starts the connection, sends every request at once (they queue until the handshake is done) and
  // runs until every request completed (then closes the connection) or the safety timeout fired.
  void run() {
    timer_.expires_after(safety_timeout);
    timer_.async_wait([this](std::error_code ec) {
      if (!ec) {
        timed_out_ = true;
        connection_->close();  // fails whatever is in flight
      }
    });
    connection_->start();
    for (std::size_t i = 0; i < paths_.size(); ++i) {
      send(i, paths_[i]);
    }
    if (remaining_ == 0) {
      finish();
    }
    io_.run_for(safety_timeout + hard_stop_margin);
  }

  const std::vector<Outcome>& outcomes() const { return outcomes_; }
  bool timed_out() const { return timed_out_; }
  std::string url(std::string_view path) const {
    return "https://127.0.0.1:" + std::to_string(port_) + "/" + std::string(path);
  }

 private:
  void send(std::size_t index, const std::string& path) {
    auto parsed = Url::parse(url(path));
    if (!parsed) {  // recorded as this request's outcome; nothing is sent
      outcomes_[index] = {1, std::unexpected(parsed.error())};
      --remaining_;
      return;
    }
    Request request;
    request.url = std::move(*parsed);
    connection_->request(std::move(request), [this, index](Result<Response> result) {
      on_response(index, std::move(result));
    });
  }

  void on_response(std::size_t index, Result<Response> result) {
    Outcome& outcome = outcomes_[index];
    if (outcome.calls++ > 0) {
      return;  // a second call is a bug the test reports; it must not count twice
    }
    outcome.result = std::move(result);
    if (--remaining_ == 0 && running_) {
      finish();
    }
  }

  void finish() {
    timer_.cancel();
    connection_->close();
  }

  std::uint16_t port_;
  std::vector<std::string> paths_;
  std::vector<Outcome> outcomes_;
  std::size_t remaining_;  // requests whose handler has not run yet
  bool timed_out_ = false;
  bool running_ = true;  // false once destruction began
  asio::io_context io_;
  asio::steady_timer timer_{io_};
  std::shared_ptr<h3::Connection> connection_;
};

// Byte-for-byte equality without printing megabytes: reports sizes and the first differing offset.
::testing::AssertionResult same_bytes(std::string_view expected, std::string_view actual) {
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure()
           << "body has " << actual.size() << " bytes, expected " << expected.size();
  }
  const auto [e, a] = std::mismatch(expected.begin(), expected.end(), actual.begin());
  if (e == expected.end()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "body differs from byte " << (e - expected.begin()) << " of "
                                       << expected.size();
}

// The request completed once, with 200, a matching content-length and exactly the file's bytes.
::testing::AssertionResult downloaded(const Outcome& outcome, std::string_view expected) {
  if (outcome.calls != 1) {
    return ::testing::AssertionFailure() << "handler ran " << outcome.calls << " times, expected once";
  }
  if (!outcome.result->has_value()) {
    return ::testing::AssertionFailure() << "request failed: " << outcome.result->error().to_string();
  }
  const Response& response = **outcome.result;
  if (response.status != 200) {
    return ::testing::AssertionFailure() << "status " << response.status << ", expected 200";
  }
  const std::string length = std::to_string(expected.size());
  if (response.headers.get("content-length") != std::optional<std::string_view>(length)) {
    return ::testing::AssertionFailure() << "content-length is "
                                         << response.headers.get("content-length").value_or("absent")
                                         << ", expected " << length;
  }
  return same_bytes(expected, response.body);
}

std::unique_ptr<ExternalServer> start_or_fail(ServerKind kind, std::string& error) {
  auto server = ExternalServer::start(kind, shared_docroot().path());
  if (!server) {
    error = server.error();
    return nullptr;
  }
  return std::move(*server);
}

// Server log and command line, appended to failure messages.
std::string diagnostics(const ExternalServer& server) {
  return "\n--- " + server.command_line() + " ---\n" + server.log_tail();
}

// ---------------------------------------------------------------------------------------------------
// One file per connection: server x size.

using DownloadCase = std::tuple<ServerKind, ServedFile>;

class Download : public ::testing::TestWithParam<DownloadCase> {
 protected:
  void SetUp() override {
    std::string error;
    server_ = start_or_fail(std::get<ServerKind>(GetParam()), error);
    ASSERT_TRUE(server_) << error;
  }
  std::unique_ptr<ExternalServer> server_;
};

TEST_P(Download, BodyIsByteIdentical) {
  const ServedFile& file = std::get<ServedFile>(GetParam());
  OneConnectionFetch fetch(server_->port(), {file.name});
  fetch.run();

  ASSERT_FALSE(fetch.timed_out()) << "no response within " << safety_timeout.count() << " s"
                                  << diagnostics(*server_);
  EXPECT_TRUE(downloaded(fetch.outcomes()[0], shared_docroot().contents(file.name)))
      << fetch.url(file.name) << diagnostics(*server_);
}

INSTANTIATE_TEST_SUITE_P(Interop, Download,
                         ::testing::Combine(::testing::Values(ServerKind::caddy, ServerKind::gtlsserver),
                                            ::testing::ValuesIn(standard_files())),
                         [](const ::testing::TestParamInfo<DownloadCase>& info) {
                           return std::string(to_string(std::get<ServerKind>(info.param))) + "_" +
                                  std::get<ServedFile>(info.param).label;
                         });

// ---------------------------------------------------------------------------------------------------
// Tests parameterized by server only.

class WithServer : public ::testing::TestWithParam<ServerKind> {
 protected:
  void SetUp() override {
    std::string error;
    server_ = start_or_fail(GetParam(), error);
    ASSERT_TRUE(server_) << error;
  }
  std::unique_ptr<ExternalServer> server_;
};

std::string server_name(const ::testing::TestParamInfo<ServerKind>& info) {
  return std::string(to_string(info.param));
}

// All files at once on one connection: interleaved streams, shared connection-level flow control.
class ConcurrentDownload : public WithServer {};

TEST_P(ConcurrentDownload, AllFilesOnOneConnection) {
  std::vector<std::string> names;
  for (const ServedFile& file : standard_files()) {
    names.push_back(file.name);
  }
  OneConnectionFetch fetch(server_->port(), names);
  fetch.run();

  ASSERT_FALSE(fetch.timed_out()) << "not all responses within " << safety_timeout.count() << " s"
                                  << diagnostics(*server_);
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(downloaded(fetch.outcomes()[i], shared_docroot().contents(names[i])))
        << fetch.url(names[i]) << diagnostics(*server_);
  }
}

INSTANTIATE_TEST_SUITE_P(Interop, ConcurrentDownload,
                         ::testing::Values(ServerKind::caddy, ServerKind::gtlsserver), server_name);

// The downloads prove verification succeeds; this proves it is really on: the same server, trusting a
// CA that did not sign its certificate.
class Verification : public WithServer {};

TEST_P(Verification, UntrustedCertificateFailsTheHandshake) {
  ConnectionOptions options;
  options.tls.ca_file = (test_ca_file().parent_path() / "selfsigned.pem").string();
  OneConnectionFetch fetch(server_->port(), {standard_files().front().name}, options);
  fetch.run();

  ASSERT_FALSE(fetch.timed_out()) << diagnostics(*server_);
  const Outcome& outcome = fetch.outcomes()[0];
  ASSERT_EQ(outcome.calls, 1);
  ASSERT_FALSE(outcome.result->has_value()) << "status " << (*outcome.result)->status;
  const Error& error = outcome.result->error();
  EXPECT_EQ(error.kind(), ErrorKind::handshake_failed) << error.to_string();
  EXPECT_EQ(error.handshake_failure, HandshakeFailure::certificate) << error.to_string();
}

INSTANTIATE_TEST_SUITE_P(Interop, Verification,
                         ::testing::Values(ServerKind::caddy, ServerKind::gtlsserver), server_name);

}  // namespace
}  // namespace quiver::interop

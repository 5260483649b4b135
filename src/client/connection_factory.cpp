// The composition root: the one file above src/h3 that names a protocol implementation, and the one
// that builds what a Client's connections share below the workers (the TLS session cache). Today every
// connection is HTTP/3; choosing a protocol (Alt-Svc, TCP fallback) belongs here.
#include "client/connection_factory.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "h3/connection.hpp"
#include "tls/session_cache.hpp"

namespace quiver::client {
namespace {

class RealConnectionFactory final : public pool::ConnectionFactory {
 public:
  explicit RealConnectionFactory(quic::DialShared shared) : shared_(std::move(shared)) {}

  std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const Origin& origin,
                                           const ConnectionOptions& options,
                                           http::ConnectionObserver* observer) override {
    return h3::Connection::create(std::move(executor), origin, options, observer, shared_);
  }

 private:
  quic::DialShared shared_;  // the same for every connection of the Client
};

void warn(const ClientOptions& options, const std::string& message) {
  if (options.on_warning) {
    options.on_warning(message);
  } else {
    fmt::print(stderr, "quiver: warning: {}\n", message);
  }
}

}  // namespace

std::shared_ptr<pool::ConnectionFactory> real_connection_factory(const ClientOptions& options) {
  auto sessions = std::make_shared<tls::SessionCache>(options.session_cache_size, options.session_file);
  if (auto loaded = sessions->load_file(); !loaded) warn(options, loaded.error().message());
  return std::make_shared<RealConnectionFactory>(quic::DialShared{std::move(sessions), options.early_data});
}

}  // namespace quiver::client

// The composition root: the one file above the protocol folders that names their implementations, and
// the one that builds what a Client's connections share below the workers (the TLS session cache, for
// every protocol: keys differ by ALPN, so a ticket never crosses protocols). The connection options
// choose: HTTP/3 (src/h3) unless http_version asks for HTTP/2 (src/h2) or HTTP/1.1 (src/h1). Choosing per
// origin (Alt-Svc, racing, fallback) belongs here too.
#include "client/connection_factory.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "h1/connection.hpp"
#include "h2/connection.hpp"
#include "h3/connection.hpp"
#include "tls/session_cache.hpp"

namespace quiver::client {
namespace {

class RealConnectionFactory final : public pool::ConnectionFactory {
 public:
  explicit RealConnectionFactory(quic::DialShared shared)
      : shared_(std::move(shared)), tcp_shared_{shared_.sessions} {}

  std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const Origin& origin,
                                           const ConnectionOptions& options,
                                           http::ConnectionObserver* observer) override {
    switch (options.http_version) {
      case HttpVersion::http2:
        return h2::Connection::create(std::move(executor), origin, options, observer, tcp_shared_);
      case HttpVersion::http1_1:
        return h1::Connection::create(std::move(executor), origin, options, observer, tcp_shared_);
      case HttpVersion::http3_only:
        break;
    }
    return h3::Connection::create(std::move(executor), origin, options, observer, shared_);
  }

 private:
  quic::DialShared shared_;    // the same for every HTTP/3 connection of the Client
  tcp::DialShared tcp_shared_;  // and every HTTP/2 one: the same session cache (no early data over TCP)
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

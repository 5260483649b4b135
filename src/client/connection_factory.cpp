// The composition root: the one file above the protocol folders that names their implementations. The
// connection options choose: HTTP/3 (src/h3) unless http_version asks for HTTP/2 (src/h2). Choosing per
// origin (Alt-Svc, racing, fallback) belongs here too.
#include "client/connection_factory.hpp"

#include "h2/connection.hpp"
#include "h3/connection.hpp"

namespace quiver::client {
namespace {

class RealConnectionFactory final : public pool::ConnectionFactory {
 public:
  std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const Origin& origin,
                                           const ConnectionOptions& options,
                                           http::ConnectionObserver* observer) override {
    switch (options.http_version) {
      case HttpVersion::http2:
        return h2::Connection::create(std::move(executor), origin, options, observer);
      case HttpVersion::http3_only:
        break;
    }
    return h3::Connection::create(std::move(executor), origin, options, observer);
  }
};

}  // namespace

std::shared_ptr<pool::ConnectionFactory> real_connection_factory() {
  return std::make_shared<RealConnectionFactory>();
}

}  // namespace quiver::client

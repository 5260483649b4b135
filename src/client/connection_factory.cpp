// The composition root: the one file above src/h3 that names a protocol implementation. Today every
// connection is HTTP/3; choosing a protocol (Alt-Svc, TCP fallback) belongs here.
#include "client/connection_factory.hpp"

#include "h3/connection.hpp"

namespace quiver::client {
namespace {

class RealConnectionFactory final : public pool::ConnectionFactory {
 public:
  std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const Origin& origin,
                                           const ConnectionOptions& options,
                                           http::ConnectionObserver* observer) override {
    return h3::Connection::create(std::move(executor), origin, options, observer);
  }
};

}  // namespace

std::shared_ptr<pool::ConnectionFactory> real_connection_factory() {
  return std::make_shared<RealConnectionFactory>();
}

}  // namespace quiver::client

#include "pool/connection_factory.hpp"

#include "h3/connection.hpp"

namespace quiver::pool {
namespace {

class RealConnectionFactory final : public ConnectionFactory {
 public:
  std::shared_ptr<http::Connection> create(asio::any_io_executor executor, const Origin& origin,
                                           const ConnectionOptions& options,
                                           http::ConnectionObserver* observer) override {
    return h3::Connection::create(std::move(executor), origin, options, observer);
  }
};

}  // namespace

std::shared_ptr<ConnectionFactory> real_connection_factory() {
  return std::make_shared<RealConnectionFactory>();
}

}  // namespace quiver::pool

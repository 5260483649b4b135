#include "pool/connection_factory.hpp"

namespace quiver::pool {
namespace {

class RealConnectionFactory final : public ConnectionFactory {
 public:
  std::shared_ptr<h3::Connection> create(asio::any_io_executor executor, const h3::Origin& origin,
                                         const ConnectionOptions& options,
                                         h3::ConnectionObserver* observer) override {
    return h3::Connection::create(std::move(executor), origin, options, observer);
  }
};

}  // namespace

std::shared_ptr<ConnectionFactory> real_connection_factory() {
  return std::make_shared<RealConnectionFactory>();
}

}  // namespace quiver::pool

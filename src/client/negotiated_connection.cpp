#include "client/negotiated_connection.hpp"

#include <asio/post.hpp>
#include <fmt/format.h>

namespace quiver::client {

std::shared_ptr<NegotiatedConnection> NegotiatedConnection::create(asio::any_io_executor executor, Origin origin,
                                                                   const ConnectionOptions& options,
                                                                   http::ConnectionObserver* observer,
                                                                   std::unique_ptr<Dial> dial) {
  return std::make_shared<NegotiatedConnection>(PrivateTag{}, std::move(executor), std::move(origin), options,
                                                observer, std::move(dial));
}

NegotiatedConnection::NegotiatedConnection(PrivateTag, asio::any_io_executor executor, Origin origin,
                                           const ConnectionOptions& options, http::ConnectionObserver* observer,
                                           std::unique_ptr<Dial> dial)
    : ForwardingConnection(std::move(executor), std::move(origin), observer),
      connect_timeout_(options.connect_timeout),
      dial_(std::move(dial)) {}

NegotiatedConnection::~NegotiatedConnection() { drop(worker_, true); }

void NegotiatedConnection::start() {
  hold_self();
  connect_timer_.emplace(executor_, connect_timeout_);
  connect_timer_->async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = std::static_pointer_cast<NegotiatedConnection>(weak.lock());
    if (!ec && self) self->on_connect_timeout();
  });
  dial_->start([weak = weak_from_this()] {
    if (auto self = std::static_pointer_cast<NegotiatedConnection>(weak.lock())) self->on_dialed();
  });
}

void NegotiatedConnection::on_dialed() {
  connect_timer_.reset();
  if (closing_) return;
  worker_ = dial_->make_worker(this);
  target_ = worker_.get();
  worker_->start();
}

void NegotiatedConnection::on_connect_timeout() {
  connect_timer_.reset();
  Error error(ErrorKind::handshake_failed, ErrorClass::transient,
              fmt::format("no TCP connection to {} within {} ms (TCP and TLS; nothing answering?)",
                          origin_.to_string(), connect_timeout_.count()));
  error.handshake_failure = HandshakeFailure::timeout;
  dial_->abort(error);
}

void NegotiatedConnection::drain() {
  if (!worker_) return close();
  worker_->drain();
}

// With a worker, its own close() ends it and its on_closed comes back as ours. Without one, the dial is
// aborted and the observer hears of it in a posted step.
void NegotiatedConnection::close() {
  if (closed_ || closing_) return;
  if (worker_) return worker_->close();
  Error error(ErrorKind::transport_error, ErrorClass::unrecoverable,
              fmt::format("connection to {} closed by the client while connecting", origin_.to_string()));
  closing_ = true;
  connect_timer_.reset();
  dial_->abort(error);
  asio::post(executor_, [self = std::static_pointer_cast<NegotiatedConnection>(shared_from_this()), error] {
    self->report_closed(error);
  });
}

std::string NegotiatedConnection::not_ready_reason() const {
  return fmt::format("the connection to {} is still connecting; not sent", origin_.to_string());
}

std::string NegotiatedConnection::debug_string() const {
  if (worker_) return worker_->debug_string();
  return fmt::format("{} state={} dialing", origin_.to_string(), to_string(state()));
}

}  // namespace quiver::client

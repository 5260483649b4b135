#include "client/forwarding_connection.hpp"

#include <asio/post.hpp>

namespace quiver::client {

ForwardingConnection::ForwardingConnection(asio::any_io_executor executor, Origin origin,
                                           http::ConnectionObserver* observer)
    : executor_(std::move(executor)), origin_(std::move(origin)), observer_(observer) {}

void ForwardingConnection::drop(std::shared_ptr<http::Connection>& connection, bool close) {
  if (!connection) return;
  auto dropped = std::move(connection);
  dropped->set_observer(nullptr);
  if (close) dropped->close();
}

void ForwardingConnection::report_closed(const Error& reason) {
  if (closed_) return;
  closed_ = true;
  if (auto* observer = std::exchange(observer_, nullptr)) observer->on_closed(*this, reason);
  asio::post(executor_, [self = std::move(self_)] {});
}

// ---- requests ------------------------------------------------------------------------------------

template <class Handler>
void ForwardingConnection::refuse(Handler handler) const {
  Error error(ErrorKind::transport_error, ErrorClass::transient, not_ready_reason());
  error.unprocessed = true;
  asio::post(executor_, [handler = std::move(handler), error = std::move(error)]() mutable {
    handler(std::unexpected(error));
  });
}

void ForwardingConnection::request(Request request, http::ResponseHandler on_done, asio::cancellation_slot cancel) {
  if (!live_target()) return refuse(std::move(on_done));
  target_->request(std::move(request), forward(std::move(on_done)), cancel);
}

void ForwardingConnection::stream(Request request, http::StreamHandler on_headers, asio::cancellation_slot cancel) {
  if (!live_target()) return refuse(std::move(on_headers));
  target_->stream(std::move(request), forward(std::move(on_headers)), cancel);
}

void ForwardingConnection::channel(Request request, std::shared_ptr<http::ChannelEndpoint> endpoint,
                                   http::StreamHandler on_headers, asio::cancellation_slot cancel) {
  if (!live_target()) return refuse(std::move(on_headers));
  target_->channel(std::move(request), std::move(endpoint), forward(std::move(on_headers)), cancel);
}

http::ConnectionState ForwardingConnection::state() const noexcept {
  if (closed_) return http::ConnectionState::closed;
  return target_ ? target_->state() : http::ConnectionState::connecting;
}

// ---- the target's events -------------------------------------------------------------------------

void ForwardingConnection::on_ready(http::Connection& from, std::uint64_t max_streams) {
  if (is_target(from) && observer_) observer_->on_ready(*this, max_streams);
}

void ForwardingConnection::on_stream_done(http::Connection& from) {
  if (is_target(from) && observer_) observer_->on_stream_done(*this);
}

void ForwardingConnection::on_stream_credit(http::Connection& from) {
  if (is_target(from) && observer_) observer_->on_stream_credit(*this);
}

void ForwardingConnection::on_stream_open_failed(http::Connection& from, const Error& error) {
  if (is_target(from) && observer_) observer_->on_stream_open_failed(*this, error);
}

void ForwardingConnection::on_draining(http::Connection& from) {
  if (is_target(from) && observer_) observer_->on_draining(*this);
}

void ForwardingConnection::on_closed(http::Connection& from, const Error& reason) {
  if (is_target(from)) report_closed(reason);
}

void ForwardingConnection::on_early_data_ready(http::Connection& from) {
  if (is_target(from) && observer_) observer_->on_early_data_ready(*this);
}

}  // namespace quiver::client

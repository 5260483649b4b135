#pragma once
// ForwardingConnection: what the client's composite connections (RaceConnection: QUIC raced against TCP;
// NegotiatedConnection: the worker the server's ALPN picks) share. Each owns one or more connections of
// its own; once one of them is the `target`, this object is that connection to the pool: every call goes
// to the target, and the target's observer events come out as this object's.
//
// Before a target is known: state connecting, no credit, and request(), stream() and channel() are
// answered at once (posted) as `unprocessed` (transient): the pool sends nothing before on_ready or
// on_early_data_ready, so only a direct caller sees this.
//
// Threading: the http::Connection rules (one executor; the owned connections post their observer calls).
// Lifetime: holds itself from hold_self() (its start()) until report_closed(), released a posted step later.

#include <cstdint>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>

#include "http/connection.hpp"

namespace quiver::client {

class ForwardingConnection : public http::Connection, protected http::ConnectionObserver {
 public:
  ~ForwardingConnection() override = default;

  // http::Connection, passed to the target
  void request(Request request, http::ResponseHandler on_done, asio::cancellation_slot cancel) override;
  void stream(Request request, http::StreamHandler on_headers, asio::cancellation_slot cancel) override;
  bool supports_channels() const noexcept override { return live_target() && target_->supports_channels(); }
  void channel(Request request, std::shared_ptr<http::ChannelEndpoint> endpoint, http::StreamHandler on_headers,
               asio::cancellation_slot cancel) override;
  http::ConnectionState state() const noexcept override;
  std::uint64_t max_streams() const noexcept override { return live_target() ? target_->max_streams() : 0; }
  std::uint64_t early_streams() const noexcept override { return live_target() ? target_->early_streams() : 0; }
  std::size_t requests_in_flight() const noexcept override { return target_ ? target_->requests_in_flight() : 0; }
  http::ChannelSupport channel_support() const noexcept override {
    return live_target() ? target_->channel_support() : http::ChannelSupport{};
  }
  std::string http_version() const override { return target_ ? target_->http_version() : std::string(); }
  const Origin& origin() const noexcept override { return origin_; }
  void set_observer(http::ConnectionObserver* observer) noexcept override { observer_ = observer; }

 protected:
  ForwardingConnection(asio::any_io_executor executor, Origin origin, http::ConnectionObserver* observer);

  // The target's events, passed on as this object's (from any other owned connection: ignored).
  void on_ready(http::Connection& from, std::uint64_t max_streams) override;
  void on_stream_done(http::Connection& from) override;
  void on_stream_credit(http::Connection& from) override;
  void on_stream_open_failed(http::Connection& from, const Error& error) override;
  void on_draining(http::Connection& from) override;
  void on_closed(http::Connection& from, const Error& reason) override;
  void on_early_data_ready(http::Connection& from) override;

  // A response's way back through this object (identity unless a subclass has something to note).
  virtual http::ResponseHandler forward(http::ResponseHandler on_done) { return on_done; }
  virtual http::StreamHandler forward(http::StreamHandler on_headers) { return on_headers; }
  // Why a request made before there is a target is not sent ("still racing QUIC against TCP").
  virtual std::string not_ready_reason() const = 0;

  bool is_target(const http::Connection& connection) const noexcept { return target_ == &connection; }
  bool live_target() const noexcept { return target_ != nullptr && !closed_; }
  // The connection ends: once, the observer hears on_closed (this is always called from an owned
  // connection's posted event or a posted step, never inside a caller's call), and the self-hold goes.
  void report_closed(const Error& reason);
  void hold_self() { self_ = shared_from_this(); }
  // Detaches this object from `connection` first, so none of its events reaches us again; then closes it.
  static void drop(std::shared_ptr<http::Connection>& connection, bool close);

  asio::any_io_executor executor_;
  Origin origin_;
  http::ConnectionObserver* observer_;  // borrows
  http::Connection* target_ = nullptr;  // an owned connection, once there is one to pass everything to
  bool closed_ = false;

 private:
  template <class Handler>
  void refuse(Handler handler) const;

  std::shared_ptr<http::Connection> self_;  // from hold_self() until report_closed()
};

}  // namespace quiver::client

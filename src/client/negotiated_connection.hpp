#pragma once
// NegotiatedConnection: a connection whose protocol the server picks during the handshake. It dials first
// (for TCP: TCP and TLS, offering ALPN h2 and http/1.1), then makes the worker for the protocol the server
// chose and hands it the dialed stream; from then on the worker is the target of a ForwardingConnection.
// The composition root supplies the dial and the workers (Dial), so this file names no protocol.
//
//   start ─▶ Dial::start ─▶ done ─▶ Dial::make_worker (h2 or h1, by ALPN) ─▶ worker->start ─▶ on_ready …
//
// The connect timeout is one budget: the dial is aborted when it runs out, and the worker's own connect
// timeout counts from the dial's start. A dial that failed (or was aborted by the timeout) still gets a
// worker, which reports the failure as its handshake error, exactly as a worker that dialed itself would
// (telemetry, on_closed). close() during the dial aborts it and reports on_closed from a posted step,
// with no worker made.
//
// Threading and lifetime: ForwardingConnection's. Owns the dial and the worker.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <asio/steady_timer.hpp>

#include "client/forwarding_connection.hpp"
#include "quiver/options.hpp"

namespace quiver::client {

class NegotiatedConnection final : public ForwardingConnection {
  struct PrivateTag {};

 public:
  // One dial and the worker for its outcome; used on the connection's executor.
  class Dial {
   public:
    virtual ~Dial() = default;
    // Dials; `on_done` is called once when the dial has finished either way (possibly inside abort()).
    virtual void start(std::move_only_function<void()> on_done) = 0;
    // Ends a dial that is still running with `reason` (its outcome).
    virtual void abort(Error reason) = 0;
    // After on_done: the worker for the outcome (the protocol the server chose; after a failure, one that
    // reports it), not started, observed by `observer`.
    virtual std::shared_ptr<http::Connection> make_worker(http::ConnectionObserver* observer) = 0;
  };

  static std::shared_ptr<NegotiatedConnection> create(asio::any_io_executor executor, Origin origin,
                                                      const ConnectionOptions& options,
                                                      http::ConnectionObserver* observer, std::unique_ptr<Dial> dial);
  NegotiatedConnection(PrivateTag, asio::any_io_executor executor, Origin origin, const ConnectionOptions& options,
                       http::ConnectionObserver* observer, std::unique_ptr<Dial> dial);
  ~NegotiatedConnection() override;

  // http::Connection (the rest: ForwardingConnection)
  void start() override;
  void drain() override;
  void close() override;
  std::string debug_string() const override;

 private:
  void on_dialed();
  void on_connect_timeout();
  std::string not_ready_reason() const override;

  std::chrono::milliseconds connect_timeout_;
  std::unique_ptr<Dial> dial_;
  std::optional<asio::steady_timer> connect_timer_;  // armed while dialing
  std::shared_ptr<http::Connection> worker_;         // made once the dial is done; then the target
  bool closing_ = false;                             // close() before there was a worker: none is made
};

}  // namespace quiver::client

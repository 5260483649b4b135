#pragma once
// tcp::StreamSource: where a TCP worker (src/h2, src/h1) gets its TLS stream from. Either a dial that
// runs when the worker starts (tcp::Dialer), or one that already finished (tcp::DialedStream): the
// composition root dials first when the server's ALPN choice decides which worker to make
// (client::NegotiatedConnection), then hands the outcome to that worker.
//
// Used on the worker's executor. The handler is called exactly once: with the stream or the error, from
// an Asio completion or a posted step, or inside abort() with its reason.

#include <chrono>
#include <functional>
#include <memory>

#include <asio/any_io_executor.hpp>

#include "quiver/error.hpp"
#include "tcp/tls_stream.hpp"

namespace quiver::tcp {

class StreamSource {
 public:
  using Handler = std::move_only_function<void(Result<std::shared_ptr<TlsStream>>)>;

  virtual ~StreamSource() = default;
  // Hands over the connected stream (TLS done, ALPN agreed) or why there is none; once.
  virtual void dial(Handler on_done) = 0;
  // Ends the dial now: the handler gets `reason` if it has not been called (a stream not yet handed over
  // is closed).
  virtual void abort(Error reason) = 0;
  // When the dial began (time_point{} before dial()): the worker's connect timeout counts from here.
  virtual std::chrono::steady_clock::time_point started_at() const noexcept = 0;
};

// A dial that already finished: hands its outcome over in a posted step.
class DialedStream final : public StreamSource, public std::enable_shared_from_this<DialedStream> {
 public:
  DialedStream(asio::any_io_executor executor, Result<std::shared_ptr<TlsStream>> outcome,
               std::chrono::steady_clock::time_point started_at);

  void dial(Handler on_done) override;
  void abort(Error reason) override;
  std::chrono::steady_clock::time_point started_at() const noexcept override { return started_at_; }

 private:
  void hand_over();

  asio::any_io_executor executor_;
  Result<std::shared_ptr<TlsStream>> outcome_;
  std::chrono::steady_clock::time_point started_at_;
  Handler on_done_;
  bool handed_over_ = false;
};

}  // namespace quiver::tcp

#pragma once
// One request as the caller sees it, above the pools: the redirects it follows (client/redirects.hpp) and
// the decoding of its body (http/decoding_body_reader.hpp). Each hop is sent as a stream through the pool
// of its origin; a redirect's body is dropped unread (its stream is cancelled, its connection stays);
// the answer's head is handed on with its body reader, decoding when asked. The buffered request() reads
// that reader to the end (collect_response).
//
// Threading: a hop's answer arrives on its pool's executor; everything that follows from it runs there.
// ExchangeCancel is the only part used from other threads.

#include <functional>
#include <memory>
#include <mutex>

#include <asio/any_io_executor.hpp>

#include "http/body_reader.hpp"
#include "quiver/client.hpp"

namespace quiver::client {

// The request's own redirect and decompression settings, else the client's.
struct ExchangeSettings {
  RedirectPolicy redirects;
  Decompression decompression;
  // Whether the request needs the exchange at all (otherwise it goes to its pool as it is).
  bool needed() const noexcept { return redirects.follow || decompression.enabled; }
};
ExchangeSettings exchange_settings(const ClientOptions& options, const Request& request);

// Lets a caller's cancellation reach whichever step of an exchange is running: a hop waiting for its
// pool, or the body being read. Thread-safe.
class ExchangeCancel {
 public:
  // Cancels the running step and every later one.
  void cancel();
  bool requested() const;
  // How to cancel the step that runs now (replacing the previous one's); run at once if a cancel came
  // first. `cancel_step` must be thread-safe (it posts to its executor).
  void set_current(std::function<void()> cancel_step);

 private:
  mutable std::mutex mutex_;
  bool requested_ = false;
  std::function<void()> current_;
};

// A response head and the executor its body reader lives on.
struct Head {
  asio::any_io_executor executor;
  http::StreamingResponse response;
};
using HeadHandler = std::move_only_function<void(Result<Head>)>;
// Sends one hop as a stream through the pool of its origin and calls `on_head` once, never inside the
// call; registers the hop's cancellation with `cancel`.
using SendHop = std::function<void(Request request, std::shared_ptr<ExchangeCancel> cancel, HeadHandler on_head)>;

// Runs `request` hop by hop until the answer, whose head (transfer: final URL, redirects, start) and body
// reader (decoding if asked) go to `done`, once; or the error.
void run_exchange(SendHop send, Request request, ExchangeSettings settings, std::shared_ptr<ExchangeCancel> cancel,
                  HeadHandler done);

// Reads the answer's body to its end into a Response (its timings complete), for `done`, once.
void collect_response(Head head, std::shared_ptr<ExchangeCancel> cancel,
                      std::move_only_function<void(Result<Response>)> done);

// Fills transfer.timings from transfer.instants: each phase's duration from instants.start, zero for a
// phase that did not happen (or happened before the start: a connection opened for another request).
void compute_timings(TransferInfo& transfer);

}  // namespace quiver::client

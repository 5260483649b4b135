#pragma once
// http::ChannelEndpoint — the datagram side of one channel (an extended CONNECT or CONNECT kept open,
// RFC 9297 HTTP datagrams), shared by the worker that carries the channel's stream and the channel's
// owner (quiver::Channel). Protocol-neutral: the worker attaches a Link once the 2xx response is in.
//
// Threading: thread-safe. The worker's calls (attach, deliver, close, note_max_size) run on the
// connection's executor, deliver() maybe inside a library callback: it only queues or drops and posts a
// waiting reader's completion, never runs it. The owner's calls (send, receive, the counters) may come
// from any thread; every completion is posted to the connection's executor, never run inside the call.
// Received datagrams wait in a bounded queue: past `queue_limit` a datagram is dropped and counted
// (datagrams are unreliable: a slow reader loses them, never stalls the connection).

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include <asio/any_io_executor.hpp>

#include "quiver/error.hpp"

namespace quiver::http {

// How many datagrams may wait for the transport (posted or queued there) before send() refuses.
inline constexpr std::size_t kMaxDatagramBacklog = 256;

class ChannelEndpoint : public std::enable_shared_from_this<ChannelEndpoint> {
 public:
  using ReceiveCompletion = std::move_only_function<void(Result<std::string>)>;

  // How the worker sends, each run on the executor: `send` queues one datagram (or says why not), `backlog`
  // is how many datagrams wait in the transport, `max_size` the largest payload now.
  struct Link {
    std::function<Result<void>(std::span<const std::uint8_t>)> send;
    std::function<std::size_t()> backlog;
    std::function<std::size_t()> max_size;
  };

  // Runs `work` later on the channel's connection's (its pool's) executor, never inside the call; or, once
  // that executor runs no more (its client is stopped), `refused` elsewhere, so no completion is lost.
  using Task = std::move_only_function<void()>;
  using Runner = std::function<void(Task work, Task refused)>;

  // `executor`: the channel's connection's executor; `run`: how work gets there (the default posts).
  ChannelEndpoint(asio::any_io_executor executor, std::size_t queue_limit, Runner run = {});

  // ---- the worker (the connection's executor) ----
  // The channel is open (2xx). `datagrams`: whether HTTP datagrams were negotiated on its connection.
  void attach(Link link, bool datagrams);
  // A received datagram (maybe inside a library callback): queued, handed to a waiting reader (posted),
  // or dropped and counted when the queue is full.
  void deliver(std::span<const std::uint8_t> payload);
  // The channel is over (its stream closed or reset, its connection gone, or no 2xx): sends fail with
  // channel_closed; reads get the queued datagrams, then `reason`. First call wins.
  void close(const Error& reason);

  // ---- the owner (any thread) ----
  // Queues one datagram for the worker: datagrams_disabled, datagram_too_large (over max_datagram_size()),
  // congestion_limited (kMaxDatagramBacklog wait already) or channel_closed, checked now.
  Result<void> send(std::string payload);
  // The next received datagram (completion posted to the connection's executor), or the end's error.
  void receive(ReceiveCompletion completion);
  // Abandons a waiting receive (it completes with `reason`).
  void cancel_receive(const Error& reason);
  std::size_t max_datagram_size() const noexcept { return max_size_.load(std::memory_order_relaxed); }
  bool datagrams_enabled() const noexcept { return datagrams_.load(std::memory_order_relaxed); }
  std::uint64_t sent() const noexcept { return sent_.load(std::memory_order_relaxed); }
  std::uint64_t received() const noexcept { return received_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  std::optional<Error> closed_reason() const;

 private:
  void post_to_reader(ReceiveCompletion completion, Result<std::string> value);
  void refresh_from_link();  // on the executor: max size and backlog as the transport sees them now
  void refresh_later();      // (mutex_ held) refresh_from_link() from a posted step, once at a time

  const asio::any_io_executor executor_;
  const Runner run_;
  const std::size_t queue_limit_;
  mutable std::mutex mutex_;  // guards what follows, up to the atomics
  std::optional<Link> link_;
  std::deque<std::string> queue_;
  std::optional<ReceiveCompletion> waiting_;
  std::optional<Error> closed_;
  std::size_t in_flight_ = 0;      // posted sends not yet handed to the transport
  std::size_t backlog_ = 0;        // datagrams waiting in the transport, as last seen
  bool refresh_pending_ = false;   // a refresh_later() step is on its way
  std::atomic<std::size_t> max_size_{0};
  std::atomic<bool> datagrams_{false};
  std::atomic<std::uint64_t> sent_{0}, received_{0}, dropped_{0}, failed_{0};
};

}  // namespace quiver::http

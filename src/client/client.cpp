// quiver::Client: io threads (or the caller's io_context), the map of origin pools, and the bridges between
// callers (blocking or Asio async) and the pools, which live on the io threads.
#include "quiver/client.hpp"
#include "quiver/channel.hpp"
#include "quiver/connect_udp.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/system_executor.hpp>
#include <fmt/format.h>

#include "client/connection_factory.hpp"
#include "client/exchange.hpp"
#include "client/origin_rules.hpp"
#include "http/channel.hpp"
#include "pool/origin_pool.hpp"
#include "util/varint.hpp"

namespace quiver {

namespace {

// Set on every io thread of every Client: a blocking call there would wait for itself.
thread_local bool on_io_thread = false;
// The client whose io thread this is (identity only).
thread_local const void* io_thread_owner = nullptr;

Error io_thread_error(const char* call) {
  return Error(ErrorKind::invalid_request, ErrorClass::invalid,
               fmt::format("{}() would block an io thread of the client (deadlock); use the async_ form", call));
}

Error shut_down_error() {
  Error error(ErrorKind::shut_down, "the client is shut down");
  return error;
}

// After the io threads stopped, what must not hang completes here instead.
asio::any_io_executor fallback_executor() { return asio::system_executor(); }

}  // namespace

namespace detail {

// A pool and the executor it lives on.
struct PoolEntry {
  std::shared_ptr<pool::OriginPool> pool;
  asio::any_io_executor executor;
};

// Everything a Client runs on: its io contexts and threads (or the caller's io_context), and the pools.
// Shared by the Client, by each of its io threads (so a Client destroyed inside its own handler leaves
// the running thread its context) and by every ResponseStream (which may outlive the Client).
//
// Life with io threads of its own: running (threads run; shutdown() drains the pools but the threads go
// on, so every completion still runs) -> stopped (~Client: once what was posted has run, the threads
// end; posts are refused from then on and callers complete on the system executor instead).
// On a caller's io_context there is no stop: the context is the caller's, and outlives the client.
class ClientCore : public std::enable_shared_from_this<ClientCore> {
 public:
  // `callers_io`: run there (each pool on a strand of it) instead of on threads of our own.
  ClientCore(ClientOptions options, asio::io_context* callers_io)
      : options_(std::move(options)),
        connection_factory_(client::real_connection_factory(options_)),
        callers_io_(callers_io) {
    if (callers_io_ != nullptr) return;
    std::size_t threads = std::max<std::size_t>(options_.io_threads, 1);
    for (std::size_t i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*contexts_.back()));
    }
  }

  // Each thread holds the core: its context lives at least as long as the thread runs it.
  void start_threads() {
    for (auto& context : contexts_) {
      threads_.emplace_back([core = shared_from_this(), io = context.get()] {
        on_io_thread = true;
        io_thread_owner = core.get();
        io->run();
      });
    }
  }

  const ClientOptions& options() const { return options_; }
  bool on_callers_io() const { return callers_io_ != nullptr; }
  // On a thread that runs this client's handlers: one of its io threads, or one running the caller's io.
  bool on_own_io_thread() const {
    return io_thread_owner == this || (callers_io_ != nullptr && callers_io_->get_executor().running_in_this_thread());
  }
  // Where a blocking call would wait for itself: an io thread of any Client, or a thread of this one.
  bool must_not_block() const { return on_io_thread || on_own_io_thread(); }

  // The pool of the request's origin, created on first use (pools are spread over the io threads);
  // an empty entry once shut down.
  PoolEntry pool_for(const Url& url) {
    std::lock_guard lock(mutex_);
    if (shut_down_) return {};
    std::string key = url.origin();
    auto it = pools_.find(key);
    if (it != pools_.end()) return it->second;
    asio::any_io_executor executor = callers_io_ != nullptr
                                         ? asio::any_io_executor(asio::make_strand(*callers_io_))
                                         : contexts_[next_context_++ % contexts_.size()]->get_executor();
    auto pool = pool::OriginPool::create(executor, Origin{url.host(), url.port()},
                                         client::pool_options_for(options_, url), connection_factory_);
    return pools_.emplace(key, PoolEntry{std::move(pool), executor}).first->second;
  }

  std::vector<PoolEntry> all_pools() const {
    std::lock_guard lock(mutex_);
    std::vector<PoolEntry> pools;
    for (auto& [key, entry] : pools_) pools.push_back(entry);
    return pools;
  }

  asio::any_io_executor executor() const {
    return callers_io_ != nullptr ? callers_io_->get_executor() : contexts_.front()->get_executor();
  }

  // Where completions without an executor of their own run: the io executor while it runs.
  asio::any_io_executor completion_executor(const asio::any_io_executor& io) const {
    std::lock_guard lock(run_mutex_);
    return stopped_ ? fallback_executor() : io;
  }

  enum class Start { dispatch, post };
  // Runs `work` on `executor` (an io executor of this client), or `refused` on the system executor once
  // the io threads are stopped. On one of the client's io threads `work` may start at once (dispatch).
  template <class Work, class Refused>
  void run_or_refuse(const asio::any_io_executor& executor, Work work, Refused refused, Start start = Start::dispatch) {
    if (on_own_io_thread()) {
      if (start == Start::dispatch) return asio::dispatch(executor, std::move(work));
      return asio::post(executor, std::move(work));
    }
    std::unique_lock lock(run_mutex_);
    if (!stopped_) return asio::post(executor, std::move(work));  // never runs inside: safe under the lock
    lock.unlock();
    asio::post(fallback_executor(), std::move(refused));
  }

  // Marks the client shut down and starts draining every pool; false if it already was.
  bool begin_shutdown(std::chrono::milliseconds deadline) {
    std::vector<PoolEntry> pools;
    {
      std::lock_guard lock(mutex_);
      if (std::exchange(shut_down_, true)) return false;
      for (auto& [key, entry] : pools_) pools.push_back(entry);
    }
    auto remaining = std::make_shared<std::atomic<std::size_t>>(pools.size());
    if (pools.empty()) mark_drained();
    for (auto& [pool, executor] : pools) {
      asio::post(executor, [core = shared_from_this(), pool, deadline, remaining] {
        pool->shutdown(deadline, [core, remaining] {
          if (--*remaining == 0) core->mark_drained();
        });
      });
    }
    return true;
  }

  // Waits until every pool has finished its drain, up to `timeout`.
  void wait_drained(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    drained_changed_.wait_for(lock, timeout, [this] { return drained_; });
  }

  // ~Client, off this client's io threads (after the drain): see wind_down; then joins the threads.
  void stop_threads() {
    wind_down();
    for (auto& thread : threads_) thread.join();
  }

  // ~Client on one of this client's own io threads: nothing can be joined or waited for here. The
  // threads go on (detached) until the drain is over, then wind down.
  void stop_threads_after_drain() {
    for (auto& thread : threads_) thread.detach();
    when_drained([core = shared_from_this()] { core->wind_down(); });
  }

 private:
  // How deep a chain of posts queued before the stop still runs: a reply's hops (connection -> pool ->
  // the caller's completion) and a read started just before it and its answer.
  static constexpr int kWindDownHops = 3;

  // Refuses further posts, then stops each io context once what is already queued there, and what that
  // posts in turn (kWindDownHops deep), has run: every reply already on its way reaches its caller.
  void wind_down() {
    refuse_posts();
    for (auto& context : contexts_) stop_after_hops(*context, kWindDownHops);
  }

  static void stop_after_hops(asio::io_context& io, int hops) {
    asio::post(io, [&io, hops] {
      if (hops == 0) {
        io.stop();
      } else {
        stop_after_hops(io, hops - 1);
      }
    });
  }

  void refuse_posts() {
    {
      std::lock_guard lock(run_mutex_);
      stopped_ = true;
    }
    for (auto& guard : guards_) guard.reset();
  }

  void mark_drained() {
    std::vector<std::move_only_function<void()>> waiters;
    {
      std::lock_guard lock(mutex_);
      drained_ = true;
      waiters.swap(drain_waiters_);
    }
    drained_changed_.notify_all();
    for (auto& waiter : waiters) waiter();
  }

  void when_drained(std::move_only_function<void()> then) {
    {
      std::lock_guard lock(mutex_);
      if (!drained_) {
        drain_waiters_.push_back(std::move(then));
        return;
      }
    }
    then();
  }

  ClientOptions options_;
  // One for all pools: it holds what their connections share (the TLS session cache).
  std::shared_ptr<pool::ConnectionFactory> connection_factory_;
  asio::io_context* callers_io_;  // set: no contexts or threads of our own
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;

  mutable std::mutex mutex_;  // guards what follows, up to run_mutex_
  std::unordered_map<std::string, PoolEntry> pools_;  // by origin
  std::size_t next_context_ = 0;
  bool shut_down_ = false;
  bool drained_ = false;
  std::condition_variable drained_changed_;
  std::vector<std::move_only_function<void()>> drain_waiters_;

  mutable std::mutex run_mutex_;  // held while posting, so no post lands after the stop
  bool stopped_ = false;
};

// A streamed response: its head, and the body reader, which lives on `executor`. Holds the client's core,
// so the io contexts outlive it.
class StreamCore {
 public:
  StreamCore(std::shared_ptr<ClientCore> client, asio::any_io_executor executor, http::StreamingResponse response)
      : client(std::move(client)), executor(std::move(executor)), status(response.status),
        headers(std::move(response.headers)), body(std::move(response.body)), transfer(std::move(response.transfer)) {}

  ~StreamCore() {
    // The reader is released on its executor; once the io threads are gone, here (nothing else runs).
    client->run_or_refuse(executor, [reader = std::move(body)] {}, [] {});
  }

  // On the io executor, as a read reports the end: the trailers are final; publish them.
  void note_end() {
    if (end_seen.load(std::memory_order_relaxed)) return;
    trailers = body->trailers();
    transfer_at_end = transfer;
    transfer_at_end.instants.end = std::chrono::steady_clock::now();
    quiver::client::compute_timings(transfer_at_end);
    end_seen.store(true, std::memory_order_release);
  }

  std::shared_ptr<ClientCore> client;  // declared first: destroyed last
  asio::any_io_executor executor;
  int status;
  Headers headers;
  std::shared_ptr<http::BodyReader> body;  // touched only on `executor`
  TransferInfo transfer;                 // as the headers arrived (timings.total zero)
  Headers trailers;                      // written once, before end_seen is set; read after
  TransferInfo transfer_at_end;          // likewise: with instants.end and timings.total
  std::atomic<bool> end_seen{false};
};

class ResponseStreamAccess {
 public:
  static ResponseStream make(std::shared_ptr<StreamCore> core) { return ResponseStream(std::move(core)); }
};

}  // namespace detail

namespace {

// A caller's cancellation, carried to the pool. The caller's slot handler may run on any thread: it hops
// to the pool's executor and emits `to_pool` there, whose slot went to the pool with the request. The
// request reaches the pool before any such hop (both are queued in order on the pool's executor, the
// request first, or the request ran inline), so no cancellation is emitted before the pool listens.
// Held by the caller's slot handler (until the caller's slot is cleared) and by each hop in flight, so
// the signal outlives every emit; the pool never touches its slot after request()/stream().
struct CancelRelay {
  asio::cancellation_signal to_pool;  // emitted only on the pool's executor
};

std::shared_ptr<CancelRelay> relay_cancellation(asio::cancellation_slot slot,
                                                const asio::any_io_executor& executor) {
  if (!slot.is_connected()) return nullptr;
  auto relay = std::make_shared<CancelRelay>();
  slot.assign([relay, executor](asio::cancellation_type type) {
    if (type == asio::cancellation_type::none) return;
    asio::post(executor, [relay, type] { relay->to_pool.emit(type); });
  });
  return relay;
}

// The slot the pool gets with the request: the relay's, or none when the caller cannot cancel.
asio::cancellation_slot pool_slot(const std::shared_ptr<CancelRelay>& relay) {
  return relay ? relay->to_pool.slot() : asio::cancellation_slot();
}

template <class Value>
Result<Value> blocking_wait(std::future<Result<Value>> future) {
  return future.get();
}

}  // namespace

// ---- Client ---------------------------------------------------------------------------------------

Client::Client(ClientOptions options) : core_(std::make_shared<detail::ClientCore>(std::move(options), nullptr)) {
  core_->start_threads();
}

Client::Client(asio::io_context& io, ClientOptions options)
    : core_(std::make_shared<detail::ClientCore>(std::move(options), &io)) {}

Client::~Client() {
  shutdown(core_->options().shutdown_deadline);
  if (core_->on_callers_io()) return;  // the drain goes on as the caller runs its io_context
  if (core_->on_own_io_thread()) {
    core_->stop_threads_after_drain();
  } else {
    core_->stop_threads();
  }
}

asio::any_io_executor Client::executor() const { return core_->executor(); }

namespace {

// Fails a request with `error`: never inside the initiating call, and through an io thread (they run
// until ~Client), from where an async completion hops to its handler's own executor.
template <class Completion>
void fail_later(detail::ClientCore& core, Completion completion, Error error) {
  auto fail = [completion = std::make_shared<Completion>(std::move(completion)), error = std::move(error)] {
    (*completion)(std::unexpected(error));
  };
  core.run_or_refuse(core.executor(), fail, fail, detail::ClientCore::Start::post);
}

// Fails a request the shut-down client cannot take.
template <class Completion>
void fail_shut_down(detail::ClientCore& core, Completion completion) {
  fail_later(core, std::move(completion), shut_down_error());
}

// ---- redirects, decompression (client/exchange.hpp) and transfer info -------------------------------

// Sends one hop of an exchange as a stream through the pool of its origin.
client::SendHop hop_sender(std::shared_ptr<detail::ClientCore> core) {
  return [core](Request request, std::shared_ptr<client::ExchangeCancel> cancel, client::HeadHandler on_head) {
    auto [pool, executor] = core->pool_for(request.url);
    if (!pool) return fail_shut_down(*core, std::move(on_head));
    asio::dispatch(executor, [pool, executor, cancel, request = std::move(request), on_head = std::move(on_head)]() mutable {
      auto relay = std::make_shared<CancelRelay>();
      pool->stream(
          std::move(request),
          [executor, on_head = std::move(on_head)](Result<http::StreamingResponse> head) mutable {
            if (!head) return on_head(std::unexpected(head.error()));
            on_head(client::Head{executor, std::move(*head)});
          },
          relay->to_pool.slot());
      // After the request reached the pool, as relay_cancellation's contract asks.
      cancel->set_current([relay, executor] {
        asio::post(executor, [relay] { relay->to_pool.emit(asio::cancellation_type::terminal); });
      });
    });
  };
}

// The caller's cancellation slot, connected to every step of an exchange.
std::shared_ptr<client::ExchangeCancel> exchange_cancel(asio::cancellation_slot slot) {
  auto cancel = std::make_shared<client::ExchangeCancel>();
  if (slot.is_connected()) {
    slot.assign([cancel](asio::cancellation_type type) {
      if (type != asio::cancellation_type::none) cancel->cancel();
    });
  }
  return cancel;
}

// What the Client adds to a response that came without an exchange: its URL and start, and the timings.
void stamp_transfer(TransferInfo& transfer, Url url, std::chrono::steady_clock::time_point start) {
  transfer.url = std::move(url);
  transfer.instants.start = start;
  client::compute_timings(transfer);
}

detail::ResponseCompletion with_transfer(Url url, detail::ResponseCompletion completion) {
  return [url = std::move(url), start = std::chrono::steady_clock::now(),
          completion = std::move(completion)](Result<Response> response) mutable {
    if (response) stamp_transfer(response->transfer, std::move(url), start);
    completion(std::move(response));
  };
}

}  // namespace

void Client::submit(Request request, detail::ResponseCompletion completion, asio::cancellation_slot slot) {
  if (auto settings = client::exchange_settings(core_->options(), request); settings.needed()) {
    auto cancel = exchange_cancel(slot);
    client::run_exchange(hop_sender(core_), std::move(request), settings, cancel,
                         [cancel, completion = std::move(completion)](Result<client::Head> head) mutable {
                           if (!head) return completion(std::unexpected(head.error()));
                           client::collect_response(std::move(*head), cancel, std::move(completion));
                         });
    return;
  }
  completion = with_transfer(request.url, std::move(completion));
  auto [pool, executor] = core_->pool_for(request.url);
  if (!pool) return fail_shut_down(*core_, std::move(completion));
  auto cancel = relay_cancellation(slot, executor);
  // Dispatched: a request made on the pool's own io thread goes out in the write already scheduled
  // there (with the ACK of the response that prompted it). The pool never completes inside the call.
  asio::dispatch(executor, [pool, cancel, request = std::move(request), completion = std::move(completion)]() mutable {
    pool->request(std::move(request), std::move(completion), pool_slot(cancel));
  });
}

void Client::submit_built(Result<Request> built, detail::ResponseCompletion completion, asio::cancellation_slot slot) {
  if (!built) return fail_later(*core_, std::move(completion), std::move(built.error()));
  submit(std::move(*built), std::move(completion), slot);
}

void Client::submit_stream_built(Result<Request> built, detail::StreamCompletion completion,
                                 asio::cancellation_slot slot) {
  if (!built) return fail_later(*core_, std::move(completion), std::move(built.error()));
  submit_stream(std::move(*built), std::move(completion), slot);
}

void Client::submit_stream(Request request, detail::StreamCompletion completion, asio::cancellation_slot slot) {
  if (auto settings = client::exchange_settings(core_->options(), request); settings.needed()) {
    client::run_exchange(hop_sender(core_), std::move(request), settings, exchange_cancel(slot),
                         [core = core_, completion = std::move(completion)](Result<client::Head> head) mutable {
                           if (!head) return completion(std::unexpected(head.error()));
                           auto stream = std::make_shared<detail::StreamCore>(core, head->executor, std::move(head->response));
                           completion(detail::ResponseStreamAccess::make(std::move(stream)));
                         });
    return;
  }
  auto [pool, executor] = core_->pool_for(request.url);
  if (!pool) return fail_shut_down(*core_, std::move(completion));
  auto cancel = relay_cancellation(slot, executor);
  asio::dispatch(executor, [core = core_, pool, executor, cancel, request = std::move(request),
                            completion = std::move(completion)]() mutable {
    auto on_headers = [core, executor, url = request.url, start = std::chrono::steady_clock::now(),
                       completion = std::move(completion)](Result<http::StreamingResponse> head) mutable {
      if (!head) {
        completion(std::unexpected(head.error()));
        return;
      }
      stamp_transfer(head->transfer, std::move(url), start);
      auto stream = std::make_shared<detail::StreamCore>(core, executor, std::move(*head));
      completion(detail::ResponseStreamAccess::make(std::move(stream)));
    };
    pool->stream(std::move(request), std::move(on_headers), pool_slot(cancel));
  });
}

Result<Response> Client::request(Request request) {
  if (core_->must_not_block()) return std::unexpected(io_thread_error("request"));
  std::promise<Result<Response>> promise;
  auto future = promise.get_future();
  submit(std::move(request), [&promise](Result<Response> result) { promise.set_value(std::move(result)); }, {});
  return blocking_wait(std::move(future));
}

Result<Response> Client::request(const RequestBuilder& builder) {
  auto request = builder.build();
  if (!request) return std::unexpected(request.error());
  return this->request(std::move(*request));
}

Result<ResponseStream> Client::stream(Request request) {
  if (core_->must_not_block()) return std::unexpected(io_thread_error("stream"));
  std::promise<Result<ResponseStream>> promise;
  auto future = promise.get_future();
  submit_stream(std::move(request), [&promise](Result<ResponseStream> result) { promise.set_value(std::move(result)); }, {});
  return blocking_wait(std::move(future));
}

Result<ResponseStream> Client::stream(const RequestBuilder& builder) {
  auto request = builder.build();
  if (!request) return std::unexpected(request.error());
  return stream(std::move(*request));
}

std::vector<PoolStats> Client::stats() const {
  if (core_->must_not_block()) return {};  // cannot wait here; an io thread gets no snapshot
  // The io threads run until ~Client, so every pool answers (also after shutdown()); the bound only
  // guards against a pool stuck behind a handler that blocks its thread.
  std::vector<std::future<PoolStats>> answers;
  for (auto& [pool, executor] : core_->all_pools()) {
    auto promise = std::make_shared<std::promise<PoolStats>>();
    answers.push_back(promise->get_future());
    asio::post(executor, [promise, pool] { promise->set_value(pool->stats()); });
  }
  std::vector<PoolStats> all;
  auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& answer : answers) {
    if (answer.wait_until(bound) == std::future_status::ready) all.push_back(answer.get());
  }
  return all;
}

void Client::shutdown(std::chrono::milliseconds deadline) {
  core_->begin_shutdown(deadline);
  // The pools close what is left at their deadline; the margin covers that last step.
  if (!core_->on_own_io_thread() && !core_->on_callers_io()) {
    core_->wait_drained(deadline + std::chrono::milliseconds(500));
  }
}

// ---- ResponseStream -------------------------------------------------------------------------------

ResponseStream::ResponseStream(std::shared_ptr<detail::StreamCore> core) : core_(std::move(core)) {}
ResponseStream::ResponseStream(ResponseStream&&) noexcept = default;
ResponseStream& ResponseStream::operator=(ResponseStream&&) noexcept = default;
ResponseStream::~ResponseStream() = default;

int ResponseStream::status() const noexcept { return core_->status; }
const Headers& ResponseStream::headers() const noexcept { return core_->headers; }

TransferInfo ResponseStream::transfer() const {
  return core_->end_seen.load(std::memory_order_acquire) ? core_->transfer_at_end : core_->transfer;
}

const Headers& ResponseStream::trailers() const noexcept {
  static const Headers none;
  return core_->end_seen.load(std::memory_order_acquire) ? core_->trailers : none;
}

asio::any_io_executor ResponseStream::default_executor() const {
  return core_->client->completion_executor(core_->executor);
}

// A cancelled read abandons the body (the stream is reset).
void ResponseStream::on_cancellation(asio::cancellation_slot slot) {
  if (!slot.is_connected()) return;
  slot.assign([core = core_](asio::cancellation_type type) {
    if (type == asio::cancellation_type::none) return;
    core->client->run_or_refuse(core->executor, [core] { core->body->cancel(); }, [] {},
                                detail::ClientCore::Start::post);
  });
}

// Reads are dispatched: on the io thread they start at once (the reader never completes a read inside the
// call that starts it, so the caller's handler still runs later, from the executor). Once the client's
// io threads are gone, they complete with shut_down.
void ResponseStream::read_chunk(std::size_t max_bytes, detail::ChunkCompletion completion, asio::cancellation_slot slot) {
  on_cancellation(slot);
  auto shared = std::make_shared<detail::ChunkCompletion>(std::move(completion));
  core_->client->run_or_refuse(
      core_->executor,
      [core = core_, max_bytes, shared] {
        // weak: the reader holds this handler, and dropping the stream must still release the reader
        core->body->async_read(max_bytes, [weak = std::weak_ptr(core), shared](Result<std::optional<std::string>> chunk) {
          if (auto core = weak.lock(); core && chunk && !*chunk) core->note_end();
          (*shared)(std::move(chunk));
        });
      },
      [shared] { (*shared)(std::unexpected(shut_down_error())); });
}

void ResponseStream::read_some(std::span<char> buffer, detail::ReadCompletion completion, asio::cancellation_slot slot) {
  on_cancellation(slot);
  auto shared = std::make_shared<detail::ReadCompletion>(std::move(completion));
  core_->client->run_or_refuse(
      core_->executor,
      [core = core_, buffer, shared] {
        core->body->async_read_some(buffer, [weak = std::weak_ptr(core), shared](Result<std::size_t> read) {
          if (auto core = weak.lock(); core && read && *read == 0) core->note_end();
          (*shared)(read);
        });
      },
      [shared] { (*shared)(std::unexpected(shut_down_error())); });
}

Result<std::optional<std::string>> ResponseStream::next_chunk(std::size_t max_bytes) {
  if (core_->client->must_not_block()) return std::unexpected(io_thread_error("next_chunk"));
  std::promise<Result<std::optional<std::string>>> promise;
  auto future = promise.get_future();
  read_chunk(max_bytes, [&promise](Result<std::optional<std::string>> chunk) { promise.set_value(std::move(chunk)); }, {});
  return future.get();
}

Result<std::size_t> ResponseStream::read(std::span<char> buffer) {
  if (core_->client->must_not_block()) return std::unexpected(io_thread_error("read"));
  std::promise<Result<std::size_t>> promise;
  auto future = promise.get_future();
  read_some(buffer, [&promise](Result<std::size_t> read) { promise.set_value(read); }, {});
  return future.get();
}

Result<std::string> ResponseStream::read_all() {
  std::string all;
  for (;;) {
    auto chunk = next_chunk(1 << 20);
    if (!chunk) return std::unexpected(chunk.error());
    if (!*chunk) return all;
    all += **chunk;
  }
}

void ResponseStream::cancel() {
  auto core = core_;
  core->client->run_or_refuse(core->executor, [core] { core->body->cancel(); }, [] {},
                              detail::ClientCore::Start::post);
}

// ---- Channel ---------------------------------------------------------------------------------------

namespace detail {

// A channel's outgoing stream data: write() queues it, the request body's asynchronous producer takes it
// (whichever comes second hands the chunk over). Thread-safe; the producer's callback may be called from
// any thread (RequestBody::ChunkCallback).
class ChannelWriter {
 public:
  Result<void> write(std::string data) {
    RequestBody::ChunkCallback ready;
    {
      std::lock_guard lock(mutex_);
      if (ended_) return std::unexpected(Error(ErrorKind::channel_closed, "the channel's stream is closed for writing"));
      if (!waiting_) {
        queued_.push_back(std::move(data));
        return {};
      }
      ready = std::exchange(waiting_, nullptr);
    }
    ready(std::optional<std::string>(std::move(data)));
    return {};
  }
  void end() {
    RequestBody::ChunkCallback ready;
    {
      std::lock_guard lock(mutex_);
      if (ended_) return;
      ended_ = true;
      if (!waiting_ || !queued_.empty()) return;
      ready = std::exchange(waiting_, nullptr);
    }
    ready(std::optional<std::string>());
  }
  // The producer: the next chunk now, or when it is written.
  void next(RequestBody::ChunkCallback callback) {
    Result<std::optional<std::string>> chunk = std::optional<std::string>();
    {
      std::lock_guard lock(mutex_);
      if (!queued_.empty()) {
        chunk = std::optional<std::string>(std::move(queued_.front()));
        queued_.pop_front();
      } else if (!ended_) {
        waiting_ = std::move(callback);
        return;
      }
    }
    callback(std::move(chunk));
  }

 private:
  std::mutex mutex_;
  std::deque<std::string> queued_;
  RequestBody::ChunkCallback waiting_;
  bool ended_ = false;
};

class ChannelCore {
 public:
  ChannelCore(std::shared_ptr<ClientCore> client, asio::any_io_executor executor,
              std::shared_ptr<http::ChannelEndpoint> endpoint, std::shared_ptr<ChannelWriter> writer)
      : client(std::move(client)), executor(std::move(executor)), endpoint(std::move(endpoint)),
        writer(std::move(writer)) {}
  std::shared_ptr<ClientCore> client;
  asio::any_io_executor executor;
  std::shared_ptr<http::ChannelEndpoint> endpoint;
  std::shared_ptr<ChannelWriter> writer;
};

class ChannelAccess {
 public:
  static Channel make(ResponseStream stream, std::shared_ptr<ChannelCore> core) {
    return Channel(std::move(stream), std::move(core));
  }
  static UdpTunnel make_tunnel(Channel channel) { return UdpTunnel(std::move(channel)); }
};

}  // namespace detail

void Client::submit_channel(Request request, detail::ChannelCompletion completion, asio::cancellation_slot slot) {
  auto [pool, executor] = core_->pool_for(request.url);
  if (!pool) return fail_shut_down(*core_, std::move(completion));
  auto writer = std::make_shared<detail::ChannelWriter>();
  request.body = RequestBody::from_async_producer(
      [writer](RequestBody::ChunkCallback next) { writer->next(std::move(next)); });
  std::size_t queue = core_->options().defaults.connection.channel_datagram_queue;
  // Completions go through the core: once its threads are stopped they run on the fallback executor, so
  // a receive never waits on a context that runs no more. Weak: the endpoint must not keep the core.
  http::ChannelEndpoint::Runner run = [weak = std::weak_ptr<detail::ClientCore>(core_), executor](
                                          http::ChannelEndpoint::Task work, http::ChannelEndpoint::Task refused) {
    if (auto core = weak.lock()) {
      core->run_or_refuse(executor, std::move(work), std::move(refused), detail::ClientCore::Start::post);
    } else {
      asio::post(fallback_executor(), std::move(refused));
    }
  };
  auto endpoint = std::make_shared<http::ChannelEndpoint>(executor, queue, std::move(run));
  auto cancel = relay_cancellation(slot, executor);
  asio::dispatch(executor, [core = core_, pool, executor, cancel, endpoint, writer, request = std::move(request),
                            completion = std::move(completion)]() mutable {
    auto on_headers = [core, executor, endpoint, writer, url = request.url, start = std::chrono::steady_clock::now(),
                       completion = std::move(completion)](Result<http::StreamingResponse> head) mutable {
      if (!head) {
        completion(std::unexpected(head.error()));
        return;
      }
      stamp_transfer(head->transfer, std::move(url), start);
      if (head->status < 200 || head->status > 299) writer->end();  // no tunnel: our side ends (FIN)
      auto stream = std::make_shared<detail::StreamCore>(core, executor, std::move(*head));
      auto channel = std::make_shared<detail::ChannelCore>(core, executor, endpoint, writer);
      completion(detail::ChannelAccess::make(detail::ResponseStreamAccess::make(std::move(stream)), std::move(channel)));
    };
    pool->channel(std::move(request), endpoint, std::move(on_headers), pool_slot(cancel));
  });
}

Result<Channel> Client::open_channel(Request request) {
  if (core_->must_not_block()) return std::unexpected(io_thread_error("open_channel"));
  std::promise<Result<Channel>> promise;
  auto future = promise.get_future();
  submit_channel(std::move(request), [&promise](Result<Channel> result) { promise.set_value(std::move(result)); }, {});
  return blocking_wait(std::move(future));
}

Channel::Channel(ResponseStream stream, std::shared_ptr<detail::ChannelCore> core)
    : stream_(std::move(stream)), core_(std::move(core)) {}
Channel::Channel(Channel&&) noexcept = default;
Channel& Channel::operator=(Channel&& other) noexcept {
  if (this != &other) {
    close();
    stream_ = std::move(other.stream_);
    core_ = std::move(other.core_);
  }
  return *this;
}
Channel::~Channel() { close(); }

Result<void> Channel::write(std::string data) {
  if (auto closed = core_->endpoint->closed_reason(); closed && status() >= 200 && status() <= 299) {
    return std::unexpected(closed->restated(ErrorKind::channel_closed, ErrorClass::unrecoverable,
                                            fmt::format("the channel is closed: {}", closed->message())));
  }
  return core_->writer->write(std::move(data));
}
void Channel::close_write() { core_->writer->end(); }
bool Channel::datagrams_enabled() const noexcept { return core_->endpoint->datagrams_enabled(); }
std::size_t Channel::max_datagram_size() const noexcept { return core_->endpoint->max_datagram_size(); }

Result<void> Channel::send_datagram(std::string_view payload) { return core_->endpoint->send(std::string(payload)); }

namespace {

// A receive's cancellation (an Asio slot) completes the endpoint's waiting receive with `cancelled`.
void cancel_receive_on(asio::cancellation_slot slot, const std::shared_ptr<http::ChannelEndpoint>& endpoint) {
  if (!slot.is_connected()) return;
  slot.assign([endpoint](asio::cancellation_type type) {
    if (type == asio::cancellation_type::none) return;
    endpoint->cancel_receive(Error(ErrorKind::cancelled, "datagram receive cancelled by the caller"));
  });
}

// A blocking receive: `start(completion)` begins it; refused on an io thread, which would wait for itself.
template <class Start>
Result<std::string> receive_blocking(const detail::ClientCore& client, const char* call, Start start) {
  if (client.must_not_block()) return std::unexpected(io_thread_error(call));
  std::promise<Result<std::string>> promise;
  auto future = promise.get_future();
  start([&promise](Result<std::string> datagram) { promise.set_value(std::move(datagram)); });
  return future.get();
}

}  // namespace

void Channel::receive(detail::DatagramCompletion completion, asio::cancellation_slot slot) {
  cancel_receive_on(slot, core_->endpoint);
  core_->endpoint->receive(std::move(completion));
}

Result<std::string> Channel::receive_datagram() {
  return receive_blocking(*core_->client, "receive_datagram",
                          [this](detail::DatagramCompletion done) { core_->endpoint->receive(std::move(done)); });
}

Channel::DatagramStats Channel::datagram_stats() const noexcept {
  const auto& endpoint = *core_->endpoint;
  return DatagramStats{endpoint.sent(), endpoint.received(), endpoint.dropped(), endpoint.failed()};
}

void Channel::close() {
  if (!core_) return;  // moved from
  core_->endpoint->close(Error(ErrorKind::channel_closed, "the channel was closed by its owner"));
  core_->writer->end();
  stream_.cancel();
}

// ---- CONNECT-UDP (RFC 9298) ---------------------------------------------------------------------------

namespace {

// The proxy's answer: a 2xx is the tunnel; anything else is a refusal, with its Proxy-Status (RFC 9209).
Result<UdpTunnel> tunnel_from(Channel channel, const std::string& target) {
  const int status = channel.status();
  if (status >= 200 && status <= 299) return detail::ChannelAccess::make_tunnel(std::move(channel));
  auto proxy_status = channel.headers().get("proxy-status");
  return std::unexpected(Error(ErrorKind::proxy_refused,
                               fmt::format("the proxy refused CONNECT-UDP to {}: {}{}", target, status,
                                           proxy_status ? fmt::format(" (proxy-status: {})", *proxy_status) : "")));
}

// The next datagram with context id 0 (RFC 9298 §4), the id taken off; any other context's datagrams, and
// ones too short to carry an id, are dropped. Completions come from the endpoint's posted steps.
void receive_udp(std::shared_ptr<http::ChannelEndpoint> endpoint, detail::DatagramCompletion completion) {
  endpoint->receive([endpoint, completion = std::move(completion)](Result<std::string> datagram) mutable {
    if (!datagram) return completion(std::move(datagram));
    auto context = util::read_varint({reinterpret_cast<const std::uint8_t*>(datagram->data()), datagram->size()});
    if (!context || context->value != 0) return receive_udp(std::move(endpoint), std::move(completion));
    datagram->erase(0, context->size);
    completion(std::move(datagram));
  });
}

}  // namespace

void Client::submit_connect_udp(Result<Request> built, detail::UdpTunnelCompletion completion,
                                asio::cancellation_slot slot) {
  if (!built) return fail_later(*core_, std::move(completion), std::move(built.error()));
  std::string target = built->url.to_string();
  submit_channel(std::move(*built),
                 [target = std::move(target), completion = std::move(completion)](Result<Channel> channel) mutable {
                   if (!channel) return completion(std::unexpected(channel.error()));
                   completion(tunnel_from(std::move(*channel), target));
                 },
                 slot);
}

Result<UdpTunnel> Client::connect_udp(std::string_view url_template, std::string_view target_host,
                                      std::uint16_t target_port) {
  if (core_->must_not_block()) return std::unexpected(io_thread_error("connect_udp"));
  std::promise<Result<UdpTunnel>> promise;
  auto future = promise.get_future();
  submit_connect_udp(detail::connect_udp_request(url_template, target_host, target_port),
                     [&promise](Result<UdpTunnel> result) { promise.set_value(std::move(result)); }, {});
  return blocking_wait(std::move(future));
}

Result<void> UdpTunnel::send(std::string_view payload) {
  std::string datagram(1, '\0');  // context id 0
  datagram.append(payload);
  return channel_.send_datagram(datagram);
}

std::size_t UdpTunnel::max_payload_size() const noexcept {
  std::size_t channel_size = channel_.max_datagram_size();
  return channel_size > 0 ? channel_size - 1 : 0;
}

void UdpTunnel::receive(detail::DatagramCompletion completion, asio::cancellation_slot slot) {
  cancel_receive_on(slot, channel_.core_->endpoint);
  receive_udp(channel_.core_->endpoint, std::move(completion));
}

Result<std::string> UdpTunnel::receive() {
  return receive_blocking(*channel_.core_->client, "receive",
                          [this](detail::DatagramCompletion done) { receive_udp(channel_.core_->endpoint, std::move(done)); });
}

}  // namespace quiver

// quiver::Client: io threads, the map of origin pools, and the bridges between callers (blocking or Asio
// async) and the pools, which live on the io threads.
#include "quiver/client.hpp"

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/system_executor.hpp>
#include <fmt/format.h>

#include "client/origin_rules.hpp"
#include "pool/origin_pool.hpp"

namespace quiver {

namespace {

// Set on every io thread of every Client: a blocking call there would wait for itself.
thread_local bool on_io_thread = false;

Error io_thread_error(const char* call) {
  return Error(ErrorKind::invalid_request, ErrorClass::invalid,
               fmt::format("{}() would block an io thread of the client (deadlock); use the async_ form", call));
}

Error shut_down_error() {
  return Error(ErrorKind::goaway, ErrorClass::transient, "the client is shut down");
}

// Fails a request the shut-down client cannot take. Never inside the initiating call, and not through the
// client's io threads (they are stopped): from the system executor, from where an async completion
// hops to its handler's own executor.
template <class Completion>
void fail_shut_down(Completion completion) {
  asio::post(asio::system_executor(), [completion = std::move(completion)]() mutable {
    completion(std::unexpected(shut_down_error()));
  });
}

// What a caller's cancellation slot reaches: the pool request, once it exists (set on the pool's executor).
struct CancelState {
  std::weak_ptr<pool::OriginPool> pool;
  std::optional<pool::PoolRequestId> id;
  bool requested = false;
};

}  // namespace

namespace detail {

class StreamCore {
 public:
  StreamCore(asio::any_io_executor executor, h3::StreamingResponse response)
      : executor(std::move(executor)), status(response.status), headers(std::move(response.headers)),
        body(std::move(response.body)) {}

  ~StreamCore() {
    // The reader lives on the io executor; let it go there.
    asio::post(executor, [reader = std::move(body)] {});
  }

  asio::any_io_executor executor;
  int status;
  Headers headers;
  std::shared_ptr<h3::BodyReader> body;  // touched only on `executor`
};

class ResponseStreamAccess {
 public:
  static ResponseStream make(std::shared_ptr<StreamCore> core) { return ResponseStream(std::move(core)); }
};

// A pool and the executor it lives on.
struct PoolEntry {
  std::shared_ptr<pool::OriginPool> pool;
  asio::any_io_executor executor;
};

class ClientCore {
 public:
  explicit ClientCore(ClientOptions options) : options_(std::move(options)) {
    std::size_t threads = std::max<std::size_t>(options_.io_threads, 1);
    for (std::size_t i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    for (auto& context : contexts_) {
      threads_.emplace_back([io = context.get()] {
        on_io_thread = true;
        io->run();
      });
    }
  }

  ~ClientCore() { stop_threads(); }

  // The pool of the request's origin, created on first use (pools are spread over the io threads);
  // an empty entry once shut down.
  PoolEntry pool_for(const Url& url) {
    std::lock_guard lock(mutex_);
    if (shut_down_) return {};
    std::string key = url.origin();
    auto it = pools_.find(key);
    if (it != pools_.end()) return it->second;
    asio::any_io_executor executor = contexts_[next_context_++ % contexts_.size()]->get_executor();
    auto pool = pool::OriginPool::create(executor, h3::Origin{url.host(), url.port()},
                                         client::pool_options_for(options_, url), pool::real_connection_factory());
    return pools_.emplace(key, PoolEntry{std::move(pool), executor}).first->second;
  }

  std::vector<PoolEntry> all_pools() const {
    std::lock_guard lock(mutex_);
    std::vector<PoolEntry> pools;
    for (auto& [key, entry] : pools_) pools.push_back(entry);
    return pools;
  }

  asio::any_io_executor executor() const { return contexts_.front()->get_executor(); }

  // Marks the client shut down; returns false if it already was.
  bool begin_shutdown() {
    std::lock_guard lock(mutex_);
    return !std::exchange(shut_down_, true);
  }

  void stop_threads() {
    for (auto& guard : guards_) guard.reset();
    for (auto& context : contexts_) context->stop();
    for (auto& thread : threads_) {
      if (!thread.joinable()) continue;
      if (thread.get_id() == std::this_thread::get_id()) {
        thread.detach();  // destroyed from its own handler: it ends when the handler returns
      } else {
        thread.join();
      }
    }
    threads_.clear();
  }

 private:
  ClientOptions options_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, PoolEntry> pools_;  // by origin
  std::size_t next_context_ = 0;
  bool shut_down_ = false;
};

}  // namespace detail

namespace {

// Connects a caller's cancellation slot to a pool request. The slot handler may run on any thread; it
// hops to the pool's executor, where the request id lives.
std::shared_ptr<CancelState> connect_cancellation(asio::cancellation_slot slot, const asio::any_io_executor& executor,
                                                  const std::shared_ptr<pool::OriginPool>& pool) {
  if (!slot.is_connected()) return nullptr;
  auto state = std::make_shared<CancelState>();
  state->pool = pool;
  slot.assign([state, executor](asio::cancellation_type type) {
    if (type == asio::cancellation_type::none) return;
    asio::post(executor, [state] {
      state->requested = true;
      auto pool = state->pool.lock();
      if (pool && state->id) pool->cancel(*state->id);
    });
  });
  return state;
}

void remember_id(const std::shared_ptr<CancelState>& state, pool::OriginPool& pool, pool::PoolRequestId id) {
  if (!state) return;
  state->id = id;
  if (state->requested) pool.cancel(id);
}

template <class Value>
Result<Value> blocking_wait(std::future<Result<Value>> future) {
  return future.get();
}

}  // namespace

// ---- Client ---------------------------------------------------------------------------------------

Client::Client(ClientOptions options) : core_(std::make_shared<detail::ClientCore>(std::move(options))) {}

Client::~Client() { shutdown(std::chrono::milliseconds(5000)); }

asio::any_io_executor Client::executor() const { return core_->executor(); }

void Client::submit(Request request, detail::ResponseCompletion completion, asio::cancellation_slot slot) {
  auto [pool, executor] = core_->pool_for(request.url);
  if (!pool) return fail_shut_down(std::move(completion));
  auto cancel = connect_cancellation(slot, executor, pool);
  // Dispatched: a request made on the pool's own io thread goes out in the write already scheduled
  // there (with the ACK of the response that prompted it). The pool never completes inside the call.
  asio::dispatch(executor, [pool, cancel, request = std::move(request), completion = std::move(completion)]() mutable {
    auto id = pool->request(std::move(request), std::move(completion));
    remember_id(cancel, *pool, id);
  });
}

void Client::submit_stream(Request request, detail::StreamCompletion completion, asio::cancellation_slot slot) {
  auto [pool, executor] = core_->pool_for(request.url);
  if (!pool) return fail_shut_down(std::move(completion));
  auto cancel = connect_cancellation(slot, executor, pool);
  asio::dispatch(executor, [pool, executor, cancel, request = std::move(request),
                        completion = std::move(completion)]() mutable {
    auto id = pool->stream(std::move(request),
                           [executor, completion = std::move(completion)](Result<h3::StreamingResponse> head) mutable {
                             if (!head) {
                               completion(std::unexpected(head.error()));
                               return;
                             }
                             auto core = std::make_shared<detail::StreamCore>(executor, std::move(*head));
                             completion(detail::ResponseStreamAccess::make(std::move(core)));
                           });
    remember_id(cancel, *pool, id);
  });
}

Result<Response> Client::request(Request request) {
  if (on_io_thread) return std::unexpected(io_thread_error("request"));
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
  if (on_io_thread) return std::unexpected(io_thread_error("stream"));
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
  std::vector<PoolStats> all;
  for (auto& [pool, executor] : core_->all_pools()) {
    if (on_io_thread) break;  // cannot wait here; an io thread gets no snapshot
    std::promise<PoolStats> promise;
    auto future = promise.get_future();
    asio::post(executor, [&promise, pool] { promise.set_value(pool->stats()); });
    if (future.wait_for(std::chrono::seconds(5)) == std::future_status::ready) all.push_back(future.get());
  }
  return all;
}

void Client::shutdown(std::chrono::milliseconds deadline) {
  if (!core_->begin_shutdown()) return;
  auto pools = core_->all_pools();
  auto remaining = std::make_shared<std::atomic<std::size_t>>(pools.size());
  auto all_done = std::make_shared<std::promise<void>>();
  auto finished = all_done->get_future();
  if (pools.empty()) all_done->set_value();
  for (auto& [pool, executor] : pools) {
    asio::post(executor, [pool, deadline, remaining, all_done] {
      pool->shutdown(deadline, [remaining, all_done] {
        if (--*remaining == 0) all_done->set_value();
      });
    });
  }
  if (!on_io_thread) {
    // The pools close what is left at `deadline`; the margin covers that last step.
    finished.wait_for(deadline + std::chrono::milliseconds(500));
  }
  core_->stop_threads();
}

// ---- ResponseStream -------------------------------------------------------------------------------

ResponseStream::ResponseStream(std::shared_ptr<detail::StreamCore> core) : core_(std::move(core)) {}
ResponseStream::ResponseStream(ResponseStream&&) noexcept = default;
ResponseStream& ResponseStream::operator=(ResponseStream&&) noexcept = default;
ResponseStream::~ResponseStream() = default;

int ResponseStream::status() const noexcept { return core_->status; }
const Headers& ResponseStream::headers() const noexcept { return core_->headers; }
const Headers& ResponseStream::trailers() const noexcept { return core_->body->trailers(); }
asio::any_io_executor ResponseStream::default_executor() const { return core_->executor; }

// A cancelled read abandons the body (the stream is reset).
void ResponseStream::on_cancellation(asio::cancellation_slot slot) {
  if (!slot.is_connected()) return;
  slot.assign([core = core_](asio::cancellation_type type) {
    if (type != asio::cancellation_type::none) asio::post(core->executor, [core] { core->body->cancel(); });
  });
}

// Reads are dispatched: on the io thread they start at once (the reader never completes a read inside the
// call that starts it, so the caller's handler still runs later, from the executor).
void ResponseStream::read_chunk(std::size_t max_bytes, detail::ChunkCompletion completion, asio::cancellation_slot slot) {
  on_cancellation(slot);
  asio::dispatch(core_->executor, [core = core_, max_bytes, completion = std::move(completion)]() mutable {
    core->body->async_read(max_bytes, std::move(completion));
  });
}

void ResponseStream::read_some(std::span<char> buffer, detail::ReadCompletion completion, asio::cancellation_slot slot) {
  on_cancellation(slot);
  asio::dispatch(core_->executor, [core = core_, buffer, completion = std::move(completion)]() mutable {
    core->body->async_read_some(buffer, std::move(completion));
  });
}

Result<std::optional<std::string>> ResponseStream::next_chunk(std::size_t max_bytes) {
  if (on_io_thread) return std::unexpected(io_thread_error("next_chunk"));
  std::promise<Result<std::optional<std::string>>> promise;
  auto future = promise.get_future();
  read_chunk(max_bytes, [&promise](Result<std::optional<std::string>> chunk) { promise.set_value(std::move(chunk)); }, {});
  return future.get();
}

Result<std::size_t> ResponseStream::read(std::span<char> buffer) {
  if (on_io_thread) return std::unexpected(io_thread_error("read"));
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
  asio::post(core->executor, [core] { core->body->cancel(); });
}

}  // namespace quiver

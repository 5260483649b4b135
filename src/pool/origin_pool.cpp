// The pool of one origin: connections by state, the waiting queue, credit-driven dispatch, retries.
#include "pool/origin_pool.hpp"

#include <algorithm>
#include <utility>

#include <asio/post.hpp>
#include <fmt/format.h>

namespace quiver::pool {

namespace {

Error pool_error(ErrorKind kind, std::string message) {
  Error error(kind, ErrorClass::transient, std::move(message));
  // The pool itself never sent the request anywhere.
  error.unprocessed = true;
  return error;
}

}  // namespace

std::shared_ptr<OriginPool> OriginPool::create(asio::any_io_executor executor, h3::Origin origin,
                                               PoolOptions options, std::shared_ptr<ConnectionFactory> factory,
                                               std::shared_ptr<Clock> clock) {
  return std::make_shared<OriginPool>(PrivateTag{}, std::move(executor), std::move(origin), std::move(options),
                                      std::move(factory), std::move(clock));
}

OriginPool::OriginPool(PrivateTag, asio::any_io_executor executor, h3::Origin origin, PoolOptions options,
                       std::shared_ptr<ConnectionFactory> factory, std::shared_ptr<Clock> clock)
    : executor_(std::move(executor)),
      origin_(std::move(origin)),
      options_(std::move(options)),
      factory_(std::move(factory)),
      clock_(clock ? std::move(clock) : real_clock()) {
  options_.max_connections = std::max<std::size_t>(options_.max_connections, 1);
}

// Closes every connection (each request in flight gets the connection's error through its own handler,
// which does not need the pool) and fails the requests still waiting here.
OriginPool::~OriginPool() {
  for (ConnectionList* list : {&connecting_, &connected_, &draining_}) {
    for (auto& slot : *list) {
      slot.connection->set_observer(nullptr);
      slot.connection->close();
    }
  }
  fail_all_waiting(pool_error(ErrorKind::goaway, fmt::format("pool for {} destroyed", origin_.to_string())));
}

// ---- requests ------------------------------------------------------------------------------------

PoolRequestId OriginPool::request(Request request, h3::ResponseHandler on_done) {
  return admit(std::move(request), std::move(on_done));
}

PoolRequestId OriginPool::stream(Request request, h3::StreamHandler on_headers) {
  return admit(std::move(request), std::move(on_headers));
}

PoolRequestId OriginPool::admit(Request request, std::variant<h3::ResponseHandler, h3::StreamHandler> handler) {
  auto pending = std::make_shared<PendingRequest>();
  pending->id = next_request_id_++;
  pending->handler = std::move(handler);
  pending->retries_left = std::max(options_.max_retries, 0);
  if (!request.timeout && options_.request_timeout.count() > 0) request.timeout = options_.request_timeout;
  pending->request = std::move(request);

  if (shutting_down_) {
    answer_later(*pending, pool_error(ErrorKind::goaway, fmt::format("pool for {} shutting down", origin_.to_string())));
    return pending->id;
  }
  requests_.emplace(pending->id, pending);
  // Nobody waits ahead of it: it may go straight to a connection.
  if (waiting_.empty()) {
    if (PooledConnection* slot = route(*pending)) {
      dispatch(*slot, pending);
      return pending->id;
    }
  }
  if (waiting_.size() >= options_.max_waiting) {
    answer_later(*pending, pool_error(ErrorKind::checkout_timeout,
                                      fmt::format("pool for {} is full: {} requests already waiting",
                                                  origin_.to_string(), waiting_.size())));
    return pending->id;
  }
  enqueue(pending, /*at_front=*/false);
  serve_waiting();
  return pending->id;
}

void OriginPool::cancel(PoolRequestId id) {
  auto found = requests_.find(id);
  if (found == requests_.end()) return;
  PendingPtr pending = found->second;
  std::erase(waiting_, pending);
  pending->checkout_timer.reset();
  auto connection = pending->connection.lock();
  answer_later(*pending, Error(ErrorKind::cancelled, fmt::format("request {} cancelled", id)));
  // The connection answers its own handler with `cancelled` too; that reply finds us answered.
  if (connection) connection->cancel(pending->connection_request_id);
}

// The connection for `pending`: the least loaded one with credit, avoiding the one that last refused it
// unless no other connection can take it and no new one may be opened. Null: it has to wait.
OriginPool::PooledConnection* OriginPool::route(const PendingRequest& pending) {
  if (PooledConnection* slot = least_loaded(pending.refused_by)) return slot;
  if (pending.refused_by != nullptr && !can_open_connection()) return least_loaded(nullptr);
  return nullptr;
}

OriginPool::PooledConnection* OriginPool::least_loaded(const h3::Connection* avoid) {
  PooledConnection* best = nullptr;
  for (auto& slot : connected_) {
    const h3::Connection& connection = *slot.connection;
    if (&connection == avoid) continue;
    // state() is checked too: a close or drain may have happened with its event still on the way.
    if (connection.state() != h3::ConnectionState::connected || connection.max_streams() == 0) continue;
    if (best == nullptr || connection.requests_in_flight() < best->connection->requests_in_flight()) best = &slot;
  }
  return best;
}

void OriginPool::dispatch(PooledConnection& slot, const PendingPtr& pending) {
  slot.idle_timer.reset();
  pending->checkout_timer.reset();
  bool may_retry = pending->retries_left > 0 && pending->request.body.replayable();
  Request to_send = may_retry ? pending->request : std::move(pending->request);
  pending->connection = slot.connection;
  pending->connection_request_id = send(*slot.connection, std::move(to_send), pending);
}

h3::RequestId OriginPool::send(h3::Connection& connection, Request request, const PendingPtr& pending) {
  std::weak_ptr<OriginPool> weak = weak_from_this();
  if (std::holds_alternative<h3::ResponseHandler>(pending->handler)) {
    return connection.request(std::move(request), [weak, pending](Result<Response> result) {
      on_connection_reply(weak, pending, std::move(result));
    });
  }
  return connection.stream(std::move(request), [weak, pending](Result<h3::StreamingResponse> result) {
    on_connection_reply(weak, pending, std::move(result));
  });
}

// Puts `pending` in the queue with a fresh checkout deadline. One timer per waiting request: simple, and
// nothing runs until a deadline passes.
void OriginPool::enqueue(const PendingPtr& pending, bool at_front) {
  auto on_timeout = [weak = weak_from_this(), id = pending->id] {
    if (auto pool = weak.lock()) pool->on_checkout_timeout(id);
  };
  pending->checkout_timer = clock_->schedule(executor_, options_.checkout_timeout, std::move(on_timeout));
  if (at_front) {
    waiting_.push_front(pending);
  } else {
    waiting_.push_back(pending);
  }
}

// Hands waiting requests, in order, to connections with credit; then opens connections for the rest.
void OriginPool::serve_waiting() {
  while (!waiting_.empty()) {
    PooledConnection* slot = route(*waiting_.front());
    if (slot == nullptr) break;
    PendingPtr pending = std::move(waiting_.front());
    waiting_.pop_front();
    dispatch(*slot, pending);
  }
  open_connections_for_waiting();
}

// Runs only while the request waits: every way out of the queue resets its checkout timer.
void OriginPool::on_checkout_timeout(PoolRequestId id) {
  auto found = requests_.find(id);
  if (found == requests_.end()) return;
  PendingPtr pending = found->second;
  std::erase(waiting_, pending);
  pending->checkout_timer.reset();
  answer_later(*pending, pool_error(ErrorKind::checkout_timeout,
                                    fmt::format("no connection to {} could take the request within {} ms",
                                                origin_.to_string(), options_.checkout_timeout.count())));
}

void OriginPool::fail_all_waiting(const Error& error) {
  std::deque<PendingPtr> failed = std::exchange(waiting_, {});
  for (auto& pending : failed) {
    pending->checkout_timer.reset();
    answer_later(*pending, error);
  }
}

// Every reply a connection gives for a pool request comes through here (posted by the worker, so not
// inside an observer callback). Without the pool there is nothing to retry: the caller gets the reply.
template <class Value>
void OriginPool::on_connection_reply(const std::weak_ptr<OriginPool>& weak, const PendingPtr& pending,
                                     Result<Value> result) {
  if (pending->answered) return;  // cancelled; this is the connection's echo or a late answer
  if (auto pool = weak.lock()) {
    pool->on_reply(pending, std::move(result));
    return;
  }
  deliver(*pending, std::move(result));
}

template <class Value>
void OriginPool::on_reply(const PendingPtr& pending, Result<Value> result) {
  if (!result && should_retry(*pending, result.error())) {
    retry(pending, result.error());
    return;
  }
  requests_.erase(pending->id);
  deliver(*pending, std::move(result));
}

bool OriginPool::should_retry(const PendingRequest& pending, const Error& error) const {
  return error.unprocessed && !shutting_down_ && pending.retries_left > 0 && pending.request.body.replayable();
}

// Sends the request again: ahead of everyone waiting (it was admitted before them), avoiding the
// connection that refused it. The caller sees this only in telemetry.
void OriginPool::retry(const PendingPtr& pending, const Error& error) {
  --pending->retries_left;
  report_retry(*pending, error);
  pending->refused_by = pending->connection.lock().get();
  pending->connection.reset();
  if (PooledConnection* slot = waiting_.empty() ? route(*pending) : nullptr) {
    dispatch(*slot, pending);
    return;
  }
  enqueue(pending, /*at_front=*/true);
  serve_waiting();
}

void OriginPool::report_retry(const PendingRequest& pending, const Error& error) const {
  const auto& telemetry = options_.connection.telemetry;
  if (!telemetry) return;
  RequestEvent event{.type = RequestEvent::Type::retry,
                     .origin = origin_.to_string(),
                     .method = pending.request.method,
                     .target = pending.request.url.target(),
                     .stream_id = error.stream_id,
                     .error = error};
  telemetry->on_request_event(event);
}

// The pool's own answers (timeout, queue full, cancel, shutdown) are posted: the caller's handler never
// runs inside a pool entry point or observer callback.
void OriginPool::answer_later(PendingRequest& pending, const Error& error) {
  pending.answered = true;
  requests_.erase(pending.id);
  std::visit(
      [&](auto& handler) {
        asio::post(executor_, [handler = std::move(handler), error]() mutable { handler(std::unexpected(error)); });
      },
      pending.handler);
}

template <class Value>
void OriginPool::deliver(PendingRequest& pending, Result<Value> result) {
  pending.answered = true;
  auto handler = std::move(std::get<std::move_only_function<void(Result<Value>)>>(pending.handler));
  handler(std::move(result));
}

// ---- connections ---------------------------------------------------------------------------------

bool OriginPool::can_open_connection() const {
  return !shutting_down_ && connecting_.size() + connected_.size() < options_.max_connections;
}

// Each connecting connection is counted on for one waiting request.
void OriginPool::open_connections_for_waiting() {
  while (waiting_.size() > connecting_.size() && can_open_connection()) open_connection();
}

void OriginPool::open_connection() {
  auto connection = factory_->create(executor_, origin_, options_.connection, this);
  connecting_.push_back(PooledConnection{connection, nullptr});
  connection->start();
}

OriginPool::Location OriginPool::locate(const h3::Connection& connection) {
  for (ConnectionList* list : {&connecting_, &connected_, &draining_}) {
    auto it = std::find_if(list->begin(), list->end(),
                           [&](const PooledConnection& slot) { return slot.connection.get() == &connection; });
    if (it != list->end()) return Location{list, it};
  }
  return Location{};
}

void OriginPool::move_to(Location from, ConnectionList& to) {
  if (from.list == &to) return;
  to.splice(to.end(), *from.list, from.it);
}

// Removes a connection from the pool: detached first, so no event of it reaches the pool again.
void OriginPool::drop(Location where) {
  where.it->connection->set_observer(nullptr);
  where.list->erase(where.it);
}

void OriginPool::refresh_idle_timer(PooledConnection& slot) {
  bool idle = slot.connection->state() == h3::ConnectionState::connected && slot.connection->requests_in_flight() == 0;
  if (!idle || shutting_down_ || options_.idle_close.count() <= 0) {
    slot.idle_timer.reset();
    return;
  }
  if (slot.idle_timer) return;  // already counting
  slot.idle_timer = clock_->schedule(executor_, options_.idle_close,
                                     [weak = weak_from_this(), connection = slot.connection.get()] {
                                       if (auto pool = weak.lock()) pool->on_idle_timeout(connection);
                                     });
}

// `connection` is an identity: it is only compared, never dereferenced before it is found in a list. The
// timer lives in the connection's slot and is reset when the slot leaves connected_, so it is found there.
void OriginPool::on_idle_timeout(const h3::Connection* connection) {
  auto where = std::find_if(connected_.begin(), connected_.end(),
                            [&](const PooledConnection& slot) { return slot.connection.get() == connection; });
  if (where == connected_.end()) return;
  where->idle_timer.reset();
  if (where->connection->requests_in_flight() > 0) return;
  auto closing = where->connection;
  drop(Location{&connected_, where});
  closing->close();
  serve_waiting();  // requests waiting for its credit (if any) get a new connection
}

// ---- observer ------------------------------------------------------------------------------------

void OriginPool::on_ready(h3::Connection& connection, std::uint64_t) {
  auto where = locate(connection);
  if (!where || where.list != &connecting_) return;
  move_to(where, connected_);
  serve_waiting();
  refresh_idle_timer(*where.it);
}

void OriginPool::on_stream_done(h3::Connection& connection) {
  serve_waiting();
  auto where = locate(connection);
  if (where && where.list == &connected_) refresh_idle_timer(*where.it);
}

void OriginPool::on_stream_credit(h3::Connection&) { serve_waiting(); }

// The worker has already answered the request it could not send (a refusal while draining is marked
// unprocessed and comes back through on_reply as a retry).
void OriginPool::on_stream_open_failed(h3::Connection& connection, const Error&) {
  on_stream_done(connection);
}

// A draining connection takes no new requests and no longer counts against max_connections: waiting
// requests get a replacement at once.
void OriginPool::on_draining(h3::Connection& connection) {
  auto where = locate(connection);
  if (!where || where.list == &draining_) return;
  where.it->idle_timer.reset();
  move_to(where, draining_);
  serve_waiting();
}

void OriginPool::on_closed(h3::Connection& connection, const Error& reason) {
  auto where = locate(connection);
  if (!where) return;
  bool never_ready = where.list == &connecting_;
  drop(where);
  if (shutting_down_) {
    finish_shutdown_if_done();
    return;
  }
  if (never_ready) {
    // Handshake failure: see the header. No replacement is opened from here.
    if (connecting_.empty() && connected_.empty()) fail_all_waiting(reason);
    return;
  }
  serve_waiting();
}

// ---- shutdown ------------------------------------------------------------------------------------

void OriginPool::shutdown(std::chrono::milliseconds deadline, std::move_only_function<void()> done) {
  shutdown_done_.push_back(std::move(done));
  if (shutting_down_) {
    finish_shutdown_if_done();
    return;
  }
  shutting_down_ = true;
  fail_all_waiting(pool_error(ErrorKind::goaway, fmt::format("pool for {} shutting down", origin_.to_string())));
  // Still connecting: nothing to drain; close and forget them.
  while (!connecting_.empty()) {
    auto closing = connecting_.front().connection;
    drop(Location{&connecting_, connecting_.begin()});
    closing->close();
  }
  while (!connected_.empty()) {
    connected_.front().idle_timer.reset();
    auto draining = connected_.front().connection;
    move_to(Location{&connected_, connected_.begin()}, draining_);
    draining->drain();
  }
  // Holds the pool until the deadline or until done (then cancelled; the Clock releases it later, on the
  // executor, so the pool never destroys itself inside finish_shutdown_if_done).
  shutdown_timer_ = clock_->schedule(executor_, deadline, [self = shared_from_this()] {
    self->on_shutdown_deadline();
  });
  finish_shutdown_if_done();
}

void OriginPool::on_shutdown_deadline() {
  while (!draining_.empty()) {
    auto closing = draining_.front().connection;
    drop(Location{&draining_, draining_.begin()});
    closing->close();
  }
  finish_shutdown_if_done();
}

void OriginPool::finish_shutdown_if_done() {
  if (!shutting_down_ || !connecting_.empty() || !connected_.empty() || !draining_.empty()) return;
  shutdown_timer_.reset();
  for (auto& done : std::exchange(shutdown_done_, {})) asio::post(executor_, std::move(done));
}

// ---- stats ---------------------------------------------------------------------------------------

PoolStats OriginPool::stats() const {
  PoolStats stats;
  stats.origin = origin_.to_string();
  stats.connecting = connecting_.size();
  stats.connected = connected_.size();
  stats.draining = draining_.size();
  stats.waiting = waiting_.size();
  auto add = [&](const ConnectionList& list, const char* state) {
    for (const auto& slot : list) {
      const h3::Connection& connection = *slot.connection;
      stats.connections.push_back({state, connection.max_streams(), connection.requests_in_flight()});
      stats.in_flight += connection.requests_in_flight();
    }
  };
  add(connecting_, "connecting");
  add(connected_, "connected");
  add(draining_, "draining");
  return stats;
}

}  // namespace quiver::pool

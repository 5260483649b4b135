// The pool of one origin: connections by state, the waiting queue, credit-driven dispatch, retries.
#include "pool/origin_pool.hpp"

#include "http/early_data.hpp"

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

// `error` with "; `note`" added to its message; everything else unchanged.
Error with_note(const Error& error, std::string_view note) {
  return error.restated(error.kind(), error.error_class(), fmt::format("{}; {}", error.message(), note));
}

}  // namespace

std::shared_ptr<OriginPool> OriginPool::create(asio::any_io_executor executor, Origin origin,
                                               PoolOptions options, std::shared_ptr<ConnectionFactory> factory,
                                               std::shared_ptr<Clock> clock) {
  return std::make_shared<OriginPool>(PrivateTag{}, std::move(executor), std::move(origin), std::move(options),
                                      std::move(factory), std::move(clock));
}

OriginPool::OriginPool(PrivateTag, asio::any_io_executor executor, Origin origin, PoolOptions options,
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

void OriginPool::request(Request request, http::ResponseHandler on_done, asio::cancellation_slot cancel) {
  admit(std::move(request), std::move(on_done), cancel);
}

void OriginPool::stream(Request request, http::StreamHandler on_headers, asio::cancellation_slot cancel) {
  admit(std::move(request), std::move(on_headers), cancel);
}

void OriginPool::channel(Request request, std::shared_ptr<http::ChannelEndpoint> endpoint,
                         http::StreamHandler on_headers, asio::cancellation_slot cancel) {
  admit(std::move(request), std::move(on_headers), cancel, std::move(endpoint));
}

void OriginPool::admit(Request request, std::variant<http::ResponseHandler, http::StreamHandler> handler,
                       asio::cancellation_slot cancel, std::shared_ptr<http::ChannelEndpoint> channel) {
  auto pending = std::make_shared<PendingRequest>();
  pending->id = next_request_id_++;
  pending->channel = std::move(channel);
  pending->handler = std::move(handler);
  pending->replayable = request.body.replayable();
  if (!request.timeout && options_.request_timeout.count() > 0) request.timeout = options_.request_timeout;
  pending->request = std::move(request);

  if (shutting_down_) {
    answer_later(*pending, pool_error(ErrorKind::goaway, fmt::format("pool for {} shutting down", origin_.to_string())));
    return;
  }
  requests_.emplace(pending->id, pending);
  listen_for_cancel(cancel, *pending);
  // Nobody waits ahead of it: it may go straight to a connection.
  if (waiting_.empty()) {
    if (PooledConnection* slot = route(*pending)) {
      dispatch(*slot, pending);
      return;
    }
  }
  if (waiting_.size() >= options_.max_waiting) {
    answer_later(*pending, pool_error(ErrorKind::checkout_timeout,
                                      fmt::format("pool for {} is full: {} requests already waiting",
                                                  origin_.to_string(), waiting_.size())));
    return;
  }
  enqueue(pending);
  serve_waiting();
}

// Installs the pool's handler in the caller's slot (once; the slot is not touched again). It knows the
// pool weakly and the request by its key, so it does nothing once the request is answered.
void OriginPool::listen_for_cancel(asio::cancellation_slot cancel, PendingRequest& pending) {
  if (!cancel.is_connected()) return;
  pending.cancel_on_connection = std::make_unique<asio::cancellation_signal>();
  cancel.assign([weak = weak_from_this(), id = pending.id](asio::cancellation_type type) {
    if (type == asio::cancellation_type::none) return;
    if (auto pool = weak.lock()) pool->cancel(id, type);
  });
}

// The caller cancelled (on the pool's executor). Unanswered: the caller hears `cancelled` now (posted),
// and the connection the request is on, if any, hears it through the slot it was given; its own
// `cancelled` reply then finds the request answered. Waiting (also for a retry): it just leaves the queue.
void OriginPool::cancel(PoolRequestId id, asio::cancellation_type type) {
  auto found = requests_.find(id);
  if (found == requests_.end()) return;  // answered already: nothing to cancel
  PendingPtr pending = found->second;
  leave_queue(pending);
  answer_later(*pending,
               Error(ErrorKind::cancelled, fmt::format("request to {} cancelled by the caller", origin_.to_string())));
  if (pending->cancel_on_connection) pending->cancel_on_connection->emit(type);
}

// The connection for `pending`: the least loaded one with credit that has not refused it. Only when every
// connection it could ever get refused it does it go back to one of those. Null: it has to wait (also
// while it backs off).
OriginPool::PooledConnection* OriginPool::route(const PendingRequest& pending) {
  if (pending.backoff_timer) return nullptr;
  if (PooledConnection* slot = least_loaded(&pending)) return slot;
  if (pending.refusals.empty() || !only_refusers_remain(pending)) return nullptr;
  return least_loaded(nullptr);
}

// The connected connection with credit and the fewest requests in flight, skipping the ones that refused
// `avoid_refusers_of` (when given).
OriginPool::PooledConnection* OriginPool::least_loaded(const PendingRequest* avoid_refusers_of) {
  PooledConnection* best = nullptr;
  for (auto& slot : connected_) {
    const http::Connection& connection = *slot.connection;
    if (avoid_refusers_of != nullptr && has_refused(*avoid_refusers_of, slot.serial)) continue;
    // state() is checked too: a close or drain may have happened with its event still on the way.
    if (connection.state() != http::ConnectionState::connected || connection.max_streams() == 0) continue;
    if (best == nullptr || connection.requests_in_flight() < best->connection->requests_in_flight()) best = &slot;
  }
  return best;
}

// True when no connection that did not refuse `pending` is connected or connecting, and no new one may be
// opened: waiting would not bring one.
bool OriginPool::only_refusers_remain(const PendingRequest& pending) const {
  if (can_open_connection() || !connecting_.empty()) return false;
  return std::ranges::all_of(connected_,
                             [&](const PooledConnection& slot) { return has_refused(pending, slot.serial); });
}

bool OriginPool::has_refused(const PendingRequest& pending, ConnectionSerial connection) {
  return std::ranges::find(pending.refusals, connection, &Refusal::connection) != pending.refusals.end();
}

// The first send starts the request's deadline (its timeout); a retry is sent with what is left of it.
void OriginPool::dispatch(PooledConnection& slot, const PendingPtr& pending) {
  slot.idle_timer.reset();
  pending->checkout_timer.reset();
  Request to_send = may_retry_later(*pending) ? pending->request : std::move(pending->request);
  if (pending->deadline) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(*pending->deadline - clock_->now());
    to_send.timeout = std::max(left, std::chrono::milliseconds(1));
  } else if (to_send.timeout) {
    pending->deadline = clock_->now() + *to_send.timeout;
  }
  pending->connection_serial = slot.serial;
  send(*slot.connection, std::move(to_send), pending);
}

// The request goes with the slot of the pool's cancellation signal (when the caller can cancel), so a
// cancel() re-emitted there reaches this connection.
void OriginPool::send(http::Connection& connection, Request request, const PendingPtr& pending) {
  std::weak_ptr<OriginPool> weak = weak_from_this();
  asio::cancellation_slot cancel =
      pending->cancel_on_connection ? pending->cancel_on_connection->slot() : asio::cancellation_slot();
  if (std::holds_alternative<http::ResponseHandler>(pending->handler)) {
    auto on_done = [weak, pending](Result<Response> result) { on_connection_reply(weak, pending, std::move(result)); };
    connection.request(std::move(request), std::move(on_done), cancel);
    return;
  }
  auto on_headers = [weak, pending](Result<http::StreamingResponse> result) {
    on_connection_reply(weak, pending, std::move(result));
  };
  if (!pending->channel) {
    connection.stream(std::move(request), std::move(on_headers), cancel);
  } else if (connection.supports_channels()) {
    connection.channel(std::move(request), pending->channel, std::move(on_headers), cancel);
  } else {
    Error error(ErrorKind::extended_connect_disabled,
                fmt::format("channels are not supported over this connection to {} (HTTP/3 only)", origin_.to_string()));
    asio::post(executor_, [on_headers = std::move(on_headers), error]() mutable { on_headers(std::unexpected(error)); });
  }
}

// Puts `pending` in its place in line (the queue is sorted by id) with a fresh checkout deadline, or the
// request's own deadline when that comes first. One timer per waiting request: simple, and nothing runs
// until a deadline passes.
void OriginPool::enqueue(const PendingPtr& pending) {
  Clock::Duration wait = options_.checkout_timeout;
  if (pending->deadline) wait = std::clamp<Clock::Duration>(*pending->deadline - clock_->now(), {}, wait);
  auto on_timeout = [weak = weak_from_this(), id = pending->id] {
    if (auto pool = weak.lock()) pool->on_checkout_timeout(id);
  };
  pending->checkout_timer = clock_->schedule(executor_, wait, std::move(on_timeout));
  if (waiting_.empty() || waiting_.back()->id < pending->id) {
    waiting_.push_back(pending);
    return;
  }
  auto place = std::ranges::lower_bound(waiting_, pending->id, {}, [](const PendingPtr& p) { return p->id; });
  waiting_.insert(place, pending);
}

// Every way out of the queue except dispatch (which finds no backoff running) goes through here.
void OriginPool::leave_queue(const PendingPtr& pending) {
  std::erase(waiting_, pending);
  pending->checkout_timer.reset();
  pending->backoff_timer.reset();
}

// Hands waiting requests, in line order, to connections with credit; a request that may not use any of
// them now (they refused it, or it backs off) keeps its place and the ones behind it go on. Then opens
// connections for the rest.
void OriginPool::serve_waiting() {
  for (std::size_t index = 0; index < waiting_.size() && least_loaded(nullptr) != nullptr;) {
    PooledConnection* slot = route(*waiting_[index]);
    if (slot == nullptr) {
      ++index;
      continue;
    }
    PendingPtr pending = std::move(waiting_[index]);
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(index));
    dispatch(*slot, pending);
  }
  for (auto& slot : connecting_) serve_early(slot);
  open_connections_for_waiting();
}

// 0-RTT: hands a connecting connection the waiting requests it can send as early data, in line order.
void OriginPool::serve_early(PooledConnection& slot) {
  for (std::size_t index = 0; index < waiting_.size() && slot.connection->early_streams() > 0;) {
    const PendingRequest& waiting = *waiting_[index];
    if (waiting.backoff_timer || !waiting.refusals.empty() || !http::early_data_eligible(waiting.request)) {
      ++index;
      continue;
    }
    PendingPtr pending = std::move(waiting_[index]);
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(index));
    dispatch(slot, pending);
  }
}

// Runs only while the request waits: every way out of the queue resets its checkout timer. A refused
// request whose own deadline passed while it waited gets its last refusal, saying so.
void OriginPool::on_checkout_timeout(PoolRequestId id) {
  auto found = requests_.find(id);
  if (found == requests_.end()) return;
  PendingPtr pending = found->second;
  leave_queue(pending);
  if (pending->last_refusal && pending->deadline && clock_->now() >= *pending->deadline) {
    answer_later(*pending, with_note(*pending->last_refusal,
                                     fmt::format("not sent again: its deadline passed while it waited, after {} "
                                                 "refusals",
                                                 pending->refusal_count)));
    return;
  }
  answer_later(*pending, pool_error(ErrorKind::checkout_timeout,
                                    fmt::format("no connection to {} could take the request within {} ms",
                                                origin_.to_string(), options_.checkout_timeout.count())));
}

void OriginPool::on_backoff_done(PoolRequestId id) {
  auto found = requests_.find(id);
  if (found == requests_.end()) return;
  found->second->backoff_timer.reset();
  serve_waiting();
}

void OriginPool::fail_all_waiting(const Error& error) {
  std::deque<PendingPtr> failed = std::exchange(waiting_, {});
  for (auto& pending : failed) {
    pending->checkout_timer.reset();
    pending->backoff_timer.reset();
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

// A refusal (an `unprocessed` error) is retried or, when it may not be, answered with a note saying why.
template <class Value>
void OriginPool::on_reply(const PendingPtr& pending, Result<Value> result) {
  if (!result && result.error().unprocessed) {
    int repeat = record_refusal(*pending, result.error());
    std::optional<std::string> why_not = why_not_retried(*pending, repeat);
    if (!why_not) {
      retry(pending, repeat);
      return;
    }
    result = std::unexpected(with_note(result.error(), *why_not));
  }
  requests_.erase(pending->id);
  deliver(*pending, std::move(result));
}

// Counts the refusal against the request and against the connection that made it; returns how many times
// that connection has now refused this request.
int OriginPool::record_refusal(PendingRequest& pending, const Error& error) {
  ++pending.refusal_count;
  pending.last_refusal = error;
  auto by_connection = std::ranges::find(pending.refusals, pending.connection_serial, &Refusal::connection);
  if (by_connection == pending.refusals.end()) {
    pending.refusals.push_back(Refusal{pending.connection_serial, 1});
    return 1;
  }
  return ++by_connection->count;
}

// Why a refused request is not sent again, or nothing when it is. `repeat`: how many times the connection
// that just refused it has refused it.
std::optional<std::string> OriginPool::why_not_retried(const PendingRequest& pending, int repeat) const {
  if (shutting_down_) return "not sent again: the pool is shutting down";
  if (pending.refusal_count > options_.max_refusal_retries) {
    return fmt::format("not sent again: refused {} times, the retry budget for refusals "
                       "(PoolOptions::max_refusal_retries = {}) is exhausted",
                       pending.refusal_count, options_.max_refusal_retries);
  }
  if (!pending.replayable) return "not sent again: its body is a producer, which cannot be replayed";
  if (pending.deadline) {
    Clock::TimePoint earliest = clock_->now() + (repeat >= 2 ? repeat_refusal_backoff(repeat) : Clock::Duration{});
    if (earliest >= *pending.deadline) {
      return fmt::format("not sent again: its deadline ({} ms) passes before it could be, after {} refusals",
                         pending.request.timeout.value_or(std::chrono::milliseconds(0)).count(),
                         pending.refusal_count);
    }
  }
  return std::nullopt;
}

// Whether a refusal of the request's next send could still be retried, so the pool must keep a copy.
bool OriginPool::may_retry_later(const PendingRequest& pending) const {
  return pending.replayable && pending.refusal_count < options_.max_refusal_retries;
}

std::chrono::milliseconds OriginPool::repeat_refusal_backoff(int repeat) {
  constexpr std::chrono::milliseconds first{25};
  constexpr std::chrono::milliseconds longest{200};
  int doublings = std::clamp(repeat - 2, 0, 3);
  return std::min(first * (1 << doublings), longest);
}

// Sends the request again from its place in line (ahead of everyone admitted after it), never to a
// connection that refused it while another may take it (route()); after a repeat refusal by the same
// connection, only once its backoff has passed. The caller sees this only in telemetry.
void OriginPool::retry(const PendingPtr& pending, int repeat) {
  report_retry(*pending, *pending->last_refusal);
  // The connection that refused it stops listening: a cancel while it waits is the pool's alone.
  if (pending->cancel_on_connection) pending->cancel_on_connection->slot().clear();
  if (repeat >= 2) {
    auto on_backoff_done = [weak = weak_from_this(), id = pending->id] {
      if (auto pool = weak.lock()) pool->on_backoff_done(id);
    };
    pending->backoff_timer = clock_->schedule(executor_, repeat_refusal_backoff(repeat), std::move(on_backoff_done));
  }
  enqueue(pending);
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
  connecting_.push_back(PooledConnection{connection, next_connection_serial_++, nullptr});
  connection->start();
}

OriginPool::Location OriginPool::locate(const http::Connection& connection) {
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
  bool idle = slot.connection->state() == http::ConnectionState::connected && slot.connection->requests_in_flight() == 0;
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
void OriginPool::on_idle_timeout(const http::Connection* connection) {
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

void OriginPool::on_ready(http::Connection& connection, std::uint64_t) {
  auto where = locate(connection);
  if (!where || where.list != &connecting_) return;
  move_to(where, connected_);
  serve_waiting();
  refresh_idle_timer(*where.it);
}

void OriginPool::on_stream_done(http::Connection& connection) {
  serve_waiting();
  auto where = locate(connection);
  if (where && where.list == &connected_) refresh_idle_timer(*where.it);
}

void OriginPool::on_stream_credit(http::Connection&) { serve_waiting(); }

void OriginPool::on_early_data_ready(http::Connection& connection) {
  auto where = locate(connection);
  if (where && where.list == &connecting_) serve_waiting();
}

// The worker has already answered the request it could not send (a refusal while draining is marked
// unprocessed and comes back through on_reply as a retry).
void OriginPool::on_stream_open_failed(http::Connection& connection, const Error&) {
  on_stream_done(connection);
}

// A draining connection takes no new requests and no longer counts against max_connections: waiting
// requests get a replacement at once.
void OriginPool::on_draining(http::Connection& connection) {
  auto where = locate(connection);
  if (!where || where.list == &draining_) return;
  where.it->idle_timer.reset();
  move_to(where, draining_);
  serve_waiting();
}

void OriginPool::on_closed(http::Connection& connection, const Error& reason) {
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
      const http::Connection& connection = *slot.connection;
      stats.connections.push_back({state, connection.max_streams(), connection.requests_in_flight(),
                                   connection.http_version(), connection.protocol_choice()});
      stats.in_flight += connection.requests_in_flight();
    }
  };
  add(connecting_, "connecting");
  add(connected_, "connected");
  add(draining_, "draining");
  return stats;
}

}  // namespace quiver::pool

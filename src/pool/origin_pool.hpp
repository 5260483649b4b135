#pragma once
// quiver::pool::OriginPool — the connections of one origin (scheme, host, port): which connection takes a
// request, when a new one opens, who waits, and which failures are retried.
//
// Threading: one Asio executor. Every member function must be called on it; the pool's connections share
// it, so every observer call and every reply also arrives there and pool and connections talk by plain
// calls. Handlers are never called from inside a pool entry point or an observer callback: a reply from
// a connection is already posted by the worker, and an answer the pool makes itself (checkout timeout,
// queue full, cancel, shutdown) is posted with asio::post.
//
// Lifetime and ownership:
//  - The pool owns its connections (shared_ptr) and is their observer; it detaches itself
//    (set_observer(nullptr)) before it drops one.
//  - Whoever created the pool owns it. Timers and the handlers given to connections hold only a weak_ptr,
//    except shutdown(), whose deadline timer holds the pool until `done` has been called.
//  - Every deadline comes from the pool's Clock (shared; real_clock() unless a test gives a manual one).
//    A timer is armed exactly while its unique_ptr is set: resetting it cancels it for good (see Timer),
//    so a timer callback never needs to tell a stale deadline from the current one.
//  - Dropping the pool closes its connections (their requests in flight still get their one reply, with
//    the connection's error) and fails the requests still waiting in its queue.
//
// Routing (see route()): a request goes to the connected connection with stream credit
// (max_streams() > 0) that has the fewest requests in flight. Requests are never handed to a connection
// that is still connecting: they wait in the pool's queue and are dispatched on on_ready against the real
// max_streams, so a connection is never given more than its credit. Each connecting connection is counted
// on for one waiting request: a new connection opens while more requests wait than connections are
// connecting, up to PoolOptions::max_connections (connecting + connected; draining ones do not count).
//
// The waiting queue is ordered by admission (the pool's internal request key): a new request joins at
// the back, a refused one goes back to its place in line, ahead of every request admitted after it.
// serve_waiting() hands out credit in that order; a request that may not use any connection with credit
// right now (every such connection refused it, or it is backing off) is passed over without losing its
// place.
//
// Refusals (see on_reply() and retry()): a request refused unprocessed is sent again, up to
// PoolOptions::max_refusal_retries times and within its deadline (its timeout counted from its first
// send; each retry is sent with what is left of it). A retry never goes to a connection that refused that
// request while any connection that did not refuse it is connected or connecting, or one may be opened;
// only when every possible connection refused it does it go back to one of them, and a connection that
// refuses the same request a second time makes it back off first (repeat_refusal_backoff()).
//
// Cancellation (see cancel()): rides with the request as an Asio cancellation slot, never as an id. The
// pool installs its handler in the caller's slot; while the request waits in the queue the pool answers it
// itself; on a connection it re-emits the cancellation through a signal of its own, whose slot went to
// that connection with the request (http::Connection's contract). A retry onto another connection hands
// the same slot to the new one (its handler replaces the old one's); while the request waits for its
// retry, no connection listens.
//
// 0-RTT (serve_early): a connection still connecting that can send early data (on_early_data_ready)
// takes waiting requests that may ride in it (http::early_data_eligible), in line order, up to its
// early_streams(); a request that was refused or backs off waits for a connected one. If the server
// rejects the early data the worker resends them after the handshake; the pool sees nothing of it.
//
// Handshake failure: a connection that closes before it was ready held no requests (see above), except
// those it took for 0-RTT, which it answers itself. If no
// other connection is connecting or connected, every waiting request fails at once with the handshake
// error (callers do not wait out the checkout timeout against a server that is down); otherwise they keep
// waiting for the live connections. Either way no replacement is opened in reply to the failure, so a
// server that refuses connections is not hammered in a loop.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/cancellation_signal.hpp>

#include "http/connection.hpp"
#include "pool/clock.hpp"
#include "pool/connection_factory.hpp"
#include "quiver/options.hpp"
#include "quiver/request.hpp"
#include "quiver/stats.hpp"

namespace quiver::pool {

class OriginPool final : public std::enable_shared_from_this<OriginPool>, private http::ConnectionObserver {
  struct PrivateTag {};

 public:
  // `factory` makes the connections and `clock` times the pool's deadlines (both shared: one may serve
  // many pools; a null clock means real_clock()).
  static std::shared_ptr<OriginPool> create(asio::any_io_executor executor, Origin origin,
                                            PoolOptions options, std::shared_ptr<ConnectionFactory> factory,
                                            std::shared_ptr<Clock> clock = real_clock());
  OriginPool(PrivateTag, asio::any_io_executor executor, Origin origin, PoolOptions options,
             std::shared_ptr<ConnectionFactory> factory, std::shared_ptr<Clock> clock);
  ~OriginPool() override;
  OriginPool(const OriginPool&) = delete;
  OriginPool& operator=(const OriginPool&) = delete;

  // Sends `request` on one of the pool's connections; `on_done` is called exactly once. If the request
  // sets no timeout, PoolOptions::request_timeout (when > 0) becomes its timeout.
  //
  // `cancel` (optional): the pool installs its handler in this slot during the call and never touches the
  // slot again; the handler holds the pool and the request only weakly, so the signal may be destroyed at
  // any time. Emit the signal on the pool's executor (a caller on another thread hops there first, as the
  // client does): if the request has not been answered, its handler gets ErrorKind::cancelled (posted)
  // and nothing else; a request on a connection is cancelled there too (its stream is reset). After the
  // answer it does nothing.
  void request(Request request, http::ResponseHandler on_done, asio::cancellation_slot cancel = {});
  // Like request(), but `on_headers` is called exactly once: with the response headers and a body
  // reader, or with the error.
  void stream(Request request, http::StreamHandler on_headers, asio::cancellation_slot cancel = {});
  // Like stream(), for a channel (http::Connection::channel): it takes a stream of the credit as any
  // request does; `endpoint` goes with it to the connection.
  void channel(Request request, std::shared_ptr<http::ChannelEndpoint> endpoint, http::StreamHandler on_headers,
               asio::cancellation_slot cancel = {});

  PoolStats stats() const;

  // How long a request waits before it is sent again after the same connection refused it for the
  // `repeat`-th time (repeat >= 2): 25 ms, doubling with each further repeat, at most 200 ms.
  static std::chrono::milliseconds repeat_refusal_backoff(int repeat);

  // Drains every connected connection (http::Connection::drain), closes the ones still connecting, fails
  // waiting requests with ErrorKind::goaway ("pool shutting down") and refuses new ones the same way.
  // `done` is called (posted) once every connection has closed, or when `deadline` passes, in which case
  // the remaining connections are closed with close(). A second call just adds its `done`.
  void shutdown(std::chrono::milliseconds deadline, std::move_only_function<void()> done);

 private:
  // The pool's own key of a request (internal: callers cancel through their slot); it stays the same
  // across transparent retries and is the request's place in line.
  using PoolRequestId = std::uint64_t;

  // The pool's own number of a connection, never reused (an address could be), so a request can
  // remember which connections refused it after they are gone.
  using ConnectionSerial = std::uint64_t;

  // One connection that refused a request, and how many times it did.
  struct Refusal {
    ConnectionSerial connection = 0;
    int count = 0;
  };

  // One caller's request from request()/stream() until its handler is called. Shared between the pool's
  // table and the handler given to a connection, so a reply reaches its caller even if the pool is gone.
  struct PendingRequest {
    PoolRequestId id = 0;  // also its place in line: the waiting queue is sorted by id
    // The request as the caller gave it. While a retry is still possible the connection gets a copy
    // (bytes bodies are copied too: acceptable for now); otherwise it is moved out on dispatch.
    Request request;
    std::variant<http::ResponseHandler, http::StreamHandler> handler;
    std::shared_ptr<http::ChannelEndpoint> channel;  // set for a channel (a StreamHandler request)
    bool replayable = false;  // its body can be sent again (fixed at admission; the body may be moved out)
    bool answered = false;    // the handler has been used (or handed to a post); ignore later replies
    // Set exactly while it waits in the pool's queue: the checkout deadline (or, after a refusal, the
    // request's own deadline when that comes first).
    std::unique_ptr<Timer> checkout_timer;
    // Set while it waits out repeat_refusal_backoff() (in the queue, in its place): no connection takes it.
    std::unique_ptr<Timer> backoff_timer;
    // The serial of the connection it was last sent to (whose refusal is counted against it).
    ConnectionSerial connection_serial = 0;
    // Set when the caller can cancel: its slot goes with the request to each connection it is sent to
    // (that connection's handler replaces the previous one's); cleared while the request waits for a retry.
    // Emitted by cancel() after the caller's answer is on its way.
    std::unique_ptr<asio::cancellation_signal> cancel_on_connection;
    // Refusals so far: every connection that refused it, the total, and the latest error.
    std::vector<Refusal> refusals;
    int refusal_count = 0;
    std::optional<Error> last_refusal;
    // Its timeout as an instant, set on its first send when it has a timeout; bounds every retry.
    std::optional<Clock::TimePoint> deadline;
  };
  using PendingPtr = std::shared_ptr<PendingRequest>;

  // One connection and the pool's bookkeeping for it.
  struct PooledConnection {
    std::shared_ptr<http::Connection> connection;  // owned
    ConnectionSerial serial = 0;
    // Armed while the connection is connected and has no request; closes it when it fires.
    std::unique_ptr<Timer> idle_timer;
  };
  using ConnectionList = std::list<PooledConnection>;
  struct Location {
    ConnectionList* list = nullptr;
    ConnectionList::iterator it;
    explicit operator bool() const { return list != nullptr; }
  };

  // http::ConnectionObserver
  void on_ready(http::Connection& connection, std::uint64_t max_streams) override;
  void on_stream_done(http::Connection& connection) override;
  void on_stream_credit(http::Connection& connection) override;
  void on_stream_open_failed(http::Connection& connection, const Error& error) override;
  void on_draining(http::Connection& connection) override;
  void on_closed(http::Connection& connection, const Error& reason) override;
  void on_early_data_ready(http::Connection& connection) override;

  // Requests
  void admit(Request request, std::variant<http::ResponseHandler, http::StreamHandler> handler,
             asio::cancellation_slot cancel, std::shared_ptr<http::ChannelEndpoint> channel = nullptr);
  void listen_for_cancel(asio::cancellation_slot cancel, PendingRequest& pending);
  void cancel(PoolRequestId id, asio::cancellation_type type);
  PooledConnection* route(const PendingRequest& pending);
  PooledConnection* least_loaded(const PendingRequest* avoid_refusers_of);
  bool only_refusers_remain(const PendingRequest& pending) const;
  static bool has_refused(const PendingRequest& pending, ConnectionSerial connection);
  void dispatch(PooledConnection& slot, const PendingPtr& pending);
  void send(http::Connection& connection, Request request, const PendingPtr& pending);
  void enqueue(const PendingPtr& pending);
  void leave_queue(const PendingPtr& pending);
  void serve_waiting();
  void serve_early(PooledConnection& slot);
  void on_checkout_timeout(PoolRequestId id);
  void on_backoff_done(PoolRequestId id);
  void fail_all_waiting(const Error& error);
  template <class Value>
  static void on_connection_reply(const std::weak_ptr<OriginPool>& weak, const PendingPtr& pending,
                                  Result<Value> result);
  template <class Value>
  void on_reply(const PendingPtr& pending, Result<Value> result);
  static int record_refusal(PendingRequest& pending, const Error& error);
  std::optional<std::string> why_not_retried(const PendingRequest& pending, int repeat) const;
  bool may_retry_later(const PendingRequest& pending) const;
  void retry(const PendingPtr& pending, int repeat);
  void report_retry(const PendingRequest& pending, const Error& error) const;
  void answer_later(PendingRequest& pending, const Error& error);
  template <class Value>
  static void deliver(PendingRequest& pending, Result<Value> result);

  // Connections
  bool can_open_connection() const;
  void open_connections_for_waiting();
  void open_connection();
  Location locate(const http::Connection& connection);
  void move_to(Location from, ConnectionList& to);
  void drop(Location where);
  void refresh_idle_timer(PooledConnection& slot);
  void on_idle_timeout(const http::Connection* connection);

  // Shutdown
  void on_shutdown_deadline();
  void finish_shutdown_if_done();

  asio::any_io_executor executor_;
  Origin origin_;
  PoolOptions options_;
  std::shared_ptr<ConnectionFactory> factory_;
  std::shared_ptr<Clock> clock_;

  // Every connection lives in exactly one of these lists: the one of its state as the pool last heard it
  // (on_ready moves connecting -> connected, on_draining -> draining, on_closed removes). A connection
  // whose state() already says otherwise (its event is still on the way) is never handed a request.
  ConnectionList connecting_;
  ConnectionList connected_;
  ConnectionList draining_;

  // Every unanswered request, by id: each is either in waiting_ or on a connection.
  std::unordered_map<PoolRequestId, PendingPtr> requests_;
  // Requests no connection could take yet, sorted by id (admission order; a refused request goes back to
  // its place, ahead of everyone admitted after it).
  std::deque<PendingPtr> waiting_;
  PoolRequestId next_request_id_ = 1;
  ConnectionSerial next_connection_serial_ = 1;

  bool shutting_down_ = false;
  std::vector<std::move_only_function<void()>> shutdown_done_;
  std::unique_ptr<Timer> shutdown_timer_;  // set from shutdown() until done or the deadline
};

}  // namespace quiver::pool

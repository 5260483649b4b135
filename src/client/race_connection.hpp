#pragma once
// RaceConnection: HttpVersion::http3 (auto) — one http::Connection to the pool, made of a QUIC attempt and
// a TCP attempt raced against each other (Chromium's job controller, curl's --http3):
//
//   start ─▶ QUIC attempt (unless the plan says TCP only) ──┐  first on_ready wins: the race's winner
//            after http3_race_delay, or at once when QUIC ──┤  carries every request; the other attempt
//            fails: TCP attempt ────────────────────────────┘  is closed (see "the loser" below)
//
// The attempts are made by the composition root (MakeAttempt), so this file names no protocol. Each is a
// full http::Connection whose observer is this object; before a winner is known the pool hears nothing
// but the race's end: on_ready from the winner, or on_closed when both attempts failed (with TCP's error,
// noting QUIC's). Once won, every call and every observer event is the winner's, passed through.
//
// The loser: a TCP attempt that loses to QUIC is closed. A QUIC attempt that loses to TCP goes on alone,
// with no requests, only to learn whether HTTP/3 works: if its handshake completes the origin's HTTP/3 is
// confirmed (and the attempt closed); if it fails, the origin's HTTP/3 is marked broken
// (ProtocolMemory::mark_broken), so later connections go straight to TCP. It is closed with the race.
// 0-RTT: a QUIC attempt that can send early data (on_early_data_ready) wins at once: its early requests
// must stay on it, and a ticket from this origin says HTTP/3 worked lately.
//
// Requests: the pool sends requests only once the race has a winner (or after on_early_data_ready), so
// a request made earlier is refused at once as `unprocessed` (transient; the pool would retry it).
// Responses pass through a thin wrapper that feeds their Alt-Svc fields to the ProtocolMemory and notes
// why this protocol was used (TransferInfo::protocol_choice).
//
// Threading: the http::Connection rules (one executor; observer calls posted by the attempts).
// Lifetime: holds itself from start() until closed, released in a posted step. Owns both attempts; it
// detaches itself from an attempt before dropping it and from both in its destructor.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "client/protocol_memory.hpp"
#include "http/connection.hpp"
#include "quiver/options.hpp"

namespace quiver::client {

class RaceConnection final : public http::Connection, private http::ConnectionObserver {
  struct PrivateTag {};

 public:
  enum class Attempt { http3, tcp };
  // Makes one attempt, not started: `reason` is why it is made (for its telemetry), `observer` borrows.
  using MakeAttempt =
      std::function<std::shared_ptr<http::Connection>(Attempt, const std::string& reason, http::ConnectionObserver*)>;

  // `memory` is shared by the Client's connections; `plan` comes from it (ProtocolMemory::plan).
  static std::shared_ptr<RaceConnection> create(asio::any_io_executor executor, Origin origin,
                                                const ConnectionOptions& options, http::ConnectionObserver* observer,
                                                std::shared_ptr<ProtocolMemory> memory, RacePlan plan,
                                                MakeAttempt make);
  RaceConnection(PrivateTag, asio::any_io_executor executor, Origin origin, const ConnectionOptions& options,
                 http::ConnectionObserver* observer, std::shared_ptr<ProtocolMemory> memory, RacePlan plan,
                 MakeAttempt make);
  ~RaceConnection() override;

  // http::Connection
  void start() override;
  void request(Request request, http::ResponseHandler on_done, asio::cancellation_slot cancel) override;
  void stream(Request request, http::StreamHandler on_headers, asio::cancellation_slot cancel) override;
  void drain() override;
  void close() override;
  http::ConnectionState state() const noexcept override;
  std::uint64_t max_streams() const noexcept override;
  std::uint64_t early_streams() const noexcept override;
  std::size_t requests_in_flight() const noexcept override;
  std::string debug_string() const override;
  const Origin& origin() const noexcept override { return origin_; }
  void set_observer(http::ConnectionObserver* observer) noexcept override { observer_ = observer; }
  std::string http_version() const override;
  std::string protocol_choice() const override { return winner_ ? choice_ : std::string(); }

 private:
  // http::ConnectionObserver (the attempts')
  void on_ready(http::Connection& attempt, std::uint64_t max_streams) override;
  void on_stream_done(http::Connection& attempt) override;
  void on_stream_credit(http::Connection& attempt) override;
  void on_stream_open_failed(http::Connection& attempt, const Error& error) override;
  void on_draining(http::Connection& attempt) override;
  void on_closed(http::Connection& attempt, const Error& reason) override;
  void on_early_data_ready(http::Connection& attempt) override;

  void start_http3();
  void start_tcp(const std::string& reason);
  void on_race_delay();
  void win(http::Connection& attempt, std::string choice);
  void on_http3_failed(const Error& reason);
  void on_tcp_failed(const Error& reason);
  void finish(const Error& reason);
  static void drop(std::shared_ptr<http::Connection>& attempt, bool close);
  bool is_winner(const http::Connection& attempt) const { return winner_ == &attempt; }
  Origin quic_authority() const { return Origin{origin_.host, plan_.http3_port}; }
  template <class Value>
  std::move_only_function<void(Result<Value>)> observe(std::move_only_function<void(Result<Value>)> handler);

  asio::any_io_executor executor_;
  Origin origin_;
  std::chrono::milliseconds race_delay_;
  std::chrono::milliseconds broken_time_;
  http::ConnectionObserver* observer_;  // borrows
  std::shared_ptr<ProtocolMemory> memory_;
  RacePlan plan_;
  MakeAttempt make_;

  std::shared_ptr<http::Connection> http3_;  // the QUIC attempt, while it runs
  std::shared_ptr<http::Connection> tcp_;    // the TCP attempt, while it runs
  http::Connection* winner_ = nullptr;       // one of the two, once the race is decided
  std::string choice_;                       // why the winner: TransferInfo::protocol_choice
  std::optional<Error> http3_error_;         // the QUIC attempt failed
  bool tcp_ready_ = false;                   // TCP won (so a QUIC failure marks HTTP/3 broken)
  bool closed_ = false;
  std::optional<asio::steady_timer> race_timer_;  // armed while QUIC has the race alone
  std::shared_ptr<RaceConnection> self_;          // from start() until closed
};

}  // namespace quiver::client

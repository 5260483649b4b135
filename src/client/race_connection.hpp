#pragma once
// RaceConnection: HttpVersion::http3 (auto) — one http::Connection to the pool, made of a QUIC attempt and
// a TCP attempt raced against each other (Chromium's job controller, curl's --http3):
//
//   start ─▶ QUIC attempt (unless the plan says TCP only) ──┐  first on_ready wins: the race's winner
//            after http3_race_delay, or at once when QUIC ──┤  carries every request; the other attempt
//            fails: TCP attempt ────────────────────────────┘  is closed (see "the loser" below)
//
// A QUIC failure over the peer's identity (its certificate or pinned key, or our client certificate)
// ends the race with that error, before TCP wins: the TCP side would show the same identity, and a
// fallback must never get round a failed check.
//
// The attempts are made by the composition root (MakeAttempt), so this file names no protocol. Each is a
// full http::Connection whose observer is this object; before a winner is known the pool hears nothing
// but the race's end: on_ready from the winner, or on_closed when both attempts failed (with TCP's error,
// noting QUIC's). Once won, the winner is the target of a ForwardingConnection: every call and every
// observer event is the winner's, passed through.
//
// The loser: a TCP attempt that loses to QUIC is closed. A QUIC attempt that loses to TCP goes on alone,
// with no requests, only to learn whether HTTP/3 works: if its handshake completes the origin's HTTP/3 is
// confirmed (and the attempt closed); if it fails, or is still connecting when the race's connection
// ends (UDP blackholed: nothing would end it before its connect timeout), the origin's HTTP/3 is marked
// broken (ProtocolMemory::mark_broken), so later connections go straight to TCP. It is closed with the race.
// 0-RTT: a QUIC attempt that can send early data (on_early_data_ready) wins at once: its early requests
// must stay on it, and a ticket from this origin says HTTP/3 worked lately.
//
// Requests: those made before the race has a winner are refused (ForwardingConnection). Responses pass
// through a thin wrapper that feeds their Alt-Svc fields to the ProtocolMemory and notes
// why this protocol was used (TransferInfo::protocol_choice).
//
// Threading and lifetime: ForwardingConnection's. Owns both attempts; it detaches itself from an attempt
// before dropping it and from both in its destructor.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "client/forwarding_connection.hpp"
#include "client/protocol_memory.hpp"
#include "quiver/options.hpp"

namespace quiver::client {

class RaceConnection final : public ForwardingConnection {
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

  // http::Connection (the rest: ForwardingConnection)
  void start() override;
  void drain() override;
  void close() override;
  std::string debug_string() const override;
  std::string protocol_choice() const override { return target_ ? choice_ : std::string(); }

 private:
  // http::ConnectionObserver (the attempts'; the rest pass the winner's through)
  void on_ready(http::Connection& attempt, std::uint64_t max_streams) override;
  void on_draining(http::Connection& attempt) override;
  void on_closed(http::Connection& attempt, const Error& reason) override;
  void on_early_data_ready(http::Connection& attempt) override;
  http::ResponseHandler forward(http::ResponseHandler on_done) override { return observe(std::move(on_done)); }
  http::StreamHandler forward(http::StreamHandler on_headers) override { return observe(std::move(on_headers)); }
  std::string not_ready_reason() const override;

  void start_http3();
  void start_tcp(const std::string& reason);
  void on_race_delay();
  void win(http::Connection& attempt, std::string choice);
  void on_http3_failed(const Error& reason);
  void on_tcp_failed(const Error& reason);
  void finish(const Error& reason);
  void drop_background_quic();
  Origin quic_authority() const { return Origin{origin_.host, plan_.http3_port}; }
  template <class Value>
  std::move_only_function<void(Result<Value>)> observe(std::move_only_function<void(Result<Value>)> handler);

  std::chrono::milliseconds race_delay_;
  std::chrono::milliseconds broken_time_;
  std::shared_ptr<ProtocolMemory> memory_;
  RacePlan plan_;
  MakeAttempt make_;

  std::shared_ptr<http::Connection> http3_;  // the QUIC attempt, while it runs
  std::shared_ptr<http::Connection> tcp_;    // the TCP attempt, while it runs
  // target_ (ForwardingConnection): the winner, one of the two, once the race is decided
  std::string choice_;                       // why the winner: TransferInfo::protocol_choice
  std::optional<Error> http3_error_;         // the QUIC attempt failed
  bool tcp_ready_ = false;                   // TCP won (so a QUIC failure marks HTTP/3 broken)
  std::optional<asio::steady_timer> race_timer_;  // armed while QUIC has the race alone
};

}  // namespace quiver::client

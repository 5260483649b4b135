#pragma once
// Dialer: opens the QUIC connection a worker runs on. It resolves the host (every address, IPv6 and
// IPv4), takes the shared TLS context, constructs a QuicTransport per attempt and tries the addresses in
// order until one answers (sequentially, on refusal or set-up failure; Happy Eyeballs is later work),
// and reports the negotiated ALPN. The worker (a DialTarget) builds its stream application on each new
// transport and hears the transport's events through the dialer, which forwards all of them except the
// refusal of an attempt that has a next address.
//
// Owned by the worker and used on its executor; borrows the target. Nothing here keeps the owner alive:
// the owner (the worker) holds itself while its connection lives, and the dialer knows it only weakly, to
// tell whether its own posted work (a resolve, the next attempt) still has a dialer to run on.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/udp.hpp>

#include "core/dial_attempt.hpp"
#include "quic/quic_transport.hpp"
#include "quiver/error.hpp"
#include "quiver/options.hpp"

namespace quiver::quic {

class DialTarget : public TransportEvents {
 public:
  // A new transport for the next attempt, before it connects: build and set its application.
  // An error ends the dial (it is reported to on_dial_failed as returned).
  virtual Result<void> on_transport_created(std::shared_ptr<QuicTransport> transport) = 0;
  // The dial failed before any transport could report (no address, no TLS context, set-up refused).
  virtual void on_dial_failed(Error reason) = 0;
};

// What every connection of a Client shares below the worker, handed down from the composition root.
struct DialShared {
  std::shared_ptr<tls::SessionCache> sessions;  // TLS tickets for resumption; null: none kept or used
  bool early_data = false;                      // ClientOptions::early_data: offer 0-RTT on resumption
  std::shared_ptr<GroKeyKeeper> gro_keeper;     // held, never used: see GroKeyKeeper (null: none)
};

struct DialConfig {
  std::string host;  // name or IP literal; SNI and the name to verify
  std::uint16_t port = 443;
  // Where the packets go: host and port unless a ConnectOverride applies (resolved if a name).
  std::string connect_host;
  std::uint16_t connect_port = 443;
  TransportOptions transport;
  TlsOptions tls;
  DialShared shared;
  AttemptReport report_attempt;  // told of each address as its attempt starts
};
// The QUIC (and dial) slice of the connection options, with the first matching ConnectOverride applied.
DialConfig dial_config(std::string host, std::uint16_t port, const ConnectionOptions& options,
                       DialShared shared = {});

class Dialer final : private TransportEvents {
 public:
  Dialer(asio::any_io_executor executor, DialConfig config, DialTarget& target);
  ~Dialer() override;
  Dialer(const Dialer&) = delete;
  Dialer& operator=(const Dialer&) = delete;

  // Resolves the host (an IP literal needs no lookup) and dials its addresses in order. `owner` is the
  // object this dialer is a member of (the worker), held weakly: posted work finds it gone and stops.
  void dial(std::weak_ptr<void> owner);
  // Dials these addresses in order (tests; a caller that resolved already).
  void dial(std::weak_ptr<void> owner, std::vector<asio::ip::udp::endpoint> endpoints);

  // Ends the dial now: closes the live transport (its close is reported as usual) or, between attempts or
  // while resolving, reports `reason` to on_transport_closed.
  void abort(std::uint64_t app_error_code, Error reason);

  // No further attempts or lookups (the owner has ended); a live transport is left to its owner.
  void stop();

  // The ALPN protocol the handshake agreed on ("" before the handshake or if none).
  std::string negotiated_alpn() const;
  // After the handshake: the TLS session was resumed from a cached ticket.
  bool session_resumed() const;
  // After the handshake: why the server's public key is not one of TlsOptions::pinned_public_keys, if
  // pins are set and it is not (handshake_failed, certificate).
  std::optional<Error> pinned_key_problem() const;
  // After the handshake: TLS version, cipher, ALPN, the server's certificate, QUIC version, RTT.
  HandshakeDetails handshake_details() const;
  const asio::ip::udp::endpoint& peer() const noexcept { return peer_; }
  // When the host's addresses were known (an IP literal: at once); unset before (curl's namelookup).
  std::chrono::steady_clock::time_point resolved_at() const noexcept { return resolved_at_; }

 private:
  void on_resolved(std::vector<asio::ip::udp::endpoint> endpoints);
  void attempt(std::size_t index);
  bool try_next_after(const Error& reason) const;

  // TransportEvents of the current transport
  void on_handshake_completed() override;
  void on_early_data_ready() override { target_.on_early_data_ready(); }
  void on_stream_credit() override;
  void on_transport_closed(Error reason) override;

  asio::any_io_executor executor_;
  DialConfig config_;
  DialTarget& target_;  // borrowed: the owner
  std::weak_ptr<void> owner_;  // the owner of this dialer: see dial()
  asio::ip::udp::resolver resolver_;
  std::vector<asio::ip::udp::endpoint> endpoints_;
  std::size_t next_ = 0;                        // the next address to try
  asio::ip::udp::endpoint peer_;                 // the current attempt's address
  std::chrono::steady_clock::time_point resolved_at_;
  std::shared_ptr<QuicTransport> transport_;     // the current attempt
  std::shared_ptr<tls::ClientTlsContext> tls_context_;
  bool handshake_completed_ = false;
  bool transport_live_ = false;                  // transport_ connected and not yet reported closed
  bool done_ = false;                            // the target was told the dial's end
};

}  // namespace quiver::quic

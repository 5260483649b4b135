#pragma once
// tcp::Dialer: opens the TLS-over-TCP stream an HTTP/2 worker runs on. It resolves the host (every
// address), races the addresses per RFC 8305 (Happy Eyeballs v2: IPv6 first, families interleaved; the
// next attempt starts `happy_eyeballs_delay` after the previous one, or at once when it fails; the first
// TCP connection to complete wins and the others are closed), takes the shared TLS context, runs the TLS
// handshake on the winner (ALPN, SNI, verification as TlsOptions says, a cached ticket offered), checks
// the pinned public keys, and hands over the connected stream, which reports the negotiated ALPN.
//
// The stream carries the dial's instants (TlsStream::instants). Owned by the worker (a shared_ptr: its
// asynchronous steps keep it alive), or by the composition root until the server's ALPN choice picks the
// worker (tcp/stream_source.hpp), and used on one executor. The handler is called exactly once: from an
// Asio completion with the stream or the error, or inside abort() with its reason.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "core/dial_attempt.hpp"
#include "quiver/error.hpp"
#include "quiver/options.hpp"
#include "tcp/stream_source.hpp"
#include "tcp/tls_stream.hpp"

namespace quiver::tcp {

// What every connection of a Client shares below the worker, handed down from the composition root.
struct DialShared {
  std::shared_ptr<tls::SessionCache> sessions;  // TLS tickets for resumption; null: none kept or used
};

struct DialConfig {
  std::string host;  // name or IP literal; SNI and the name to verify
  std::uint16_t port = 443;
  // Where the TCP connection goes: host and port unless a ConnectOverride applies (resolved if a name).
  std::string connect_host;
  std::uint16_t connect_port = 443;
  TlsOptions tls;
  DialShared shared;
  std::vector<std::string> alpn{"h2", "http/1.1"};  // offered in this order
  std::chrono::milliseconds happy_eyeballs_delay{250};  // RFC 8305's Connection Attempt Delay
  AttemptReport report_attempt;  // told of each address as its attempt starts
};
// The TCP (and dial) slice of the connection options, with the first matching ConnectOverride applied.
DialConfig dial_config(std::string host, std::uint16_t port, const ConnectionOptions& options,
                       DialShared shared = {});

// RFC 8305 §4: the order to try `endpoints` in: IPv6 first, then alternating families, each family in
// the resolver's order.
std::vector<asio::ip::tcp::endpoint> happy_eyeballs_order(std::vector<asio::ip::tcp::endpoint> endpoints);

class Dialer final : public StreamSource, public std::enable_shared_from_this<Dialer> {
 public:
  Dialer(asio::any_io_executor executor, DialConfig config);
  Dialer(const Dialer&) = delete;
  Dialer& operator=(const Dialer&) = delete;

  // Resolves the host (an IP literal needs no lookup) and races its addresses.
  void dial(Handler on_done) override;
  // Races these addresses, in this order (tests; a caller that resolved already).
  void dial(std::vector<asio::ip::tcp::endpoint> endpoints, Handler on_done);
  // Ends the dial now: every attempt closes and the handler gets `reason` (if it has not been called).
  void abort(Error reason) override;
  std::chrono::steady_clock::time_point started_at() const noexcept override { return instants_.started; }

 private:
  struct Attempt {
    asio::ip::tcp::socket socket;
    asio::ip::tcp::endpoint endpoint;
  };

  void race(std::vector<asio::ip::tcp::endpoint> endpoints);
  void start_next_attempt();
  void on_attempt_done(std::size_t index, std::error_code ec);
  void on_connected(std::size_t index);
  void close_attempts();
  void finish(Result<std::shared_ptr<TlsStream>> result);
  Error connect_error(std::error_code ec, const asio::ip::tcp::endpoint& endpoint) const;

  asio::any_io_executor executor_;
  DialConfig config_;
  Handler on_done_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer delay_timer_;  // starts the next attempt
  std::vector<asio::ip::tcp::endpoint> endpoints_;
  std::vector<std::unique_ptr<Attempt>> attempts_;  // one per started address, in order
  std::size_t failed_ = 0;
  std::optional<Error> last_error_;
  asio::ip::tcp::endpoint peer_;  // the address that won
  DialInstants instants_;
  std::shared_ptr<tls::ClientTlsContext> tls_context_;  // made once the addresses are known
  std::shared_ptr<TlsStream> handshaking_;
  bool finished_ = false;
};

}  // namespace quiver::tcp

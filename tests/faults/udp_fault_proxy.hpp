#pragma once
// A seeded userspace UDP proxy for fault tests (this machine's kernel has no netem).
//
//   client ──▶ 127.0.0.1:port() ──▶ [faults to_server] ──▶ server
//   client ◀── 127.0.0.1:port() ◀── [faults to_client] ◀── server
//
// Every client address (one per QUIC connection: the client's socket is connected) gets its own upstream
// socket, so the server sees one peer per client connection and replies go back to the right client.
//
// Per direction it can drop, hold back (reorder), duplicate and corrupt datagrams, and black-hole the path
// (everything dropped) for a window. Each direction of each session (sessions are numbered in the order
// their first datagram arrives) draws from its own std::mt19937_64, seeded from the proxy's seed and that
// number, a fixed number of draws per datagram: the n-th datagram of the k-th session in a direction always
// meets the same fate for a given seed and settings, whatever the other sessions do (the timing of the
// traffic itself, and so what each datagram carries, is not deterministic).
//
// Debugging: QUIVER_PROXY_TRACE=1 in the environment prints every datagram's fate to stderr.
//
// Threading: the proxy runs its own io thread (one asio::io_context). Every public member is thread-safe
// and may be called from any thread; the destructor stops and joins the thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace quiver::test {

enum class Direction { to_server, to_client };

// What happens to datagrams going one way. Probabilities are in [0, 1], applied in this order:
// drop, then corrupt (one random byte flipped), duplicate (sent twice), reorder (held back and sent after
// the next datagram of the same session and direction, or after `reorder_delay` if none comes); then the
// fixed `delay`.
struct PathFaults {
  double drop = 0;
  double corrupt = 0;
  double duplicate = 0;
  double reorder = 0;
  std::chrono::milliseconds reorder_delay{10};
  // A fixed one-way delay: every datagram that goes on is sent this long after the proxy would have sent
  // it (order kept), so round trips can be counted on loopback (25 ms each way: a 50 ms RTT).
  std::chrono::milliseconds delay{0};
};

// What the proxy did to one direction since it started.
struct ProxyCounters {
  std::uint64_t received = 0;     // datagrams that arrived
  std::uint64_t forwarded = 0;    // datagrams sent on (duplicates included)
  std::uint64_t dropped = 0;      // dropped at random
  std::uint64_t blackholed = 0;   // dropped by a black-hole window
  std::uint64_t corrupted = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;    // held back and sent after a later datagram (or the delay)
  std::uint64_t send_errors = 0;  // the kernel refused a send (counted as lost)
};

class UdpFaultProxy {
 public:
  // Listens on `host`:ephemeral and forwards to `host`:`server_port`. Starts its thread at once.
  explicit UdpFaultProxy(std::uint16_t server_port, std::uint64_t seed = 1, std::string host = "127.0.0.1");
  ~UdpFaultProxy();
  UdpFaultProxy(const UdpFaultProxy&) = delete;
  UdpFaultProxy& operator=(const UdpFaultProxy&) = delete;

  // Where clients connect.
  std::uint16_t port() const;
  // Forward to another server port from now on (e.g. a restarted server).
  void set_server_port(std::uint16_t port);

  void set_faults(Direction direction, PathFaults faults);
  void set_faults(PathFaults both_ways);
  void clear_faults();

  // Black hole: every datagram (both ways) is dropped from start_blackhole() to stop_blackhole(), or for
  // `window` after blackhole_for(window). A datagram held for reordering that comes due inside the window
  // is dropped too.
  void start_blackhole();
  void stop_blackhole();
  void blackhole_for(std::chrono::milliseconds window);
  bool blackholed() const;

  ProxyCounters counters(Direction direction) const;
  // Client addresses seen so far (one per client connection).
  std::size_t sessions() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

std::string to_string(const ProxyCounters& counters);

}  // namespace quiver::test

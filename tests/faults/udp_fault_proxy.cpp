#include "faults/udp_fault_proxy.hpp"

#include <array>
#include <cstdlib>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

namespace quiver::test {

using asio::ip::udp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kMaxDatagram = 65536;
constexpr int kSocketBuffer = 4 << 20;  // the kernel caps it at net.core.[rw]mem_max

void tune(udp::socket& socket) {
  std::error_code ignored;
  socket.set_option(asio::socket_base::receive_buffer_size(kSocketBuffer), ignored);
  socket.set_option(asio::socket_base::send_buffer_size(kSocketBuffer), ignored);
  socket.non_blocking(true, ignored);
}
}  // namespace

class UdpFaultProxy::Impl {
 public:
  Impl(std::uint16_t server_port, std::uint64_t seed, const std::string& host)
      : host_(asio::ip::make_address(host)),
        server_port_(server_port),
        listen_(io_, udp::endpoint(host_, 0)),
        seed_(seed) {
    tune(listen_);
    receive_from_client();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Impl() {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::uint16_t port() const { return listen_.local_endpoint().port(); }
  void set_server_port(std::uint16_t port) { server_port_ = port; }

  void set_faults(Direction direction, PathFaults faults) {
    std::lock_guard lock(mutex_);
    path(direction).faults = faults;
  }

  void set_blackhole(bool on, Clock::time_point until = Clock::time_point::max()) {
    std::lock_guard lock(mutex_);
    blackhole_ = on;
    blackhole_until_ = until;
  }

  bool blackholed() const {
    std::lock_guard lock(mutex_);
    return blackholed_locked();
  }

  ProxyCounters counters(Direction direction) const {
    std::lock_guard lock(mutex_);
    return paths_[static_cast<int>(direction)].counters;
  }

  std::size_t sessions() const { return session_count_; }

 private:
  struct Held {
    std::vector<std::uint8_t> bytes;
    int copies = 1;
    std::uint64_t generation = 0;
  };

  // One direction of one session: its own random stream and its datagram held back for reordering.
  struct Flow {
    Flow(asio::io_context& io, std::uint64_t seed) : rng(seed), timer(io) {}
    std::mt19937_64 rng;
    std::optional<Held> held;
    std::uint64_t generation = 0;
    asio::steady_timer timer;
  };

  // One client address and the upstream socket that speaks for it to the server.
  struct Session {
    Session(asio::io_context& io, std::uint64_t seed, std::uint64_t index)
        : upstream(io), index(index), flows{Flow(io, mix(seed, index * 2)), Flow(io, mix(seed, index * 2 + 1))} {}
    udp::socket upstream;
    std::uint64_t index;
    std::uint64_t datagrams[2] = {0, 0};  // by Direction
    udp::endpoint client;
    udp::endpoint from;
    std::array<std::uint8_t, kMaxDatagram> buffer{};
    Flow flows[2];  // by Direction
  };

  struct Path {
    PathFaults faults;
    ProxyCounters counters;
  };

  // SplitMix64 of the proxy's seed and a flow number: independent streams for every flow.
  static std::uint64_t mix(std::uint64_t seed, std::uint64_t flow) {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (flow + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  Path& path(Direction direction) { return paths_[static_cast<int>(direction)]; }

  bool blackholed_locked() const { return blackhole_ && Clock::now() < blackhole_until_; }

  void receive_from_client() {
    listen_.async_receive_from(asio::buffer(listen_buffer_), listen_from_, [this](std::error_code ec, std::size_t n) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        Session& session = session_for(listen_from_);
        process(Direction::to_server, session, std::span(listen_buffer_.data(), n));
      }
      receive_from_client();
    });
  }

  Session& session_for(const udp::endpoint& client) {
    auto it = sessions_.find(client);
    if (it != sessions_.end()) return *it->second;
    auto session = std::make_unique<Session>(io_, seed_, sessions_.size());
    session->client = client;
    session->upstream.open(host_.is_v4() ? udp::v4() : udp::v6());
    session->upstream.bind(udp::endpoint(host_, 0));
    tune(session->upstream);
    Session& ref = *session;
    sessions_.emplace(client, std::move(session));
    ++session_count_;
    receive_from_server(ref);
    return ref;
  }

  void receive_from_server(Session& session) {
    session.upstream.async_receive_from(asio::buffer(session.buffer), session.from,
                                        [this, &session](std::error_code ec, std::size_t n) {
                                          if (ec == asio::error::operation_aborted) return;
                                          if (!ec) process(Direction::to_client, session, std::span(session.buffer.data(), n));
                                          receive_from_server(session);
                                        });
  }

  // Decides the fate of one datagram and carries it out. Draws the same number of random values for
  // every datagram from its flow's stream, so the n-th datagram of the k-th session in a direction always
  // meets the same fate for a given seed and settings, whatever the other sessions do.
  void process(Direction direction, Session& session, std::span<const std::uint8_t> datagram) {
    std::vector<std::uint8_t> bytes(datagram.begin(), datagram.end());
    std::optional<Held> release;
    int copies = 1;
    bool hold = false;
    Flow& flow = session.flows[static_cast<int>(direction)];
    {
      std::lock_guard lock(mutex_);
      Path& p = path(direction);
      ++p.counters.received;
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      double u_drop = unit(flow.rng), u_corrupt = unit(flow.rng), u_duplicate = unit(flow.rng),
             u_reorder = unit(flow.rng);
      std::uint64_t r_index = flow.rng(), r_flip = flow.rng();
      std::uint64_t number = session.datagrams[static_cast<int>(direction)]++;
      auto fate = [&](const char* what) {
        if (trace_) {
          fmt::print(stderr, "proxy {:8.3f} s  session {} {} #{} {} bytes: {}\n",
                     std::chrono::duration<double>(Clock::now() - started_).count(), session.index,
                     direction == Direction::to_server ? "to_server" : "to_client", number, bytes.size(), what);
        }
      };
      if (blackholed_locked()) {
        ++p.counters.blackholed;
        fate("black-holed");
        return;
      }
      if (u_drop < p.faults.drop) {
        ++p.counters.dropped;
        fate("dropped");
        return;
      }
      fate(u_reorder < p.faults.reorder ? "held back" : "forwarded");
      if (u_corrupt < p.faults.corrupt && !bytes.empty()) {
        bytes[r_index % bytes.size()] ^= static_cast<std::uint8_t>(1 + r_flip % 255);
        ++p.counters.corrupted;
      }
      if (u_duplicate < p.faults.duplicate) {
        copies = 2;
        ++p.counters.duplicated;
      }
      // One datagram held back (reordered) is released after the next one; a datagram that is itself held
      // releases the one before it at once, so every datagram's fate stays independent of timing.
      if (flow.held) {
        release = std::move(flow.held);
        flow.held.reset();
        flow.timer.cancel();
      }
      if (u_reorder < p.faults.reorder) {
        hold = true;
        ++p.counters.reordered;
        flow.held = Held{std::move(bytes), copies, ++flow.generation};
        flow.timer.expires_after(p.faults.reorder_delay);
        flow.timer.async_wait([this, direction, &session, generation = flow.generation](std::error_code ec) {
          if (!ec) release_due(direction, session, generation);
        });
      }
    }
    if (!hold) send(direction, session, bytes, copies);
    if (release) send(direction, session, release->bytes, release->copies);
  }

  // The reorder delay passed with no later datagram: send the held one now (unless black-holed).
  void release_due(Direction direction, Session& session, std::uint64_t generation) {
    std::optional<Held> held;
    Flow& flow = session.flows[static_cast<int>(direction)];
    {
      std::lock_guard lock(mutex_);
      if (!flow.held || flow.held->generation != generation) return;
      held = std::move(flow.held);
      flow.held.reset();
      if (blackholed_locked()) {
        ++path(direction).counters.blackholed;
        return;
      }
    }
    send(direction, session, held->bytes, held->copies);
  }

  // After the path's fixed delay (if any): transmit() from a timer of its own, so datagrams keep their order.
  void send(Direction direction, Session& session, const std::vector<std::uint8_t>& bytes, int copies) {
    std::chrono::milliseconds delay;
    {
      std::lock_guard lock(mutex_);
      delay = path(direction).faults.delay;
    }
    if (delay.count() == 0) return transmit(direction, session, bytes, copies);
    auto timer = std::make_shared<asio::steady_timer>(io_, delay);
    timer->async_wait([this, timer, direction, &session, bytes, copies](std::error_code ec) {
      if (!ec) transmit(direction, session, bytes, copies);
    });
  }

  void transmit(Direction direction, Session& session, const std::vector<std::uint8_t>& bytes, int copies) {
    for (int i = 0; i < copies; ++i) {
      std::error_code ec;
      if (direction == Direction::to_server) {
        session.upstream.send_to(asio::buffer(bytes), udp::endpoint(host_, server_port_.load()), 0, ec);
      } else {
        listen_.send_to(asio::buffer(bytes), session.client, 0, ec);
      }
      std::lock_guard lock(mutex_);
      if (ec) {
        ++path(direction).counters.send_errors;
      } else {
        ++path(direction).counters.forwarded;
      }
    }
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::ip::address host_;
  std::atomic<std::uint16_t> server_port_;
  udp::socket listen_;
  std::array<std::uint8_t, kMaxDatagram> listen_buffer_{};
  udp::endpoint listen_from_;
  std::map<udp::endpoint, std::unique_ptr<Session>> sessions_;  // io thread only
  std::atomic<std::size_t> session_count_{0};

  std::uint64_t seed_;
  // QUIVER_PROXY_TRACE=1: every datagram's fate on stderr.
  bool trace_ = [] {
    const char* text = std::getenv("QUIVER_PROXY_TRACE");
    return text != nullptr && *text != '\0' && *text != '0';
  }();
  Clock::time_point started_ = Clock::now();
  mutable std::mutex mutex_;  // guards the paths, the flows' held datagrams and the black hole
  Path paths_[2];  // by Direction
  bool blackhole_ = false;
  Clock::time_point blackhole_until_ = Clock::time_point::max();

  std::thread thread_;  // last: started once everything else exists
};

UdpFaultProxy::UdpFaultProxy(std::uint16_t server_port, std::uint64_t seed, std::string host)
    : impl_(std::make_unique<Impl>(server_port, seed, host)) {}
UdpFaultProxy::~UdpFaultProxy() = default;

std::uint16_t UdpFaultProxy::port() const { return impl_->port(); }
void UdpFaultProxy::set_server_port(std::uint16_t port) { impl_->set_server_port(port); }
void UdpFaultProxy::set_faults(Direction direction, PathFaults faults) { impl_->set_faults(direction, faults); }
void UdpFaultProxy::set_faults(PathFaults both_ways) {
  impl_->set_faults(Direction::to_server, both_ways);
  impl_->set_faults(Direction::to_client, both_ways);
}
void UdpFaultProxy::clear_faults() { set_faults(PathFaults{}); }
void UdpFaultProxy::start_blackhole() { impl_->set_blackhole(true); }
void UdpFaultProxy::stop_blackhole() { impl_->set_blackhole(false); }
void UdpFaultProxy::blackhole_for(std::chrono::milliseconds window) {
  impl_->set_blackhole(true, Clock::now() + window);
}
bool UdpFaultProxy::blackholed() const { return impl_->blackholed(); }
ProxyCounters UdpFaultProxy::counters(Direction direction) const { return impl_->counters(direction); }
std::size_t UdpFaultProxy::sessions() const { return impl_->sessions(); }

std::string to_string(const ProxyCounters& c) {
  return fmt::format(
      "received={} forwarded={} dropped={} blackholed={} corrupted={} duplicated={} reordered={} send_errors={}",
      c.received, c.forwarded, c.dropped, c.blackholed, c.corrupted, c.duplicated, c.reordered, c.send_errors);
}

}  // namespace quiver::test

#pragma once
// ServerShared — the server-wide stream policy and counters, owned by the Server and shared by its
// connections (the plumbing's counters) and their test controls (the policy and the misbehaviour's
// counters). Atomics: the Server's public methods use them from any thread, connections on the io thread.

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace quiver::server {

struct ServerShared {
  static constexpr std::uint64_t kHoldNothing = UINT64_MAX;
  std::atomic<std::uint64_t> hold_from{kHoldNothing};  // Server::hold_streams_from
  std::atomic<bool> refuse_new_streams{false};         // Server::refuse_new_streams
  std::atomic<std::uint64_t> connections_accepted{0}, requests_started{0}, peak_concurrent_streams{0},
      streams_held{0}, streams_refused{0}, requests_rejected{0}, streams_over_limit{0}, goaways_sent{0},
      handshakes_resumed{0}, early_data_accepted{0}, early_requests{0}, tcp_connections_accepted{0};

  // Raises peak_concurrent_streams to `open` if that is higher.
  void note_open_streams(std::uint64_t open) noexcept {
    auto peak = peak_concurrent_streams.load();
    while (open > peak && !peak_concurrent_streams.compare_exchange_weak(peak, open)) {
    }
  }
  // ServerOptions::reject_first_per_path: counts one more request for `path`; true while the count is
  // within the first `times`. Io thread only (every connection lives there).
  bool reject_request_for(const std::string& path, std::uint32_t times) { return ++requests_per_path_[path] <= times; }

 private:
  std::unordered_map<std::string, std::uint32_t> requests_per_path_;  // io thread only
};

}  // namespace quiver::server

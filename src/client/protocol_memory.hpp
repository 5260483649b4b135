#pragma once
// What a Client remembers about its origins' protocols, for HttpVersion::http3 (auto): the Alt-Svc cache
// (client/alt_svc.hpp) and the broken-HTTP/3 marks. One per Client, made at the composition root and
// shared by every racing connection (client/race_connection.hpp); thread-safe.
//
// Broken marks (as Chromium's, per alternative): a QUIC attempt that failed while TCP to the same origin
// worked marks HTTP/3 at that authority (the origin's host, the port QUIC went to: the origin's own or its
// Alt-Svc alternative's) broken for ConnectionOptions::http3_broken_time, doubled for each further failure (at
// most kLongestMark); while marked, new connections go straight to TCP. A completed QUIC handshake
// clears the mark and the failure count. Marks live in memory only.

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "client/alt_svc.hpp"
#include "core/origin.hpp"
#include "quiver/headers.hpp"

namespace quiver::client {

// How a racing connection starts: QUIC first (where), or TCP only (why).
struct RacePlan {
  bool http3 = true;
  std::uint16_t http3_port = 0;  // where QUIC goes: the origin's port or its Alt-Svc alternative's
  std::string reason;            // why: "no Alt-Svc known", "Alt-Svc h3=\":4433\"", "HTTP/3 marked broken ..."
};

class ProtocolMemory {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  static constexpr std::chrono::hours kLongestMark{48};
  static constexpr std::size_t kMaxMarks = 1000;

  ProtocolMemory(std::size_t alt_svc_capacity, std::string alt_svc_file,
                 Clock now = [] { return std::chrono::steady_clock::now(); });

  AltSvcCache& alt_svc() { return alt_svc_; }

  // How a new connection to `origin` starts.
  RacePlan plan(const Origin& origin);
  // A response from `origin` (over any protocol): its Alt-Svc fields, if any, replace the cached ones.
  void on_response_fields(const Origin& origin, const Headers& headers);
  // `quic` is the authority QUIC went to (host, port). QUIC failed there where TCP worked: marks it
  // broken; returns for how long.
  std::chrono::milliseconds mark_broken(const Origin& quic, std::chrono::milliseconds base);
  // A QUIC handshake to `quic` completed: clears its mark and failure count.
  void confirm_http3(const Origin& quic);
  // How long the mark on `quic` still lasts (nullopt: not marked).
  std::optional<std::chrono::milliseconds> broken_for(const Origin& quic);

 private:
  struct Mark {
    std::chrono::steady_clock::time_point until;
    int failures = 0;
  };

  AltSvcCache alt_svc_;
  const Clock now_;
  std::mutex mutex_;
  std::unordered_map<std::string, Mark> marks_;  // by the QUIC authority's Origin::to_string()
};

}  // namespace quiver::client

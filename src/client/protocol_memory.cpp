#include "client/protocol_memory.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace quiver::client {

ProtocolMemory::ProtocolMemory(std::size_t alt_svc_capacity, std::string alt_svc_file, Clock now)
    : alt_svc_(alt_svc_capacity, std::move(alt_svc_file)), now_(std::move(now)) {}

// QUIC goes to the Alt-Svc alternative when one is known, else to the origin's own port; a mark on that
// authority sends the connection to TCP only.
RacePlan ProtocolMemory::plan(const Origin& origin) {
  auto alternative = alt_svc_.lookup(origin);
  Origin quic{origin.host, alternative ? alternative->h3_port : origin.port};
  if (auto broken = broken_for(quic)) {
    return RacePlan{.http3 = false,
                    .http3_port = 0,
                    .reason = fmt::format("HTTP/3 at :{} marked broken ({} s left)", quic.port,
                                          std::chrono::duration_cast<std::chrono::seconds>(*broken).count())};
  }
  if (alternative) {
    return RacePlan{.http3 = true, .http3_port = quic.port, .reason = fmt::format("Alt-Svc h3=\":{}\"", quic.port)};
  }
  return RacePlan{.http3 = true, .http3_port = origin.port, .reason = "no Alt-Svc known"};
}

void ProtocolMemory::on_response_fields(const Origin& origin, const Headers& headers) {
  auto values = headers.get_all("alt-svc");
  if (values.empty()) return;
  std::string joined;
  for (std::string_view value : values) {
    if (!joined.empty()) joined += ", ";
    joined += value;
  }
  alt_svc_.on_field(origin, joined);
}

std::chrono::milliseconds ProtocolMemory::mark_broken(const Origin& origin, std::chrono::milliseconds base) {
  std::lock_guard lock(mutex_);
  auto now = now_();
  if (marks_.size() >= kMaxMarks && !marks_.contains(origin.to_string())) {
    auto oldest = std::ranges::min_element(marks_, {}, [](const auto& entry) { return entry.second.until; });
    marks_.erase(oldest);
  }
  Mark& mark = marks_[origin.to_string()];
  int doublings = std::min(mark.failures, 20);
  ++mark.failures;
  auto length = std::min<std::chrono::milliseconds>(base * (1LL << doublings), kLongestMark);
  mark.until = now + length;
  return length;
}

void ProtocolMemory::confirm_http3(const Origin& origin) {
  std::lock_guard lock(mutex_);
  marks_.erase(origin.to_string());
}

std::optional<std::chrono::milliseconds> ProtocolMemory::broken_for(const Origin& origin) {
  std::lock_guard lock(mutex_);
  auto it = marks_.find(origin.to_string());
  if (it == marks_.end()) return std::nullopt;
  auto now = now_();
  if (it->second.until <= now) return std::nullopt;  // expired; the failure count stays for the next mark
  return std::chrono::duration_cast<std::chrono::milliseconds>(it->second.until - now);
}

}  // namespace quiver::client

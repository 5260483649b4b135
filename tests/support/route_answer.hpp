#pragma once
// Test support for comparing how the server answers a route over different protocols, and for polling
// the server's state with a bounded wait. Header-only.

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <thread>

#include "quiver/client.hpp"

namespace quiver::test {

// Polls `done` until it is true or `limit` passed.
inline bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// What a route answered, for comparing protocols.
struct Answer {
  int status = 0;
  std::string body, content_type, content_length, trailers;
  bool operator==(const Answer&) const = default;
};

inline std::ostream& operator<<(std::ostream& out, const Answer& answer) {
  return out << answer.status << " type=" << answer.content_type << " length=" << answer.content_length
             << " trailers=" << answer.trailers << " body(" << answer.body.size() << ")=" << answer.body.substr(0, 200);
}

inline Answer answer_of(const Result<Response>& response) {
  if (!response) return {-1, response.error().to_string(), "", "", ""};
  std::string trailers;
  for (const auto& [name, value] : response->trailers) trailers += name + "=" + value + ";";
  return {response->status, response->body, std::string(response->headers.get("content-type").value_or("")),
          std::string(response->headers.get("content-length").value_or("")), trailers};
}

}  // namespace quiver::test

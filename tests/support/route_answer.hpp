#pragma once
// Test support for comparing how the server answers a route over different protocols, and for polling
// the server's state with a bounded wait. Header-only.

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

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

// Every plain route of the server (no test controls), one request each, for `url(target)`: the sweep that
// compares how a route answers over each protocol. `trailers`: include /trailers (over HTTP/1.1 a body
// with trailers goes chunked, without the content-length HTTP/3 sends: compared by its own test there).
inline std::vector<RequestBuilder> plain_route_requests(const std::function<std::string(const std::string&)>& url,
                                                        bool trailers = true) {
  const std::string upload(300'000, 'u');
  std::vector<RequestBuilder> requests{
      get(url("/bytes/100000")),
      get(url("/bytes/0")),
      post(url("/echo")).header("x-thing", "one").header("content-type", "text/plain").body(upload),
      get(url("/status/418")),
      get(url("/status/204")),
      get(url("/status/304")),
      post(url("/status/201?early=1")).body(upload),
      post(url("/status/202?early=1&keep_reading=1")).body(upload),
      get(url("/delay/30")),
      get(url("/stream/5?size=1000&delay_ms=5")),
      post(url("/slow-upload?rate=100000000")).body(upload),
      head(url("/bytes/77")),
      get(url("/nowhere")),
      get(url("/bytes/x")),
      get(url("/get?a=1")).header("x-thing", "two"),
      post(url("/post")).header("content-type", "application/json").body(R"({"k": 1})"),
      get(url("/gzip")).header("accept-encoding", "identity"),
      get(url("/range/100")).header("range", "bytes=10-19"),
      get(url("/basic-auth/u/p")),
      get(url("/drip?numbytes=5&duration=0.05&delay=0")),
      get(url("/goaway")),
  };
  if (trailers) requests.push_back(get(url("/trailers")));
  return requests;
}

// Sends each request through `reference` and `other` and expects the same answer (and a real one).
inline void expect_same_answers(Client& reference, Client& other, const std::vector<RequestBuilder>& requests) {
  for (const auto& request : requests) {
    auto expected = answer_of(reference.request(*request.build()));
    auto got = answer_of(other.request(*request.build()));
    EXPECT_GT(expected.status, 0) << expected;
    EXPECT_EQ(got, expected);
  }
}

}  // namespace quiver::test

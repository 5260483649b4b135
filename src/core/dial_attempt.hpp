#pragma once
// The dialers' "trying this address" report (ConnectionEvent::attempt, curl -v's "* Trying ..."): posted
// on the dialer's executor, so a sink never runs inside the dial step that made the attempt.

#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>

#include "quiver/telemetry.hpp"

namespace quiver {

// "127.0.0.1:443", "[::1]:443".
template <class Endpoint>
std::string endpoint_text(const Endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// Who hears a dialer's attempts: the connection's telemetry sink (none: nothing is reported).
struct AttemptReport {
  std::shared_ptr<Telemetry> sink;
  std::string origin;    // ConnectionEvent::origin, as the worker reports it
  int http_version = 3;  // 3 over QUIC; 2 (or 1 when only http/1.1 is offered) over TCP

  template <class Endpoint>
  void operator()(const asio::any_io_executor& executor, const Endpoint& endpoint) const {
    if (!sink) return;
    ConnectionEvent event;
    event.type = ConnectionEvent::Type::attempt;
    event.origin = origin;
    event.http_version = http_version;
    event.peer = endpoint_text(endpoint);
    asio::post(executor, [sink = sink, event = std::move(event)] { sink->on_connection_event(event); });
  }
};

}  // namespace quiver

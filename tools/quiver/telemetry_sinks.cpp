#include "telemetry_sinks.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "units.hpp"

namespace quiver::cli {

// ---- CountingTelemetry -----------------------------------------------------------------------------

void CountingTelemetry::on_connection_event(const ConnectionEvent& event) {
  switch (event.type) {
    case ConnectionEvent::Type::ready: {
      ++ready_;
      const std::int64_t ns = event.duration.count();
      handshake_total_ns_ += ns;
      std::int64_t max = handshake_max_ns_.load();
      while (ns > max && !handshake_max_ns_.compare_exchange_weak(max, ns)) {
      }
      break;
    }
    case ConnectionEvent::Type::draining: ++draining_; break;
    default: break;
  }
}

void CountingTelemetry::on_request_event(const RequestEvent& event) {
  if (event.type == RequestEvent::Type::retry) ++retries_;
}

std::chrono::nanoseconds CountingTelemetry::handshake_mean() const noexcept {
  const auto ready = ready_.load();
  return std::chrono::nanoseconds(ready == 0 ? 0 : handshake_total_ns_.load() / static_cast<std::int64_t>(ready));
}

// ---- VerboseLog ------------------------------------------------------------------------------------

namespace {

std::string error_text(const std::optional<Error>& error) { return error ? error->to_string() : "no error"; }

std::string stream_text(const RequestEvent& event) {
  return event.stream_id ? fmt::format(" on stream {}", *event.stream_id) : "";
}

}  // namespace

void VerboseLog::expect_request(const std::string& method, const std::string& target, std::vector<Header> fields) {
  std::lock_guard lock(mutex_);
  expected_.push_back({method + " " + target, std::move(fields)});
}

void VerboseLog::print_fields_of(const RequestEvent& event) {
  std::vector<Header> fields;
  {
    std::lock_guard lock(mutex_);
    const std::string key = event.method + " " + event.target;
    auto it = std::ranges::find(expected_, key, &Expected::key);
    if (it == expected_.end()) return;  // a retry: printed the first time
    fields = std::move(it->fields);
    expected_.erase(it);
  }
  for (const Header& field : fields) console_.line(fmt::format("> {}: {}", field.name, field.value));
}

void VerboseLog::on_connection_event(const ConnectionEvent& event) {
  switch (event.type) {
    case ConnectionEvent::Type::start:
      console_.line(fmt::format("* Connecting to {} (QUIC)", event.origin));
      break;
    case ConnectionEvent::Type::ready:
      console_.line(fmt::format("* Connected to {} in {} ms, HTTP/3, peer allows {} streams", event.origin,
                                format_ms(event.duration), event.max_streams));
      break;
    case ConnectionEvent::Type::exception:
      console_.line(fmt::format("* Connection to {} failed: {}", event.origin, error_text(event.error)));
      break;
    case ConnectionEvent::Type::draining:
      console_.line(event.goaway_id
                        ? fmt::format("* Connection to {} draining (GOAWAY {})", event.origin, *event.goaway_id)
                        : fmt::format("* Connection to {} draining (GOAWAY)", event.origin));
      break;
    case ConnectionEvent::Type::closed:
      console_.line(fmt::format("* Connection to {} closed after {} ms: {}", event.origin,
                                format_ms(event.duration), event.error ? event.error->message() : "done"));
      break;
  }
}

void VerboseLog::on_request_event(const RequestEvent& event) {
  switch (event.type) {
    case RequestEvent::Type::start:
      console_.line(fmt::format("* Request {} {}{}", event.method, event.target, stream_text(event)));
      print_fields_of(event);
      break;
    case RequestEvent::Type::headers:
      break;  // the transfer prints the response head itself, fields included
    case RequestEvent::Type::stop:
      console_.line(fmt::format("* Response complete{}: status {}, {} body bytes in {} ms", stream_text(event),
                                event.status, event.bytes, format_ms(event.duration)));
      break;
    case RequestEvent::Type::exception:
      console_.line(fmt::format("* Request {} {} failed: {}", event.method, event.target, error_text(event.error)));
      break;
    case RequestEvent::Type::retry:
      console_.line(fmt::format("* Retrying {} {} on another connection: {}", event.method, event.target,
                                error_text(event.error)));
      break;
  }
}

}  // namespace quiver::cli

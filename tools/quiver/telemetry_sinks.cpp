#include "telemetry_sinks.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "core/text.hpp"
#include "response_output.hpp"
#include "units.hpp"

namespace quiver::cli {

namespace {

// curl's certificate dates: "Dec  4 08:46:02 2026 GMT".
std::string certificate_date(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  return std::strftime(text, sizeof text, "%b %e %H:%M:%S %Y GMT", &utc) > 0 ? text : "?";
}

}  // namespace

std::vector<std::string> handshake_lines(const HandshakeDetails& handshake) {
  std::vector<std::string> lines;
  if (!handshake.tls_version.empty()) {
    std::string line = fmt::format("* SSL connection using {} / {}", handshake.tls_version,
                                   handshake.cipher.empty() ? "unknown cipher" : handshake.cipher);
    // curl writes the group in lowercase ("x25519")
    if (!handshake.key_exchange.empty()) line += " / " + detail::to_lower(handshake.key_exchange);
    lines.push_back(std::move(line));
  }
  if (!handshake.alpn.empty()) lines.push_back(fmt::format("* ALPN: server accepted {}", handshake.alpn));
  if (!handshake.certificate_subject.empty()) {
    lines.push_back("* Server certificate:");
    lines.push_back(fmt::format("*  subject: {}", handshake.certificate_subject));
    if (handshake.certificate_not_before) {
      lines.push_back(fmt::format("*  start date: {}", certificate_date(*handshake.certificate_not_before)));
    }
    if (handshake.certificate_not_after) {
      lines.push_back(fmt::format("*  expire date: {}", certificate_date(*handshake.certificate_not_after)));
    }
    lines.push_back(fmt::format("*  issuer: {}", handshake.certificate_issuer));
  }
  const std::string rtt = handshake.rtt.count() > 0 ? fmt::format("RTT {} ms", format_ms(handshake.rtt)) : "";
  if (handshake.quic_version != 0) {
    lines.push_back(fmt::format("* QUIC version 0x{:08x}{}{}", handshake.quic_version, rtt.empty() ? "" : ", ", rtt));
  } else if (!rtt.empty()) {
    lines.push_back(fmt::format("* TCP {}", rtt));
  }
  return lines;
}

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

std::string key_of(const std::string& method, const std::string& target) { return method + " " + target; }

}  // namespace

void VerboseLog::expect_request(const std::string& method, const std::string& target, std::vector<Header> fields) {
  std::lock_guard lock(mutex_);
  Tracked tracked;
  tracked.key = key_of(method, target);
  tracked.fields = std::move(fields);
  tracked_.push_back(std::move(tracked));
}

VerboseLog::Tracked* VerboseLog::find_locked(const std::string& key) {
  auto it = std::ranges::find(tracked_, key, &Tracked::key);
  return it == tracked_.end() ? nullptr : &*it;
}

// curl's layout: the request line, Host, the other fields, then a lone ">".
void VerboseLog::print_fields_locked(Tracked& tracked) {
  if (tracked.fields_printed) return;  // a retry: printed the first time
  tracked.fields_printed = true;
  std::string method, path, authority;
  for (const Header& field : tracked.fields) {
    if (field.name == ":method") method = field.value;
    if (field.name == ":path") path = field.value;
    if (field.name == ":authority") authority = field.value;
  }
  console_.line(fmt::format("> {} {} HTTP/3", method, path));
  console_.line(fmt::format("> Host: {}", authority));
  for (const Header& field : tracked.fields) {
    if (!field.name.starts_with(':')) console_.line(fmt::format("> {}: {}", field.name, field.value));
  }
  console_.line(">");
}

// "Response complete" or "failed": after the head when the transfer has yet to print it.
void VerboseLog::final_line_locked(const RequestEvent& event, std::string line) {
  Tracked* tracked = find_locked(key_of(event.method, event.target));
  if (tracked == nullptr) return console_.line(line);
  tracked->final_printed = true;
  if (tracked->headers_arrived && !tracked->head_printed) return tracked->held.push_back(std::move(line));
  console_.line(line);
}

void VerboseLog::show_head(const std::string& method, const std::string& target, int status, const Headers& headers,
                           std::string_view http_version, std::string_view protocol_choice) {
  std::lock_guard lock(mutex_);
  if (!protocol_choice.empty()) console_.line(fmt::format("* Using HTTP/{}: {}", http_version, protocol_choice));
  console_.line("< " + status_line(status, http_version));
  for (const Header& field : headers) console_.line(fmt::format("< {}: {}", field.name, field.value));
  console_.line("<");
  Tracked* tracked = find_locked(key_of(method, target));
  if (tracked == nullptr) return;
  tracked->head_printed = true;
  for (const std::string& line : tracked->held) console_.line(line);
  tracked->held.clear();
}

void VerboseLog::finished(const std::string& method, const std::string& target,
                          const std::optional<std::string>& failure) {
  std::lock_guard lock(mutex_);
  auto it = std::ranges::find(tracked_, key_of(method, target), &Tracked::key);
  if (it == tracked_.end()) return;
  for (const std::string& line : it->held) console_.line(line);  // only if the head never came
  if (failure && !it->final_printed) console_.line(fmt::format("* Request {} {} failed: {}", method, target, *failure));
  tracked_.erase(it);
}

void VerboseLog::on_connection_event(const ConnectionEvent& event) {
  switch (event.type) {
    case ConnectionEvent::Type::start:
      console_.line(fmt::format("* Connecting to {} ({}){}", event.origin, event.http_version == 3 ? "QUIC" : "TCP",
                                event.reason.empty() ? "" : ": " + event.reason));
      break;
    case ConnectionEvent::Type::attempt:  // curl's wording and indent
      console_.line(fmt::format("*   Trying {} ({})...", event.peer, event.http_version == 3 ? "QUIC" : "TCP"));
      break;
    case ConnectionEvent::Type::ready:
      console_.line(fmt::format("* Connected to {} in {} ms, HTTP/{}, peer allows {} streams{}", event.origin,
                                format_ms(event.duration), event.http_version == 1 ? "1.1" : std::to_string(event.http_version), event.max_streams,
                                event.resumed ? ", TLS session resumed" : ""));
      if (event.early_data_offered) {
        console_.line(fmt::format("* Early data (0-RTT): {} request(s) sent early, {}", event.early_requests,
                                  event.early_data_accepted ? "accepted" : "rejected by the server, sent again"));
      }
      for (const std::string& line : handshake_lines(event.handshake)) console_.line(line);
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
  std::lock_guard lock(mutex_);
  Tracked* tracked = find_locked(key_of(event.method, event.target));
  switch (event.type) {
    case RequestEvent::Type::start:
      console_.line(fmt::format("* Request {} {}{}", event.method, event.target, stream_text(event)));
      if (tracked) {
        tracked->final_printed = false;
        print_fields_locked(*tracked);
      }
      break;
    case RequestEvent::Type::headers:
      if (tracked) tracked->headers_arrived = true;  // the transfer prints the head, fields included
      break;
    case RequestEvent::Type::stop:
      final_line_locked(event, fmt::format("* Response complete{}: status {}, {} body bytes in {} ms",
                                           stream_text(event), event.status, event.bytes, format_ms(event.duration)));
      break;
    case RequestEvent::Type::exception:
      if (tracked && event.stream_id && tracked->retried_stream == event.stream_id) break;
      final_line_locked(event, fmt::format("* Request {} {} failed: {}", event.method, event.target,
                                           error_text(event.error)));
      break;
    case RequestEvent::Type::retry:
      console_.line(fmt::format("* Retrying {} {} (the server did not process it): {}", event.method, event.target,
                                error_text(event.error)));
      if (tracked) {
        tracked->final_printed = false;
        tracked->retried_stream = event.error ? event.error->stream_id : std::nullopt;
      }
      break;
  }
}

}  // namespace quiver::cli

// H1Session, part 2: the route runner over HTTP/1.1. A request's ResponsePlan (routes.hpp) is carried out
// as over HTTP/2 (h2_route_runner.cpp): delay, status line and fields (plus alt-svc), lazy body, trailers,
// paced upload; what HTTP/1.1 cannot say is mapped (see h1_session.hpp): a reset or a connection close
// closes the connection, GOAWAY is `connection: close`. The body is framed by the plan's content-length
// when it has one, else chunked (always chunked with trailers; HTTP/1.0: delimited by the close).
#include <algorithm>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nghttp3/nghttp3.h>

#include "test_server/h1_session.hpp"

namespace quiver::server {
namespace {

constexpr std::size_t kHighWater = 256 * 1024;  // queued for the socket before the body waits
constexpr std::size_t kMaxPiece = 64 * 1024;    // body bytes pulled (one chunk) at a time
constexpr auto kUploadTick = std::chrono::milliseconds(10);    // /slow-upload pacing
constexpr auto kUploadBurst = std::chrono::milliseconds(100);  // allowance that may be saved up, in time

std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 412: return "Precondition Failed";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "";  // RFC 9112 §4: the reason phrase may be empty
  }
}

// Fields that frame or manage the connection: the session writes its own.
bool hop_by_hop(std::string_view name) {
  return name == "connection" || name == "transfer-encoding" || name == "keep-alive" || name == "upgrade";
}

// What HTTP/1.1 cannot carry: /misbehave's raw frames (HTTP/3's) and /datagram-echo's tunnel.
ResponsePlan not_over_http1(std::string_view what) {
  ResponsePlan plan;
  plan.status = 501;
  std::string body = fmt::format("{}: not over HTTP/1.1\n", what);
  plan.headers = {{"content-type", "text/plain"}, {"content-length", std::to_string(body.size())}};
  plan.body = make_string_body(std::move(body));
  return plan;
}

}  // namespace

void H1Session::plan(H1Exchange& exchange) {
  if (exchange.planned) return;
  exchange.planned = true;
  exchange.plan = route(std::move(exchange.request));  // only the body is moved from (the method stays, for HEAD)
  if (exchange.plan.raw) exchange.plan = not_over_http1("/misbehave cases break HTTP/3 framing: HTTP/3 only");
  if (exchange.plan.tunnel) exchange.plan = not_over_http1("an extended CONNECT tunnel (HTTP/2 and HTTP/3 only)");
}

void H1Session::dispatch() {
  if (!exchange_ || exchange_->dispatched || exchange_->role != StreamRole::served || exchange_->refused) return;
  exchange_->dispatched = true;
  plan(*exchange_);
  carry_out(*exchange_);
}

void H1Session::carry_out(H1Exchange& exchange) {
  auto& plan = exchange.plan;
  if (plan.close_connection) {
    close_after_flush(*plan.close_connection);
    return;
  }
  if (plan.reset && !plan.reset->after_bytes) {
    reset_exchange(exchange, plan.reset->code);
    return;
  }
  if (plan.upload) {
    exchange.upload_last_tick = Clock::now();
    arm_upload_tick(exchange);
    return;
  }
  if (plan.delay.count() > 0) {
    start_exchange_timer(exchange, Clock::now() + plan.delay);
    return;
  }
  submit_response(exchange);
}

void H1Session::submit_response(H1Exchange& exchange) {
  auto& plan = exchange.plan;
  if (plan.goaway_after && plan.goaway_after->count() == 0) begin_closing(std::chrono::milliseconds(0));
  // HEAD: GET's fields (content-length included), never a body (RFC 9110 §9.3.2).
  const bool head = exchange.request.method == "HEAD";
  const bool bodyless_status = plan.status < 200 || plan.status == 204 || plan.status == 304;
  const bool trailers = !plan.trailers.empty() && plan.body != nullptr;
  const bool has_length = std::ranges::any_of(plan.headers, [](const Field& f) { return f.name == "content-length"; });
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", plan.status, reason(plan.status));
  for (const auto& field : plan.headers) {
    if (hop_by_hop(field.name) || (trailers && field.name == "content-length")) continue;
    out += fmt::format("{}: {}\r\n", field.name, field.value);
  }
  if (!alt_svc_.empty()) out += fmt::format("alt-svc: {}\r\n", alt_svc_);
  if (!bodyless_status && (trailers || !has_length)) {
    if (plan.body == nullptr) {
      out += "content-length: 0\r\n";
    } else if (parser_.http_minor == 0 && parser_.http_major == 1) {
      exchange.close_delimited = true;  // an HTTP/1.0 client knows no chunks
    } else {
      exchange.chunked = true;
      out += "transfer-encoding: chunked\r\n";
    }
  }
  if (exchange.close_delimited || closing_ || !keep_alive_ || (plan.stop_reading && !exchange.request_ended))
    out += "connection: close\r\n";
  out += "\r\n";
  write(out);
  exchange.head_written = true;
  if (plan.goaway_after && plan.goaway_after->count() > 0) {
    goaway_timer_.expires_after(*plan.goaway_after);
    goaway_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock(); self && self->active()) {
        self->begin_closing(std::chrono::milliseconds(0));
        self->process_pending();
      }
    });
  }
  if (head || bodyless_status || plan.body == nullptr) {
    exchange.response_ended = true;
    return;
  }
  write_body(exchange);
}

// Queues the next body bytes, generated lazily by the plan's BodySource, while the socket keeps up.
void H1Session::write_body(H1Exchange& exchange) {
  const auto& reset = exchange.plan.reset;
  while (active() && !exchange.response_ended && stream_->queued_bytes() < kHighWater) {
    if (reset && reset->after_bytes && exchange.body_bytes_sent >= *reset->after_bytes) {
      reset_exchange(exchange, reset->code);  // /reset?after=N: the bytes go out, then the close
      return;
    }
    auto pull = exchange.plan.body->pull(kMaxPiece, Clock::now());
    switch (pull.kind) {
      case Pull::Kind::data: {
        const std::string_view bytes(reinterpret_cast<const char*>(pull.bytes.data()), pull.bytes.size());
        if (exchange.chunked) write(fmt::format("{:x}\r\n", bytes.size()));
        write(bytes);
        if (exchange.chunked) write("\r\n");
        exchange.body_bytes_sent += bytes.size();
        if (pull.last) end_body(exchange);
        break;
      }
      case Pull::Kind::eof:
        end_body(exchange);
        break;
      case Pull::Kind::wait:
        start_exchange_timer(exchange, pull.until);
        return;
      case Pull::Kind::hold:
        if (reset && reset->after_bytes && exchange.body_bytes_sent >= *reset->after_bytes)
          reset_exchange(exchange, reset->code);
        return;
    }
  }
}

void H1Session::end_body(H1Exchange& exchange) {
  exchange.response_ended = true;
  if (!exchange.chunked) return;
  std::string last = "0\r\n";
  for (const auto& field : exchange.plan.trailers) last += fmt::format("{}: {}\r\n", field.name, field.value);
  write(last + "\r\n");
}

void H1Session::start_exchange_timer(H1Exchange& exchange, Clock::time_point when) {
  exchange.timer.expires_at(when);
  exchange.timer.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_exchange_timer();
  });
}

// A /delay elapsed (the response now) or a paced body has its next piece.
void H1Session::on_exchange_timer() {
  if (!active() || !exchange_) return;
  if (!exchange_->head_written) {
    submit_response(*exchange_);
  } else if (!exchange_->response_ended) {
    write_body(*exchange_);
  }
  process_pending();
}

// HTTP/1.1 has no stream reset: the connection closes (after what is queued, e.g. /reset?after's bytes),
// logged with the reset's code.
void H1Session::reset_exchange(H1Exchange& exchange, std::uint64_t h3_code) {
  exchange.timer.cancel();
  close_after_flush(h3_code);
}

void H1Session::arm_upload_tick(H1Exchange& exchange) {
  exchange.timer.expires_after(kUploadTick);
  exchange.timer.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_upload_tick();
  });
}

// /slow-upload: the received bytes are let through at the plan's rate (a token bucket, as over HTTP/2);
// the socket is read again once all are through (update_reading). Answers at the end.
void H1Session::on_upload_tick() {
  if (!active() || !exchange_ || !exchange_->plan.upload) return;
  auto& exchange = *exchange_;
  const auto now = Clock::now();
  const auto rate = static_cast<double>(exchange.plan.upload->bytes_per_second);
  const std::chrono::duration<double> elapsed = now - exchange.upload_last_tick, burst = kUploadBurst;
  exchange.upload_last_tick = now;
  exchange.upload_allowance = std::min(exchange.upload_allowance + rate * elapsed.count(), rate * burst.count() + 1);
  auto through = std::min(exchange.upload_unread, static_cast<std::uint64_t>(exchange.upload_allowance));
  exchange.upload_unread -= through;
  exchange.upload_allowance -= static_cast<double>(through);
  if (exchange.request_ended && exchange.upload_unread == 0) {
    finish_upload(exchange);
  } else {
    arm_upload_tick(exchange);
  }
  process_pending();
}

void H1Session::finish_upload(H1Exchange& exchange) {
  auto sink = std::move(exchange.plan.upload->sink);
  exchange.plan = sink->finish();
  exchange.plan.upload.reset();
  carry_out(exchange);
}

void H1Session::write(std::string_view bytes) {
  stream_->write({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

}  // namespace quiver::server

// H2Session, part 2: the route runner over HTTP/2. A request's ResponsePlan (routes.hpp) is carried out
// on its stream as over HTTP/3 (route_runner.cpp): delay, headers (plus alt-svc), lazy body, trailers,
// stream reset, connection close, GOAWAY, paced upload. HTTP/3 codes in the plan are mapped (h2_code).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <asio/post.hpp>

#include "test_server/h2_session.hpp"

namespace quiver::server {

nghttp2_data_provider h2_body_provider();  // h2_session.cpp

namespace {

constexpr auto kUploadTick = std::chrono::milliseconds(10);   // /slow-upload credit pacing
constexpr auto kUploadBurst = std::chrono::milliseconds(100);  // credit that may be saved up, in time

// Points into `name` and `value`, which must outlive the nghttp2 call (nghttp2 copies them).
nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
          const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// /misbehave's raw frames are HTTP/3's; over HTTP/2 the route says so.
ResponsePlan not_over_http2() {
  ResponsePlan plan;
  plan.status = 501;
  std::string body = "/misbehave cases break HTTP/3 framing: HTTP/3 only\n";
  plan.headers = {{"content-type", "text/plain"}, {"content-length", std::to_string(body.size())}};
  plan.body = make_string_body(std::move(body));
  return plan;
}

}  // namespace

void H2Session::plan(H2Stream& stream) {
  if (stream.planned) return;
  stream.planned = true;
  stream.plan = route(std::move(stream.request));  // only the body is moved from (the method stays, for HEAD)
  if (stream.plan.raw) stream.plan = not_over_http2();
}

void H2Session::dispatch(std::int32_t stream_id) {
  auto* stream = find_stream(stream_id);
  if (!stream || stream->dispatched) return;
  stream->dispatched = true;
  plan(*stream);
  carry_out(*stream);
}

void H2Session::carry_out(H2Stream& stream) {
  auto& plan = stream.plan;
  if (plan.close_connection) {
    pending_close_ = *plan.close_connection;
    return;
  }
  if (plan.reset && !plan.reset->after_bytes) {
    reset_stream(stream, plan.reset->code);
    return;
  }
  if (plan.upload) {
    stream.upload_last_tick = Clock::now();
    arm_upload_tick(stream);
    return;
  }
  if (plan.delay.count() > 0) {
    start_stream_timer(stream, Clock::now() + plan.delay);
    return;
  }
  submit_response(stream);
}

void H2Session::submit_response(H2Stream& stream) {
  auto& plan = stream.plan;
  const std::string status = std::to_string(plan.status);
  std::vector<nghttp2_nv> nva{make_nv(":status", status)};
  for (const auto& field : plan.headers) nva.push_back(make_nv(field.name, field.value));
  if (!alt_svc_.empty()) nva.push_back(make_nv("alt-svc", alt_svc_));
  // HEAD: GET's fields (content-length included), never a body (RFC 9110 §9.3.2).
  const bool head = stream.request.method == "HEAD";
  const auto provider = h2_body_provider();
  auto rv = nghttp2_submit_response(h2(), stream.id, nva.data(), nva.size(), plan.body && !head ? &provider : nullptr);
  if (rv == NGHTTP2_ERR_INVALID_ARGUMENT || rv == NGHTTP2_ERR_STREAM_CLOSED) return;  // the client gave up on it
  if (rv != 0) {
    reset_stream(stream, NGHTTP3_H3_INTERNAL_ERROR);
    return;
  }
  stream.response_submitted = true;
  if (plan.goaway_after) schedule_goaway(*plan.goaway_after);
}

void H2Session::start_stream_timer(H2Stream& stream, Clock::time_point when) {
  stream.timer.expires_at(when);
  stream.timer.async_wait([weak = weak_from_this(), id = stream.id](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_stream_timer(id);
  });
}

// A /delay elapsed (submit now) or a paced body has its next chunk (resume the deferred DATA).
void H2Session::on_stream_timer(std::int32_t stream_id) {
  auto* stream = find_stream(stream_id);
  if (!active() || !stream || stream->reset_sent) return;
  if (!stream->response_submitted) {
    submit_response(*stream);
  } else {
    (void)nghttp2_session_resume_data(h2(), stream_id);
  }
  drive();
}

void H2Session::reset_stream(H2Stream& stream, std::uint64_t h3_code) {
  if (stream.reset_sent) return;
  stream.reset_sent = true;
  stream.timer.cancel();
  (void)nghttp2_submit_rst_stream(h2(), NGHTTP2_FLAG_NONE, stream.id, h2_code(h3_code));
}

void H2Session::arm_upload_tick(H2Stream& stream) {
  stream.timer.expires_after(kUploadTick);
  stream.timer.async_wait([weak = weak_from_this(), id = stream.id](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_upload_tick(id);
  });
}

// /slow-upload: credit back at the plan's rate (a token bucket, as over HTTP/3), answer at the end.
void H2Session::on_upload_tick(std::int32_t stream_id) {
  auto* stream = find_stream(stream_id);
  if (!active() || !stream || stream->reset_sent || !stream->plan.upload) return;
  const auto now = Clock::now();
  const auto rate = static_cast<double>(stream->plan.upload->bytes_per_second);
  const std::chrono::duration<double> elapsed = now - stream->upload_last_tick, burst = kUploadBurst;
  stream->upload_last_tick = now;
  stream->upload_allowance = std::min(stream->upload_allowance + rate * elapsed.count(), rate * burst.count() + 1);
  auto credit = std::min(stream->upload_unread, static_cast<std::uint64_t>(stream->upload_allowance));
  stream->upload_unread -= credit;
  stream->upload_allowance -= static_cast<double>(credit);
  consume(stream_id, credit);
  if (stream->request_ended && stream->upload_unread == 0) {
    finish_upload(*stream);
  } else {
    arm_upload_tick(*stream);
  }
  drive();
}

void H2Session::finish_upload(H2Stream& stream) {
  auto sink = std::move(stream.plan.upload->sink);
  stream.plan = sink->finish();
  stream.plan.upload.reset();
  carry_out(stream);
}

// /reset?after=N: reset once the headers and N body bytes are written to the connection (TCP keeps
// them ahead of the RST_STREAM, as HTTP/3 waits for their acknowledgement).
void H2Session::check_reset_after(H2Stream& stream) {
  const auto& reset = stream.plan.reset;
  if (!reset || !reset->after_bytes || stream.reset_sent || !stream.response_submitted) return;
  if (stream.body_bytes_written >= *reset->after_bytes) reset_stream(stream, reset->code);
}

void H2Session::end_body(H2Stream& stream, std::uint32_t* data_flags) {
  *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  if (stream.plan.trailers.empty()) return;
  *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
  std::vector<nghttp2_nv> nva;
  for (const auto& field : stream.plan.trailers) nva.push_back(make_nv(field.name, field.value));
  (void)nghttp2_submit_trailer(h2(), stream.id, nva.data(), nva.size());
}

// Copies the next body bytes, generated lazily by the plan's BodySource, into nghttp2's buffer.
ssize_t H2Session::read_body(std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* data_flags) {
  auto* stream = find_stream(stream_id);
  if (!stream || !stream->plan.body) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  auto now = Clock::now();
  std::size_t copied = 0;
  while (copied < length) {
    auto pull = stream->plan.body->pull(length - copied, now);
    switch (pull.kind) {
      case Pull::Kind::data:
        std::memcpy(buf + copied, pull.bytes.data(), pull.bytes.size());
        copied += pull.bytes.size();
        stream->body_bytes_sent += pull.bytes.size();
        if (pull.last) {
          end_body(*stream, data_flags);
          return static_cast<ssize_t>(copied);
        }
        break;
      case Pull::Kind::eof:
        end_body(*stream, data_flags);
        return static_cast<ssize_t>(copied);
      case Pull::Kind::wait:
        if (copied > 0) return static_cast<ssize_t>(copied);
        start_stream_timer(*stream, pull.until);  // on_stream_timer resumes the data
        return NGHTTP2_ERR_DEFERRED;
      case Pull::Kind::hold:
        return copied > 0 ? static_cast<ssize_t>(copied) : static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED);
    }
  }
  return static_cast<ssize_t>(copied);
}

}  // namespace quiver::server

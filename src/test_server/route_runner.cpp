// ServerConnection, part 2: the route runner. A request's ResponsePlan (routes.hpp) is carried out on its
// stream: delay, headers, lazy body, trailers, stream reset, connection close, GOAWAY, paced upload.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "test_server/connection_callbacks.hpp"
#include "test_server/server_connection.hpp"
#include "util/varint.hpp"

namespace quiver::server {
namespace {

constexpr std::size_t kMaxBodyPerRead = 64 * 1024;  // body bytes handed to nghttp3 per read_data call
constexpr auto kUploadTick = std::chrono::milliseconds(10);  // /slow-upload credit pacing
constexpr auto kUploadBurst = std::chrono::milliseconds(100);  // credit that may be saved up, in time at the rate

// Points into `name` and `value`, which must outlive the nghttp3 call (nghttp3 copies them).
nghttp3_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<const std::uint8_t*>(name.data()), reinterpret_cast<const std::uint8_t*>(value.data()),
          name.size(), value.size(), NGHTTP3_NV_FLAG_NONE};
}

std::vector<nghttp3_nv> make_nva(const std::vector<Field>& fields) {
  std::vector<nghttp3_nv> nva;
  nva.reserve(fields.size() + 1);
  for (const auto& field : fields) nva.push_back(make_nv(field.name, field.value));
  return nva;
}

}  // namespace

void ServerConnection::plan(RequestStream& stream) {
  if (stream.planned) return;
  stream.planned = true;
  stream.plan = route(std::move(stream.request));  // only the body is moved from
}

// The request is ready for its route (see RouteTraits): carry out the plan.
void ServerConnection::dispatch(std::int64_t stream_id) {
  auto* stream = find_stream(stream_id);
  if (!stream || stream->dispatched) return;
  stream->dispatched = true;
  plan(*stream);
  carry_out(*stream);
}

void ServerConnection::carry_out(RequestStream& stream) {
  auto& plan = stream.plan;
  if (hooks_->take_over_response(stream.id, plan, *this)) {
    // The hooks wrote their own bytes (raw frames, perhaps on this stream): nghttp3 must not write here.
    nghttp3_conn_shutdown_stream_write(h3_.get(), stream.id);
    return;
  }
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
  if (plan.connect_udp) start_udp_relay(stream);
  submit_response(stream);
}

void ServerConnection::start_udp_relay(RequestStream& stream) {
  auto& plan = stream.plan;
  if (!options_.connect_udp) {
    plan = text_response(404, "this server is no UDP proxy (quiver serve --connect-udp)\n");
    return;
  }
  auto target = resolve_udp_target(*plan.connect_udp, options_.connect_udp_allow);
  if (auto* refusal = std::get_if<ResponsePlan>(&target)) {
    plan = std::move(*refusal);
    return;
  }
  std::weak_ptr<ServerConnection> weak = shared_from_this();
  auto relay = UdpRelay::open(executor_, std::get<asio::ip::udp::endpoint>(target),
                              [weak, id = stream.id](std::span<const std::uint8_t> payload) {
                                if (auto self = weak.lock()) self->relay_to_client(id, payload);
                              });
  if (!relay) {
    plan = text_response(502, relay.error().message() + "\n");
    return;
  }
  stream.udp_relay = std::move(*relay);
}

// A datagram from the target: an HTTP datagram with context id 0 (RFC 9298 §5), once the 2xx is out; a
// DATAGRAM capsule when the route asked for capsule answers.
void ServerConnection::relay_to_client(std::int64_t stream_id, std::span<const std::uint8_t> payload) {
  auto* stream = find_stream(stream_id);
  if (!stream || !stream->response_submitted || stream->reset_sent || !active()) return;
  std::vector<std::uint8_t> datagram;
  using CapsuleAnswers = ResponsePlan::CapsuleAnswers;
  if (stream->plan.capsule_answers != CapsuleAnswers::none) {  // on the stream, after what it carries already
    const bool malformed = stream->plan.capsule_answers == CapsuleAnswers::malformed;
    util::append_varint(datagram, 0x00);  // DATAGRAM capsule (RFC 9297 §3.5)
    util::append_varint(datagram, malformed ? 70'000 : 1 + payload.size());  // the context id and the payload
    util::append_varint(datagram, 0);     // context id 0
    datagram.insert(datagram.end(), payload.begin(), payload.end());
    stream->tunnel_unsent.emplace_back(datagram.begin(), datagram.end());
    pending_resumes_.push_back(stream_id);
  } else {
    util::append_varint(datagram, static_cast<std::uint64_t>(stream_id) / 4);
    util::append_varint(datagram, 0);
    datagram.insert(datagram.end(), payload.begin(), payload.end());
    transport_->queue_datagram(std::move(datagram));
  }
  drive();
}

// A datagram for the target (after the quarter stream id): context id 0 carries UDP; others are dropped,
// as RFC 9298 §4 asks of unknown context ids.
void ServerConnection::relay_to_target(RequestStream& stream, std::span<const std::uint8_t> context_and_payload) {
  auto context = util::read_varint(context_and_payload);
  if (context && context->value == 0) stream.udp_relay->send(context_and_payload.subspan(context->size));
}

void ServerConnection::submit_response(RequestStream& stream) {
  auto& plan = stream.plan;
  const std::string status = std::to_string(plan.status);
  std::vector<nghttp3_nv> nva{make_nv(":status", status)};
  for (const auto& field : plan.headers) nva.push_back(make_nv(field.name, field.value));
  // HEAD: the fields GET would get (content-length included), never a body (RFC 9110 §9.3.2); a body
  // would make the response malformed. `stream.request` still holds the method (route took only the body).
  const bool head = stream.request.method == "HEAD";
  const nghttp3_data_reader* reader = (plan.body || stream.kept_open()) && !head ? &body_reader() : nullptr;
  auto rv = nghttp3_conn_submit_response(h3_.get(), stream.id, nva.data(), nva.size(), reader);
  if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) return;  // the client gave up on it meanwhile
  if (rv != 0) {
    fail_h3(rv);
    return;
  }
  stream.response_submitted = true;
  if (plan.goaway_after) schedule_goaway(*plan.goaway_after);
  if (plan.stop_reading && !stream.request_ended) stop_reading_later(stream.id);
}

// RFC 9114 §4.1: a complete response may come before the whole request; the rest of the upload is then
// stopped with STOP_SENDING(H3_NO_ERROR). Posted, so that the response's packets are written first.
void ServerConnection::stop_reading_later(std::int64_t stream_id) {
  asio::post(executor_, [weak = weak_from_this(), stream_id] {
    auto self = weak.lock();
    if (!self || !self->active()) return;
    auto* stream = self->find_stream(stream_id);
    if (!stream || stream->request_ended) return;  // closed meanwhile, or nothing left to stop
    ngtcp2_conn_shutdown_stream_read(self->quic(), 0, stream_id, NGHTTP3_H3_NO_ERROR);
    if (auto rv = nghttp3_conn_shutdown_stream_read(self->h3_.get(), stream_id); rv != 0) self->fail_h3(rv);
    self->drive();
  });
}

void ServerConnection::start_stream_timer(RequestStream& stream, Clock::time_point when) {
  stream.timer.expires_at(when);
  stream.timer.async_wait([weak = weak_from_this(), id = stream.id](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_stream_timer(id);
  });
}

// A /delay elapsed (submit the response now) or a paced body has its next chunk (resume the stream).
void ServerConnection::on_stream_timer(std::int64_t stream_id) {
  auto* stream = find_stream(stream_id);
  if (!active() || !stream || stream->reset_sent) return;
  if (!stream->response_submitted) {
    submit_response(*stream);
  } else if (auto rv = nghttp3_conn_resume_stream(h3_.get(), stream_id); rv != 0) {
    fail_h3(rv);
  }
  drive();
}

void ServerConnection::reset_stream(RequestStream& stream, std::uint64_t code) {
  if (stream.reset_sent) return;
  stream.reset_sent = true;
  stream.timer.cancel();
  // RESET_STREAM + STOP_SENDING; nghttp3 must not produce anything more for it. Only the id is used
  // from here on: a close callback could drop `stream` inside these calls.
  const auto id = stream.id;
  ngtcp2_conn_shutdown_stream(quic(), 0, id, code);
  nghttp3_conn_shutdown_stream_write(h3_.get(), id);
}

void ServerConnection::arm_upload_tick(RequestStream& stream) {
  stream.timer.expires_after(kUploadTick);
  stream.timer.async_wait([weak = weak_from_this(), id = stream.id](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_upload_tick(id);
  });
}

// /slow-upload: "reads" what the rate allowed since the last tick (returns that much credit), and
// answers once the body has ended and been read. A token bucket: an idle spell saves up at most
// kUploadBurst worth of credit.
void ServerConnection::on_upload_tick(std::int64_t stream_id) {
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
  if (credit > 0) consume(stream_id, credit);
  if (stream->request_ended && stream->upload_unread == 0) {
    finish_upload(*stream);
  } else {
    arm_upload_tick(*stream);
  }
  drive();
}

void ServerConnection::finish_upload(RequestStream& stream) {
  auto sink = std::move(stream.plan.upload->sink);
  stream.plan = sink->finish();
  stream.plan.upload.reset();  // the sink's response never reads again
  carry_out(stream);
}

// /reset?after=N: reset once the client acknowledged the headers and N body bytes.
void ServerConnection::check_reset_after(RequestStream& stream) {
  const auto& reset = stream.plan.reset;
  if (!reset || !reset->after_bytes || stream.reset_sent || !stream.response_submitted) return;
  auto after = *reset->after_bytes;
  bool delivered = after == 0 ? stream.stream_bytes_acked > 0 : stream.body_bytes_acked >= after;
  if (delivered) reset_stream(stream, reset->code);
}

void ServerConnection::log_stream(RequestStream& stream, std::uint64_t app_error_code) {
  if (stream.logged) return;
  stream.logged = true;
  AccessLogEntry entry;
  entry.method = stream.request.method;
  entry.path = stream.request.target;
  entry.status = stream.response_submitted ? stream.plan.status : 0;
  entry.bytes_sent = stream.body_bytes_sent;
  entry.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - stream.started);
  entry.app_error_code = app_error_code;
  pending_log_.push_back(std::move(entry));
}

// Ends the response body: EOF, plus the trailers if the plan has any.
int ServerConnection::end_body(RequestStream& stream, std::uint32_t* pflags) {
  *pflags |= NGHTTP3_DATA_FLAG_EOF;
  if (stream.plan.trailers.empty()) return 0;
  *pflags |= NGHTTP3_DATA_FLAG_NO_END_STREAM;
  auto nva = make_nva(stream.plan.trailers);
  return nghttp3_conn_submit_trailers(h3_.get(), stream.id, nva.data(), nva.size());
}

// A kept-open response: the stream data queued so far (/datagram-echo's echo, CONNECT-UDP's capsule
// answers); the end once the request ended.
nghttp3_ssize ServerConnection::read_tunnel(RequestStream& stream, nghttp3_vec* vec, std::size_t veccnt,
                                            std::uint32_t* pflags) {
  std::size_t count = 0;
  while (!stream.tunnel_unsent.empty() && count < veccnt) {
    stream.tunnel_sent.push_back(std::move(stream.tunnel_unsent.front()));
    stream.tunnel_unsent.pop_front();
    auto& chunk = stream.tunnel_sent.back();  // deque elements stay put
    vec[count++] = {reinterpret_cast<std::uint8_t*>(chunk.data()), chunk.size()};
    stream.body_bytes_sent += chunk.size();
  }
  if (stream.tunnel_unsent.empty() && stream.request_ended) *pflags |= NGHTTP3_DATA_FLAG_EOF;
  if (count == 0 && !(*pflags & NGHTTP3_DATA_FLAG_EOF)) return NGHTTP3_ERR_WOULDBLOCK;
  return static_cast<nghttp3_ssize>(count);
}

// Hands nghttp3 the next body bytes, generated lazily by the plan's BodySource.
nghttp3_ssize ServerConnection::on_h3_read_body(std::int64_t stream_id, nghttp3_vec* vec, std::size_t veccnt,
                                                std::uint32_t* pflags) {
  auto* stream = find_stream(stream_id);
  if (stream && stream->kept_open()) return read_tunnel(*stream, vec, veccnt, pflags);
  if (!stream || !stream->plan.body) {
    *pflags |= NGHTTP3_DATA_FLAG_EOF;
    return 0;
  }
  auto now = Clock::now();
  std::size_t count = 0, bytes = 0;
  while (count < veccnt && bytes < kMaxBodyPerRead) {
    auto pull = stream->plan.body->pull(kMaxBodyPerRead - bytes, now);
    switch (pull.kind) {
      case Pull::Kind::data:
        vec[count++] = {const_cast<std::uint8_t*>(pull.bytes.data()), pull.bytes.size()};
        bytes += pull.bytes.size();
        stream->body_bytes_sent += pull.bytes.size();
        if (pull.last) return end_body(*stream, pflags) == 0 ? static_cast<nghttp3_ssize>(count) : NGHTTP3_ERR_CALLBACK_FAILURE;
        break;
      case Pull::Kind::eof:
        return end_body(*stream, pflags) == 0 ? static_cast<nghttp3_ssize>(count) : NGHTTP3_ERR_CALLBACK_FAILURE;
      case Pull::Kind::wait:
        if (count > 0) return static_cast<nghttp3_ssize>(count);
        start_stream_timer(*stream, pull.until);  // on_stream_timer resumes the stream
        return NGHTTP3_ERR_WOULDBLOCK;
      case Pull::Kind::hold:
        return count > 0 ? static_cast<nghttp3_ssize>(count) : NGHTTP3_ERR_WOULDBLOCK;
    }
  }
  return static_cast<nghttp3_ssize>(count);
}

}  // namespace quiver::server

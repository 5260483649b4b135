#include "test_server/server_connection.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <gnutls/crypto.h>

#include "test_server/connection_callbacks.hpp"
#include "util/clock.hpp"

namespace quiver::server {
namespace {

constexpr std::size_t kMaxBodyPerRead = 64 * 1024;  // body bytes handed to nghttp3 per read_data call
constexpr auto kUploadTick = std::chrono::milliseconds(10);  // /slow-upload credit pacing
constexpr auto kUploadBurst = std::chrono::milliseconds(100);  // credit that may be saved up, in time at the rate

// pull_stream_data() hands nghttp3's vectors to ngtcp2 as they are.
static_assert(sizeof(nghttp3_vec) == sizeof(ngtcp2_vec) && offsetof(nghttp3_vec, base) == offsetof(ngtcp2_vec, base) &&
              offsetof(nghttp3_vec, len) == offsetof(ngtcp2_vec, len));

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

void ServerShared::note_open_streams(std::uint64_t open) noexcept {
  auto peak = peak_concurrent_streams.load();
  while (open > peak && !peak_concurrent_streams.compare_exchange_weak(peak, open)) {
  }
}

bool ServerShared::reject_request_for(const std::string& path, std::uint32_t times) {
  return ++requests_per_path_[path] <= times;
}

// ==== construction ====================================================================================

Result<std::shared_ptr<ServerConnection>> ServerConnection::create(const asio::any_io_executor& executor,
                                                                   ConnectionHost& host, const TlsServerContext& tls,
                                                                   const ServerOptions& options,
                                                                   const ngtcp2_pkt_hd& initial, const Endpoint& local,
                                                                   const Endpoint& remote) {
  std::shared_ptr<ServerConnection> connection(new ServerConnection(executor, host, options));
  TransportEvents& events = *connection;  // the session hears the transport's events
  connection->transport_ = std::make_unique<QuicTransport>(executor, host, *connection, events,
                                                           connection->weak_from_this(), options, local, remote);
  if (auto accepted = connection->transport_->accept(tls, initial); !accepted)
    return std::unexpected(accepted.error());
  return connection;
}

ServerConnection::ServerConnection(const asio::any_io_executor& executor, ConnectionHost& host,
                                   const ServerOptions& options)
    : executor_(executor), host_(host), options_(options), goaway_timer_(executor), grace_timer_(executor) {}

ServerConnection::~ServerConnection() = default;

// ==== event loop ======================================================================================

void ServerConnection::drive() {
  process_pending();
  if (!active()) return;
  bool more = transport_->write();
  if (active() && std::exchange(close_after_write_, false)) {
    close_application(NGHTTP3_H3_EXCESSIVE_LOAD);  // the GOAWAY and the resets went out first
    return;
  }
  if (active()) transport_->arm_timer(more);
}

void ServerConnection::process_pending() {
  while (active() &&
         (!pending_dispatch_.empty() || !pending_reset_checks_.empty() || !pending_refusals_.empty() ||
          !pending_rejections_.empty() || first_flight_goaway_pending_ || request_limit_reached_)) {
    if (std::exchange(first_flight_goaway_pending_, false)) goaway_in_first_flight();
    if (std::exchange(request_limit_reached_, false)) on_request_limit();
    for (auto [id, code] : std::exchange(pending_refusals_, {})) refuse_stream(id, code);
    for (auto id : std::exchange(pending_rejections_, {}))
      if (auto* stream = find_stream(id)) reset_stream(*stream, NGHTTP3_H3_REQUEST_REJECTED);
    for (auto id : std::exchange(pending_dispatch_, {})) dispatch(id);
    for (auto id : std::exchange(pending_reset_checks_, {}))
      if (auto* stream = find_stream(id)) check_reset_after(*stream);
    if (pending_close_) close_application(*std::exchange(pending_close_, std::nullopt));
  }
  maybe_close_when_idle();
  for (const auto& entry : std::exchange(pending_log_, {})) host_.log_access(entry);
}

std::ptrdiff_t ServerConnection::pull_stream_data(std::int64_t& stream_id, int& fin, std::span<ngtcp2_vec> vec) {
  if (!h3_) return 0;
  auto veccnt = nghttp3_conn_writev_stream(h3_.get(), &stream_id, &fin, reinterpret_cast<nghttp3_vec*>(vec.data()),
                                           vec.size());
  if (veccnt < 0) {
    fail_h3(static_cast<int>(veccnt));
    return -1;
  }
  return veccnt;
}

bool ServerConnection::on_stream_written(std::int64_t stream_id, std::size_t bytes) {
  if (auto rv = nghttp3_conn_add_write_offset(h3_.get(), stream_id, bytes); rv != 0) {
    fail_h3(rv);
    return false;
  }
  return true;
}

void ServerConnection::on_stream_blocked(std::int64_t stream_id) { nghttp3_conn_block_stream(h3_.get(), stream_id); }

void ServerConnection::on_stream_shut_write(std::int64_t stream_id) {
  nghttp3_conn_shutdown_stream_write(h3_.get(), stream_id);
}

// ==== closing =========================================================================================

void ServerConnection::fail_h3(int liberr) { close_application(nghttp3_err_infer_quic_app_error_code(liberr)); }

// The transport began its closing or draining period (or ended at once): the session's timers stop and
// the streams still open end with the connection.
void ServerConnection::on_closing(std::uint64_t code) {
  goaway_timer_.cancel();
  grace_timer_.cancel();
  log_open_streams(code);
}

void ServerConnection::on_finished() {
  streams_.clear();
  for (const auto& entry : std::exchange(pending_log_, {})) host_.log_access(entry);
  host_.connection_finished(*this);
}

// The connection is ending: streams still open end with it (each is logged once).
void ServerConnection::log_open_streams(std::uint64_t app_error_code) {
  for (auto& [id, stream] : streams_) {
    stream->timer.cancel();
    log_stream(*stream, app_error_code);
  }
}

void ServerConnection::close_now() {
  close_application(NGHTTP3_H3_NO_ERROR);
  transport_->finish();
}

void ServerConnection::shutdown_gracefully() {
  if (!active()) return;
  close_after_goaway_ = true;
  goaway_timer_.cancel();  // a GOAWAY scheduled for later goes out now
  final_goaway();
  drive();
}

void ServerConnection::send_goaways(std::chrono::milliseconds final_delay) {
  if (!active() || !h3_ || close_after_goaway_) return;
  close_after_goaway_ = true;
  if (!notice_sent_ && !goaway_sent_) {  // a notice after the final GOAWAY would raise the id
    notice_sent_ = true;
    if (auto rv = nghttp3_conn_submit_shutdown_notice(h3_.get()); rv != 0) {
      fail_h3(rv);
      return;
    }
  }
  schedule_goaway(final_delay);
  drive();
}

void ServerConnection::close_when_idle() {
  if (close_when_idle_) return;
  close_when_idle_ = true;
  // Give requests already on the wire a moment to arrive (and be served) before closing when idle.
  auto pto = transport_->pto();
  grace_deadline_ = Clock::now() + std::max<Clock::duration>(2 * pto, std::chrono::milliseconds(20));
  grace_timer_.expires_at(grace_deadline_);
  grace_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock(); self && self->active()) self->drive();
  });
}

void ServerConnection::maybe_close_when_idle() {
  if (!active() || !close_when_idle_) return;
  if (!h3_) {  // still handshaking: nothing to drain
    close_application(NGHTTP3_H3_NO_ERROR);
    return;
  }
  if (!serving_requests() && Clock::now() >= grace_deadline_) close_application(idle_close_code_);
}

// A request is in progress: routed or to be routed, or a served stream still open at the QUIC level
// (perhaps with its HEADERS still on the way). Held and refused streams do not count.
bool ServerConnection::serving_requests() const {
  if (!streams_.empty() || !pending_dispatch_.empty()) return true;
  return std::ranges::any_of(request_slots_,
                             [](const auto& entry) { return entry.second.role == StreamRole::served; });
}

void ServerConnection::send_goaway() {
  if (goaway_sent_ || !h3_ || !active()) return;
  // nghttp3_conn_shutdown must run once: a second call with a larger id would break its invariant.
  // Its id is the highest request stream nghttp3 has seen + 4; held streams never reach it.
  goaway_sent_ = true;
  ++host_.shared().goaways_sent;
  if (auto rv = nghttp3_conn_shutdown(h3_.get()); rv != 0) fail_h3(rv);
}

// No request stream can have reached nghttp3 yet (the client has no 1-RTT keys), so the id is 0.
void ServerConnection::goaway_in_first_flight() {
  close_after_goaway_ = true;
  final_goaway();
}

// A served stream counts once: when its headers end, or when it closes before they did (a cancelled
// request). Once N have counted, every stream below 4N reached nghttp3, so its GOAWAY id is 4N.
void ServerConnection::count_request(RequestSlot& slot) {
  if (slot.counted || slot.role != StreamRole::served || options_.goaway_after_requests == 0) return;
  slot.counted = true;
  if (++requests_arrived_ == options_.goaway_after_requests) request_limit_reached_ = true;
}

void ServerConnection::on_request_limit() {
  switch (options_.goaway_after_requests_mode) {
    case GoawayAfterRequests::graceful:
      break;
    case GoawayAfterRequests::reset_above:
      idle_close_code_ = NGHTTP3_H3_EXCESSIVE_LOAD;
      break;
    case GoawayAfterRequests::reset_above_and_close_now:
      close_after_write_ = true;
      break;
  }
  close_after_goaway_ = true;
  goaway_timer_.cancel();
  final_goaway();
  reset_over_limit_streams();
}

void ServerConnection::reset_over_limit_streams() {
  if (options_.goaway_after_requests_mode == GoawayAfterRequests::graceful) return;
  resetting_over_limit_ = true;  // streams opening from now on are reset as they open
  for (auto& [id, slot] : request_slots_) {
    if (slot.role == StreamRole::over_limit && !slot.reset_sent) {
      slot.reset_sent = true;
      pending_refusals_.emplace_back(id, NGHTTP3_H3_INTERNAL_ERROR);  // reset in process_pending, by id
    }
  }
}

void ServerConnection::final_goaway() {
  send_goaway();
  if (close_after_goaway_) close_when_idle();
}

// One timer: a later call replaces an earlier schedule (the final GOAWAY can be sent only once anyway,
// and close_after_goaway_ is sticky).
void ServerConnection::schedule_goaway(std::chrono::milliseconds delay) {
  if (delay.count() == 0) {
    final_goaway();
    return;
  }
  goaway_timer_.expires_after(delay);
  goaway_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock(); self && self->active()) {
      self->final_goaway();
      self->drive();
    }
  });
}

// ==== HTTP/3 plumbing =================================================================================

int ServerConnection::setup_h3() {
  auto* conn = quic();
  first_flight_goaway_pending_ = options_.goaway_in_first_flight;
  if (ngtcp2_conn_get_streams_uni_left(conn) < 3) return NGTCP2_ERR_CALLBACK_FAILURE;

  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  settings.qpack_max_dtable_capacity = 4096;
  settings.qpack_blocked_streams = 100;
  nghttp3_conn* h3 = nullptr;
  if (nghttp3_conn_server_new(&h3, &h3_callbacks(), &settings, nullptr, this) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  h3_.reset(h3);
  nghttp3_conn_set_max_client_streams_bidi(h3, ngtcp2_conn_get_local_transport_params(conn)->initial_max_streams_bidi);

  std::int64_t qpack_decoder = -1;
  if (ngtcp2_conn_open_uni_stream(conn, &control_stream_, nullptr) != 0 ||
      ngtcp2_conn_open_uni_stream(conn, &qpack_encoder_stream_, nullptr) != 0 ||
      ngtcp2_conn_open_uni_stream(conn, &qpack_decoder, nullptr) != 0 ||
      nghttp3_conn_bind_control_stream(h3, control_stream_) != 0 ||
      nghttp3_conn_bind_qpack_streams(h3, qpack_encoder_stream_, qpack_decoder) != 0) {
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

RequestStream* ServerConnection::find_stream(std::int64_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void ServerConnection::consume(std::int64_t stream_id, std::size_t bytes) {
  ngtcp2_conn_extend_max_stream_offset(quic(), stream_id, bytes);
  ngtcp2_conn_extend_max_offset(quic(), bytes);
}

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
  if (plan.raw) {
    start_raw(stream);
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
  submit_response(stream);
}

void ServerConnection::submit_response(RequestStream& stream) {
  auto& plan = stream.plan;
  const std::string status = std::to_string(plan.status);
  std::vector<nghttp3_nv> nva{make_nv(":status", status)};
  for (const auto& field : plan.headers) nva.push_back(make_nv(field.name, field.value));
  // HEAD: the fields GET would get (content-length included), never a body (RFC 9110 §9.3.2); a body
  // would make the response malformed. `stream.request` still holds the method (route took only the body).
  const bool head = stream.request.method == "HEAD";
  const nghttp3_data_reader* reader = plan.body && !head ? &body_reader() : nullptr;
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

// ==== misbehaviour (/misbehave) ========================================================================

// Queues the plan's raw bytes. nghttp3 never writes on the request stream (no response is submitted
// and its write side is shut in nghttp3); raw bytes on nghttp3's own streams are written between its
// writes, and the acknowledgements of those streams are kept from nghttp3 from then on. They land after
// nghttp3's stream types and SETTINGS: those are written with the handshake (setup_h3 at 1-RTT keys),
// before any request can arrive.
void ServerConnection::start_raw(RequestStream& stream) {
  auto& raw = *stream.plan.raw;
  auto* conn = quic();
  nghttp3_conn_shutdown_stream_write(h3_.get(), stream.id);
  if (!raw.request_stream.empty()) write_raw(stream.id, std::move(raw.request_stream), true);
  if (std::int64_t id = -1; !raw.uni_stream.empty() && ngtcp2_conn_open_uni_stream(conn, &id, nullptr) == 0)
    write_raw(id, std::move(raw.uni_stream), false);
  if (!raw.qpack_encoder.empty()) write_raw(qpack_encoder_stream_, std::move(raw.qpack_encoder), false);
  if (!raw.control_stream.empty()) write_raw(control_stream_, std::move(raw.control_stream), false);
  if (raw.reset_control_stream) ngtcp2_conn_shutdown_stream_write(conn, 0, control_stream_, NGHTTP3_H3_NO_ERROR);
}

// The acknowledgements of a stream with raw bytes never reach nghttp3 (it did not write them).
void ServerConnection::write_raw(std::int64_t stream_id, std::vector<std::uint8_t> bytes, bool fin) {
  raw_streams_.push_back(stream_id);
  transport_->write_raw(stream_id, std::move(bytes), fin);
}

// ==== QUIC stream events (TransportEvents) =============================================================


int ServerConnection::on_stream_open(std::int64_t stream_id) {
  if (is_request_stream(stream_id)) slot_for(stream_id);
  return 0;
}

int ServerConnection::on_recv_stream_data(std::uint32_t flags, std::int64_t stream_id,
                                          std::span<const std::uint8_t> data) {
  if (!h3_) return NGTCP2_ERR_CALLBACK_FAILURE;
  if (is_request_stream(stream_id) && slot_for(stream_id).role != StreamRole::served) {
    drop_unserved_data(data.size());  // held or refused: nghttp3 must never see it
    return 0;
  }
  auto consumed = nghttp3_conn_read_stream(h3_.get(), stream_id, data.data(), data.size(),
                                           (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
  if (consumed < 0) {
    transport_->fail_callback(application_error(nghttp3_err_infer_quic_app_error_code(static_cast<int>(consumed))));
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  consume(stream_id, static_cast<std::size_t>(consumed));  // framing bytes; DATA payload in on_h3_recv_data
  return 0;
}

int ServerConnection::on_acked_stream_data_offset(std::int64_t stream_id, std::uint64_t offset,
                                                  std::uint64_t datalen) {
  if (auto* stream = find_stream(stream_id)) {
    stream->stream_bytes_acked = std::max(stream->stream_bytes_acked, offset + datalen);
    if (stream->plan.reset) pending_reset_checks_.push_back(stream_id);
  }
  if (std::ranges::find(raw_streams_, stream_id) != raw_streams_.end()) return 0;  // nghttp3 did not write these
  if (h3_ && nghttp3_conn_add_ack_offset(h3_.get(), stream_id, datalen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int ServerConnection::on_stream_close(std::uint32_t flags, std::int64_t stream_id, std::uint64_t app_error_code) {
  if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) app_error_code = NGHTTP3_H3_NO_ERROR;
  if (auto it = request_slots_.find(stream_id); it != request_slots_.end()) {
    count_request(it->second);
    request_slots_.erase(it);
  }
  std::erase(raw_streams_, stream_id);
  if (!h3_) return 0;
  auto rv = nghttp3_conn_close_stream(h3_.get(), stream_id, app_error_code);
  if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
    // nghttp3 never saw it, so on_h3_stream_close won't return its credit.
    if (ngtcp2_is_bidi_stream(stream_id) && !ngtcp2_conn_is_local_stream(quic(), stream_id))
      ngtcp2_conn_extend_max_streams_bidi(quic(), 1);
    return 0;
  }
  if (rv != 0) {
    transport_->fail_callback(application_error(nghttp3_err_infer_quic_app_error_code(rv)));
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

int ServerConnection::on_stream_reset(std::int64_t stream_id) {
  if (!h3_) return 0;
  if (auto it = request_slots_.find(stream_id); it != request_slots_.end() && it->second.role != StreamRole::served)
    return cancel_qpack(stream_id, it->second) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  if (nghttp3_conn_shutdown_stream_read(h3_.get(), stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int ServerConnection::on_extend_max_stream_data(std::int64_t stream_id) {
  if (h3_ && nghttp3_conn_unblock_stream(h3_.get(), stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int ServerConnection::on_handshake_keys() {
  // The server's 1-RTT keys exist once it has sent its Finished: HTTP/3 can start (SETTINGS first).
  return setup_h3();
}

// ==== request stream roles (hold / refuse) ============================================================

bool ServerConnection::is_request_stream(std::int64_t stream_id) const {
  return ngtcp2_is_bidi_stream(stream_id) && !ngtcp2_conn_is_local_stream(quic(), stream_id);
}

RequestSlot& ServerConnection::slot_for(std::int64_t stream_id) {
  auto it = request_slots_.find(stream_id);
  return it != request_slots_.end() ? it->second : open_request_stream(stream_id);
}

// The role is fixed here, from the server's policy at this moment.
RequestSlot& ServerConnection::open_request_stream(std::int64_t stream_id) {
  auto& shared = host_.shared();
  RequestSlot slot;
  const auto limit = options_.goaway_after_requests;
  if (shared.refuse_new_streams.load()) {
    slot.role = StreamRole::refused;
    pending_refusals_.emplace_back(stream_id, NGHTTP3_H3_REQUEST_REJECTED);  // reset after the read returns
    ++shared.streams_refused;
  } else if (limit > 0 && static_cast<std::uint64_t>(stream_id) >= 4 * limit) {
    slot.role = StreamRole::over_limit;
    ++shared.streams_over_limit;
    if (resetting_over_limit_) {
      slot.reset_sent = true;
      pending_refusals_.emplace_back(stream_id, NGHTTP3_H3_INTERNAL_ERROR);
    }
  } else if (static_cast<std::uint64_t>(stream_id) >= shared.hold_from.load()) {
    slot.role = StreamRole::held;
    ++shared.streams_held;
  }
  auto& result = request_slots_.insert_or_assign(stream_id, slot).first->second;
  shared.note_open_streams(request_slots_.size());
  return result;
}

// Connection-level credit goes back at once, so an unserved stream cannot starve the others; its own
// stream window is never reopened.
void ServerConnection::drop_unserved_data(std::size_t bytes) { ngtcp2_conn_extend_max_offset(quic(), bytes); }

void ServerConnection::refuse_stream(std::int64_t stream_id, std::uint64_t code) {
  auto it = request_slots_.find(stream_id);
  if (it == request_slots_.end()) return;  // closed meanwhile
  if (auto rv = cancel_qpack(stream_id, it->second); rv != 0) {
    fail_h3(rv);
    return;
  }
  // RESET_STREAM + STOP_SENDING. Only the id is used from here on: a close callback may drop the slot.
  ngtcp2_conn_shutdown_stream(quic(), 0, stream_id, code);
}

// An unserved stream's HEADERS are never decoded: tell the peer's QPACK encoder (Stream Cancellation)
// so it can release the dynamic-table entries they may reference. Once per stream.
int ServerConnection::cancel_qpack(std::int64_t stream_id, RequestSlot& slot) {
  if (slot.qpack_cancelled || !h3_) return 0;
  slot.qpack_cancelled = true;
  return nghttp3_conn_shutdown_stream_read(h3_.get(), stream_id);
}

// ==== nghttp3 callbacks ===============================================================================

int ServerConnection::on_h3_acked_data(std::int64_t stream_id, std::uint64_t datalen) {
  if (auto* stream = find_stream(stream_id)) stream->body_bytes_acked += datalen;
  return 0;
}

int ServerConnection::on_h3_stream_close(std::int64_t stream_id, std::uint64_t app_error_code) {
  if (ngtcp2_is_bidi_stream(stream_id)) ngtcp2_conn_extend_max_streams_bidi(quic(), 1);  // MAX_STREAMS grows
  if (auto it = streams_.find(stream_id); it != streams_.end()) {
    log_stream(*it->second, app_error_code);
    // An upload cut short: its unread bytes still count against the connection window.
    if (auto unread = it->second->upload_unread; unread > 0) ngtcp2_conn_extend_max_offset(quic(), unread);
    streams_.erase(it);  // nghttp3 is done with the body views; nobody else holds a pointer
  }
  return 0;
}

int ServerConnection::on_h3_recv_data(std::int64_t stream_id, std::span<const std::uint8_t> data) {
  auto* stream = find_stream(stream_id);
  if (stream && stream->plan.upload) {  // /slow-upload: credit goes back on the upload ticks
    stream->plan.upload->sink->write(data);
    stream->upload_unread += data.size();
    return 0;
  }
  if (stream && stream->traits.wants_body)
    stream->request.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  consume(stream_id, data.size());  // kept or discarded, the bytes are consumed now
  return 0;
}

int ServerConnection::on_h3_deferred_consume(std::int64_t stream_id, std::size_t consumed) {
  consume(stream_id, consumed);
  return 0;
}

int ServerConnection::on_h3_begin_headers(std::int64_t stream_id) {
  if (!streams_.contains(stream_id)) streams_.emplace(stream_id, std::make_unique<RequestStream>(stream_id, executor_));
  return 0;
}

int ServerConnection::on_h3_recv_header(std::int64_t stream_id, std::string name, std::string value) {
  auto* stream = find_stream(stream_id);
  if (!stream) return 0;
  auto& request = stream->request;
  if (name == ":method") request.method = value;
  else if (name == ":path") request.target = value;
  else if (name == ":authority") request.authority = value;
  else if (name == ":scheme") request.scheme = value;
  request.fields.push_back({std::move(name), std::move(value)});
  return 0;
}

int ServerConnection::on_h3_end_headers(std::int64_t stream_id) {
  auto* stream = find_stream(stream_id);
  if (!stream) return 0;
  if (auto it = request_slots_.find(stream_id); it != request_slots_.end()) count_request(it->second);
  auto& shared = host_.shared();
  if (options_.reject_first_per_path > 0 &&
      shared.reject_request_for(stream->request.target, options_.reject_first_per_path)) {
    stream->dispatched = true;  // never routed: nothing of it is processed
    ++shared.requests_rejected;
    pending_rejections_.push_back(stream_id);  // reset after the read returns
    return 0;
  }
  ++shared.requests_started;
  stream->traits = route_traits(stream->request.target);
  if (stream->traits.before_body) {
    plan(*stream);  // now: the body that follows in this same read may be the route's (an upload)
    pending_dispatch_.push_back(stream_id);  // carried out after the read returns, never inside it
  }
  return 0;
}

int ServerConnection::on_h3_end_stream(std::int64_t stream_id) {
  if (auto* stream = find_stream(stream_id)) stream->request_ended = true;
  pending_dispatch_.push_back(stream_id);  // routed after the read returns, never inside it
  return 0;
}

int ServerConnection::on_h3_stop_sending(std::int64_t stream_id, std::uint64_t app_error_code) {
  if (ngtcp2_conn_shutdown_stream_read(quic(), 0, stream_id, app_error_code) != 0)
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  return 0;
}

int ServerConnection::on_h3_reset_stream(std::int64_t stream_id, std::uint64_t app_error_code) {
  if (ngtcp2_conn_shutdown_stream_write(quic(), 0, stream_id, app_error_code) != 0)
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  return 0;
}

// Hands nghttp3 the next body bytes, generated lazily by the plan's BodySource.
nghttp3_ssize ServerConnection::on_h3_read_body(std::int64_t stream_id, nghttp3_vec* vec, std::size_t veccnt,
                                                std::uint32_t* pflags) {
  auto* stream = find_stream(stream_id);
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

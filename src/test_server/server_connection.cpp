// ServerConnection, part 1: construction, the event loop, closing and GOAWAY, HTTP/3 set-up, and the QUIC
// and nghttp3 events. Routes are carried out in route_runner.cpp; stream roles and what the hooks may ask
// for (ConnectionControl) are in stream_control.cpp.
#include "test_server/server_connection.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "test_server/connection_callbacks.hpp"
#include "util/varint.hpp"

namespace quiver::server {

// pull_stream_data() hands nghttp3's vectors to ngtcp2 as they are.
static_assert(sizeof(nghttp3_vec) == sizeof(ngtcp2_vec) && offsetof(nghttp3_vec, base) == offsetof(ngtcp2_vec, base) &&
              offsetof(nghttp3_vec, len) == offsetof(ngtcp2_vec, len));

// ==== construction ====================================================================================

Result<std::shared_ptr<ServerConnection>> ServerConnection::create(const asio::any_io_executor& executor,
                                                                   ConnectionHost& host, const TlsServerContext& tls,
                                                                   const ServerOptions& options,
                                                                   std::unique_ptr<ConnectionHooks> hooks,
                                                                   const ngtcp2_pkt_hd& initial, const Endpoint& local,
                                                                   const Endpoint& remote) {
  std::shared_ptr<ServerConnection> connection(new ServerConnection(executor, host, options, std::move(hooks)));
  TransportEvents& events = *connection;  // the session hears the transport's events
  connection->transport_ = std::make_unique<QuicTransport>(executor, host, *connection, events,
                                                           connection->weak_from_this(), options, local, remote);
  if (auto accepted = connection->transport_->accept(tls, initial); !accepted)
    return std::unexpected(accepted.error());
  return connection;
}

ServerConnection::ServerConnection(const asio::any_io_executor& executor, ConnectionHost& host,
                                   const ServerOptions& options, std::unique_ptr<ConnectionHooks> hooks)
    : executor_(executor),
      host_(host),
      options_(options),
      hooks_(std::move(hooks)),
      goaway_timer_(executor),
      grace_timer_(executor) {}

ServerConnection::~ServerConnection() = default;

// ==== event loop ======================================================================================

void ServerConnection::drive() {
  process_pending();
  if (!active()) return;
  bool more = transport_->write();
  if (auto code = std::exchange(close_after_write_, std::nullopt); code && active()) {
    close_application(*code);  // what was queued before it (a GOAWAY, resets) went out first
    return;
  }
  if (active()) transport_->arm_timer(more);
}

void ServerConnection::process_pending() {
  while (active() && (!pending_dispatch_.empty() || !pending_reset_checks_.empty() || !pending_resets_.empty() ||
                      !pending_resumes_.empty() ||
                      pending_goaway_ || pending_close_after_write_)) {
    if (auto code = std::exchange(pending_goaway_, std::nullopt)) start_final_goaway(*code);
    if (auto code = std::exchange(pending_close_after_write_, std::nullopt)) close_after_write_ = code;
    for (auto [id, code] : std::exchange(pending_resets_, {})) reset_unanswered(id, code);
    for (auto id : std::exchange(pending_dispatch_, {})) dispatch(id);
    for (auto id : std::exchange(pending_resumes_, {})) {
      if (find_stream(id) == nullptr) continue;
      if (auto rv = nghttp3_conn_resume_stream(h3_.get(), id); rv != 0) fail_h3(rv);
    }
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

// ==== HTTP/3 set-up =================================================================================

int ServerConnection::setup_h3() {
  auto* conn = quic();
  if (ngtcp2_conn_get_streams_uni_left(conn) < 3) return NGTCP2_ERR_CALLBACK_FAILURE;

  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  settings.qpack_max_dtable_capacity = 4096;
  settings.qpack_blocked_streams = 100;
  settings.h3_datagram = options_.datagrams ? 1 : 0;
  settings.enable_connect_protocol = options_.extended_connect ? 1 : 0;
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
  close_request_stream(stream_id);
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
  if (auto rv = setup_h3(); rv != 0) return rv;
  hooks_->on_http3_started(*this);
  return 0;
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
  if (stream && stream->udp_relay) {  // CONNECT-UDP: the client's capsules are read and dropped (see routes.hpp)
    consume(stream_id, data.size());
    return 0;
  }
  if (stream && stream->plan.tunnel) {  // /datagram-echo: echoed once the read returns
    stream->tunnel_unsent.emplace_back(reinterpret_cast<const char*>(data.data()), data.size());
    pending_resumes_.push_back(stream_id);
    consume(stream_id, data.size());
    return 0;
  }
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
  if (streams_.contains(stream_id)) return 0;
  auto stream = std::make_unique<RequestStream>(stream_id, executor_);
  stream->request.peer = transport_->remote().address().to_string();
  streams_.emplace(stream_id, std::move(stream));
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
  if (refuse_request(*stream)) return 0;  // reset after the read returns, never routed
  ++host_.shared().requests_started;
  // Headers complete before our handshake is: the request came in 0-RTT early data.
  if (ngtcp2_conn_get_handshake_completed(quic()) == 0) ++host_.shared().early_requests;
  // A CONNECT is a tunnel: its request never ends before the answer, so every CONNECT is routed at once.
  stream->traits = stream->request.method == "CONNECT" ? RouteTraits{.before_body = true}
                                                       : route_traits(stream->request.target);
  if (stream->traits.before_body) {
    plan(*stream);  // now: the body that follows in this same read may be the route's (an upload)
    pending_dispatch_.push_back(stream_id);  // carried out after the read returns, never inside it
  }
  return 0;
}

int ServerConnection::on_h3_end_stream(std::int64_t stream_id) {
  if (auto* stream = find_stream(stream_id)) {
    stream->request_ended = true;
    if (stream->kept_open()) pending_resumes_.push_back(stream_id);  // its response ends too
  }
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

// A QUIC DATAGRAM: an HTTP datagram (RFC 9297) whose quarter stream id names a request stream. On a
// /datagram-echo stream whose response is out it is echoed; on a CONNECT-UDP one it goes to the target;
// any other is dropped (an unknown or closed
// stream's datagram is no error, §2.1). A malformed quarter stream id is H3_DATAGRAM_ERROR.
int ServerConnection::on_datagram(std::span<const std::uint8_t> datagram) {
  auto quarter = util::read_varint(datagram);
  if (!quarter || quarter->value > (util::kMaxVarint >> 2)) {
    transport_->fail_callback(application_error(0x33));
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  auto* stream = find_stream(static_cast<std::int64_t>(quarter->value * 4));
  if (stream == nullptr || !stream->response_submitted || stream->reset_sent) return 0;
  if (stream->udp_relay) {
    relay_to_target(*stream, datagram.subspan(quarter->size));
    return 0;
  }
  if (!stream->plan.tunnel) return 0;
  transport_->queue_datagram(std::vector<std::uint8_t>(datagram.begin(), datagram.end()));
  return 0;
}

}  // namespace quiver::server

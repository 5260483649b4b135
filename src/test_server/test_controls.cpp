// ServerConnection, part 3: what the test controls make a connection do besides serving — the role of
// each new request stream (Server::hold_streams_from, refuse_new_streams, goaway_after_requests), the
// request limit's GOAWAY and resets, the first-flight GOAWAY, and /misbehave's raw bytes.
#include <algorithm>

#include "test_server/server_connection.hpp"

namespace quiver::server {

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

}  // namespace quiver::server

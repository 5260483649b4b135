// ServerConnection, part 3: the roles of client request streams (served or held, as the hooks decide
// when a stream opens), resets of streams that are not being answered, and the ConnectionControl the
// connection gives its hooks. Nothing here knows why a hook asks (see test_controls.cpp).
#include <algorithm>

#include "test_server/server_connection.hpp"

namespace quiver::server {

bool ServerConnection::is_request_stream(std::int64_t stream_id) const {
  return ngtcp2_is_bidi_stream(stream_id) && !ngtcp2_conn_is_local_stream(quic(), stream_id);
}

RequestSlot& ServerConnection::slot_for(std::int64_t stream_id) {
  auto it = request_slots_.find(stream_id);
  return it != request_slots_.end() ? it->second : open_request_stream(stream_id);
}

// The role is fixed here, once; the hooks may queue a reset for it as well.
RequestSlot& ServerConnection::open_request_stream(std::int64_t stream_id) {
  RequestSlot slot;
  slot.role = hooks_->on_request_stream_open(stream_id, *this);
  auto& result = request_slots_.insert_or_assign(stream_id, slot).first->second;
  host_.shared().note_open_streams(request_slots_.size());
  return result;
}

void ServerConnection::close_request_stream(std::int64_t stream_id) {
  if (request_slots_.erase(stream_id) > 0) hooks_->on_request_stream_closed(stream_id, *this);
}

// Asked at the end of the request headers, before the request counts as started.
bool ServerConnection::refuse_request(RequestStream& stream) {
  auto code = hooks_->on_request_headers(stream.id, stream.request, *this);
  if (!code) return false;
  stream.dispatched = true;  // never routed: nothing of it is processed
  reset_request_stream(stream.id, *code);
  return true;
}

// Connection-level credit goes back at once, so an unserved stream cannot starve the others; its own
// stream window is never reopened.
void ServerConnection::drop_unserved_data(std::size_t bytes) { ngtcp2_conn_extend_max_offset(quic(), bytes); }

// A served stream with a request is reset as any (nghttp3 stops producing for it); a held one cancels
// its QPACK state first (nghttp3 never saw it).
void ServerConnection::reset_unanswered(std::int64_t stream_id, std::uint64_t code) {
  if (auto* stream = find_stream(stream_id)) {
    reset_stream(*stream, code);
    return;
  }
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

void ServerConnection::start_final_goaway(std::uint64_t idle_close_code) {
  idle_close_code_ = idle_close_code;
  close_after_goaway_ = true;
  goaway_timer_.cancel();  // a GOAWAY scheduled for later goes out now
  final_goaway();
}

// ==== ConnectionControl ===============================================================================

void ServerConnection::reset_request_stream(std::int64_t stream_id, std::uint64_t code) {
  pending_resets_.emplace_back(stream_id, code);  // by id: the stream may close before process_pending
}

void ServerConnection::goaway_and_close_when_idle(std::uint64_t idle_close_code) { pending_goaway_ = idle_close_code; }

void ServerConnection::close_after_next_write(std::uint64_t code) { pending_close_after_write_ = code; }

// The acknowledgements of a stream with raw bytes never reach nghttp3 (it did not write them).
void ServerConnection::write_raw(std::int64_t stream_id, std::vector<std::uint8_t> bytes, bool fin) {
  raw_streams_.push_back(stream_id);
  transport_->write_raw(stream_id, std::move(bytes), fin);
}

std::optional<std::int64_t> ServerConnection::open_uni_stream() {
  std::int64_t id = -1;
  if (ngtcp2_conn_open_uni_stream(quic(), &id, nullptr) != 0) return std::nullopt;
  return id;
}

void ServerConnection::reset_stream_write(std::int64_t stream_id, std::uint64_t code) {
  ngtcp2_conn_shutdown_stream_write(quic(), 0, stream_id, code);
}

}  // namespace quiver::server

#include "test_server/quic_transport.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <gnutls/crypto.h>

#include "test_server/connection_callbacks.hpp"
#include "test_server/server_shared.hpp"
#include "test_server/tls_server_context.hpp"
#include "util/clock.hpp"

namespace quiver::server {
namespace {

constexpr std::uint64_t kMaxUniStreams = 16;     // control + 2 QPACK + room for grease/extensions
constexpr std::size_t kMaxPacketsPerBurst = 64;
constexpr std::size_t kSendBufferSize = 64 * 1024;

std::chrono::steady_clock::time_point to_time_point(ngtcp2_tstamp ts) {
  using Clock = std::chrono::steady_clock;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ts)));
}

std::string cid_key(const ngtcp2_cid& cid) { return {reinterpret_cast<const char*>(cid.data), cid.datalen}; }

// A path whose addresses point into `local` and `remote` (which must outlive its use).
ngtcp2_path make_path(Endpoint& local, Endpoint& remote) {
  return {{local.data(), static_cast<ngtcp2_socklen>(local.size())},
          {remote.data(), static_cast<ngtcp2_socklen>(remote.size())},
          nullptr};
}

bool random_bytes(std::uint8_t* data, std::size_t size) { return gnutls_rnd(GNUTLS_RND_RANDOM, data, size) == 0; }

Error setup_failure(std::string message) { return Error(ErrorKind::io_error, std::move(message)); }

ngtcp2_ccerr liberr_error(int liberr) {
  ngtcp2_ccerr error;
  ngtcp2_ccerr_default(&error);
  ngtcp2_ccerr_set_liberr(&error, liberr, nullptr, 0);
  return error;
}

}  // namespace

ngtcp2_tstamp timestamp_now() noexcept { return util::now_ns(); }

ngtcp2_ccerr application_error(std::uint64_t code) {
  ngtcp2_ccerr error;
  ngtcp2_ccerr_default(&error);
  ngtcp2_ccerr_set_application_error(&error, code, nullptr, 0);
  return error;
}

// ==== construction ====================================================================================

QuicTransport::QuicTransport(const asio::any_io_executor& executor, ConnectionHost& host, ServerConnection& owner,
                             TransportEvents& events, std::weak_ptr<void> life, const ServerOptions& options,
                             const Endpoint& local, const Endpoint& remote)
    : executor_(executor), host_(host), owner_(owner), events_(events), life_(std::move(life)), options_(options),
      local_(local), remote_(remote), timer_(executor), send_buffer_(kSendBufferSize) {}

QuicTransport::~QuicTransport() = default;

Result<void> QuicTransport::accept(const TlsServerContext& tls, const ngtcp2_pkt_hd& initial) {
  conn_ref_ = {get_conn, this};
  auto session = tls.new_session(&conn_ref_);
  if (!session) return std::unexpected(session.error());
  tls_ = std::move(*session);
  tls_context_ = &tls;

  ngtcp2_cid scid;
  scid.datalen = kCidLength;
  if (!random_bytes(scid.data, scid.datalen)) return std::unexpected(setup_failure("gnutls_rnd failed"));
  auto settings = quic_settings();
  auto params = transport_params(initial, scid);
  if (!params) return std::unexpected(params.error());

  auto path = make_path(local_, remote_);
  ngtcp2_conn* conn = nullptr;
  if (auto rv = ngtcp2_conn_server_new(&conn, &initial.scid, &scid, &path, initial.version, &quic_callbacks(),
                                       &settings, &*params, nullptr, this);
      rv != 0) {
    return std::unexpected(setup_failure(fmt::format("ngtcp2_conn_server_new: {}", ngtcp2_strerror(rv))));
  }
  quic_.reset(conn);
  ngtcp2_conn_set_tls_native_handle(conn, tls_.get());

  add_cid(initial.dcid);  // the client's retransmitted Initials still carry it
  add_cid(scid);
  return {};
}

ngtcp2_settings QuicTransport::quic_settings() const {
  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = timestamp_now();
  settings.handshake_timeout = 10 * NGTCP2_SECONDS;  // a handshake that stalls is forgotten
  if (const char* trace = std::getenv("QUIVER_SERVER_TRACE"); trace && *trace && *trace != '0')
    settings.log_printf = trace_printf;
  return settings;
}

Result<ngtcp2_transport_params> QuicTransport::transport_params(const ngtcp2_pkt_hd& initial,
                                                                const ngtcp2_cid& scid) const {
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_bidi_local = options_.stream_window;
  params.initial_max_stream_data_bidi_remote = options_.stream_window;
  params.initial_max_stream_data_uni = options_.stream_window;
  params.initial_max_data = options_.connection_window;
  params.initial_max_streams_bidi = options_.max_streams;
  params.initial_max_streams_uni = kMaxUniStreams;
  params.max_idle_timeout = static_cast<ngtcp2_duration>(options_.idle_timeout.count()) * NGTCP2_MILLISECONDS;
  params.active_connection_id_limit = 7;
  if (options_.datagrams) params.max_datagram_frame_size = 65535;
  params.original_dcid = initial.dcid;
  params.original_dcid_present = 1;
  params.stateless_reset_token_present = 1;
  auto secret = host_.reset_secret();
  if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, secret.data(), secret.size(),
                                                   &scid) != 0)
    return std::unexpected(setup_failure("ngtcp2_crypto_generate_stateless_reset_token failed"));
  return params;
}

void QuicTransport::add_cid(const ngtcp2_cid& cid) {
  auto key = cid_key(cid);
  host_.add_cid(key, owner_);
  cids_.push_back(std::move(key));
}

int QuicTransport::on_handshake_completed() {
  ServerShared& shared = host_.shared();
  if (gnutls_session_is_resumed(tls_.get()) != 0) ++shared.handshakes_resumed;
  if ((gnutls_session_get_flags(tls_.get()) & GNUTLS_SFLAGS_EARLY_DATA) != 0) ++shared.early_data_accepted;
  tls_context_->after_handshake(tls_.get());
  return 0;
}

std::chrono::nanoseconds QuicTransport::pto() const noexcept {
  return std::chrono::nanoseconds(ngtcp2_conn_get_pto(quic_.get()));
}

// ==== reading, writing, the timer =====================================================================

void QuicTransport::on_datagram(std::span<const std::uint8_t> data, const Endpoint& remote) {
  if (state_ == State::closing && !close_packet_.empty()) host_.send_packet(remote, close_packet_);
  if (state_ != State::active) return;

  Endpoint from = remote;
  auto path = make_path(local_, from);
  ngtcp2_pkt_info pi{};
  if (auto rv = ngtcp2_conn_read_pkt(quic_.get(), &path, &pi, data.data(), data.size(), timestamp_now()); rv != 0) {
    handle_read_error(rv);
    events_.process_pending();
    return;
  }
  events_.drive();
}

bool QuicTransport::write() {
  auto* conn = quic_.get();
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  auto ts = timestamp_now();
  auto max_udp = std::min(ngtcp2_conn_get_path_max_tx_udp_payload_size(conn), send_buffer_.size());
  if (!raw_writes_.empty() && !write_raw(ps, max_udp, ts)) return false;
  auto max_packets = std::clamp<std::size_t>(ngtcp2_conn_get_send_quantum(conn) / max_udp, 1, kMaxPacketsPerBurst);

  std::size_t packets = 0;
  if (!datagrams_.empty() && !write_datagrams(ps, max_udp, ts, packets, max_packets)) return false;
  for (;;) {
    if (packets >= max_packets) {
      ngtcp2_conn_update_pkt_tx_time(conn, ts);
      return true;
    }
    std::int64_t stream_id = -1;
    int fin = 0;
    std::array<ngtcp2_vec, 16> vec;
    std::ptrdiff_t veccnt = 0;
    if (ngtcp2_conn_get_max_data_left(conn) > 0) {
      veccnt = events_.pull_stream_data(stream_id, fin, vec);
      if (veccnt < 0) return false;
    }
    ngtcp2_ssize datalen = -1;
    std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
    auto n = ngtcp2_conn_writev_stream(conn, &ps.path, &pi, send_buffer_.data(), max_udp, &datalen, flags, stream_id,
                                       vec.data(), static_cast<std::size_t>(veccnt), ts);
    if (n < 0) {
      if (recover_write_error(n, stream_id, datalen)) continue;
      return false;
    }
    if (datalen >= 0 && stream_id >= 0 && !events_.on_stream_written(stream_id, static_cast<std::size_t>(datalen)))
      return false;
    if (n == 0) break;
    send(ps.path, {send_buffer_.data(), static_cast<std::size_t>(n)});
    if (++packets == max_packets) {
      ngtcp2_conn_update_pkt_tx_time(conn, ts);
      return true;
    }
  }
  ngtcp2_conn_update_pkt_tx_time(conn, ts);
  return false;
}

bool QuicTransport::queue_datagram(std::vector<std::uint8_t> datagram) {
  constexpr std::size_t kMaxQueued = 1024;
  if (datagrams_.size() >= kMaxQueued) return false;
  datagrams_.push_back(std::move(datagram));
  return true;
}

// One packet per queued datagram, within the burst (`packets` of `max_packets`), until the congestion
// controller says stop; false if the connection failed. A datagram over what one packet of this path
// carries is dropped (unreliable): an echo of a datagram sized for the client's path, before this side's
// path MTU discovery found as much room, is lost here.
bool QuicTransport::write_datagrams(ngtcp2_path_storage& ps, std::size_t max_udp, ngtcp2_tstamp ts,
                                    std::size_t& packets, std::size_t max_packets) {
  ngtcp2_pkt_info pi{};
  // Short header (first byte, longest packet number, AEAD tag, destination cid), DATAGRAM type + 2-byte length.
  const std::size_t overhead = 1 + 4 + 16 + ngtcp2_conn_get_dcid(quic_.get())->datalen + 3;
  while (!datagrams_.empty() && packets < max_packets) {
    auto& datagram = datagrams_.front();
    if (datagram.size() + overhead > max_udp) {
      datagrams_.pop_front();
      continue;
    }
    ngtcp2_vec vec{datagram.data(), datagram.size()};
    int accepted = 0;
    auto n = ngtcp2_conn_writev_datagram(quic_.get(), &ps.path, &pi, send_buffer_.data(), max_udp, &accepted,
                                         NGTCP2_WRITE_DATAGRAM_FLAG_NONE, 0, &vec, 1, ts);
    if (n == NGTCP2_ERR_INVALID_ARGUMENT || n == NGTCP2_ERR_INVALID_STATE) {
      datagrams_.pop_front();  // over the client's limit, or the client takes no datagrams
      continue;
    }
    if (n < 0) {
      close_with_liberr(static_cast<int>(n));
      return false;
    }
    if (n == 0) return true;  // congestion or pacing: the rest waits for the next write
    if (accepted != 0) datagrams_.pop_front();
    send(ps.path, {send_buffer_.data(), static_cast<std::size_t>(n)});
    ++packets;
  }
  return true;
}

// The write errors that concern one stream: note it and go on writing (true). Anything else is fatal
// for the connection (false; the connection is closed).
bool QuicTransport::recover_write_error(ngtcp2_ssize error, std::int64_t stream_id, ngtcp2_ssize datalen) {
  switch (error) {
    case NGTCP2_ERR_STREAM_DATA_BLOCKED:  // flow control; extend_max_stream_data unblocks it
      events_.on_stream_blocked(stream_id);
      return true;
    case NGTCP2_ERR_STREAM_SHUT_WR:  // reset by us, or STOP_SENDING from the peer
      events_.on_stream_shut_write(stream_id);
      return true;
    case NGTCP2_ERR_WRITE_MORE:  // the packet has room: coalesce more stream data into it
      return events_.on_stream_written(stream_id, static_cast<std::size_t>(datalen));
    default:
      close_with_liberr(static_cast<int>(error));
      return false;
  }
}

void QuicTransport::send(const ngtcp2_path& path, std::span<const std::uint8_t> packet) {
  Endpoint to;
  std::memcpy(to.data(), path.remote.addr, path.remote.addrlen);
  to.resize(path.remote.addrlen);
  host_.send_packet(to, packet);
}

// ngtcp2's next expiry: loss detection, ACK delay, idle, pacing. After a cut burst, at most 1 ms
// later so the rest is written even if pacing sets no earlier deadline.
void QuicTransport::arm_timer(bool more_to_write) {
  auto expiry = ngtcp2_conn_get_expiry(quic_.get());
  if (more_to_write) expiry = std::min<ngtcp2_tstamp>(expiry, timestamp_now() + NGTCP2_MILLISECONDS);
  if (expiry == armed_expiry_) return;
  armed_expiry_ = expiry;
  if (expiry == UINT64_MAX) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(to_time_point(expiry));
  timer_.async_wait([this, life = life_](const asio::error_code& ec) {
    if (ec) return;
    if (auto alive = life.lock()) on_timer();
  });
}

void QuicTransport::on_timer() {
  armed_expiry_ = UINT64_MAX;
  if (state_ != State::active) return;
  if (auto rv = ngtcp2_conn_handle_expiry(quic_.get(), timestamp_now()); rv != 0) {
    if (rv == NGTCP2_ERR_IDLE_CLOSE) {
      finish();
    } else {
      close_with_liberr(rv);
    }
    events_.process_pending();
    return;
  }
  events_.drive();
}

// ==== closing =========================================================================================

void QuicTransport::handle_read_error(int liberr) {
  switch (liberr) {
    case NGTCP2_ERR_DRAINING:  // the peer closed
      enter_draining();
      return;
    case NGTCP2_ERR_DROP_CONN:
      finish();
      return;
    case NGTCP2_ERR_CRYPTO:
      if (!callback_error_) {
        ngtcp2_ccerr error;
        ngtcp2_ccerr_default(&error);
        ngtcp2_ccerr_set_tls_alert(&error, ngtcp2_conn_get_tls_alert(quic_.get()), nullptr, 0);
        callback_error_ = error;
      }
      break;
    default:
      if (!callback_error_) callback_error_ = liberr_error(liberr);
  }
  close_with(*callback_error_);
}

void QuicTransport::close_with_liberr(int liberr) { close_with(liberr_error(liberr)); }

void QuicTransport::close_with(const ngtcp2_ccerr& error) {
  if (state_ != State::active) return;
  auto* conn = quic_.get();
  if (ngtcp2_conn_in_closing_period(conn) || ngtcp2_conn_in_draining_period(conn)) {
    enter_draining();
    return;
  }
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  auto n = ngtcp2_conn_write_connection_close(conn, &ps.path, &pi, send_buffer_.data(), send_buffer_.size(), &error,
                                              timestamp_now());
  close_code_ = error.error_code;
  events_.on_closing(close_code_);
  if (n <= 0) {  // nothing can be sent (e.g. no keys yet): just forget the connection
    finish();
    return;
  }
  state_ = State::closing;
  close_packet_.assign(send_buffer_.begin(), send_buffer_.begin() + n);
  send(ps.path, close_packet_);
  start_end_timer();
}

void QuicTransport::close_application(std::uint64_t h3_code) { close_with(application_error(h3_code)); }

void QuicTransport::enter_draining() {
  if (state_ != State::active) return;
  state_ = State::draining;
  close_code_ = ngtcp2_conn_get_ccerr(quic_.get())->error_code;  // the peer's CONNECTION_CLOSE
  events_.on_closing(close_code_);
  start_end_timer();
}

// Closing and draining last three PTOs (RFC 9000 §10.2), then the connection is forgotten.
void QuicTransport::start_end_timer() {
  timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(3 * pto()));
  timer_.async_wait([this, life = life_](const asio::error_code& ec) {
    if (ec) return;
    if (auto alive = life.lock()) finish();
  });
}

void QuicTransport::finish() {
  if (state_ == State::finished) return;
  state_ = State::finished;
  timer_.cancel();
  events_.on_closing(close_code_);
  events_.on_finished();
}

// ==== raw stream writes (/misbehave) ===================================================================

void QuicTransport::write_raw(std::int64_t stream_id, std::vector<std::uint8_t> bytes, bool fin) {
  raw_writes_.push_back({stream_id, std::move(bytes), fin});
}

// Writes the pending raw bytes, as far as flow and congestion control allow; the rest on a later call.
bool QuicTransport::write_raw(ngtcp2_path_storage& ps, std::size_t max_udp, ngtcp2_tstamp ts) {
  bool stalled = false;  // congestion control or pacing: nothing more can go out now
  for (auto& raw : raw_writes_) {
    while (!raw.done && !stalled) {
      if (!write_raw_packet(raw, ps, max_udp, ts, stalled)) return false;
    }
    if (stalled) break;
  }
  // ngtcp2 may retransmit written stream data until it is acknowledged, so the bytes of finished raw
  // writes stay alive (moved, their buffers do not move) for the connection's lifetime.
  for (auto& raw : raw_writes_) {
    if (raw.done) raw_sent_.push_back(std::move(raw.bytes));
  }
  std::erase_if(raw_writes_, [](const RawWrite& raw) { return raw.done; });
  return true;
}

// One packet carrying (part of) `raw`. Flow control blocking ends the stream's turn (done stays false;
// extend_max_stream_data wakes the connection up); a stream shut for writing is done.
bool QuicTransport::write_raw_packet(RawWrite& raw, ngtcp2_path_storage& ps, std::size_t max_udp,
                                     ngtcp2_tstamp ts, bool& stalled) {
  ngtcp2_vec vec{raw.bytes.data() + raw.offset, raw.bytes.size() - raw.offset};
  ngtcp2_ssize datalen = -1;
  ngtcp2_pkt_info pi{};
  std::uint32_t flags = raw.fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : NGTCP2_WRITE_STREAM_FLAG_NONE;
  auto n = ngtcp2_conn_writev_stream(quic_.get(), &ps.path, &pi, send_buffer_.data(), max_udp, &datalen, flags,
                                     raw.stream_id, &vec, 1, ts);
  switch (n) {
    case NGTCP2_ERR_STREAM_DATA_BLOCKED:
      stalled = true;  // keeps the order: later raw bytes wait too
      return true;
    case NGTCP2_ERR_STREAM_SHUT_WR:
    case NGTCP2_ERR_STREAM_NOT_FOUND:
      raw.done = true;
      return true;
    default:
      break;
  }
  if (n < 0) {
    close_with_liberr(static_cast<int>(n));
    return false;
  }
  if (datalen >= 0) {
    raw.offset += static_cast<std::size_t>(datalen);
    raw.done = raw.offset == raw.bytes.size();
  }
  if (n == 0) {
    stalled = true;
    return true;
  }
  send(ps.path, {send_buffer_.data(), static_cast<std::size_t>(n)});
  return true;
}

// ==== connection ids ==================================================================================

int QuicTransport::on_new_connection_id(ngtcp2_cid* cid, std::uint8_t* token, std::size_t cidlen) {
  if (!random_bytes(cid->data, cidlen)) return NGTCP2_ERR_CALLBACK_FAILURE;
  cid->datalen = cidlen;
  auto secret = host_.reset_secret();
  if (ngtcp2_crypto_generate_stateless_reset_token(token, secret.data(), secret.size(), cid) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  add_cid(*cid);
  return 0;
}

int QuicTransport::on_remove_connection_id(const ngtcp2_cid* cid) {
  auto key = cid_key(*cid);
  host_.remove_cid(key);
  std::erase(cids_, key);
  return 0;
}

}  // namespace quiver::server

#include "quic/quic_transport.hpp"

#include <algorithm>
#include <cstring>

#include <asio/error.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>
#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "util/clock.hpp"
#include "util/varint.hpp"

namespace quiver::quic {

namespace {

constexpr std::size_t kMaxDatagram = 65536;
constexpr std::size_t kScidLength = 18;
constexpr std::size_t kMaxPacketsPerBurst = 64;
// Most bytes (and reads) one read handler takes from the socket before letting the handlers it queued
// run (a body's reader drains its blocks there); the next step is posted behind them. Bounds what one
// burst buffers.
constexpr std::size_t kReadBudgetBytes = 64 * 1024;
constexpr std::size_t kMaxReadsPerStep = 64;
// Most hops a scheduled write waits while write holds are alive (WriteHolds::holding): enough for a
// response's answer, its body reads and the follow-up request; the bound keeps a steady flow of answers
// (or a leaked hold) from holding ACKs back.
constexpr std::size_t kMaxWriteWaits = 4;

// Datagram scratch space, shared by the transports of one thread: a receive burst and a write burst each
// run to completion inside one handler and never nest (whatever a callback sets off in another
// connection is posted), so one buffer of each serves every connection on the thread. Per connection they
// were 128 KB, 60% of an idle connection's memory.
struct ScratchBuffers {
  std::vector<std::uint8_t> receive = std::vector<std::uint8_t>(kMaxDatagram);
  std::vector<std::uint8_t> send = std::vector<std::uint8_t>(kMaxDatagram);  // a batch of packets being written
};

ScratchBuffers& scratch() {
  thread_local ScratchBuffers buffers;
  return buffers;
}

void fill_random(std::uint8_t* dest, std::size_t length) noexcept {
  gnutls_rnd(GNUTLS_RND_RANDOM, dest, length);
}

ngtcp2_cc_algo to_ngtcp2(CongestionControl cc) {
  switch (cc) {
    case CongestionControl::bbr: return NGTCP2_CC_ALGO_BBR;
    case CongestionControl::reno: return NGTCP2_CC_ALGO_RENO;
    case CongestionControl::cubic: break;
  }
  return NGTCP2_CC_ALGO_CUBIC;
}

std::string reason_text(const ngtcp2_ccerr& ccerr) {
  if (ccerr.reason == nullptr || ccerr.reasonlen == 0) return {};
  return std::string(reinterpret_cast<const char*>(ccerr.reason), ccerr.reasonlen);
}

}  // namespace

// Thin noexcept trampolines: recover the transport from user_data and forward.
struct QuicTransport::Callbacks {
  static QuicTransport& self(void* user_data) { return *static_cast<QuicTransport*>(user_data); }
  static int result(bool ok) { return ok ? 0 : NGTCP2_ERR_CALLBACK_FAILURE; }

  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) noexcept {
    return static_cast<QuicTransport*>(ref->user_data)->conn_.get();
  }
  static int handshake_completed(ngtcp2_conn*, void* user_data) noexcept {
    return self(user_data).on_handshake_completed_inside();
  }
  static int recv_stream_data(ngtcp2_conn*, std::uint32_t flags, std::int64_t stream_id,
                              std::uint64_t, const std::uint8_t* data, std::size_t length,
                              void* user_data, void*) noexcept {
    auto* app = self(user_data).application_;
    if (app == nullptr) return 0;
    return result(app->on_stream_data(stream_id, {data, length}, flags & NGTCP2_STREAM_DATA_FLAG_FIN));
  }
  static int acked_stream_data_offset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t,
                                      std::uint64_t length, void* user_data, void*) noexcept {
    auto* app = self(user_data).application_;
    return app == nullptr ? 0 : result(app->on_stream_data_acked(stream_id, length));
  }
  static int stream_close(ngtcp2_conn*, std::uint32_t flags, std::int64_t stream_id,
                          std::uint64_t app_error_code, void* user_data, void*) noexcept {
    auto* app = self(user_data).application_;
    if (app == nullptr) return 0;
    std::optional<std::uint64_t> code;
    if (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) code = app_error_code;
    return result(app->on_stream_closed(stream_id, code));
  }
  static int stream_reset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t,
                          std::uint64_t app_error_code, void* user_data, void*) noexcept {
    auto* app = self(user_data).application_;
    return app == nullptr ? 0 : result(app->on_stream_reset(stream_id, app_error_code));
  }
  static int stream_stop_sending(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t app_error_code,
                                 void* user_data, void*) noexcept {
    auto* app = self(user_data).application_;
    return app == nullptr ? 0 : result(app->on_stream_stop_sending(stream_id, app_error_code));
  }
  static int extend_max_local_streams_bidi(ngtcp2_conn*, std::uint64_t, void* user_data) noexcept {
    self(user_data).stream_credit_event_pending_ = true;
    return 0;
  }
  static int extend_max_stream_data(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t,
                                    void* user_data, void*) noexcept {
    auto* app = self(user_data).application_;
    return app == nullptr ? 0 : result(app->on_stream_send_credit(stream_id));
  }
  static int recv_datagram(ngtcp2_conn*, std::uint32_t, const std::uint8_t* data, std::size_t length,
                           void* user_data) noexcept {
    auto* app = self(user_data).application_;
    return app == nullptr ? 0 : result(app->on_datagram({data, length}));
  }
  static void rand(std::uint8_t* dest, std::size_t length, const ngtcp2_rand_ctx*) noexcept {
    fill_random(dest, length);
  }
  static int get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token,
                                   std::size_t cid_length, void*) noexcept {
    fill_random(cid->data, cid_length);
    cid->datalen = cid_length;
    fill_random(token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return 0;
  }

  // ngtcp2's qlog output (settings.qlog_write): appended to the connection's file, closed at the end.
  static void qlog_write(void* user_data, std::uint32_t flags, const void* data, std::size_t length) noexcept {
    auto& transport = self(user_data);
    if (!transport.qlog_) return;
    std::fwrite(data, 1, length, transport.qlog_.get());
    // Flushed per event: a live connection's file is readable as it goes (and complete when the
    // process ends without closing the connection).
    std::fflush(transport.qlog_.get());
    if (flags & NGTCP2_QLOG_WRITE_FLAG_FIN) transport.qlog_.reset();
  }
  static ngtcp2_callbacks table() {
    ngtcp2_callbacks cb{};
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.handshake_completed = handshake_completed;
    cb.recv_stream_data = recv_stream_data;
    cb.acked_stream_data_offset = acked_stream_data_offset;
    cb.stream_close = stream_close;
    cb.stream_reset = stream_reset;
    cb.stream_stop_sending = stream_stop_sending;
    cb.extend_max_local_streams_bidi = extend_max_local_streams_bidi;
    cb.extend_max_stream_data = extend_max_stream_data;
    cb.recv_datagram = recv_datagram;
    cb.rand = rand;
    cb.get_new_connection_id = get_new_connection_id;
    return cb;
  }
};

QuicTransport::QuicTransport(asio::any_io_executor executor, TransportConfig config,
                             TransportEvents* events)
    : executor_(executor),
      config_(std::move(config)),
      events_(events),
      socket_(executor),
      expiry_timer_(executor) {}

QuicTransport::~QuicTransport() = default;

ngtcp2_path QuicTransport::path() noexcept {
  return ngtcp2_path{
      {const_cast<sockaddr*>(local_endpoint_.data()), static_cast<ngtcp2_socklen>(local_endpoint_.size())},
      {const_cast<sockaddr*>(remote_endpoint_.data()), static_cast<ngtcp2_socklen>(remote_endpoint_.size())},
      nullptr};
}

Result<void> QuicTransport::connect(const asio::ip::udp::endpoint& peer,
                                    std::shared_ptr<tls::ClientTlsContext> tls_context) {
  if (auto ec = socket_.connect(peer)) {
    return std::unexpected(Error(ErrorKind::handshake_failed, ErrorClass::transient,
                                 fmt::format("UDP socket to {}: {}", peer.address().to_string(), ec.message())));
  }
  local_endpoint_ = socket_.local_endpoint();
  remote_endpoint_ = socket_.remote_endpoint();

  conn_ref_ = {Callbacks::get_conn, this};
  auto tls = tls::ClientTlsSession::create(std::move(tls_context), config_.host, &conn_ref_, config_.resumption);
  if (!tls) return std::unexpected(tls.error());
  tls_ = std::move(*tls);

  ngtcp2_cid dcid{}, scid{};
  dcid.datalen = NGTCP2_MIN_INITIAL_DCIDLEN + 2;
  fill_random(dcid.data, dcid.datalen);
  scid.datalen = kScidLength;
  fill_random(scid.data, scid.datalen);

  const TransportOptions& options = config_.options;
  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = util::now_ns();
  settings.max_tx_udp_payload_size = options.max_udp_payload;
  settings.cc_algo = to_ngtcp2(options.congestion_control);
  // Receive windows may auto-tune up to the configured sizes, never beyond (bounded memory).
  settings.max_window = options.connection_window;
  settings.max_stream_window = options.stream_window;
  open_qlog(scid, settings);

  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_bidi_local = options.stream_window;
  params.initial_max_stream_data_uni = options.stream_window;
  params.initial_max_data = options.connection_window;
  params.initial_max_streams_bidi = 0;  // a client accepts no server-initiated request streams
  params.initial_max_streams_uni = 16;  // control, QPACK encoder/decoder and a few spare
  params.max_idle_timeout = util::to_ns(options.idle_timeout);
  params.active_connection_id_limit = 7;
  params.max_datagram_frame_size = options.max_datagram_frame_size;

  ngtcp2_callbacks callbacks = Callbacks::table();
  ngtcp2_path client_path = path();
  ngtcp2_conn* raw = nullptr;
  if (int rv = ngtcp2_conn_client_new(&raw, &dcid, &scid, &client_path, NGTCP2_PROTO_VER_V1,
                                      &callbacks, &settings, &params, nullptr, this);
      rv != 0) {
    return std::unexpected(Error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                                 fmt::format("QUIC set-up: {}", ngtcp2_strerror(rv))));
  }
  conn_.reset(raw);
  ngtcp2_conn_set_tls_native_handle(raw, tls_->native_handle());
  ngtcp2_ccerr_default(&last_error_);
  if (tls_->offers_early_data()) {
    // The limits the server gave the ticket's connection bound what 0-RTT may open and send.
    const auto& remembered = tls_->remembered_transport_params();
    early_data_offered_ =
        ngtcp2_conn_decode_and_set_0rtt_transport_params(raw, remembered.data(), remembered.size()) == 0;
  }

  start_reading();
  if (early_data_offered_) {
    // Streams for the first flight: the worker opens its own now, and the pool hands it requests in a
    // posted call; the first packet is written after that (one hop later), so they ride in it.
    if (events_ != nullptr) events_->on_early_data_ready();
    if (!closed_) schedule_write();
    return {};
  }
  write_packets();
  after_io();
  return {};
}

// QLOGDIR (curl's and ngtcp2's examples' convention): "<dir>/<hex source connection id>.sqlog". A file
// that cannot be created means no qlog, not a failed connection.
void QuicTransport::open_qlog(const ngtcp2_cid& scid, ngtcp2_settings& settings) {
  if (config_.options.qlog_dir.empty()) return;
  std::string name;
  for (std::size_t i = 0; i < scid.datalen; ++i) name += fmt::format("{:02x}", scid.data[i]);
  qlog_.reset(std::fopen(fmt::format("{}/{}.sqlog", config_.options.qlog_dir, name).c_str(), "w"));
  if (qlog_) settings.qlog_write = Callbacks::qlog_write;
}

std::uint32_t QuicTransport::negotiated_version() const noexcept {
  return conn_ ? ngtcp2_conn_get_negotiated_version(conn_.get()) : 0;
}

std::chrono::nanoseconds QuicTransport::smoothed_rtt() const noexcept {
  if (!conn_) return {};
  ngtcp2_conn_info info{};
  ngtcp2_conn_get_conn_info(conn_.get(), &info);
  return std::chrono::nanoseconds(info.smoothed_rtt);
}

// Inside ngtcp2 (the handshake's last packet). GnuTLS tells only now whether the server took our early
// data; if not, ngtcp2 must drop the early streams and the application start afresh here, before the
// server's streams in the same packets reach it (as ngtcp2's example client does).
int QuicTransport::on_handshake_completed_inside() {
  handshake_completed_ = true;
  handshake_event_pending_ = true;
  if (!early_data_offered_ || tls_->early_data_accepted()) return 0;
  early_data_rejected_ = true;
  if (ngtcp2_conn_tls_early_data_rejected(conn_.get()) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  if (application_ != nullptr && !application_->on_early_data_rejected()) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

Result<std::int64_t> QuicTransport::open_bidi_stream() {
  std::int64_t stream_id = -1;
  if (int rv = ngtcp2_conn_open_bidi_stream(conn_.get(), &stream_id, nullptr); rv != 0) {
    return std::unexpected(Error(ErrorKind::transport_error, ErrorClass::transient,
                                 fmt::format("cannot open a request stream: {}", ngtcp2_strerror(rv))));
  }
  return stream_id;
}

Result<std::int64_t> QuicTransport::open_uni_stream() {
  std::int64_t stream_id = -1;
  if (int rv = ngtcp2_conn_open_uni_stream(conn_.get(), &stream_id, nullptr); rv != 0) {
    return std::unexpected(Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                                 fmt::format("cannot open a unidirectional stream: {}", ngtcp2_strerror(rv))));
  }
  return stream_id;
}

std::uint64_t QuicTransport::bidi_streams_left() const noexcept {
  if (!conn_ || closed_ || (!handshake_completed_ && !early_data_offered_)) return 0;
  return ngtcp2_conn_get_streams_bidi_left(conn_.get());
}

void QuicTransport::extend_stream_credit(std::int64_t stream_id, std::uint64_t bytes) {
  if (!conn_ || closed_ || bytes == 0) return;
  ngtcp2_conn_extend_max_stream_offset(conn_.get(), stream_id, bytes);
  ngtcp2_conn_extend_max_offset(conn_.get(), bytes);
  schedule_write();  // the new credit only reaches the peer in a packet
}

void QuicTransport::shutdown_stream(std::int64_t stream_id, std::uint64_t app_error_code) {
  if (!conn_ || closed_) return;
  ngtcp2_conn_shutdown_stream(conn_.get(), 0, stream_id, app_error_code);
  schedule_write();
}

void QuicTransport::shutdown_stream_read(std::int64_t stream_id, std::uint64_t app_error_code) {
  if (conn_ && !closed_) ngtcp2_conn_shutdown_stream_read(conn_.get(), 0, stream_id, app_error_code);
}

void QuicTransport::shutdown_stream_write(std::int64_t stream_id, std::uint64_t app_error_code) {
  if (conn_ && !closed_) ngtcp2_conn_shutdown_stream_write(conn_.get(), 0, stream_id, app_error_code);
}

namespace {
// Short-header packet bytes around its frames: the first byte, the longest packet number and the AEAD tag.
constexpr std::size_t kShortHeaderOverhead = 1 + 4 + 16;
}  // namespace

// What fits in one DATAGRAM frame (type byte and length field deducted) within the peer's limit and one
// packet of the current path (its destination connection id included).
std::size_t QuicTransport::max_datagram_payload() const noexcept {
  if (!conn_ || closed_ || !handshake_completed_) return 0;
  const ngtcp2_transport_params* peer = ngtcp2_conn_get_remote_transport_params(conn_.get());
  if (peer == nullptr || peer->max_datagram_frame_size == 0 || config_.options.max_datagram_frame_size == 0) return 0;
  std::uint64_t by_peer = peer->max_datagram_frame_size;
  std::uint64_t frame_limit = by_peer > 1 + util::varint_size(by_peer) ? by_peer - 1 - util::varint_size(by_peer) : 0;
  std::size_t path = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_.get());
  std::size_t header = kShortHeaderOverhead + ngtcp2_conn_get_dcid(conn_.get())->datalen;
  std::size_t packet_limit = path > header + 3 ? path - header - 3 : 0;  // frame type + 2-byte length
  return static_cast<std::size_t>(std::min<std::uint64_t>(frame_limit, packet_limit));
}

bool QuicTransport::queue_datagram(std::span<const std::uint8_t> prefix, std::span<const std::uint8_t> payload) {
  if (closed_ || datagrams_.size() >= kMaxQueuedDatagrams) return false;
  std::vector<std::uint8_t> datagram;
  datagram.reserve(prefix.size() + payload.size());
  datagram.insert(datagram.end(), prefix.begin(), prefix.end());
  datagram.insert(datagram.end(), payload.begin(), payload.end());
  datagrams_.push_back(std::move(datagram));
  schedule_write();
  return true;
}

void QuicTransport::set_keep_alive(bool on) {
  if (!conn_ || closed_ || !handshake_completed_) return;
  std::uint64_t idle = util::to_ns(config_.options.idle_timeout);
  const ngtcp2_transport_params* peer = ngtcp2_conn_get_remote_transport_params(conn_.get());
  if (peer != nullptr && peer->max_idle_timeout != 0) idle = std::min(idle, peer->max_idle_timeout);
  ngtcp2_conn_set_keep_alive_timeout(conn_.get(), on && idle != 0 ? idle / 2 : UINT64_MAX);
}

void QuicTransport::schedule_write() {
  if (write_scheduled_ || closed_) return;
  write_scheduled_ = true;
  write_holds_.post_flush(executor_, kMaxWriteWaits, [self = shared_from_this()] {
    if (self->closed_) return;
    self->write_scheduled_ = false;
    self->write_packets();
    self->after_io();
  });
}

// ---- reading -------------------------------------------------------------------------------------

void QuicTransport::start_reading() {
  socket_.async_wait_readable([self = shared_from_this()](std::error_code ec) {
    if (self->closed_ || ec == asio::error::operation_aborted) return;
    self->on_readable();
  });
}

void QuicTransport::on_readable() {
  std::uint64_t now = util::now_ns();  // one clock read per burst: the datagrams arrived together
  std::vector<std::uint8_t>& receive_buffer = scratch().receive;
  bool drained = false;
  for (std::size_t reads = 0, taken = 0; reads < kMaxReadsPerStep && taken < kReadBudgetBytes && !closed_; ++reads) {
    std::error_code ec;
    std::size_t segment = 0;
    std::size_t length = socket_.try_receive(receive_buffer, segment, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      drained = true;
      break;
    }
    taken += length;
    if (refuses_handshake(ec)) {
      finish(refused_error());
      return;
    }
    if (ec) continue;  // ICMP errors after the handshake are advisory; the idle timer decides
    for (std::size_t offset = 0; offset < length; offset += segment) {  // GRO: several datagrams
      if (!read_datagram({receive_buffer.data() + offset, std::min(segment, length - offset)}, now)) return;
    }
  }
  // Before the reply is scheduled: a handshake completed by this burst releases the waiting requests
  // now, so they ride in the packet that carries our Finished instead of one of their own.
  deliver_events();
  if (closed_) return;
  // The reply is written after the handlers this burst queued (answers, body deliveries): a request they
  // send rides in the same packet as our ACK, and credit they return goes out with it.
  schedule_write();
  if (drained) {
    start_reading();
  } else {
    asio::post(executor_, [self = shared_from_this()] {
      if (!self->closed_) self->on_readable();
    });
  }
}

bool QuicTransport::read_datagram(std::span<const std::uint8_t> datagram, std::uint64_t now) {
  ngtcp2_path packet_path = path();
  ngtcp2_pkt_info info{};
  int rv = ngtcp2_conn_read_pkt(conn_.get(), &packet_path, &info, datagram.data(), datagram.size(), now);
  if (rv == 0) return true;
  if (rv == NGTCP2_ERR_DRAINING) {
    finish(error_from_peer_close());
    return false;
  }
  if (rv == NGTCP2_ERR_DROP_CONN) {
    finish(Error(ErrorKind::transport_error, "connection dropped (stateless reset or version mismatch)"));
    return false;
  }
  fail(rv);
  return false;
}

// ---- writing -------------------------------------------------------------------------------------

// Writes packets while ngtcp2 has something to send (at most one burst), batching equal-size packets so
// the socket sends them with one GSO call. A short packet ends a batch.
void QuicTransport::write_packets() {
  if (closed_ || !blocked_.empty()) return;  // a blocked batch resumes from the writable wait
  std::uint64_t now = util::now_ns();
  std::size_t payload = ngtcp2_conn_get_max_tx_udp_payload_size(conn_.get());
  std::size_t burst = std::clamp<std::size_t>(ngtcp2_conn_get_send_quantum(conn_.get()) / payload, 1,
                                              kMaxPacketsPerBurst);
  std::vector<std::uint8_t>& send_buffer = scratch().send;
  std::size_t batch = 0, segment = 0;  // bytes of send_buffer waiting to go out; their packet size
  std::size_t packets_sent = 0;
  for (; packets_sent < burst; ++packets_sent) {
    if (batch + payload > send_buffer.size() && !flush_batch(batch, segment)) return;
    ngtcp2_ssize written = write_one_packet(send_buffer.data() + batch, payload, now);
    if (written < 0) return;  // failed: the connection is closed
    if (written == 0) break;  // nothing more to send now (congestion, pacing or idle)
    auto size = static_cast<std::size_t>(written);
    if (batch > 0 && size > segment) {  // a bigger packet cannot join the batch: send the batch first
      std::size_t at = batch;  // where the new packet was written (flush_batch zeroes `batch`)
      if (!flush_batch(batch, segment)) {
        // The new packet is not part of what was blocked: it is lost (QUIC recovers what needs it).
        return;
      }
      std::memmove(send_buffer.data(), send_buffer.data() + at, size);
    }
    if (batch == 0) segment = size;
    batch += size;
    if (size < segment || !socket_.gso_enabled()) {
      if (!flush_batch(batch, segment)) return;
    }
  }
  if (batch > 0 && !flush_batch(batch, segment)) return;
  // Pacing spreads bursts. A lone packet (an ACK, a small request) is no burst, and pacing after it
  // would hold back the next request by a pacing interval: measured, it adds ~60 µs to every request of
  // a one-at-a-time exchange.
  if (packets_sent > 1) ngtcp2_conn_update_pkt_tx_time(conn_.get(), now);
}

// One packet into `dest`: its size, 0 when there is nothing to send, or -1 after failing the connection.
ngtcp2_ssize QuicTransport::write_one_packet(std::uint8_t* dest, std::size_t capacity, std::uint64_t now) {
  if (!datagrams_.empty()) {
    if (ngtcp2_ssize written = write_datagram_packet(dest, capacity, now); written != 0) return written;
  }
  ngtcp2_path_storage storage;
  ngtcp2_path_storage_zero(&storage);
  ngtcp2_pkt_info info{};
  for (;;) {
    OutgoingData out;
    if (application_ != nullptr && !application_->next_outgoing(out)) {
      fail(NGTCP2_ERR_CALLBACK_FAILURE);
      return -1;
    }
    std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (out.fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
    ngtcp2_ssize accepted = -1;
    ngtcp2_ssize written = ngtcp2_conn_writev_stream(conn_.get(), &storage.path, &info, dest, capacity,
                                                     &accepted, flags, out.stream_id, out.chunks.data(),
                                                     out.chunks.size(), now);
    switch (written) {
      case NGTCP2_ERR_STREAM_DATA_BLOCKED:
        application_->on_stream_blocked(out.stream_id);
        continue;
      case NGTCP2_ERR_STREAM_SHUT_WR:
        application_->on_stream_write_shut(out.stream_id);
        continue;
      case NGTCP2_ERR_WRITE_MORE:  // the packet has room for more stream data
        break;
      default:
        if (written < 0) {
          fail(static_cast<int>(written));
          return -1;
        }
    }
    if (accepted >= 0 && application_ != nullptr &&
        !application_->on_outgoing_accepted(out.stream_id, static_cast<std::size_t>(accepted))) {
      fail(NGTCP2_ERR_CALLBACK_FAILURE);
      return -1;
    }
    if (written != NGTCP2_ERR_WRITE_MORE) return written;
  }
}

// A packet led by the oldest queued datagram, one datagram per packet (other frames, e.g. ACKs, may
// share it): its size, 0 when nothing could be written (congestion: stream data waits too), -1 after
// failing the connection. A datagram that no longer fits (the path shrank) is dropped: it is unreliable.
ngtcp2_ssize QuicTransport::write_datagram_packet(std::uint8_t* dest, std::size_t capacity, std::uint64_t now) {
  ngtcp2_path_storage storage;
  ngtcp2_path_storage_zero(&storage);
  ngtcp2_pkt_info info{};
  while (!datagrams_.empty()) {
    std::vector<std::uint8_t>& datagram = datagrams_.front();
    ngtcp2_vec vec{datagram.data(), datagram.size()};
    int accepted = 0;
    ngtcp2_ssize written = ngtcp2_conn_writev_datagram(conn_.get(), &storage.path, &info, dest, capacity, &accepted,
                                                       NGTCP2_WRITE_DATAGRAM_FLAG_NONE, 0, &vec, 1, now);
    if (written == NGTCP2_ERR_INVALID_ARGUMENT || written == NGTCP2_ERR_INVALID_STATE ||
        (written == 0 && datagram.size() > max_datagram_payload())) {
      datagrams_.pop_front();  // over the peer's limit, or no longer fits the path: dropped
      continue;
    }
    if (written < 0) {
      fail(static_cast<int>(written));
      return -1;
    }
    if (accepted != 0) datagrams_.pop_front();
    return written;
  }
  return 0;
}

// Sends the first `bytes` of the send scratch buffer (packets of `segment` bytes). On EAGAIN keeps the unsent rest
// and resumes writing once the socket is writable; returns false then.
bool QuicTransport::flush_batch(std::size_t& bytes, std::size_t segment) {
  std::size_t sent = 0;
  std::vector<std::uint8_t>& send_buffer = scratch().send;
  std::error_code ec = socket_.send_segments({send_buffer.data(), bytes}, segment, sent);
  std::size_t unsent = bytes - sent;
  bytes = 0;
  if (refuses_handshake(ec)) {  // the ICMP error of an earlier Initial, reported to this send
    asio::post(executor_, [self = shared_from_this()] { self->finish(self->refused_error()); });
    return false;
  }
  if (ec != asio::error::would_block) return true;  // other errors lose datagrams; QUIC recovers them
  blocked_.assign(send_buffer.data() + sent, send_buffer.data() + sent + unsent);
  blocked_segment_ = segment;
  socket_.async_wait_writable([self = shared_from_this()](std::error_code wait_ec) {
    if (self->closed_ || wait_ec == asio::error::operation_aborted) return;
    std::vector<std::uint8_t> rest = std::move(self->blocked_);
    self->blocked_.clear();
    std::memcpy(scratch().send.data(), rest.data(), rest.size());
    std::size_t length = rest.size();
    if (!self->flush_batch(length, self->blocked_segment_)) return;
    self->write_packets();
    self->after_io();
  });
  return false;
}

// ---- connection refused --------------------------------------------------------------------------

// The kernel reports an ICMP port unreachable (nothing listens there) to the next call on the connected
// socket, receive or send, as ECONNREFUSED in the system category: compared as an errc condition, so it
// matches whatever category the call used. Before the handshake completed it ends the attempt at once;
// after it, ICMP errors are advisory (the idle timer decides).
bool QuicTransport::refuses_handshake(const std::error_code& ec) const noexcept {
  return ec == std::errc::connection_refused && !handshake_completed_ && !closed_;
}

Error QuicTransport::refused_error() const {
  Error error(ErrorKind::connection_refused, ErrorClass::transient,
              fmt::format("connection refused by {}:{} (nothing listens there)",
                          remote_endpoint_.address().to_string(), remote_endpoint_.port()));
  error.handshake_failure = HandshakeFailure::refused;
  return error;
}

// ---- timers and events ---------------------------------------------------------------------------

// Re-arming a timer costs a system call, and ngtcp2's expiry changes with nearly every packet. A timer
// already due no later than the new expiry is left alone: if it fires early, on_expiry finds nothing due
// and arms it again.
void QuicTransport::arm_expiry_timer() {
  std::uint64_t expiry = ngtcp2_conn_get_expiry(conn_.get());
  if (expiry == UINT64_MAX || armed_expiry_ <= expiry) return;
  armed_expiry_ = expiry;
  std::uint64_t now = util::now_ns();
  expiry_timer_.expires_after(std::chrono::nanoseconds(expiry > now ? expiry - now : 0));
  expiry_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (self->closed_ || ec == asio::error::operation_aborted) return;
    self->armed_expiry_ = UINT64_MAX;
    self->on_expiry();
  });
}

void QuicTransport::on_expiry() {
  int rv = ngtcp2_conn_handle_expiry(conn_.get(), util::now_ns());
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    Error error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                fmt::format("idle timeout: no packet from the server for {} ms",
                            config_.options.idle_timeout.count()));
    error.handshake_failure = HandshakeFailure::timeout;
    finish(std::move(error));
    return;
  }
  if (rv != 0) {
    fail(rv);
    return;
  }
  write_packets();
  after_io();
}

// Delivers the events collected during the last read or write, then re-arms the timer.
void QuicTransport::after_io() {
  deliver_events();
  if (!closed_) arm_expiry_timer();
}

// The events the last read or write collected inside ngtcp2, each delivered once (outside it).
void QuicTransport::deliver_events() {
  if (closed_) return;
  if (tls_ && tls_->take_ticket_arrival()) store_ticket();
  if (handshake_event_pending_) {
    handshake_event_pending_ = false;
    if (events_ != nullptr) events_->on_handshake_completed();
  }
  if (closed_) return;
  if (stream_credit_event_pending_) {
    stream_credit_event_pending_ = false;
    if (events_ != nullptr && handshake_completed_) events_->on_stream_credit();
  }
}

// A NewSessionTicket arrived: keep it with what 0-RTT on a later connection needs from this one.
void QuicTransport::store_ticket() {
  std::array<std::uint8_t, 256> params{};
  ngtcp2_ssize length = ngtcp2_conn_encode_0rtt_transport_params(conn_.get(), params.data(), params.size());
  std::vector<std::uint8_t> remembered;
  if (length > 0) remembered.assign(params.data(), params.data() + length);
  tls_->store_ticket(std::move(remembered));
}

// ---- closing -------------------------------------------------------------------------------------

Error QuicTransport::error_from_peer_close() const {
  const ngtcp2_ccerr* ccerr = ngtcp2_conn_get_ccerr(conn_.get());
  std::string reason = reason_text(*ccerr);
  std::string suffix = reason.empty() ? "" : fmt::format(" ({})", reason);
  if (ccerr->type == NGTCP2_CCERR_TYPE_APPLICATION) {
    std::string name = application_ != nullptr ? application_->error_name(ccerr->error_code)
                                               : fmt::format("application error 0x{:x}", ccerr->error_code);
    Error error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                fmt::format("server closed the connection with {}{}", name, suffix));
    error.h3_code = ccerr->error_code;
    error.handshake_failure = HandshakeFailure::closed;
    return error;
  }
  Error error(ErrorKind::transport_error, ErrorClass::unrecoverable,
              fmt::format("server closed the connection with {}{}",
                          transport_error_name(ccerr->error_code), suffix));
  error.transport_code = ccerr->error_code;
  // A TLS alert during the handshake: 120 is no_application_protocol (the server does not speak h3).
  bool tls_alert = ccerr->error_code >= NGTCP2_CRYPTO_ERROR && ccerr->error_code <= NGTCP2_CRYPTO_ERROR + 0xff;
  if (tls_alert && (ccerr->error_code & 0xff) == 120) {
    error.handshake_failure = HandshakeFailure::alpn;
  } else {
    error.handshake_failure = tls_alert ? HandshakeFailure::certificate : HandshakeFailure::closed;
  }
  return error;
}

Error QuicTransport::error_from_local_failure(int ngtcp2_error) const {
  if (ngtcp2_error == NGTCP2_ERR_CALLBACK_FAILURE && application_ != nullptr) {
    auto [code, message] = application_->fatal_error();
    Error error(ErrorKind::transport_error, ErrorClass::unrecoverable, std::move(message));
    error.h3_code = code;
    return error;
  }
  if (ngtcp2_error == NGTCP2_ERR_CRYPTO && tls_ != nullptr) {
    if (auto problem = tls_->certificate_problem()) {
      Error error(ErrorKind::handshake_failed, ErrorClass::unrecoverable,
                  fmt::format("certificate verification failed: {}", *problem));
      error.handshake_failure = HandshakeFailure::certificate;
      return error;
    }
  }
  Error error(ErrorKind::transport_error, ErrorClass::unrecoverable,
              fmt::format("QUIC error: {}", ngtcp2_strerror(ngtcp2_error)));
  error.handshake_failure = HandshakeFailure::transport;
  return error;
}

// A local fatal error: tell the peer with CONNECTION_CLOSE (best effort), then finish.
void QuicTransport::fail(int ngtcp2_error) {
  if (closed_) return;
  Error reason = error_from_local_failure(ngtcp2_error);
  if (ngtcp2_error == NGTCP2_ERR_CALLBACK_FAILURE && reason.h3_code) {
    ngtcp2_ccerr_set_application_error(&last_error_, *reason.h3_code, nullptr, 0);
  } else if (ngtcp2_error == NGTCP2_ERR_CRYPTO) {
    ngtcp2_ccerr_set_tls_alert(&last_error_, ngtcp2_conn_get_tls_alert(conn_.get()), nullptr, 0);
  } else {
    ngtcp2_ccerr_set_liberr(&last_error_, ngtcp2_error, nullptr, 0);
  }
  send_connection_close();
  finish(std::move(reason));
}

// Writes CONNECTION_CLOSE carrying last_error_ and sends it once, best effort (no retransmission).
void QuicTransport::send_connection_close() {
  ngtcp2_path_storage storage;
  ngtcp2_path_storage_zero(&storage);
  ngtcp2_pkt_info info{};
  std::vector<std::uint8_t>& send_buffer = scratch().send;
  ngtcp2_ssize length = ngtcp2_conn_write_connection_close(conn_.get(), &storage.path, &info, send_buffer.data(),
                                                           send_buffer.size(), &last_error_, util::now_ns());
  if (length <= 0) return;
  std::size_t bytes = static_cast<std::size_t>(length), sent = 0;
  (void)socket_.send_segments({send_buffer.data(), bytes}, bytes, sent);
}

void QuicTransport::close(std::uint64_t app_error_code, Error reason) {
  if (closed_) return;
  if (conn_ && !ngtcp2_conn_in_closing_period(conn_.get()) && !ngtcp2_conn_in_draining_period(conn_.get())) {
    ngtcp2_ccerr_set_application_error(&last_error_, app_error_code, nullptr, 0);
    send_connection_close();
  }
  finish(std::move(reason));
}

// The single way out: stop I/O, then tell the owner once. The ngtcp2_conn stays until destruction so
// the application can still read stream state while it fails its requests.
void QuicTransport::finish(Error reason) {
  if (closed_) return;
  closed_ = true;
  auto self = shared_from_this();  // the events may drop the last other reference to us
  expiry_timer_.cancel();
  socket_.close();
  TransportEvents* events = std::exchange(events_, nullptr);
  application_ = nullptr;
  if (events != nullptr) events->on_transport_closed(std::move(reason));
}

void QuicTransport::detach() noexcept {
  events_ = nullptr;
  application_ = nullptr;
  if (!closed_) {
    closed_ = true;
    expiry_timer_.cancel();
    socket_.close();
  }
}

}  // namespace quiver::quic

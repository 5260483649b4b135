#include "h3/h3_session.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "util/varint.hpp"

namespace quiver::h3 {

namespace {

bool is_request_stream(std::int64_t stream_id) {
  return (stream_id & 0x3) == 0;  // client-initiated bidirectional
}

std::string_view view(nghttp3_rcbuf* buffer) {
  nghttp3_vec vec = nghttp3_rcbuf_get_buf(buffer);
  return {reinterpret_cast<const char*>(vec.base), vec.len};
}

// nghttp3 1.8 does not check one-byte field values for control characters ("\n" passes); a CR, LF or
// NUL must never reach a caller who may copy headers into HTTP/1.1 (found by response_assembly_fuzz).
bool is_safe_field_value(std::string_view value) {
  for (unsigned char c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// nghttp3 1.8's QPACK decoder fails the connection (ERR_QPACK_HEADER_TOO_LARGE) on a string longer
// than these, as encoded on the wire. Its public API does not expose them: measured against 1.8, and
// pinned by tests/unit/h3_session_field_limit_test.cpp.
constexpr std::size_t kQpackMaxName = 256;
constexpr std::size_t kQpackMaxValue = 65536;

// RFC 9114 §4.2.2: a field counts as its name and value lengths plus 32.
constexpr std::uint64_t kFieldOverhead = 32;

nghttp3_nv to_nv(const Header& field) {
  return nghttp3_nv{reinterpret_cast<const std::uint8_t*>(field.name.data()),
                    reinterpret_cast<const std::uint8_t*>(field.value.data()), field.name.size(),
                    field.value.size(), NGHTTP3_NV_FLAG_NONE};
}

constexpr std::uint64_t kControlStreamType = 0x00;
constexpr std::uint64_t kSettingsFrame = 0x04;
constexpr std::uint64_t kSettingsEnableConnectProtocol = 0x08;
constexpr std::uint64_t kSettingsH3Datagram = 0x33;
constexpr std::size_t kMaxSniffedSettings = 16 * 1024;  // past this nghttp3 judges the frame alone

}  // namespace

// ---- the server's SETTINGS, read as they pass (see h3_session.hpp for why) -------------------------

bool ControlStreamSniffer::feed(std::span<const std::uint8_t> data) {
  if (done_) return true;
  buffer_.insert(buffer_.end(), data.begin(), data.end());
  parse();
  return done_;
}

void ControlStreamSniffer::parse() {
  auto type = util::read_varint(buffer_, 0);
  if (!type) return;
  if (type->value != kControlStreamType) {  // QPACK or another stream: not ours to read
    done_ = true;
    return;
  }
  std::size_t at = type->size;
  auto frame_type = util::read_varint(buffer_, at);
  if (!frame_type) return;
  auto length = util::read_varint(buffer_, at + frame_type->size);
  if (!length) return;
  at += frame_type->size + length->size;
  if (frame_type->value != kSettingsFrame || length->value > kMaxSniffedSettings) {
    done_ = true;  // not SETTINGS first: nghttp3 fails the connection (H3_MISSING_SETTINGS)
    return;
  }
  if (buffer_.size() - at < length->value) return;
  std::span<const std::uint8_t> payload(buffer_.data() + at, length->value);
  PeerSettings settings;
  for (std::size_t offset = 0; offset < payload.size();) {
    auto id = util::read_varint(payload, offset);
    if (!id) break;
    auto value = util::read_varint(payload, offset + id->size);
    if (!value) break;
    offset += id->size + value->size;
    if (id->value == kSettingsEnableConnectProtocol) settings.extended_connect = value->value == 1;
    if (id->value == kSettingsH3Datagram) settings.h3_datagram = value->value == 1;
  }
  settings_ = settings;
  done_ = true;
  buffer_ = {};
}

// Thin noexcept trampolines: recover the session from the connection's user data and forward.
struct H3Session::Callbacks {
  static H3Session& self(void* user_data) { return *static_cast<H3Session*>(user_data); }

  static int recv_data(nghttp3_conn*, std::int64_t stream_id, const std::uint8_t* data,
                       std::size_t length, void* user_data, void*) noexcept {
    auto& session = self(user_data);
    if (Stream* stream = session.find(stream_id); stream != nullptr && stream->refused) {
      session.transport_.extend_stream_credit(stream_id, length);  // no consumer will ever see it
      return 0;
    }
    session.events_.on_response_data(stream_id, {data, length});
    return 0;
  }
  static int deferred_consume(nghttp3_conn*, std::int64_t stream_id, std::size_t consumed,
                              void* user_data, void*) noexcept {
    self(user_data).transport_.extend_stream_credit(stream_id, consumed);
    return 0;
  }
  static int begin_headers(nghttp3_conn*, std::int64_t stream_id, void* user_data, void*) noexcept {
    if (Stream* stream = self(user_data).find(stream_id)) {
      stream->block = {};
      stream->status = 0;
      stream->section_bytes = 0;
    }
    return 0;
  }
  static int begin_trailers(nghttp3_conn*, std::int64_t stream_id, void* user_data, void*) noexcept {
    if (Stream* stream = self(user_data).find(stream_id)) {
      stream->block = {};
      stream->in_trailers = true;
      stream->section_bytes = 0;
    }
    return 0;
  }
  static int recv_field(nghttp3_conn*, std::int64_t stream_id, std::int32_t token, nghttp3_rcbuf* name,
                        nghttp3_rcbuf* value, std::uint8_t, void* user_data, void*) noexcept {
    auto& session = self(user_data);
    Stream* stream = session.find(stream_id);
    if (stream == nullptr || stream->refused) return 0;
    std::string_view text = view(value);
    std::string_view field_name = view(name);
    if (!session.admit_field(stream_id, *stream, field_name.size(), text.size())) return 0;
    if (token == NGHTTP3_QPACK_TOKEN__STATUS) {
      std::from_chars(text.data(), text.data() + text.size(), stream->status);
      return 0;
    }
    if (!field_name.empty() && field_name.front() == ':') return 0;  // nghttp3 validated pseudo-fields
    if (!is_safe_field_value(text)) return 0;  // dropped, as nghttp3 drops longer invalid values
    try {
      stream->block.add(std::string(field_name), std::string(text));
    } catch (...) {
      return NGHTTP3_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }
  static int end_headers(nghttp3_conn*, std::int64_t stream_id, int, void* user_data, void*) noexcept {
    auto& session = self(user_data);
    Stream* stream = session.find(stream_id);
    if (stream == nullptr || stream->refused || stream->status < 200) return 0;  // 1xx: keep waiting
    session.events_.on_response_headers(stream_id, stream->status, std::move(stream->block));
    return 0;
  }
  static int end_trailers(nghttp3_conn*, std::int64_t stream_id, int, void* user_data, void*) noexcept {
    auto& session = self(user_data);
    if (Stream* stream = session.find(stream_id); stream != nullptr && !stream->refused) {
      session.events_.on_response_trailers(stream_id, std::move(stream->block));
    }
    return 0;
  }
  static int end_stream(nghttp3_conn*, std::int64_t stream_id, void* user_data, void*) noexcept {
    auto& session = self(user_data);
    if (!session.is_refused(stream_id)) session.events_.on_response_end(stream_id);
    return 0;
  }
  // nghttp3 asks us to send STOP_SENDING / RESET_STREAM (e.g. after a malformed message). A refused
  // stream is reset both ways with H3_EXCESSIVE_LOAD already.
  static int stop_sending(nghttp3_conn*, std::int64_t stream_id, std::uint64_t code, void* user_data,
                          void*) noexcept {
    auto& session = self(user_data);
    if (!session.is_refused(stream_id)) session.transport_.shutdown_stream_read(stream_id, code);
    return 0;
  }
  static int reset_stream(nghttp3_conn*, std::int64_t stream_id, std::uint64_t code, void* user_data,
                          void*) noexcept {
    auto& session = self(user_data);
    if (session.is_refused(stream_id)) return 0;
    session.transport_.shutdown_stream_write(stream_id, code);
    if (is_request_stream(stream_id)) session.events_.on_stream_malformed(stream_id, code);
    return 0;
  }
  static int stream_close(nghttp3_conn*, std::int64_t stream_id, std::uint64_t, void* user_data,
                          void*) noexcept {
    self(user_data).finish_stream(stream_id);
    return 0;
  }
  static int shutdown(nghttp3_conn*, std::int64_t id, void* user_data) noexcept {
    self(user_data).events_.on_goaway(id);
    return 0;
  }
  static nghttp3_ssize read_body(nghttp3_conn*, std::int64_t stream_id, nghttp3_vec* vec,
                                 std::size_t vec_count, std::uint32_t* flags, void* user_data,
                                 void*) noexcept {
    auto& session = self(user_data);
    Stream* stream = session.find(stream_id);
    if (stream == nullptr) return NGHTTP3_ERR_CALLBACK_FAILURE;
    if (stream->source) return session.read_streamed_body(stream_id, *stream, vec, vec_count, flags);
    vec[0].base = reinterpret_cast<std::uint8_t*>(stream->bytes.data()) + stream->bytes_offset;
    vec[0].len = stream->bytes.size() - stream->bytes_offset;
    stream->bytes_offset = stream->bytes.size();
    *flags |= NGHTTP3_DATA_FLAG_EOF;
    return 1;
  }
  static int acked_stream_data(nghttp3_conn*, std::int64_t stream_id, std::uint64_t length,
                               void* user_data, void*) noexcept {
    auto& session = self(user_data);
    if (Stream* stream = session.find(stream_id); stream != nullptr && stream->source) {
      session.release_acked(*stream, length);
      session.request_pull(stream_id, *stream);
    }
    return 0;
  }

  static int recv_settings(nghttp3_conn*, const nghttp3_settings* settings, void* user_data) noexcept {
    auto& session = self(user_data);
    session.nghttp3_settings_seen_ = true;
    session.peer_h3_datagram_ = settings->h3_datagram != 0;
    return 0;
  }

  static nghttp3_callbacks table() {
    nghttp3_callbacks cb{};
    cb.recv_settings = recv_settings;
    cb.acked_stream_data = acked_stream_data;
    cb.recv_data = recv_data;
    cb.deferred_consume = deferred_consume;
    cb.begin_headers = begin_headers;
    cb.recv_header = recv_field;
    cb.end_headers = end_headers;
    cb.begin_trailers = begin_trailers;
    cb.recv_trailer = recv_field;
    cb.end_trailers = end_trailers;
    cb.end_stream = end_stream;
    cb.stop_sending = stop_sending;
    cb.reset_stream = reset_stream;
    cb.shutdown = shutdown;
    cb.stream_close = stream_close;
    return cb;
  }
};

SessionOptions session_options(const ConnectionOptions& options) {
  return SessionOptions{.qpack_table_capacity = options.qpack_table_capacity,
                        .qpack_blocked_streams = options.qpack_blocked_streams,
                        .max_response_header_bytes = options.max_response_header_bytes,
                        .send_buffer = options.send_buffer,
                        .h3_datagram = options.http_datagrams};
}

H3Session::H3Session(quic::StreamTransport& transport, SessionEvents& events,
                     const SessionOptions& options)
    : transport_(transport), events_(events), options_(options) {}

H3Session::~H3Session() = default;

Result<void> H3Session::start() {
  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  settings.qpack_max_dtable_capacity = options_.qpack_table_capacity;
  settings.qpack_blocked_streams = options_.qpack_blocked_streams;
  // nghttp3 1.8 only advertises this; admit_field enforces it.
  settings.max_field_section_size = std::min(options_.max_response_header_bytes, util::kMaxVarint);
  settings.h3_datagram = options_.h3_datagram ? 1 : 0;
  nghttp3_callbacks callbacks = Callbacks::table();
  nghttp3_conn* raw = nullptr;
  if (int rv = nghttp3_conn_client_new(&raw, &callbacks, &settings, nghttp3_mem_default(), this); rv != 0) {
    return std::unexpected(Error(ErrorKind::transport_error,
                                 fmt::format("HTTP/3 set-up: {}", nghttp3_strerror(rv))));
  }
  conn_.reset(raw);
  return {};
}

// Inside ngtcp2's handshake callback (nghttp3 is not on the stack): ngtcp2 dropped every stream we
// opened for 0-RTT, so their state goes too and a new nghttp3 connection takes the server's streams.
bool H3Session::on_early_data_rejected() {
  streams_.clear();
  close_codes_.clear();
  refused_.clear();
  outgoing_chunks_.clear();
  sniffers_.clear();
  sniffing_ = true;
  sniffed_.reset();
  nghttp3_settings_seen_ = false;
  peer_settings_.reset();
  conn_.reset();
  if (auto started = start(); !started) {
    record_failure(NGHTTP3_ERR_NOMEM, "restart after rejected early data");
    return false;
  }
  events_.on_early_data_rejected();
  return true;
}

Result<void> H3Session::open_control_streams() {
  nghttp3_conn* raw = conn_.get();
  auto control = transport_.open_uni_stream();
  auto encoder = transport_.open_uni_stream();
  auto decoder = transport_.open_uni_stream();
  if (!control) return std::unexpected(control.error());
  if (!encoder) return std::unexpected(encoder.error());
  if (!decoder) return std::unexpected(decoder.error());
  if (int rv = nghttp3_conn_bind_control_stream(raw, *control); rv != 0) {
    return std::unexpected(Error(ErrorKind::transport_error,
                                 fmt::format("HTTP/3 control stream: {}", nghttp3_strerror(rv))));
  }
  if (int rv = nghttp3_conn_bind_qpack_streams(raw, *encoder, *decoder); rv != 0) {
    return std::unexpected(Error(ErrorKind::transport_error,
                                 fmt::format("HTTP/3 QPACK streams: {}", nghttp3_strerror(rv))));
  }
  return {};
}

Result<std::int64_t> H3Session::submit_request(const std::vector<Header>& fields, RequestBody body) {
  auto stream_id = transport_.open_bidi_stream();
  if (!stream_id) return stream_id;
  std::vector<nghttp3_nv> nva;
  nva.reserve(fields.size());
  for (const Header& field : fields) nva.push_back(to_nv(field));

  Stream& stream = streams_[*stream_id];
  bool has_body = !body.empty();
  if (body.kind() == RequestBody::Kind::bytes) {
    stream.bytes = std::move(body).take_bytes();
  } else if (has_body) {
    stream.source = std::make_unique<http::BodySource>(body);
  }
  nghttp3_data_reader reader{Callbacks::read_body};
  const nghttp3_data_reader* body_reader = has_body ? &reader : nullptr;
  if (int rv = nghttp3_conn_submit_request(conn_.get(), *stream_id, nva.data(), nva.size(), body_reader,
                                           nullptr);
      rv != 0) {
    streams_.erase(*stream_id);
    transport_.shutdown_stream(*stream_id, NGHTTP3_H3_REQUEST_CANCELLED);
    if (rv == NGHTTP3_ERR_CONN_CLOSING) {  // a GOAWAY arrived: nothing of this request was sent
      Error error(ErrorKind::goaway, ErrorClass::transient, "the server is going away; request not sent");
      error.unprocessed = true;
      return std::unexpected(error);
    }
    return std::unexpected(Error(ErrorKind::transport_error,
                                 fmt::format("cannot submit request: {}", nghttp3_strerror(rv))));
  }
  transport_.schedule_write();
  return stream_id;
}

// ---- streamed request bodies ---------------------------------------------------------------------

// Hands nghttp3 the chunks pulled so far; asks for more while under the send buffer. Inside a callback.
nghttp3_ssize H3Session::read_streamed_body(std::int64_t stream_id, Stream& stream, nghttp3_vec* vec,
                                            std::size_t vec_count, std::uint32_t* flags) {
  std::size_t count = 0;
  while (!stream.unsent.empty() && count < vec_count) {
    stream.unacked.push_back(std::move(stream.unsent.front()));
    stream.unsent.pop_front();
    std::string& chunk = stream.unacked.back();  // deque elements never move: the pointer stays valid
    vec[count].base = reinterpret_cast<std::uint8_t*>(chunk.data());
    vec[count].len = chunk.size();
    ++count;
  }
  if (stream.source_done && stream.unsent.empty()) {
    *flags |= NGHTTP3_DATA_FLAG_EOF;
    return static_cast<nghttp3_ssize>(count);
  }
  request_pull(stream_id, stream);
  return count > 0 ? static_cast<nghttp3_ssize>(count) : NGHTTP3_ERR_WOULDBLOCK;
}

void H3Session::request_pull(std::int64_t stream_id, Stream& stream) {
  if (stream.source_done || stream.pull_requested || stream.write_shut) return;
  if (stream.buffered >= options_.send_buffer) return;  // acknowledgements will ask again
  stream.pull_requested = true;
  events_.on_body_wanted(stream_id);
}

void H3Session::release_acked(Stream& stream, std::uint64_t length) {
  stream.acked_in_front += length;
  while (!stream.unacked.empty() && stream.acked_in_front >= stream.unacked.front().size()) {
    std::size_t size = stream.unacked.front().size();
    stream.acked_in_front -= size;
    stream.buffered -= size;
    stream.unacked.pop_front();
  }
}

Result<H3Session::BodyPull> H3Session::pull_body(std::int64_t stream_id, RequestBody::ChunkCallback deliver_later) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || !stream->source || stream->write_shut) return BodyPull{};
  if (stream->source->asynchronous()) {
    // pull_requested stays set until the answer is accepted: nghttp3 asking again does not re-ask.
    stream->source->request_next(std::move(deliver_later));
    return BodyPull{.retry_after = std::nullopt, .awaiting_producer = true};
  }
  constexpr std::size_t kChunk = 64 * 1024;
  auto chunk = stream->source->next(std::min<std::size_t>(kChunk, std::max<std::uint64_t>(options_.send_buffer, 1)));
  if (chunk && *chunk && (*chunk)->empty()) return BodyPull{.retry_after = stream->source->nothing_yet_pause()};
  auto accepted = accept_body_chunk(stream_id, std::move(chunk));
  if (!accepted) return std::unexpected(accepted.error());
  return BodyPull{};
}

Result<void> H3Session::accept_body_chunk(std::int64_t stream_id, Result<std::optional<std::string>> chunk) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || !stream->source || stream->write_shut) return {};
  stream->pull_requested = false;
  if (!chunk) return std::unexpected(chunk.error());
  if (!*chunk) {
    stream->source_done = true;
  } else if (!(*chunk)->empty()) {
    stream->buffered += (*chunk)->size();
    stream->unsent.push_back(std::move(**chunk));
  }
  nghttp3_conn_resume_stream(conn_.get(), stream_id);
  transport_.schedule_write();
  return {};
}

void H3Session::submit_goaway() {
  if (conn_) nghttp3_conn_shutdown(conn_.get());
  transport_.schedule_write();
}

void H3Session::consume(std::int64_t stream_id, std::size_t bytes) {
  transport_.extend_stream_credit(stream_id, bytes);
}

void H3Session::reset_stream(std::int64_t stream_id, std::uint64_t h3_code) {
  if (Stream* stream = find(stream_id)) stream->write_shut = true;
  if (conn_) nghttp3_conn_shutdown_stream_read(conn_.get(), stream_id);
  transport_.shutdown_stream(stream_id, h3_code);
}

bool H3Session::uploading(std::int64_t stream_id) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || stream->write_shut) return false;
  if (stream->source) return !stream->source_done || !stream->unsent.empty();
  return stream->bytes_offset < stream->bytes.size();
}

H3Session::Stream* H3Session::find(std::int64_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : &it->second;
}

bool H3Session::is_refused(std::int64_t stream_id) {
  Stream* stream = find(stream_id);
  return stream != nullptr && stream->refused;
}

// ---- response header size limit (RFC 9114 §4.2.2) --------------------------------------------------

// Counts one received field into its section; false once the section is over the limit, which refuses
// the stream. Inside an nghttp3 callback: the reset waits for reset_refused_streams.
bool H3Session::admit_field(std::int64_t stream_id, Stream& stream, std::size_t name_size,
                            std::size_t value_size) {
  stream.section_bytes += name_size + value_size + kFieldOverhead;
  if (stream.section_bytes <= options_.max_response_header_bytes) return true;
  stream.refused = true;
  stream.block = {};
  refused_.push_back(stream_id);
  events_.on_header_section_too_large(stream_id, stream.in_trailers, stream.section_bytes);
  return false;
}

// STOP_SENDING and RESET_STREAM with H3_EXCESSIVE_LOAD; nghttp3 stops decoding the stream (and cancels
// it on the QPACK decoder stream). A stream nghttp3 has finished meanwhile is already gone.
void H3Session::reset_refused_streams() {
  for (std::int64_t stream_id : std::exchange(refused_, {})) {
    if (find(stream_id) != nullptr) reset_stream(stream_id, NGHTTP3_H3_EXCESSIVE_LOAD);
  }
}

bool H3Session::record_failure(int nghttp3_error, std::string where) {
  fatal_code_ = nghttp3_err_infer_quic_app_error_code(nghttp3_error);
  fatal_text_ = fmt::format("{}: {}", where, nghttp3_strerror(nghttp3_error));
  if (nghttp3_error == NGHTTP3_ERR_QPACK_HEADER_TOO_LARGE) {
    // The decoder refuses the field before any callback sees it, and is unusable afterwards.
    fatal_text_ += fmt::format(
        " (a response field name over {} bytes or value over {} bytes as sent, more than nghttp3's QPACK "
        "decoder accepts; the limit of max_response_header_bytes is separate)",
        kQpackMaxName, kQpackMaxValue);
  }
  return false;
}

std::pair<std::uint64_t, std::string> H3Session::fatal_error() const {
  return {fatal_code_, fmt::format("HTTP/3 connection error {}: {}", h3_error_name(fatal_code_), fatal_text_)};
}

// ---- quic::StreamApplication ---------------------------------------------------------------------

// Header blocks of any request stream may be decoded here, not only `stream_id`'s: bytes on the QPACK
// encoder stream unblock them.
bool H3Session::on_stream_data(std::int64_t stream_id, std::span<const std::uint8_t> data, bool fin) {
  if (sniffing_ && (stream_id & 0x3) == 0x3) sniff(stream_id, data);
  nghttp3_ssize consumed = nghttp3_conn_read_stream(conn_.get(), stream_id, data.data(), data.size(), fin);
  if (consumed < 0) {
    return record_failure(static_cast<int>(consumed), fmt::format("reading stream {}", stream_id));
  }
  transport_.extend_stream_credit(stream_id, static_cast<std::uint64_t>(consumed));
  reset_refused_streams();
  report_peer_settings();
  return true;
}

// A server-initiated unidirectional stream's bytes, until the control stream's SETTINGS are read.
void H3Session::sniff(std::int64_t stream_id, std::span<const std::uint8_t> data) {
  ControlStreamSniffer& sniffer = sniffers_[stream_id];
  if (!sniffer.feed(data)) return;
  if (sniffer.settings()) {
    sniffed_ = sniffer.settings();
    sniffing_ = false;
    sniffers_.clear();
    return;
  }
  sniffers_.erase(stream_id);
}

// Once nghttp3 has taken the SETTINGS frame (the sniffer read the same bytes first), the worker hears
// what the server enabled, once.
void H3Session::report_peer_settings() {
  if (peer_settings_ || !nghttp3_settings_seen_) return;
  PeerSettings settings;
  settings.h3_datagram = options_.h3_datagram && peer_h3_datagram_;
  settings.extended_connect = sniffed_ && sniffed_->extended_connect;
  peer_settings_ = settings;
  events_.on_peer_settings(settings);
}

// ---- HTTP datagrams (RFC 9297) ---------------------------------------------------------------------

std::size_t H3Session::max_datagram_size(std::int64_t stream_id) const noexcept {
  if (!peer_settings_ || !peer_settings_->h3_datagram) return 0;
  std::size_t quic_payload = transport_.max_datagram_payload();
  std::uint8_t prefix[util::kMaxVarintSize];
  std::size_t prefix_size = util::write_varint(static_cast<std::uint64_t>(stream_id) / 4, prefix);
  return quic_payload > prefix_size ? quic_payload - prefix_size : 0;
}

Result<void> H3Session::send_datagram(std::int64_t stream_id, std::span<const std::uint8_t> payload) {
  if (!peer_settings_ || !peer_settings_->h3_datagram || transport_.max_datagram_payload() == 0) {
    return std::unexpected(Error(ErrorKind::datagrams_disabled,
                                 "HTTP datagrams are not enabled on this connection (the server did not offer "
                                 "SETTINGS_H3_DATAGRAM and QUIC DATAGRAM frames, or we did not)"));
  }
  std::size_t limit = max_datagram_size(stream_id);
  if (payload.size() > limit) {
    return std::unexpected(Error(ErrorKind::datagram_too_large,
                                 fmt::format("datagram of {} bytes is over the {} bytes one may carry now",
                                             payload.size(), limit)));
  }
  std::uint8_t prefix[util::kMaxVarintSize];
  std::size_t prefix_size = util::write_varint(static_cast<std::uint64_t>(stream_id) / 4, prefix);
  if (!transport_.queue_datagram({prefix, prefix_size}, payload)) {
    return std::unexpected(Error(ErrorKind::congestion_limited,
                                 "too many datagrams wait for the congestion controller; this one was not sent"));
  }
  return {};
}

// Inside ngtcp2. RFC 9297 §2.1: a malformed quarter stream id is a connection error (H3_DATAGRAM_ERROR);
// a datagram for a stream we do not know is the worker's to drop.
bool H3Session::on_datagram(std::span<const std::uint8_t> datagram) {
  auto quarter = util::read_varint(datagram, 0);
  if (!quarter || quarter->value > (util::kMaxVarint >> 2)) {
    fatal_code_ = h3_code::datagram_error;
    fatal_text_ = "an HTTP datagram without a valid quarter stream id";
    return false;
  }
  events_.on_datagram(static_cast<std::int64_t>(quarter->value * 4), datagram.subspan(quarter->size));
  return true;
}

bool H3Session::on_stream_data_acked(std::int64_t stream_id, std::uint64_t length) {
  int rv = nghttp3_conn_add_ack_offset(conn_.get(), stream_id, length);
  return rv == 0 || record_failure(rv, "acknowledging stream data");
}

// QUIC is done with the stream, but nghttp3 may not be: headers blocked on QPACK encoder instructions
// are still delivered after the stream's bytes have all arrived. So the request ends when nghttp3 closes
// the stream (its stream_close callback), not here; a stream nghttp3 never knew ends now.
bool H3Session::on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t> app_error_code) {
  if (is_request_stream(stream_id)) close_codes_[stream_id] = app_error_code;
  int rv = nghttp3_conn_close_stream(conn_.get(), stream_id, app_error_code.value_or(NGHTTP3_H3_NO_ERROR));
  if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
    finish_stream(stream_id);
    return true;
  }
  return rv == 0 || record_failure(rv, "closing stream");
}

void H3Session::finish_stream(std::int64_t stream_id) {
  if (!is_request_stream(stream_id)) return;
  std::optional<std::uint64_t> code;
  if (auto it = close_codes_.find(stream_id); it != close_codes_.end()) {
    code = it->second;
    close_codes_.erase(it);
  }
  streams_.erase(stream_id);
  events_.on_stream_closed(stream_id, code);
}

bool H3Session::on_stream_reset(std::int64_t stream_id, std::uint64_t app_error_code) {
  int rv = nghttp3_conn_shutdown_stream_read(conn_.get(), stream_id);
  if (rv != 0) return record_failure(rv, "shutting down a reset stream");
  if (is_request_stream(stream_id)) events_.on_stream_reset(stream_id, app_error_code);
  return true;
}

// The peer will not read more of our request (ngtcp2 answers with RESET_STREAM). Its response may still
// come, so the read side stays open; the upload just stops.
bool H3Session::on_stream_stop_sending(std::int64_t stream_id, std::uint64_t app_error_code) {
  if (Stream* stream = find(stream_id)) stream->write_shut = true;
  if (is_request_stream(stream_id)) events_.on_stream_stop_sending(stream_id, app_error_code);
  return true;
}

bool H3Session::on_stream_send_credit(std::int64_t stream_id) {
  int rv = nghttp3_conn_unblock_stream(conn_.get(), stream_id);
  return rv == 0 || record_failure(rv, "unblocking stream");
}

bool H3Session::next_outgoing(quic::OutgoingData& out) {
  if (!conn_) return true;
  outgoing_chunks_.resize(16);
  int fin = 0;
  static_assert(sizeof(nghttp3_vec) == sizeof(ngtcp2_vec));
  nghttp3_ssize count = nghttp3_conn_writev_stream(
      conn_.get(), &out.stream_id, &fin, reinterpret_cast<nghttp3_vec*>(outgoing_chunks_.data()),
      outgoing_chunks_.size());
  if (count < 0) return record_failure(static_cast<int>(count), "writing stream");
  out.fin = fin != 0;
  out.chunks = {outgoing_chunks_.data(), static_cast<std::size_t>(count)};
  return true;
}

bool H3Session::on_outgoing_accepted(std::int64_t stream_id, std::size_t bytes) {
  if (stream_id < 0) return true;
  int rv = nghttp3_conn_add_write_offset(conn_.get(), stream_id, bytes);
  return rv == 0 || record_failure(rv, "recording written bytes");
}

void H3Session::on_stream_blocked(std::int64_t stream_id) {
  nghttp3_conn_block_stream(conn_.get(), stream_id);
}

void H3Session::on_stream_write_shut(std::int64_t stream_id) {
  if (Stream* stream = find(stream_id)) stream->write_shut = true;
  nghttp3_conn_shutdown_stream_write(conn_.get(), stream_id);
}

}  // namespace quiver::h3

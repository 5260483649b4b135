#include "h2/h2_session.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>

#include <fmt/format.h>

namespace quiver::h2 {

namespace {

// RFC 9113 §6.5.2 (as RFC 9110 counts): a field is its name and value lengths plus 32.
constexpr std::uint64_t kFieldOverhead = 32;
constexpr std::uint32_t kMaxWindow = (1u << 31) - 1;  // RFC 9113 §6.9.1

// Larger DATA frames than the 16 KB default cost a server that honours it fewer frames (and writes) per MB.
constexpr std::uint32_t kMaxFrameBytes = 256 * 1024;

std::uint32_t window(std::uint64_t bytes) { return static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes, kMaxWindow)); }

nghttp2_nv to_nv(const Header& field) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(field.name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(field.value.data())), field.name.size(),
                    field.value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

// Thin noexcept trampolines: recover the session from the user data and forward.
struct H2Session::Callbacks {
  static H2Session& self(void* user_data) { return *static_cast<H2Session*>(user_data); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) noexcept {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (Stream* stream = self(user_data).find(frame->hd.stream_id)) {
      stream->block = {};
      stream->section_bytes = 0;
      stream->in_trailers = stream->final_headers_seen;
      if (!stream->in_trailers) stream->status = 0;
    }
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t name_length,
                       const std::uint8_t* value, std::size_t value_length, std::uint8_t, void* user_data) noexcept {
    auto& session = self(user_data);
    Stream* stream = session.find(frame->hd.stream_id);
    if (frame->hd.type != NGHTTP2_HEADERS || stream == nullptr || stream->refused) return 0;
    if (!session.admit_field(frame->hd.stream_id, *stream, name_length, value_length)) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets the stream
    }
    std::string_view field_name(reinterpret_cast<const char*>(name), name_length);
    std::string_view text(reinterpret_cast<const char*>(value), value_length);
    if (field_name == ":status") {
      std::from_chars(text.data(), text.data() + text.size(), stream->status);
      return 0;
    }
    if (!field_name.empty() && field_name.front() == ':') return 0;  // nghttp2 validated pseudo-fields
    try {
      stream->block.add(std::string(field_name), std::string(text));
    } catch (...) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) noexcept {
    auto& session = self(user_data);
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
          session.settings_received_ = true;
          session.events_.on_settings();
        }
        return 0;
      case NGHTTP2_GOAWAY:
        session.events_.on_goaway(frame->goaway.last_stream_id, frame->goaway.error_code);
        return 0;
      case NGHTTP2_RST_STREAM:
        session.events_.on_stream_reset(frame->hd.stream_id, frame->rst_stream.error_code);
        return 0;
      case NGHTTP2_HEADERS:
        session.on_headers_frame(frame);
        return 0;
      case NGHTTP2_DATA:
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          Stream* stream = session.find(frame->hd.stream_id);
          if (stream != nullptr && !stream->refused) session.events_.on_response_end(frame->hd.stream_id);
        }
        return 0;
      default:
        return 0;
    }
  }
  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t length, void* user_data) noexcept {
    auto& session = self(user_data);
    Stream* stream = session.find(stream_id);
    if (stream == nullptr || stream->refused) {
      session.consume(stream_id, length);  // no consumer will ever see these bytes
      return 0;
    }
    session.events_.on_response_data(stream_id, {data, length});
    return 0;
  }
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t code, void* user_data) noexcept {
    auto& session = self(user_data);
    if (session.streams_.erase(stream_id) == 0) return 0;
    session.events_.on_stream_closed(stream_id, code);
    return 0;
  }
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source*, void* user_data) noexcept {
    auto& session = self(user_data);
    Stream* stream = session.find(stream_id);
    if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return session.read_body(stream_id, *stream, buf, length, flags);
  }
  static int on_error(nghttp2_session*, int, const char* message, std::size_t length, void* user_data) noexcept {
    try {
      self(user_data).fatal_text_.assign(message, length);
    } catch (...) {
    }
    return 0;
  }

  static util::Nghttp2CallbacksPtr table() {
    nghttp2_session_callbacks* raw = nullptr;
    if (nghttp2_session_callbacks_new(&raw) != 0) return nullptr;
    util::Nghttp2CallbacksPtr callbacks(raw);
    nghttp2_session_callbacks_set_on_begin_headers_callback(raw, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(raw, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(raw, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(raw, on_stream_close);
    nghttp2_session_callbacks_set_error_callback2(raw, on_error);
    return callbacks;
  }
};

SessionOptions session_options(const ConnectionOptions& options) {
  return SessionOptions{.stream_window = window(options.stream_window),
                        .connection_window = window(options.connection_window),
                        .max_response_header_bytes = options.max_response_header_bytes,
                        .send_buffer = options.send_buffer};
}

H2Session::H2Session(SessionEvents& events, const SessionOptions& options) : events_(events), options_(options) {}

H2Session::~H2Session() = default;

Result<void> H2Session::start() {
  auto callbacks = Callbacks::table();
  nghttp2_option* raw_option = nullptr;
  if (!callbacks || nghttp2_option_new(&raw_option) != 0) return std::unexpected(failure(NGHTTP2_ERR_NOMEM, "set-up"));
  util::Nghttp2OptionPtr option(raw_option);
  // Credit goes back as the consumer reads (consume()), not as nghttp2 receives.
  nghttp2_option_set_no_auto_window_update(raw_option, 1);
  nghttp2_session* raw = nullptr;
  if (int rv = nghttp2_session_client_new2(&raw, callbacks.get(), this, raw_option); rv != 0) {
    return std::unexpected(failure(rv, "set-up"));
  }
  session_.reset(raw);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, kMaxFrameBytes},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(std::min<std::uint64_t>(options_.max_response_header_bytes,
                                                          std::numeric_limits<std::uint32_t>::max()))},
  };
  if (int rv = nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, settings, std::size(settings)); rv != 0) {
    return std::unexpected(failure(rv, "SETTINGS"));
  }
  if (int rv = nghttp2_session_set_local_window_size(raw, NGHTTP2_FLAG_NONE, 0,
                                                     static_cast<std::int32_t>(options_.connection_window));
      rv != 0) {
    return std::unexpected(failure(rv, "connection window"));
  }
  return {};
}

Result<void> H2Session::receive(std::span<const std::uint8_t> data) {
  ssize_t rv = nghttp2_session_mem_recv(session_.get(), data.data(), data.size());
  if (rv < 0) return std::unexpected(failure(static_cast<int>(rv), "receiving"));
  return {};
}

Result<std::span<const std::uint8_t>> H2Session::next_output() {
  const std::uint8_t* data = nullptr;
  ssize_t length = nghttp2_session_mem_send(session_.get(), &data);
  if (length < 0) return std::unexpected(failure(static_cast<int>(length), "sending"));
  return std::span<const std::uint8_t>(data, static_cast<std::size_t>(length));
}

bool H2Session::alive() const {
  return session_ && (nghttp2_session_want_read(session_.get()) != 0 || nghttp2_session_want_write(session_.get()) != 0);
}

std::uint32_t H2Session::max_concurrent_streams() const {
  if (!session_ || !settings_received_) return 0;
  return std::min(nghttp2_session_get_remote_settings(session_.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
                  kUnlimitedStreams);
}

// ---- requests ------------------------------------------------------------------------------------

Result<std::int32_t> H2Session::submit_request(const std::vector<Header>& fields, RequestBody body) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (const Header& field : fields) nva.push_back(to_nv(field));
  Stream stream;
  bool has_body = !body.empty();
  if (body.kind() == RequestBody::Kind::bytes) {
    stream.bytes = std::move(body).take_bytes();
  } else if (has_body) {
    stream.source = std::make_unique<http::BodySource>(body);
  }
  nghttp2_data_provider provider{};
  provider.read_callback = Callbacks::read_body;
  std::int32_t stream_id =
      nghttp2_submit_request(session_.get(), nullptr, nva.data(), nva.size(), has_body ? &provider : nullptr, nullptr);
  if (stream_id < 0) {
    if (stream_id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {  // the connection used up its stream ids
      Error error(ErrorKind::goaway, ErrorClass::transient, "no HTTP/2 stream id left on this connection; request not sent");
      error.unprocessed = true;
      return std::unexpected(error);
    }
    return std::unexpected(failure(stream_id, "submitting a request"));
  }
  streams_.emplace(stream_id, std::move(stream));
  return stream_id;
}

// Copies what is ready of the body into nghttp2's frame; asks for more while under the send buffer.
// Inside a callback.
ssize_t H2Session::read_body(std::int32_t stream_id, Stream& stream, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* flags) {
  if (!stream.source) {
    const std::size_t n = std::min(length, stream.bytes.size() - stream.bytes_offset);
    std::memcpy(buf, stream.bytes.data() + stream.bytes_offset, n);
    stream.bytes_offset += n;
    if (stream.bytes_offset == stream.bytes.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  std::size_t copied = 0;
  while (copied < length && !stream.unsent.empty()) {
    std::string& front = stream.unsent.front();
    const std::size_t n = std::min(length - copied, front.size() - stream.front_offset);
    std::memcpy(buf + copied, front.data() + stream.front_offset, n);
    copied += n;
    stream.front_offset += n;
    if (stream.front_offset == front.size()) {
      stream.unsent.pop_front();
      stream.front_offset = 0;
    }
  }
  stream.buffered -= copied;
  if (stream.source_done && stream.unsent.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(copied);
  }
  request_pull(stream_id, stream);
  if (copied > 0) return static_cast<ssize_t>(copied);
  stream.deferred = true;
  return NGHTTP2_ERR_DEFERRED;
}

void H2Session::request_pull(std::int32_t stream_id, Stream& stream) {
  if (stream.source_done || stream.pull_requested || stream.write_shut) return;
  if (stream.buffered >= options_.send_buffer) return;  // nghttp2 taking bytes will ask again
  stream.pull_requested = true;
  events_.on_body_wanted(stream_id);
}

Result<H2Session::BodyPull> H2Session::pull_body(std::int32_t stream_id, RequestBody::ChunkCallback deliver_later) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || !stream->source || stream->write_shut) return BodyPull{};
  if (stream->source->asynchronous()) {
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

Result<void> H2Session::accept_body_chunk(std::int32_t stream_id, Result<std::optional<std::string>> chunk) {
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
  if (stream->deferred) {
    stream->deferred = false;
    nghttp2_session_resume_data(session_.get(), stream_id);
  }
  return {};
}

void H2Session::submit_goaway() {
  if (!session_) return;
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_.get()),
                        NGHTTP2_NO_ERROR, nullptr, 0);
}

void H2Session::submit_ping() {
  if (session_) nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, nullptr);
}

void H2Session::consume(std::int32_t stream_id, std::size_t bytes) {
  if (!session_ || bytes == 0) return;
  // The connection's share is counted first; a stream already gone takes none (nghttp2 returns 0).
  nghttp2_session_consume(session_.get(), stream_id, bytes);
}

void H2Session::reset_stream(std::int32_t stream_id, std::uint32_t code) {
  if (Stream* stream = find(stream_id)) stream->write_shut = true;
  if (session_) nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream_id, code);
}

bool H2Session::uploading(std::int32_t stream_id) const {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second.write_shut) return false;
  const Stream& stream = it->second;
  if (stream.source) return !stream.source_done || !stream.unsent.empty();
  return stream.bytes_offset < stream.bytes.size();
}

// ---- response assembly ---------------------------------------------------------------------------

// A complete header block: the final response's headers (1xx blocks are skipped) or its trailers; with
// END_STREAM, the end of the response.
void H2Session::on_headers_frame(const nghttp2_frame* frame) {
  const std::int32_t stream_id = frame->hd.stream_id;
  Stream* stream = find(stream_id);
  if (stream == nullptr || stream->refused) return;
  if (stream->in_trailers) {
    events_.on_response_trailers(stream_id, std::move(stream->block));
  } else if (stream->status >= 200) {
    stream->final_headers_seen = true;
    events_.on_response_headers(stream_id, stream->status, std::move(stream->block));
  } else {
    return;  // 1xx: keep waiting
  }
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) events_.on_response_end(stream_id);
}

bool H2Session::admit_field(std::int32_t stream_id, Stream& stream, std::size_t name_size, std::size_t value_size) {
  stream.section_bytes += name_size + value_size + kFieldOverhead;
  if (stream.section_bytes <= options_.max_response_header_bytes) return true;
  stream.refused = true;
  stream.block = {};
  events_.on_header_section_too_large(stream_id, stream.in_trailers, stream.section_bytes);
  return false;
}

H2Session::Stream* H2Session::find(std::int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : &it->second;
}

Error H2Session::failure(int nghttp2_error, const std::string& where) {
  std::string text = fmt::format("HTTP/2 {}: {}", where, nghttp2_strerror(nghttp2_error));
  if (!fatal_text_.empty()) text += fmt::format(" ({})", fatal_text_);
  return Error(ErrorKind::transport_error, ErrorClass::unrecoverable, std::move(text));
}

}  // namespace quiver::h2

// H2Session, part 1: set-up, the event loop, closing and GOAWAY, the nghttp2 callbacks and the
// ConnectionControl the hooks get. Plans are carried out in h2_route_runner.cpp.
#include "test_server/h2_session.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <nghttp3/nghttp3.h>

namespace quiver::server {
namespace {

constexpr std::size_t kHighWater = 256 * 1024;  // ciphertext queued for the socket before nghttp2 waits
constexpr std::uint32_t kMaxWindow = (1U << 31) - 1;
// DATA frames as large as the client's SETTINGS_MAX_FRAME_SIZE allows, up to this (one frame buffer per
// connection): fewer frames per MB, and the clients' large-frame path exercised.
constexpr std::int32_t kMaxDataFrame = 64 * 1024;

// The n-th client request stream: HTTP/2 stream 2n+1, HTTP/3 stream 4n.
std::int64_t h3_id(std::int32_t h2_id) noexcept { return 4 * (static_cast<std::int64_t>(h2_id - 1) / 2); }
std::int32_t h2_id(std::int64_t h3_stream_id) noexcept { return static_cast<std::int32_t>(2 * (h3_stream_id / 4) + 1); }

}  // namespace

std::uint32_t h2_code(std::uint64_t h3_code) noexcept {
  switch (h3_code) {
    case NGHTTP3_H3_NO_ERROR: return NGHTTP2_NO_ERROR;
    case NGHTTP3_H3_GENERAL_PROTOCOL_ERROR: return NGHTTP2_PROTOCOL_ERROR;
    case NGHTTP3_H3_INTERNAL_ERROR: return NGHTTP2_INTERNAL_ERROR;
    case NGHTTP3_H3_REQUEST_REJECTED: return NGHTTP2_REFUSED_STREAM;
    case NGHTTP3_H3_REQUEST_CANCELLED: return NGHTTP2_CANCEL;
    case NGHTTP3_H3_EXCESSIVE_LOAD: return NGHTTP2_ENHANCE_YOUR_CALM;
    case NGHTTP3_H3_CONNECT_ERROR: return NGHTTP2_CONNECT_ERROR;
    case NGHTTP3_H3_FRAME_ERROR: return NGHTTP2_FRAME_SIZE_ERROR;
    default: return h3_code <= NGHTTP2_HTTP_1_1_REQUIRED ? static_cast<std::uint32_t>(h3_code)
                                                  : static_cast<std::uint32_t>(NGHTTP2_INTERNAL_ERROR);
  }
}

std::uint64_t h3_code_of(std::uint32_t code) noexcept {
  switch (code) {
    case NGHTTP2_NO_ERROR: return NGHTTP3_H3_NO_ERROR;
    case NGHTTP2_PROTOCOL_ERROR: return NGHTTP3_H3_GENERAL_PROTOCOL_ERROR;
    case NGHTTP2_REFUSED_STREAM: return NGHTTP3_H3_REQUEST_REJECTED;
    case NGHTTP2_CANCEL: return NGHTTP3_H3_REQUEST_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM: return NGHTTP3_H3_EXCESSIVE_LOAD;
    case NGHTTP2_CONNECT_ERROR: return NGHTTP3_H3_CONNECT_ERROR;
    case NGHTTP2_FRAME_SIZE_ERROR: return NGHTTP3_H3_FRAME_ERROR;
    default: return NGHTTP3_H3_INTERNAL_ERROR;
  }
}

// ==== nghttp2 trampolines: recover the session, call one member, no exception crosses nghttp2 ===========

struct H2Trampolines {
  static H2Session& self(void* user_data) { return *static_cast<H2Session*>(user_data); }
  template <typename F>
  static int guarded(F&& f) noexcept {
    try {
      return f();
    } catch (...) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }

  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) noexcept {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    return guarded([&] { return self(user_data).on_begin_headers(frame->hd.stream_id); });
  }
  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user_data) noexcept {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // no trailers kept
    return guarded([&] {
      return self(user_data).on_header(frame->hd.stream_id, std::string(reinterpret_cast<const char*>(name), namelen),
                                       std::string(reinterpret_cast<const char*>(value), valuelen));
    });
  }
  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) noexcept {
    return guarded([&] { return self(user_data).on_frame_recv(*frame); });
  }
  static int frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data) noexcept {
    return guarded([&] { return self(user_data).on_frame_send(*frame); });
  }
  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                        std::size_t len, void* user_data) noexcept {
    return guarded([&] { return self(user_data).on_data_chunk(stream_id, {data, len}); });
  }
  static int stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                          void* user_data) noexcept {
    return guarded([&] { return self(user_data).on_stream_close(stream_id, error_code); });
  }
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source*, void* user_data) noexcept {
    try {
      return self(user_data).read_body(stream_id, buf, length, data_flags);
    } catch (...) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream only
    }
  }
  static ssize_t data_frame_length(nghttp2_session*, std::uint8_t, std::int32_t, std::int32_t connection_window,
                                   std::int32_t stream_window, std::uint32_t max_frame_size, void*) noexcept {
    const std::int32_t frame_limit = static_cast<std::int32_t>(std::min<std::uint32_t>(max_frame_size, kMaxDataFrame));
    return std::max(std::min({connection_window, stream_window, frame_limit}), 1);
  }
};

nghttp2_data_provider h2_body_provider() {
  nghttp2_data_provider provider{};
  provider.read_callback = H2Trampolines::read_body;
  return provider;
}

// ==== construction ====================================================================================

Result<std::shared_ptr<H2Session>> H2Session::create(TcpHost& host, std::shared_ptr<TcpTlsStream> stream,
                                                     const ServerOptions& options,
                                                     std::unique_ptr<ConnectionHooks> hooks, std::string alt_svc) {
  std::shared_ptr<H2Session> session(new H2Session(host, std::move(stream), options, std::move(hooks), std::move(alt_svc)));
  auto failed = [](const char* what) {
    return std::unexpected(Error(ErrorKind::io_error, fmt::format("cannot set up the HTTP/2 session: {}", what)));
  };
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&raw_callbacks) != 0) return failed("nghttp2_session_callbacks_new");
  util::Nghttp2CallbacksPtr callbacks(raw_callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(raw_callbacks, H2Trampolines::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(raw_callbacks, H2Trampolines::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(raw_callbacks, H2Trampolines::frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(raw_callbacks, H2Trampolines::frame_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw_callbacks, H2Trampolines::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(raw_callbacks, H2Trampolines::stream_close);
  nghttp2_session_callbacks_set_data_source_read_length_callback(raw_callbacks, H2Trampolines::data_frame_length);
  nghttp2_option* raw_option = nullptr;
  if (nghttp2_option_new(&raw_option) != 0) return failed("nghttp2_option_new");
  util::Nghttp2OptionPtr option(raw_option);
  nghttp2_option_set_no_auto_window_update(raw_option, 1);  // credit goes back as the routes read (consume)
  nghttp2_session* raw = nullptr;
  if (nghttp2_session_server_new2(&raw, raw_callbacks, session.get(), raw_option) != 0)
    return failed("nghttp2_session_server_new2");
  session->h2_.reset(raw);

  const auto max_streams = static_cast<std::uint32_t>(std::min<std::uint64_t>(options.max_streams, kMaxWindow));
  const auto stream_window = static_cast<std::uint32_t>(std::min<std::uint64_t>(options.stream_window, kMaxWindow));
  const std::array<nghttp2_settings_entry, 2> settings{{{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams},
                                                        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window}}};
  if (nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) != 0)
    return failed("nghttp2_submit_settings");
  const auto connection_window = static_cast<std::int32_t>(std::min<std::uint64_t>(options.connection_window, kMaxWindow));
  if (nghttp2_session_set_local_window_size(raw, NGHTTP2_FLAG_NONE, 0, connection_window) != 0)
    return failed("nghttp2_session_set_local_window_size");
  return session;
}

H2Session::H2Session(TcpHost& host, std::shared_ptr<TcpTlsStream> stream, const ServerOptions& options,
                     std::unique_ptr<ConnectionHooks> hooks, std::string alt_svc)
    : host_(host),
      stream_(std::move(stream)),
      options_(options),
      hooks_(std::move(hooks)),
      alt_svc_(std::move(alt_svc)),
      goaway_timer_(stream_->get_executor()),
      grace_timer_(stream_->get_executor()),
      idle_timer_(stream_->get_executor()) {}

H2Session::~H2Session() { stream_->detach(); }

// SETTINGS are queued: the protocol has started (the hooks' on_http3_started, e.g. a first-flight GOAWAY).
void H2Session::start() {
  stream_->start(this);
  hooks_->on_http3_started(*this);
  arm_idle_timer();
  drive();
}

// ==== event loop ======================================================================================

void H2Session::on_data(std::span<const std::uint8_t> data) {
  if (!active() || terminated_read_) return;
  auto read = nghttp2_session_mem_recv(h2(), data.data(), data.size());
  if (read < 0) {
    // A protocol error from the client: nghttp2 queued GOAWAY(PROTOCOL_ERROR) if it could.
    terminated_read_ = true;
    terminated_ = true;
  }
  arm_idle_timer();
  drive();
}

void H2Session::drive() {
  if (driving_ || !active()) return;
  driving_ = true;
  do {
    process_pending();
    while (active() && stream_->queued_bytes() < kHighWater) {
      const std::uint8_t* data = nullptr;
      auto length = nghttp2_session_mem_send(h2(), &data);
      if (length < 0) {
        stream_->close();
        break;
      }
      if (length == 0) break;
      stream_->write({data, static_cast<std::size_t>(length)});
    }
  } while (active() && has_pending());
  driving_ = false;
  flush_access_log();  // streams nghttp2 closed while sending their last frame
  if (!active()) return;
  // Nothing left to read or write: a GOAWAY that ends the session went out, or the peer's GOAWAY
  // left no stream, or a protocol error.
  if (terminated_read_ ||
      (nghttp2_session_want_read(h2()) == 0 && nghttp2_session_want_write(h2()) == 0))
    stream_->close_after_flush();
}

bool H2Session::has_pending() const {
  return !pending_dispatch_.empty() || !pending_reset_checks_.empty() || !pending_stop_reading_.empty() ||
         !pending_resets_.empty() || pending_close_ || pending_goaway_ || pending_close_after_write_;
}

void H2Session::process_pending() {
  while (active() && has_pending()) {
    if (auto code = std::exchange(pending_goaway_, std::nullopt)) {
      idle_close_code_ = *code;
      close_after_goaway_ = true;
      goaway_timer_.cancel();  // a GOAWAY scheduled for later goes now
      final_goaway();
    }
    for (auto [id, code] : std::exchange(pending_resets_, {}))
      if (auto* stream = find_stream(id)) reset_stream(*stream, code);
    for (auto id : std::exchange(pending_dispatch_, {})) dispatch(id);
    for (auto id : std::exchange(pending_reset_checks_, {}))
      if (auto* stream = find_stream(id)) check_reset_after(*stream);
    // RFC 9113 §8.1: a complete response before the whole request; the rest is stopped with
    // RST_STREAM(NO_ERROR).
    for (auto id : std::exchange(pending_stop_reading_, {}))
      if (auto* stream = find_stream(id); stream && !stream->request_ended && !stream->reset_sent) {
        stream->reset_sent = true;
        nghttp2_submit_rst_stream(h2(), NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
      }
    if (auto code = std::exchange(pending_close_after_write_, std::nullopt)) terminate(h2_code(*code));
    if (auto code = std::exchange(pending_close_, std::nullopt)) terminate(h2_code(*code));
  }
  maybe_close_when_idle();
  flush_access_log();
}

// Outside nghttp2's calls only: the log handler is the server owner's code.
void H2Session::flush_access_log() {
  for (const auto& entry : std::exchange(pending_log_, {})) host_.log_access(entry);
}

// ==== closing and GOAWAY ==============================================================================

// GOAWAY(highest served stream, code); nghttp2 wants nothing more once it is written, so drive() closes.
void H2Session::terminate(std::uint32_t code) {
  if (terminated_) return;
  terminated_ = true;
  if (!goaway_sent_) {
    goaway_sent_ = true;
    ++host_.shared().goaways_sent;
  }
  if (nghttp2_session_terminate_session2(h2(), last_served_, code) != 0) stream_->close();
}

void H2Session::on_closed() {
  if (finished_) return;
  finished_ = true;
  goaway_timer_.cancel();
  grace_timer_.cancel();
  idle_timer_.cancel();
  for (auto& [id, stream] : streams_) {
    stream->timer.cancel();
    log_stream(*stream, NGHTTP3_H3_NO_ERROR);
  }
  flush_access_log();
  host_.session_finished(*this);
}

void H2Session::close_now() {
  if (!active()) return;
  terminate(NGHTTP2_NO_ERROR);
  drive();
  stream_->close();
}

void H2Session::shutdown_gracefully() {
  if (!active()) return;
  close_after_goaway_ = true;
  goaway_timer_.cancel();
  final_goaway();
  drive();
}

void H2Session::send_goaways(std::chrono::milliseconds final_delay) {
  if (!active() || close_after_goaway_) return;
  close_after_goaway_ = true;
  if (!notice_sent_ && !goaway_sent_) {
    notice_sent_ = true;
    if (auto rv = nghttp2_submit_shutdown_notice(h2()); rv != 0) stream_->close();
  }
  schedule_goaway(final_delay);
  drive();
}

void H2Session::close_when_idle() {
  if (close_when_idle_) return;
  close_when_idle_ = true;
  // Requests already on the wire get a moment to arrive before the connection closes when idle.
  grace_deadline_ = Clock::now() + std::chrono::milliseconds(20);
  grace_timer_.expires_at(grace_deadline_);
  grace_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->drive();
  });
}

void H2Session::maybe_close_when_idle() {
  if (!active() || !close_when_idle_ || terminated_) return;
  if (!serving_requests() && Clock::now() >= grace_deadline_) terminate(h2_code(idle_close_code_));
}

bool H2Session::serving_requests() const {
  if (!pending_dispatch_.empty()) return true;
  return std::ranges::any_of(streams_, [](const auto& entry) {
    return entry.second->role == StreamRole::served && !entry.second->refused;
  });
}

void H2Session::send_final_goaway() {
  if (goaway_sent_ || !active()) return;
  goaway_sent_ = true;
  ++host_.shared().goaways_sent;
  if (auto rv = nghttp2_submit_goaway(h2(), NGHTTP2_FLAG_NONE, last_served_, NGHTTP2_NO_ERROR, nullptr, 0); rv != 0)
    stream_->close();
}

void H2Session::final_goaway() {
  send_final_goaway();
  if (close_after_goaway_) close_when_idle();
}

void H2Session::schedule_goaway(std::chrono::milliseconds delay) {
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

// ServerOptions::idle_timeout: no request for that long closes the connection (GOAWAY(NO_ERROR)).
void H2Session::arm_idle_timer() {
  idle_timer_.expires_after(options_.idle_timeout);
  idle_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self || !self->active()) return;
    if (self->streams_.empty()) {
      self->terminate(NGHTTP2_NO_ERROR);
      self->drive();
    } else {
      self->arm_idle_timer();
    }
  });
}

H2Stream* H2Session::find_stream(std::int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void H2Session::consume(std::int32_t stream_id, std::size_t bytes) {
  if (bytes > 0) (void)nghttp2_session_consume(h2(), stream_id, bytes);
}

void H2Session::log_stream(H2Stream& stream, std::uint64_t h3_app_error_code) {
  if (stream.logged || stream.role != StreamRole::served || stream.request.method.empty()) return;
  stream.logged = true;
  AccessLogEntry entry;
  entry.method = stream.request.method;
  entry.path = stream.request.target;
  entry.status = stream.response_submitted ? stream.plan.status : 0;
  entry.bytes_sent = stream.body_bytes_sent;
  entry.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - stream.started);
  entry.app_error_code = h3_app_error_code;
  entry.protocol = "h2";
  pending_log_.push_back(std::move(entry));
}

// ==== nghttp2 callbacks ===============================================================================

// The role is fixed here, once, by the hooks (which may queue a reset for it too).
int H2Session::on_begin_headers(std::int32_t stream_id) {
  if (streams_.contains(stream_id)) return 0;
  auto stream = std::make_unique<H2Stream>(stream_id, stream_->get_executor());
  stream->request.peer = stream_->peer().address().to_string();
  stream->role = hooks_->on_request_stream_open(h3_id(stream_id), *this);
  if (stream->role == StreamRole::served) last_served_ = std::max(last_served_, stream_id);
  streams_.emplace(stream_id, std::move(stream));
  host_.shared().note_open_streams(streams_.size());
  return 0;
}

int H2Session::on_header(std::int32_t stream_id, std::string name, std::string value) {
  auto* stream = find_stream(stream_id);
  if (!stream || stream->role != StreamRole::served) return 0;
  auto& request = stream->request;
  if (name == ":method") request.method = value;
  else if (name == ":path") request.target = value;
  else if (name == ":authority") request.authority = value;
  else if (name == ":scheme") request.scheme = value;
  request.fields.push_back({std::move(name), std::move(value)});
  return 0;
}

int H2Session::on_frame_recv(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS && frame.hd.type != NGHTTP2_DATA) return 0;
  auto* stream = find_stream(frame.hd.stream_id);
  if (!stream || stream->role != StreamRole::served) return 0;
  if (frame.hd.type == NGHTTP2_HEADERS && frame.headers.cat == NGHTTP2_HCAT_REQUEST) on_end_headers(*stream);
  if ((frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    stream->request_ended = true;
    if (!stream->refused) pending_dispatch_.push_back(stream->id);  // routed after the read returns
  }
  return 0;
}

// Asks the hooks first (a refused request is never routed nor counted), then as HTTP/3 does.
void H2Session::on_end_headers(H2Stream& stream) {
  if (auto code = hooks_->on_request_headers(h3_id(stream.id), stream.request, *this)) {
    stream.refused = true;
    stream.dispatched = true;
    pending_resets_.emplace_back(stream.id, *code);
    return;
  }
  ++host_.shared().requests_started;
  stream.traits = route_traits(stream.request.target);
  if (stream.traits.before_body) {
    plan(stream);  // now: the body that follows in this same read may be the route's (an upload)
    pending_dispatch_.push_back(stream.id);
  }
}

int H2Session::on_frame_send(const nghttp2_frame& frame) {
  auto* stream = find_stream(frame.hd.stream_id);
  if (!stream || (frame.hd.type != NGHTTP2_HEADERS && frame.hd.type != NGHTTP2_DATA)) return 0;
  if (frame.hd.type == NGHTTP2_DATA) stream->body_bytes_written += frame.hd.length;
  if (stream->plan.reset) pending_reset_checks_.push_back(stream->id);
  if ((frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    stream->response_ended = true;
    if (stream->plan.stop_reading && !stream->request_ended) pending_stop_reading_.push_back(stream->id);
  }
  return 0;
}

int H2Session::on_data_chunk(std::int32_t stream_id, std::span<const std::uint8_t> data) {
  auto* stream = find_stream(stream_id);
  if (!stream || stream->role != StreamRole::served || stream->refused) {
    // Not answered: only connection credit goes back, so it cannot starve the others.
    (void)nghttp2_session_consume_connection(h2(), data.size());
    return 0;
  }
  if (stream->plan.upload) {  // /slow-upload: credit goes back on the upload ticks
    stream->plan.upload->sink->write(data);
    stream->upload_unread += data.size();
    return 0;
  }
  if (stream->traits.wants_body) stream->request.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  consume(stream_id, data.size());
  return 0;
}

int H2Session::on_stream_close(std::int32_t stream_id, std::uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  auto& stream = *it->second;
  // An upload cut short: its unread bytes still count against the connection window.
  if (stream.upload_unread > 0) (void)nghttp2_session_consume_connection(h2(), stream.upload_unread);
  log_stream(stream, h3_code_of(error_code));
  streams_.erase(it);
  hooks_->on_request_stream_closed(h3_id(stream_id), *this);
  return 0;
}

// ==== ConnectionControl ===============================================================================

void H2Session::reset_request_stream(std::int64_t h3_stream_id, std::uint64_t code) {
  pending_resets_.emplace_back(h2_id(h3_stream_id), code);
}

}  // namespace quiver::server

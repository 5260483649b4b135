// H1Session, part 1: set-up, http-parser's trampolines, reading one request at a time, closing, and the
// ConnectionControl the hooks get. Plans are carried out in h1_route_runner.cpp.
#include "test_server/h1_session.hpp"

#include <algorithm>
#include <cctype>
#include <climits>

#include <asio/post.hpp>
#include <fmt/format.h>
#include <nghttp3/nghttp3.h>

namespace quiver::server {
namespace {

constexpr std::uint64_t kMaxKeptBody = std::uint64_t{64} << 20;  // a kept request body (/echo, /post, ...)
constexpr auto kGoawayGrace = std::chrono::milliseconds(20);  // requests on the wire get answered first

std::string lowercase(std::string text) {
  std::ranges::transform(text, text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string_view trimmed(std::string_view value) {
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  return value;
}

// RFC 9110 §5.6.2's tchar.
bool is_token(std::string_view text) {
  return !text.empty() && std::ranges::all_of(text, [](unsigned char c) {
    return std::isalnum(c) != 0 || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

// The methods http-parser knows (its HTTP_METHOD_MAP).
bool known_method(std::string_view method) {
#define QUIVER_METHOD_NAME(num, name, string) #string,
  static constexpr std::string_view kKnown[] = {HTTP_METHOD_MAP(QUIVER_METHOD_NAME)};
#undef QUIVER_METHOD_NAME
  return std::ranges::find(kKnown, method) != std::end(kKnown);
}

}  // namespace

// ==== http-parser trampolines: recover the session, call one member, no exception crosses the parser ====

struct H1Trampolines {
  static H1Session& self(http_parser* parser) { return *static_cast<H1Session*>(parser->data); }
  template <typename F>
  static int guarded(F&& f) noexcept {
    try {
      return f();
    } catch (...) {
      return -1;  // stops the parser (HPE_CB_*): the connection answers 400 and closes
    }
  }
  static std::string_view text(const char* at, std::size_t length) { return {at, length}; }

  static int message_begin(http_parser* p) noexcept { return guarded([&] { return self(p).on_message_begin(); }); }
  static int url(http_parser* p, const char* at, std::size_t n) noexcept {
    return guarded([&] { return self(p).on_url(text(at, n)); });
  }
  static int header_field(http_parser* p, const char* at, std::size_t n) noexcept {
    return guarded([&] { return self(p).on_header_field(text(at, n)); });
  }
  static int header_value(http_parser* p, const char* at, std::size_t n) noexcept {
    return guarded([&] { return self(p).on_header_value(text(at, n)); });
  }
  static int headers_complete(http_parser* p) noexcept {
    return guarded([&] { return self(p).on_headers_complete(); });
  }
  static int body(http_parser* p, const char* at, std::size_t n) noexcept {
    return guarded([&] { return self(p).on_body({reinterpret_cast<const std::uint8_t*>(at), n}); });
  }
  static int message_complete(http_parser* p) noexcept {
    return guarded([&] { return self(p).on_message_complete(); });
  }
};

// ==== construction ====================================================================================

std::shared_ptr<H1Session> H1Session::create(TcpHost& host, std::shared_ptr<TcpTlsStream> stream,
                                             const ServerOptions& options, std::unique_ptr<ConnectionHooks> hooks,
                                             std::string alt_svc) {
  return std::shared_ptr<H1Session>(
      new H1Session(host, std::move(stream), options, std::move(hooks), std::move(alt_svc)));
}

H1Session::H1Session(TcpHost& host, std::shared_ptr<TcpTlsStream> stream, const ServerOptions& options,
                     std::unique_ptr<ConnectionHooks> hooks, std::string alt_svc)
    : host_(host),
      stream_(std::move(stream)),
      options_(options),
      hooks_(std::move(hooks)),
      alt_svc_(std::move(alt_svc)),
      goaway_timer_(stream_->get_executor()),
      grace_timer_(stream_->get_executor()),
      idle_timer_(stream_->get_executor()) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = H1Trampolines::message_begin;
  settings_.on_url = H1Trampolines::url;
  settings_.on_header_field = H1Trampolines::header_field;
  settings_.on_header_value = H1Trampolines::header_value;
  settings_.on_headers_complete = H1Trampolines::headers_complete;
  settings_.on_body = H1Trampolines::body;
  settings_.on_message_complete = H1Trampolines::message_complete;
}

H1Session::~H1Session() { stream_->detach(); }

// There is no HTTP/1.1 "started" frame: the hooks hear of it before any request is read.
void H1Session::start() {
  stream_->start(this);
  hooks_->on_http3_started(*this);
  arm_idle_timer();
  process_pending();
}

// ==== reading =========================================================================================

void H1Session::on_data(std::span<const std::uint8_t> data) {
  if (!active() || parse_failed_) return;
  input_.append(reinterpret_cast<const char*>(data.data()), data.size());
  arm_idle_timer();
  parse_input();
}

// Parses until the input is used up or the request in progress has ended (the parser pauses there: the
// next request waits for this one's response).
void H1Session::parse_input() {
  while (active() && !parse_failed_ && !input_.empty() && !(exchange_ && exchange_->request_ended)) {
    if (!take_extension_method()) break;  // its first bytes only: wait for the rest
    const auto parsed = http_parser_execute(&parser_, &settings_, input_.data(), input_.size());
    input_.erase(0, parsed);
    const auto error = HTTP_PARSER_ERRNO(&parser_);
    if (error != HPE_OK && error != HPE_PAUSED) {
      parse_failed_ = true;
      on_parse_error();
      return;
    }
    process_pending();
    if (parsed == 0) break;
  }
  process_pending();
}

// http-parser knows a fixed list of methods; RFC 9110 §9.1 allows any token. At the start of a request an
// unknown one is swapped for "GET" before the parser sees it (framing does not depend on the method of a
// request) and given back to the route (on_headers_complete). False: the method may be incomplete yet.
bool H1Session::take_extension_method() {
  constexpr std::size_t kMaxMethod = 32;
  if (exchange_ || !extension_method_.empty()) return true;
  const auto start = input_.find_first_not_of("\r\n");  // empty lines before a request are allowed
  if (start == std::string::npos) return true;
  const auto end = input_.find(' ', start);
  const std::string_view method(input_.data() + start, (end == std::string::npos ? input_.size() : end) - start);
  if (!is_token(method) || method.size() > kMaxMethod) return true;  // the parser refuses it
  if (end == std::string::npos) return false;
  if (known_method(method)) return true;
  extension_method_ = method;
  input_.replace(start, method.size(), "GET");
  return true;
}

// Not read on while the next request waits unparsed for the response in progress, nor while a paced
// upload has bytes still to let through. (Other unparsed input is an incomplete method: more is needed.)
void H1Session::update_reading() {
  if (!active()) return;
  const bool waiting = exchange_ && exchange_->request_ended && !input_.empty();
  const bool pacing = exchange_ && exchange_->plan.upload && exchange_->upload_unread > 0;
  stream_->pause_reading(waiting || pacing);
}

// A malformed request: 400 (431 for an over-long head, 413 for a kept body over the limit) with
// `connection: close` if no response is under way, then close; nothing more is read.
void H1Session::on_parse_error() {
  const auto error = HTTP_PARSER_ERRNO(&parser_);
  const bool too_large = exchange_ && exchange_->traits.wants_body && exchange_->request.body.size() >= kMaxKeptBody;
  if (exchange_ && exchange_->head_written) {
    close_after_flush(NGHTTP3_H3_GENERAL_PROTOCOL_ERROR);
    return;
  }
  const int status = too_large ? 413 : error == HPE_HEADER_OVERFLOW ? 431 : 400;
  const std::string body = too_large ? fmt::format("request body over {} bytes\n", kMaxKeptBody)
                                     : fmt::format("malformed HTTP/1.1 request: {} ({})\n", http_errno_name(error),
                                                   http_errno_description(error));
  write(fmt::format("HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n"
                    "connection: close\r\n\r\n{}",
                    status, too_large ? "Content Too Large" : status == 431 ? "Request Header Fields Too Large" : "Bad Request",
                    body.size(), body));
  if (exchange_) {
    exchange_->head_written = true;
    exchange_->plan.status = status;
  }
  close_after_flush(NGHTTP3_H3_GENERAL_PROTOCOL_ERROR);
}

// After every read, write, timer or hook call: what was recorded, then the end of the exchange, then
// whether to read on.
void H1Session::process_pending() {
  if (!active()) return;
  if (pending_goaway_) {
    pending_goaway_.reset();
    goaway_timer_.cancel();  // a GOAWAY scheduled for later goes now
    begin_closing(std::chrono::milliseconds(0));
  }
  if (std::exchange(pending_continue_, false) && exchange_ && !exchange_->head_written)
    write("HTTP/1.1 100 Continue\r\n\r\n");
  if (auto code = std::exchange(pending_reset_, std::nullopt); code && exchange_) reset_exchange(*exchange_, *code);
  if (std::exchange(pending_dispatch_, false)) dispatch();
  if (auto code = std::exchange(pending_close_, std::nullopt)) close_after_flush(*code);
  finish_exchange_if_done();
  update_reading();
}

void H1Session::on_writable() {
  if (exchange_ && exchange_->head_written && !exchange_->response_ended) write_body(*exchange_);
  process_pending();
}

// Both halves of the exchange are over: log it, then the next request (or close, as announced).
void H1Session::finish_exchange_if_done() {
  if (!active() || !exchange_) return;
  auto& exchange = *exchange_;
  if (exchange.role != StreamRole::served || exchange.refused) {
    if (closing_) close_after_flush(NGHTTP3_H3_NO_ERROR);  // no answer is coming: nothing to wait for
    return;
  }
  if (!exchange.response_ended) return;
  const bool closes = exchange.close_delimited || closing_ || !keep_alive_ ||
                      (exchange.plan.stop_reading && !exchange.request_ended);
  if (!exchange.request_ended && !closes) return;  // the rest of the upload is read (and dropped) first
  log_exchange(exchange, NGHTTP3_H3_NO_ERROR);
  if (closes) {
    close_after_flush(NGHTTP3_H3_NO_ERROR);  // a lingering close drops what the client still sends
    return;
  }
  next_exchange();
}

void H1Session::next_exchange() {
  const auto id = exchange_->h3_id();
  exchange_.reset();
  hooks_->on_request_stream_closed(id, *this);
  http_parser_pause(&parser_, 0);
  arm_idle_timer();
  // Posted: the exchange may have ended deep inside a call chain that began with parse_input.
  asio::post(stream_->get_executor(), [weak = weak_from_this()] {
    if (auto self = weak.lock(); self && self->active()) self->parse_input();
  });
}

// ==== closing =========================================================================================

// HTTP/1.1's final GOAWAY: no request after the one in progress (whose response says `connection: close`
// if its head is not out yet); close once none is in progress, `grace` after now at the earliest.
void H1Session::begin_closing(std::chrono::milliseconds grace) {
  if (closing_ || !active()) return;
  closing_ = true;
  ++host_.shared().goaways_sent;
  if (exchange_) {
    finish_exchange_if_done();  // a held or refused request is not waited for
    return;
  }
  if (grace.count() == 0) {
    close_after_flush(NGHTTP3_H3_NO_ERROR);
    return;
  }
  grace_timer_.expires_after(grace);
  grace_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock(); self && self->active() && !self->exchange_) self->close_after_flush(NGHTTP3_H3_NO_ERROR);
  });
}

// Sends what is queued, then closes; the exchange in progress (if any) is logged with `h3_code`.
void H1Session::close_after_flush(std::uint64_t h3_code) {
  if (exchange_) log_exchange(*exchange_, h3_code);
  closing_connection_ = true;
  stream_->close_after_flush();
}

void H1Session::on_closed() {
  if (finished_) return;
  finished_ = true;
  goaway_timer_.cancel();
  grace_timer_.cancel();
  idle_timer_.cancel();
  if (exchange_) {
    exchange_->timer.cancel();
    log_exchange(*exchange_, NGHTTP3_H3_REQUEST_CANCELLED);  // cut short (unless logged already)
    hooks_->on_request_stream_closed(exchange_->h3_id(), *this);
  }
  host_.session_finished(*this);
}

void H1Session::close_now() {
  if (!finished_) stream_->close();
}

void H1Session::shutdown_gracefully() {
  goaway_timer_.cancel();
  begin_closing(kGoawayGrace);
}

// No shutdown notice in HTTP/1.1: the final step comes `final_delay` later, as over HTTP/2.
void H1Session::send_goaways(std::chrono::milliseconds final_delay) {
  if (!active() || closing_) return;
  if (final_delay.count() == 0) {
    begin_closing(kGoawayGrace);
    return;
  }
  goaway_timer_.expires_after(final_delay);
  goaway_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock(); self && self->active()) self->begin_closing(kGoawayGrace);
  });
}

// ServerOptions::idle_timeout: no request for that long closes the connection.
void H1Session::arm_idle_timer() {
  idle_timer_.expires_after(options_.idle_timeout);
  idle_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self || !self->active()) return;
    if (self->exchange_) {
      self->arm_idle_timer();
    } else {
      self->close_after_flush(NGHTTP3_H3_NO_ERROR);
    }
  });
}

void H1Session::log_exchange(H1Exchange& exchange, std::uint64_t h3_app_error_code) {
  if (exchange.logged || exchange.role != StreamRole::served || exchange.request.method.empty()) return;
  exchange.logged = true;
  AccessLogEntry entry;
  entry.method = exchange.request.method;
  entry.path = exchange.request.target;
  entry.status = exchange.head_written ? exchange.plan.status : 0;
  entry.bytes_sent = exchange.body_bytes_sent;
  entry.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - exchange.started);
  entry.app_error_code = h3_app_error_code;
  entry.protocol = "http/1.1";
  host_.log_access(entry);
}

// ==== http-parser callbacks ===========================================================================

// The role is fixed here, once, by the hooks (which may queue a reset for it too).
int H1Session::on_message_begin() {
  exchange_ = std::make_unique<H1Exchange>(requests_seen_++, stream_->get_executor());
  exchange_->request.peer = stream_->peer().address().to_string();
  exchange_->request.scheme = "https";
  exchange_->role = hooks_->on_request_stream_open(exchange_->h3_id(), *this);
  field_name_.clear();
  field_value_.clear();
  in_value_ = false;
  host_.shared().note_open_streams(1);
  return 0;
}

int H1Session::on_url(std::string_view piece) {
  exchange_->request.target.append(piece);
  return 0;
}

// A field arrives in pieces; it is complete when the next name starts or the head ends.
int H1Session::on_header_field(std::string_view piece) {
  if (in_value_) add_field();
  in_value_ = false;
  field_name_.append(piece);
  return 0;
}

int H1Session::on_header_value(std::string_view piece) {
  in_value_ = true;
  field_value_.append(piece);
  return 0;
}

// Fields as HTTP/2 and HTTP/3 carry them: lowercase names; Host becomes the authority. Trailers (fields
// after the head) are dropped.
void H1Session::add_field() {
  auto name = lowercase(std::exchange(field_name_, {}));
  auto value = std::string(trimmed(field_value_));
  field_value_.clear();
  in_value_ = false;
  if (!exchange_ || exchange_->headers_in || exchange_->role != StreamRole::served) return;
  auto& request = exchange_->request;
  if (name == "host") {
    request.authority = std::move(value);
    return;
  }
  if (name == "expect" && lowercase(value) == "100-continue") exchange_->expects_continue = true;
  request.fields.push_back({std::move(name), std::move(value)});
}

// The head is in: asks the hooks first (a refused request is never routed nor counted), then as HTTP/2
// does. The pseudo-header fields are put in front, as an HTTP/2 request has them.
int H1Session::on_headers_complete() {
  if (in_value_) add_field();
  auto& exchange = *exchange_;
  keep_alive_ = http_should_keep_alive(&parser_) != 0 && parser_.upgrade == 0;
  exchange.headers_in = true;
  if (exchange.role != StreamRole::served) return 0;
  auto& request = exchange.request;
  request.method = extension_method_.empty() ? std::string(http_method_str(static_cast<http_method>(parser_.method)))
                                             : std::exchange(extension_method_, {});
  request.fields.insert(request.fields.begin(), {{":method", request.method},
                                                 {":scheme", request.scheme},
                                                 {":authority", request.authority},
                                                 {":path", request.target}});
  if (auto code = hooks_->on_request_headers(exchange.h3_id(), request, *this)) {
    exchange.refused = true;
    pending_reset_ = *code;
    return 0;
  }
  ++host_.shared().requests_started;
  exchange.traits = route_traits(request.target);
  const bool has_body = (parser_.flags & F_CHUNKED) != 0 || (parser_.content_length > 0 && parser_.content_length != ULLONG_MAX);
  if (exchange.expects_continue && has_body) pending_continue_ = true;
  if (exchange.traits.before_body) {
    plan(exchange);  // now: the body that follows in this same read may be the route's (an upload)
    pending_dispatch_ = true;
  }
  return 0;
}

int H1Session::on_body(std::span<const std::uint8_t> data) {
  auto& exchange = *exchange_;
  if (exchange.role != StreamRole::served || exchange.refused) return 0;
  if (exchange.plan.upload) {  // /slow-upload: reading goes on at the plan's pace (update_reading)
    exchange.plan.upload->sink->write(data);
    exchange.upload_unread += data.size();
    return 0;
  }
  if (!exchange.traits.wants_body || exchange.planned) return 0;  // dropped unbuffered
  if (exchange.request.body.size() + data.size() > kMaxKeptBody) {
    exchange.request.body.resize(kMaxKeptBody);  // on_parse_error answers 413
    return -1;
  }
  exchange.request.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  return 0;
}

// The request has ended: routed after the parser returns; the parser stops here until the response is
// done (the next request's bytes stay in input_).
int H1Session::on_message_complete() {
  field_name_.clear();
  field_value_.clear();
  in_value_ = false;
  auto& exchange = *exchange_;
  exchange.request_ended = true;
  if (exchange.role == StreamRole::served && !exchange.refused && !exchange.dispatched) pending_dispatch_ = true;
  http_parser_pause(&parser_, 1);
  return 0;
}

// ==== ConnectionControl ===============================================================================

// HTTP/1.1 cannot reset one request and keep the connection: the request in progress is closed with it.
void H1Session::reset_request_stream(std::int64_t h3_stream_id, std::uint64_t code) {
  if (exchange_ && exchange_->h3_id() == h3_stream_id && !exchange_->head_written) pending_reset_ = code;
}

}  // namespace quiver::server

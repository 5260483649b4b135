// The worker's requests: acceptance, sending in order, the single answer, and the protocol events
// that decide it.
#include <algorithm>
#include <cctype>
#include <charconv>

#include <asio/post.hpp>
#include <fmt/format.h>
#include <nghttp2/nghttp2.h>

#include "h2/connection_impl.hpp"
#include "http/request_fields.hpp"

namespace quiver::h2 {

namespace {

// A buffered body announced by content-length is allocated once instead of growing chunk by chunk.
void reserve_body(Response& response) {
  constexpr std::size_t kMaxReserve = 64u << 20;  // a lying header cannot make us allocate more up front
  auto length = response.headers.get("content-length");
  std::size_t size = 0;
  if (!length || std::from_chars(length->data(), length->data() + length->size(), size).ec != std::errc()) return;
  response.body.reserve(std::min(size, kMaxReserve));
}

// RFC 9113 §7 name of an HTTP/2 error code ("REFUSED_STREAM").
std::string h2_error_name(std::uint32_t code) {
  std::string_view name = nghttp2_http2_strerror(code);
  std::string text;
  for (char c : name) text += c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

Error cancelled_error() { return Error(ErrorKind::cancelled, ErrorClass::unrecoverable, "request cancelled by the caller"); }

template <class Handler, class Value>
void post_answer(PostedAnswers& answers, const asio::any_io_executor& executor, Handler& handler, Value value) {
  if (!handler) return;
  answers.post(executor, [handler = std::move(handler), value = std::move(value)]() mutable {
    handler(std::move(value));
  });
  handler = nullptr;
}

}  // namespace

// ---- entry points --------------------------------------------------------------------------------

void ConnectionImpl::request(Request request, ResponseHandler on_done, asio::cancellation_slot cancel) {
  accept(std::move(request), std::move(on_done), nullptr, cancel);
}

void ConnectionImpl::stream(Request request, StreamHandler on_headers, asio::cancellation_slot cancel) {
  accept(std::move(request), nullptr, std::move(on_headers), cancel);
}

// The caller's cancellation reaches the call through its slot: the handler is installed once and the slot
// never touched again (http::Connection's rule). It holds the worker weakly and finds the call by id, so
// it does nothing once the call has left (or the worker is gone). After the answer it still stops a
// running upload (abandon -> needs_reset).
void ConnectionImpl::listen_for_cancel(asio::cancellation_slot cancel, RequestId id) {
  if (!cancel.is_connected()) return;
  cancel.assign([weak = weak_from_this(), id](asio::cancellation_type type) {
    if (type == asio::cancellation_type::none) return;
    auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock());
    if (self) self->abandon(id, cancelled_error());
  });
}

// Why a new request cannot be taken now, if it cannot.
std::optional<Error> ConnectionImpl::refusal() const {
  if (state_ == ConnectionState::closed) {
    return Error(ErrorKind::transport_error, ErrorClass::transient,
                 fmt::format("connection to {} is closed", origin_.to_string()));
  }
  if (state_ == ConnectionState::draining || goaway_last_id_) {  // a GOAWAY not yet applied counts too
    Error error(ErrorKind::goaway, ErrorClass::transient,
                fmt::format("connection to {} is draining; request not sent", origin_.to_string()));
    error.unprocessed = true;
    if (goaway_last_id_) error.goaway_id = static_cast<std::uint64_t>(*goaway_last_id_);
    return error;
  }
  return std::nullopt;
}

void ConnectionImpl::accept(Request request, ResponseHandler on_response, StreamHandler on_headers,
                            asio::cancellation_slot cancel) {
  RequestId id = next_id_++;
  Call call;
  call.id = id;
  call.streaming = static_cast<bool>(on_headers);
  call.on_response = std::move(on_response);
  call.on_headers = std::move(on_headers);
  call.started = std::chrono::steady_clock::now();

  auto fields = http::build_request_fields(request);
  if (!fields) {
    fail(call, fields.error());
    return;
  }
  call.fields = std::move(*fields);
  if (auto refused = refusal()) {
    fail(call, *refused);
    if (state_ != ConnectionState::closed) {
      notify_observer([error = *refused](ConnectionObserver& o, Connection& c) { o.on_stream_open_failed(c, error); });
    }
    return;
  }
  call.reused = accepted_++ > 0;
  call.body = std::move(request.body);
  if (request.timeout) call.deadline = arm_deadline(id, *request.timeout);
  emit(call, RequestEvent::Type::start, nullptr);
  calls_.emplace(id, std::move(call));
  waiting_.push_back(id);
  listen_for_cancel(cancel, id);
  if (state_ == ConnectionState::connected) send_waiting();
}

std::unique_ptr<asio::steady_timer> ConnectionImpl::arm_deadline(RequestId id, std::chrono::milliseconds timeout) {
  auto timer = std::make_unique<asio::steady_timer>(executor_, timeout);
  timer->async_wait([weak = weak_from_this(), id, timeout](std::error_code ec) {
    auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock());
    if (ec || !self) return;
    self->abandon(id, Error(ErrorKind::request_timeout, ErrorClass::unrecoverable,
                            fmt::format("request to {} took longer than its {} ms timeout",
                                        self->origin_.to_string(), timeout.count())));
  });
  return timer;
}

// A request given up on keeps its stream only if nothing is left to do on it: the response ended and our
// upload ended too. An upload still running after a complete response is stopped as well.
bool ConnectionImpl::needs_reset(const Call& call) const {
  return call.stream_id && (!call.response_ended || session_.uploading(*call.stream_id));
}

// Gives up on one request with `error`: a waiting one is dropped; one on a stream has the stream reset
// with RST_STREAM CANCEL (the call leaves when the stream closes). Its handler, or its body reader,
// gets `error` now, and nothing after.
void ConnectionImpl::abandon(RequestId id, const Error& error) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = it->second;
  Error failed = error;
  if (call.stream_closed) {  // its failure is being judged (fail_after_batch), which also removes it
    fail(call, failed);
    return;
  }
  if (call.stream_id) {
    failed.stream_id = static_cast<std::uint64_t>(*call.stream_id);
    if (needs_reset(call)) {
      session_.reset_stream(*call.stream_id, NGHTTP2_CANCEL);
      schedule_pump();
    }
    fail(call, failed);
    return;
  }
  fail(call, failed);
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), id));
  calls_.erase(it);
}

// ---- sending -------------------------------------------------------------------------------------

// Sends waiting requests in arrival order while the peer's SETTINGS_MAX_CONCURRENT_STREAMS allows.
void ConnectionImpl::send_waiting() {
  while (!waiting_.empty() && state_ == ConnectionState::connected && !goaway_last_id_ &&
         streams_.size() < session_.max_concurrent_streams()) {
    RequestId id = waiting_.front();
    waiting_.pop_front();
    send(calls_.at(id));
  }
}

void ConnectionImpl::send(Call& call) {
  auto stream_id = session_.submit_request(call.fields, std::move(call.body));
  if (!stream_id) {
    Error error = stream_id.error();
    fail(call, error);
    calls_.erase(call.id);
    notify_observer([error](ConnectionObserver& o, Connection& c) { o.on_stream_open_failed(c, error); });
    return;
  }
  call.stream_id = *stream_id;
  streams_.emplace(*stream_id, call.id);
  schedule_pump();
}

// ---- answers -------------------------------------------------------------------------------------

// The one way a buffered request is answered; posted, so never inside a library callback.
void ConnectionImpl::answer(Call& call, Result<Response> result) {
  if (call.answered) return;
  call.answered = true;
  call.deadline.reset();
  if (result) {
    emit(call, RequestEvent::Type::stop, nullptr);
  } else {
    emit(call, RequestEvent::Type::exception, &result.error());
  }
  post_answer(*answers_, executor_, call.on_response, std::move(result));
}

// A streaming request is answered with its headers and a reader for the body that follows.
void ConnectionImpl::answer_headers(Call& call) {
  if (call.answered) return;
  call.answered = true;
  std::weak_ptr<BodyReaderOwner> owner =
      std::static_pointer_cast<BodyReaderOwner>(std::static_pointer_cast<ConnectionImpl>(shared_from_this()));
  auto reader = std::make_shared<BodyReaderImpl>(ReaderResources{executor_, body_blocks_, answers_}, owner, call.id,
                                                 *call.stream_id, options_.stream_idle_timeout);
  reader->start_idle_timer();
  call.reader = reader;
  StreamingResponse head{call.response.status, std::move(call.response.headers), std::move(reader),
                         std::move(call.response.transfer)};
  post_answer(*answers_, executor_, call.on_headers, Result<StreamingResponse>(std::move(head)));
}

// Fails a call wherever it is: its handler if not yet answered, else its body reader.
void ConnectionImpl::fail(Call& call, const Error& error) {
  if (!call.answered) {
    call.answered = true;
    call.deadline.reset();
    if (call.streaming) {
      call.body_done = true;
      post_answer(*answers_, executor_, call.on_headers, Result<StreamingResponse>(std::unexpected(error)));
    } else {
      post_answer(*answers_, executor_, call.on_response, Result<Response>(std::unexpected(error)));
    }
    if (!call.fields.empty()) emit(call, RequestEvent::Type::exception, &error);
    return;
  }
  auto reader = call.reader.lock();
  if (reader && !call.body_done) {
    if (!call.response_ended) emit(call, RequestEvent::Type::exception, &error);
    reader->fail(error);
  }
}

ConnectionImpl::Call* ConnectionImpl::call_on_stream(std::int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return nullptr;
  auto call = calls_.find(it->second);
  return call == calls_.end() ? nullptr : &call->second;
}

// ---- body reader events --------------------------------------------------------------------------

// The call may have left already (its stream closed with body bytes unread): the connection-level
// credit for those bytes is still owed, or the connection window would shrink for good.
void ConnectionImpl::on_body_consumed(std::int64_t stream_id, std::size_t bytes) {
  session_.consume(static_cast<std::int32_t>(stream_id), bytes);
  schedule_pump();  // the WINDOW_UPDATE
}

void ConnectionImpl::on_body_abandoned(RequestId id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || !it->second.stream_id) return;
  it->second.body_done = true;
  if (needs_reset(it->second)) {
    session_.reset_stream(*it->second.stream_id, NGHTTP2_CANCEL);
    schedule_pump();
  }
}

void ConnectionImpl::on_body_finished(RequestId id, const std::optional<Error>&) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  it->second.body_done = true;
  it->second.deadline.reset();
}

// ---- session events ------------------------------------------------------------------------------

void ConnectionImpl::on_response_headers(std::int32_t stream_id, int status, Headers headers) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr || call->answered) return;
  call->response.status = status;
  call->response.headers = std::move(headers);
  note_transfer(*call);
  if (!call->streaming) reserve_body(call->response);
  emit(*call, RequestEvent::Type::headers, nullptr);
  if (call->streaming) answer_headers(*call);
}

void ConnectionImpl::on_response_data(std::int32_t stream_id, std::span<const std::uint8_t> data) {
  Call* call = call_on_stream(stream_id);
  if (call != nullptr) call->bytes_received += data.size();
  if (call != nullptr && call->streaming) {
    auto reader = call->reader.lock();
    if (reader) {
      reader->push(data);  // credit returns as the consumer reads
      return;
    }
  } else if (call != nullptr && !call->answered) {
    call->response.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  session_.consume(stream_id, data.size());  // buffered (or abandoned): credit back at once
}

void ConnectionImpl::on_response_trailers(std::int32_t stream_id, Headers trailers) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr) return;
  if (auto reader = call->reader.lock()) {
    reader->set_trailers(std::move(trailers));
  } else {
    call->response.trailers = std::move(trailers);
  }
}

void ConnectionImpl::on_response_end(std::int32_t stream_id) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr) return;
  call->response_ended = true;
  if (!call->streaming) {
    call->response.transfer.instants.end = std::chrono::steady_clock::now();
    answer(*call, std::move(call->response));
    return;
  }
  emit(*call, RequestEvent::Type::stop, nullptr);
  if (auto reader = call->reader.lock()) reader->finish();
}

Error ConnectionImpl::reset_error(std::int32_t stream_id, std::uint32_t code) const {
  bool refused = code == NGHTTP2_REFUSED_STREAM;  // RFC 9113 §8.7: not processed, safe to retry
  Error error(ErrorKind::stream_reset, refused ? ErrorClass::transient : ErrorClass::unrecoverable,
              fmt::format("server reset stream {} with {}", stream_id, h2_error_name(code)));
  error.stream_id = static_cast<std::uint64_t>(stream_id);
  error.h2_code = code;
  error.unprocessed = refused;
  return error;
}

bool ConnectionImpl::refused_by_goaway(std::int32_t stream_id) const {
  return goaway_last_id_ && stream_id > *goaway_last_id_;
}

// RFC 9113 §6.8: a request on a stream above the peer's GOAWAY last-stream-id was not processed, whatever
// code its stream was then reset or the connection closed with. A request never sent when the connection
// failed was not processed either (a failed handshake keeps its own error).
// Both fail `unprocessed` (transient: safe to retry elsewhere). A request whose response started was
// processed, whatever the id.
Error ConnectionImpl::peer_failure(const Call& call, const Error& error) const {
  if (call.answered) return error;
  if (call.stream_id && refused_by_goaway(*call.stream_id)) {
    Error refused = error.restated(ErrorKind::goaway, ErrorClass::transient,
                                   fmt::format("server sent GOAWAY (last stream {}): request on stream {} not "
                                               "processed ({})",
                                               *goaway_last_id_, *call.stream_id, error.message()));
    refused.unprocessed = true;
    refused.goaway_id = static_cast<std::uint64_t>(*goaway_last_id_);
    refused.stream_id = static_cast<std::uint64_t>(*call.stream_id);
    return refused;
  }
  bool connection_failed = error.kind() == ErrorKind::transport_error || error.kind() == ErrorKind::goaway;
  if (!call.stream_id && connection_failed && !error.unprocessed) {
    Error unsent =
        error.restated(error.kind(), ErrorClass::transient, fmt::format("{}; request not sent", error.message()));
    unsent.unprocessed = true;
    return unsent;
  }
  return error;
}

// A reset (or a stream's end) is judged once the receive batch that carried it is over: the GOAWAY that
// decides it may come later in the same batch of bytes. on_goaway records the id at once, inside the
// batch; this runs after it. A call whose stream closed leaves here.
void ConnectionImpl::fail_after_batch(RequestId id, Error error) {
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this()), id,
                         error = std::move(error)] {
    auto it = self->calls_.find(id);
    if (it == self->calls_.end()) return;  // failed with the connection meanwhile (judged the same way)
    Call& call = it->second;
    self->fail(call, self->peer_failure(call, error));
    if (!call.stream_closed) return;
    self->calls_.erase(it);
    self->notify_observer([](ConnectionObserver& o, Connection& c) { o.on_stream_done(c); });
    self->close_if_drained();
  });
}

void ConnectionImpl::on_stream_reset(std::int32_t stream_id, std::uint32_t code) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr || call->response_ended) return;  // a reset after a complete response changes nothing
  fail_after_batch(call->id, reset_error(stream_id, code));
}

void ConnectionImpl::on_header_section_too_large(std::int32_t stream_id, bool trailers, std::uint64_t bytes) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr) return;
  Error error(ErrorKind::headers_too_large,
              fmt::format("the response's {} section on stream {} is at least {} bytes, over the limit of {} "
                          "(max_response_header_bytes); the stream was reset",
                          trailers ? "trailer" : "header", stream_id, bytes, options_.max_response_header_bytes));
  error.stream_id = static_cast<std::uint64_t>(stream_id);
  fail(*call, error);
}

// The stream is gone: a response that did not end fails now (nothing more can arrive), and the call
// leaves; its slot is free.
void ConnectionImpl::on_stream_closed(std::int32_t stream_id, std::uint32_t code) {
  Call* call = call_on_stream(stream_id);
  streams_.erase(stream_id);
  if (call != nullptr && !call->response_ended) {
    Error error = code == NGHTTP2_PROTOCOL_ERROR
                      ? Error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
                              fmt::format("the response on stream {} broke HTTP/2 rules (PROTOCOL_ERROR)", stream_id))
                  : code != NGHTTP2_NO_ERROR
                      ? reset_error(stream_id, code)
                      : Error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
                              fmt::format("stream {} ended before its response was complete", stream_id));
    error.stream_id = static_cast<std::uint64_t>(stream_id);
    if (code != NGHTTP2_NO_ERROR) error.h2_code = code;
    call->stream_closed = true;
    fail_after_batch(call->id, std::move(error));  // the call leaves there
  } else if (call != nullptr) {
    calls_.erase(call->id);
    notify_observer([](ConnectionObserver& o, Connection& c) { o.on_stream_done(c); });
  }
  if (!waiting_.empty()) {  // a slot is free: requests accepted beyond the credit go now (not inside nghttp2)
    asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this())] { self->send_waiting(); });
  }
  close_if_drained();
}

void ConnectionImpl::on_goaway(std::int32_t last_stream_id, std::uint32_t) {
  if (goaway_last_id_ && last_stream_id > *goaway_last_id_) {
    // RFC 9113 §6.8: the last stream id must never grow (requests may already have been retried elsewhere).
    Error error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                fmt::format("server's GOAWAY last stream id grew from {} to {} (PROTOCOL_ERROR)", *goaway_last_id_,
                            last_stream_id));
    error.h2_code = NGHTTP2_PROTOCOL_ERROR;
    asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this()), error] {
      self->finish(error);
    });
    return;
  }
  if (goaway_last_id_ && *goaway_last_id_ == last_stream_id) return;  // the same GOAWAY again changes nothing
  goaway_last_id_ = last_stream_id;
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this())] { self->apply_goaway(); });
}

// Requests on streams above the GOAWAY's last stream id were not processed: fail them (safe to retry)
// and cancel their streams (nghttp2 has usually closed them already); the ones below run to completion.
void ConnectionImpl::apply_goaway() {
  if (state_ == ConnectionState::closed || !goaway_last_id_) return;
  std::vector<RequestId> refused;
  for (auto& [stream_id, id] : streams_) {
    if (refused_by_goaway(stream_id)) refused.push_back(id);
  }
  for (RequestId id : refused) {
    Error error(ErrorKind::goaway, ErrorClass::transient,
                fmt::format("server sent GOAWAY (last stream {}): request not processed", *goaway_last_id_));
    error.goaway_id = static_cast<std::uint64_t>(*goaway_last_id_);
    error.unprocessed = true;
    abandon(id, error);
  }
  enter_draining();
}

void ConnectionImpl::on_body_wanted(std::int32_t stream_id) {
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this()), stream_id] {
    self->pull_body(stream_id);
  });
}

// Pulls the next chunk of a streamed request body (user code: never inside a library callback). A
// producer with nothing yet is asked again after a pause (a timer, so the io thread never spins); an
// asynchronous producer answers whenever it has bytes (body_chunk_delivery).
void ConnectionImpl::pull_body(std::int32_t stream_id) {
  if (state_ == ConnectionState::closed) return;
  auto pulled = session_.pull_body(stream_id, body_chunk_delivery(stream_id));
  if (!pulled) return fail_body(stream_id, pulled.error());
  schedule_pump();  // the chunk (if one was queued) goes out
  if (!pulled->retry_after) return;
  auto timer = std::make_shared<asio::steady_timer>(executor_, *pulled->retry_after);
  timer->async_wait([weak = std::weak_ptr(std::static_pointer_cast<ConnectionImpl>(shared_from_this())), timer,
                     stream_id](std::error_code) {
    if (auto self = weak.lock()) self->pull_body(stream_id);
  });
}

// An asynchronous producer's answer, from any thread: back to the executor, into the session. The
// connection may be gone by then (the answer is dropped).
RequestBody::ChunkCallback ConnectionImpl::body_chunk_delivery(std::int32_t stream_id) {
  return [weak = std::weak_ptr(std::static_pointer_cast<ConnectionImpl>(shared_from_this())), executor = executor_,
          stream_id](Result<std::optional<std::string>> chunk) {
    asio::post(executor, [weak, stream_id, chunk = std::move(chunk)]() mutable {
      auto self = weak.lock();
      if (!self || self->state_ == ConnectionState::closed) return;
      auto accepted = self->session_.accept_body_chunk(stream_id, std::move(chunk));
      if (!accepted) return self->fail_body(stream_id, accepted.error());
      self->schedule_pump();
    });
  };
}

void ConnectionImpl::fail_body(std::int32_t stream_id, const Error& error) {
  if (Call* call = call_on_stream(stream_id)) {
    Error failure = error;
    failure.stream_id = static_cast<std::uint64_t>(stream_id);
    abandon(call->id, failure);
  }
}

}  // namespace quiver::h2

// The worker's requests: acceptance, sending in order, the single answer, and the protocol events
// that decide it.
#include <algorithm>
#include <charconv>

#include <asio/post.hpp>
#include <fmt/format.h>

#include "h3/connection_impl.hpp"
#include "http/early_data.hpp"
#include "http/request_fields.hpp"

namespace quiver::h3 {

namespace {

// A buffered body announced by content-length is allocated once instead of growing chunk by chunk.
void reserve_body(Response& response) {
  constexpr std::size_t kMaxReserve = 64u << 20;  // a lying header cannot make us allocate more up front
  auto length = response.headers.get("content-length");
  std::size_t size = 0;
  if (!length || std::from_chars(length->data(), length->data() + length->size(), size).ec != std::errc()) return;
  response.body.reserve(std::min(size, kMaxReserve));
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
  if (state_ == ConnectionState::draining || goaway_id_) {  // a GOAWAY not yet applied counts too
    Error error(ErrorKind::goaway, ErrorClass::transient,
                fmt::format("connection to {} is draining; request not sent", origin_.to_string()));
    error.unprocessed = true;
    if (goaway_id_) error.goaway_id = static_cast<std::uint64_t>(*goaway_id_);
    return error;
  }
  return std::nullopt;
}

void ConnectionImpl::channel(Request request, std::shared_ptr<http::ChannelEndpoint> endpoint,
                             StreamHandler on_headers, asio::cancellation_slot cancel) {
  accept(std::move(request), nullptr, std::move(on_headers), cancel, std::move(endpoint));
}

void ConnectionImpl::accept(Request request, ResponseHandler on_response, StreamHandler on_headers,
                            asio::cancellation_slot cancel, std::shared_ptr<http::ChannelEndpoint> channel) {
  RequestId id = next_id_++;
  Call call;
  call.id = id;
  call.streaming = static_cast<bool>(on_headers);
  call.on_response = std::move(on_response);
  call.on_headers = std::move(on_headers);
  call.started = std::chrono::steady_clock::now();
  call.extended = channel && request.protocol.has_value();
  call.channel = std::move(channel);

  auto fields = call.channel ? http::build_channel_fields(request) : http::build_request_fields(request);
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
  call.early_eligible = !call.channel && http::early_data_eligible(request);
  call.body = std::move(request.body);
  call.reused = accepted_++ > 0;
  if (request.timeout) call.deadline = arm_deadline(id, *request.timeout);
  emit(call, RequestEvent::Type::start, nullptr);
  const bool early = call.early_eligible;
  calls_.emplace(id, std::move(call));
  waiting_.push_back(id);
  listen_for_cancel(cancel, id);
  if (state_ == ConnectionState::connected) {
    send_waiting();
  } else if (early_ready_ && early) {
    send_early();
  }
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
  return call.stream_id && (!call.response_ended || session_->uploading(*call.stream_id));
}

// Gives up on one request with `error`: a waiting one is dropped; one on a stream has the stream reset
// with H3_REQUEST_CANCELLED (the call leaves when the stream closes). Its handler, or its body reader,
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
    if (needs_reset(call)) session_->reset_stream(*call.stream_id, h3_code::request_cancelled);
    fail(call, failed);
    return;
  }
  fail(call, failed);
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), id));
  calls_.erase(it);
}

// ---- sending -------------------------------------------------------------------------------------

// Sends waiting requests in arrival order while the peer gives us stream credit.
void ConnectionImpl::send_waiting() {
  while (!waiting_.empty() && state_ == ConnectionState::connected && !goaway_id_ &&
         transport_->bidi_streams_left() > 0) {
    RequestId id = waiting_.front();
    if (waits_for_settings(calls_.at(id))) return;  // on_peer_settings sends it (and those behind it)
    waiting_.pop_front();
    send(calls_.at(id));
  }
}

// 0-RTT: the waiting requests that may ride in early data, in arrival order, within the stream limit
// the server gave the ticket's connection. The others wait for the handshake.
void ConnectionImpl::send_early() {
  auto eligible = [this](RequestId id) { return calls_.at(id).early_eligible; };
  while (transport_->bidi_streams_left() > 0) {
    auto it = std::ranges::find_if(waiting_, eligible);
    if (it == waiting_.end()) return;
    Call& call = calls_.at(*it);
    waiting_.erase(it);
    call.sent_early = true;
    call.early_body = call.body;  // a copy: the session takes the body, a rejection needs it again
    ++early_requests_;
    send(call);
  }
}

// Inside ngtcp2's handshake callback, after the session started afresh: the early requests were not
// processed, so they wait again in their places (ahead of later arrivals) and go out after the
// handshake, each with its body again. Only bookkeeping here; nothing is answered.
void ConnectionImpl::on_early_data_rejected() {
  control_streams_open_ = false;
  peer_settings_.reset();  // the new session hears the server's SETTINGS again
  std::vector<RequestId> resend;
  for (auto& [id, call] : calls_) {
    if (call.sent_early && call.stream_id) resend.push_back(id);
  }
  for (RequestId id : resend) {
    Call& call = calls_.at(id);
    streams_.erase(*call.stream_id);
    call.stream_id.reset();
    if (call.answered) {  // cancelled meanwhile: nothing left to send
      calls_.erase(id);
      continue;
    }
    call.body = std::move(call.early_body);
    call.early_body = RequestBody();
    waiting_.push_back(id);
  }
  std::ranges::sort(waiting_);  // ids are arrival order: each goes back to its place
}

void ConnectionImpl::send(Call& call) {
  if (auto refused = channel_refusal(call)) {  // nothing sent: RFC 9220 forbids :protocol here
    fail(call, *refused);
    calls_.erase(call.id);
    notify_observer([](ConnectionObserver& o, Connection& c) { o.on_stream_done(c); });
    return;
  }
  auto stream_id = session_->submit_request(call.fields, std::move(call.body));
  if (!stream_id) {
    Error error = stream_id.error();
    fail(call, error);
    calls_.erase(call.id);
    notify_observer([error](ConnectionObserver& o, Connection& c) { o.on_stream_open_failed(c, error); });
    return;
  }
  call.stream_id = *stream_id;
  if (streams_.empty()) transport_->set_keep_alive(true);
  streams_.emplace(*stream_id, call.id);
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
                         call.response.transfer};
  if (call.channel) {  // before the answer: datagrams may follow at once
    call.deadline.reset();  // Request::timeout bounds a channel's opening, not its life
    open_channel_endpoint(call, head.headers);
  }
  post_answer(*answers_, executor_, call.on_headers, Result<StreamingResponse>(std::move(head)));
}

// Fails a call wherever it is: its handler if not yet answered, else its body reader.
void ConnectionImpl::fail(Call& call, const Error& error) {
  if (call.channel) end_channel(call, error);
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

ConnectionImpl::Call* ConnectionImpl::call_on_stream(std::int64_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return nullptr;
  auto call = calls_.find(it->second);
  return call == calls_.end() ? nullptr : &call->second;
}

// ---- body reader events --------------------------------------------------------------------------

// The call may have left already (its stream closed with body bytes unread): the connection-level
// credit for those bytes is still owed, or the connection window would shrink for good.
void ConnectionImpl::on_body_consumed(std::int64_t stream_id, std::size_t bytes) {
  if (session_) session_->consume(stream_id, bytes);
}

void ConnectionImpl::on_body_abandoned(RequestId id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || !it->second.stream_id) return;
  it->second.body_done = true;
  if (needs_reset(it->second)) session_->reset_stream(*it->second.stream_id, h3_code::request_cancelled);
}

void ConnectionImpl::on_body_finished(RequestId id, const std::optional<Error>&) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  it->second.body_done = true;
  it->second.deadline.reset();
}

// ---- session events ------------------------------------------------------------------------------

void ConnectionImpl::on_response_headers(std::int64_t stream_id, int status, Headers headers) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr || call->answered) return;
  call->response.status = status;
  call->response.headers = std::move(headers);
  note_transfer(*call);
  if (!call->streaming) reserve_body(call->response);
  emit(*call, RequestEvent::Type::headers, nullptr);
  if (call->streaming) answer_headers(*call);
}

void ConnectionImpl::on_response_data(std::int64_t stream_id, std::span<const std::uint8_t> data) {
  Call* call = call_on_stream(stream_id);
  if (call != nullptr) call->bytes_received += data.size();
  if (call != nullptr && call->capsules) {
    read_capsules(*call, data);
  } else if (call != nullptr && call->streaming) {
    auto reader = call->reader.lock();
    if (reader) {
      reader->push(data);  // credit returns as the consumer reads
      return;
    }
  } else if (call != nullptr && !call->answered) {
    call->response.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  session_->consume(stream_id, data.size());  // buffered (or abandoned): credit back at once
}

void ConnectionImpl::on_response_trailers(std::int64_t stream_id, Headers trailers) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr) return;
  if (auto reader = call->reader.lock()) {
    reader->set_trailers(std::move(trailers));
  } else {
    call->response.trailers = std::move(trailers);
  }
}

void ConnectionImpl::on_response_end(std::int64_t stream_id) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr) return;
  call->response_ended = true;
  if (!call->streaming) {
    call->response.transfer.instants.end = std::chrono::steady_clock::now();
    answer(*call, std::move(call->response));
    return;
  }
  if (call->capsules) {
    if (call->capsules->failed()) return;  // the call failed already
    if (auto ended = call->capsules->finish(); !ended) return fail_capsules(*call, ended.error());
  }
  emit(*call, RequestEvent::Type::stop, nullptr);
  if (auto reader = call->reader.lock()) reader->finish();
}

Error ConnectionImpl::reset_error(std::int64_t stream_id, std::uint64_t code) const {
  bool rejected = code == h3_code::request_rejected;
  Error error(ErrorKind::stream_reset, rejected ? ErrorClass::transient : ErrorClass::unrecoverable,
              fmt::format("server reset stream {} with {}", stream_id, h3_error_name(code)));
  error.stream_id = static_cast<std::uint64_t>(stream_id);
  error.h3_code = code;
  error.unprocessed = rejected;
  return error;
}

// RFC 9114 §5.2: a request on a stream at or above the peer's GOAWAY id was not processed, whatever code
// its stream was then reset or the connection closed with (a server may reset such streams with
// H3_INTERNAL_ERROR, then close with H3_EXCESSIVE_LOAD). A request never sent when the connection failed
// was not processed either (a failed handshake keeps its own error).
// Both fail `unprocessed` (transient: safe to retry elsewhere). A request whose response started was
// processed, whatever the id.
Error ConnectionImpl::peer_failure(const Call& call, const Error& error) const {
  if (call.answered) return error;
  if (call.stream_id && goaway_id_ && *call.stream_id >= *goaway_id_) {
    Error refused = error.restated(ErrorKind::goaway, ErrorClass::transient,
                                   fmt::format("server sent GOAWAY {}: request on stream {} not processed ({})",
                                               *goaway_id_, *call.stream_id, error.message()));
    refused.unprocessed = true;
    refused.goaway_id = static_cast<std::uint64_t>(*goaway_id_);
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
// decides it may come later in the same batch (RESET_STREAM frames go before stream data in a packet).
// on_goaway records the id at once, inside the batch; this runs after it. A call whose stream closed
// leaves here.
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

void ConnectionImpl::on_stream_reset(std::int64_t stream_id, std::uint64_t code) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr || call->response_ended) return;  // a reset after a complete response changes nothing
  fail_after_batch(call->id, reset_error(stream_id, code));
}

void ConnectionImpl::on_stream_malformed(std::int64_t stream_id, std::uint64_t code) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr) return;
  Error error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
              fmt::format("the response on stream {} broke HTTP/3 rules; the stream was reset with {}", stream_id,
                          h3_error_name(code)));
  error.stream_id = static_cast<std::uint64_t>(stream_id);
  error.h3_code = code;
  fail(*call, error);
}

void ConnectionImpl::on_header_section_too_large(std::int64_t stream_id, bool trailers, std::uint64_t bytes) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr) return;
  Error error(ErrorKind::headers_too_large,
              fmt::format("the response's {} section on stream {} is at least {} bytes, over the limit of {} "
                          "(max_response_header_bytes); the stream was reset with H3_EXCESSIVE_LOAD",
                          trailers ? "trailer" : "header", stream_id, bytes, options_.max_response_header_bytes));
  error.stream_id = static_cast<std::uint64_t>(stream_id);
  error.h3_code = h3_code::excessive_load;
  fail(*call, error);
}

void ConnectionImpl::on_stream_stop_sending(std::int64_t, std::uint64_t) {
  // The server stopped reading our body; its response (or a reset) still decides the outcome.
}

// The stream is gone: a response that did not end fails now (nothing more can arrive), and the call
// leaves; its slot is free.
void ConnectionImpl::on_stream_closed(std::int64_t stream_id, std::optional<std::uint64_t> code) {
  Call* call = call_on_stream(stream_id);
  if (streams_.erase(stream_id) > 0 && streams_.empty()) transport_->set_keep_alive(false);
  if (call != nullptr && !call->response_ended) {
    Error error = code ? reset_error(stream_id, *code)
                       : Error(ErrorKind::protocol_error, ErrorClass::unrecoverable,
                               fmt::format("stream {} ended before its response was complete", stream_id));
    error.stream_id = static_cast<std::uint64_t>(stream_id);
    call->stream_closed = true;
    fail_after_batch(call->id, std::move(error));  // the call leaves there
  } else if (call != nullptr) {
    if (call->channel) {
      end_channel(*call, Error(ErrorKind::channel_closed, fmt::format("the channel's stream {} ended", stream_id)));
    }
    calls_.erase(call->id);
    notify_observer([](ConnectionObserver& o, Connection& c) { o.on_stream_done(c); });
  }
  close_if_drained();
}

void ConnectionImpl::on_goaway(std::int64_t id) {
  if (goaway_id_ && id > *goaway_id_) {
    // RFC 9114 §5.2: the id must never grow (requests may already have been retried elsewhere).
    Error error(ErrorKind::transport_error, ErrorClass::unrecoverable,
                fmt::format("server's GOAWAY id grew from {} to {} (H3_ID_ERROR)", *goaway_id_, id));
    error.h3_code = h3_code::id_error;
    asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this()), error] {
      if (self->transport_) self->transport_->close(h3_code::id_error, error);
    });
    return;
  }
  if (goaway_id_ && *goaway_id_ == id) return;  // the same GOAWAY again changes nothing
  goaway_id_ = id;
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this())] { self->apply_goaway(); });
}

// Requests on streams at or above the GOAWAY id were not processed: fail them (safe to retry) and
// cancel their streams; the ones below run to completion.
void ConnectionImpl::apply_goaway() {
  if (state_ == ConnectionState::closed || !goaway_id_) return;
  std::vector<RequestId> refused;
  for (auto& [stream_id, id] : streams_) {
    if (stream_id >= *goaway_id_) refused.push_back(id);
  }
  for (RequestId id : refused) {
    Error error(ErrorKind::goaway, ErrorClass::transient,
                fmt::format("server sent GOAWAY {}: request not processed", *goaway_id_));
    error.goaway_id = static_cast<std::uint64_t>(*goaway_id_);
    error.unprocessed = true;
    abandon(id, error);
  }
  enter_draining();
}

void ConnectionImpl::on_body_wanted(std::int64_t stream_id) {
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this()), stream_id] {
    self->pull_body(stream_id);
  });
}

// Pulls the next chunk of a streamed request body (user code: never inside a library callback). A
// producer with nothing yet is asked again after a pause (a timer, so the io thread never spins); an
// asynchronous producer answers whenever it has bytes (body_chunk_delivery).
void ConnectionImpl::pull_body(std::int64_t stream_id) {
  if (!session_ || state_ == ConnectionState::closed) return;
  auto pulled = session_->pull_body(stream_id, body_chunk_delivery(stream_id));
  if (!pulled) return fail_body(stream_id, pulled.error());
  if (!pulled->retry_after) return;
  auto timer = std::make_shared<asio::steady_timer>(executor_, *pulled->retry_after);
  timer->async_wait([weak = std::weak_ptr(std::static_pointer_cast<ConnectionImpl>(shared_from_this())), timer,
                     stream_id](std::error_code) {
    if (auto self = weak.lock()) self->pull_body(stream_id);
  });
}

// An asynchronous producer's answer, from any thread: back to the executor, into the session. The
// connection may be gone by then (the answer is dropped).
RequestBody::ChunkCallback ConnectionImpl::body_chunk_delivery(std::int64_t stream_id) {
  return [weak = std::weak_ptr(std::static_pointer_cast<ConnectionImpl>(shared_from_this())), executor = executor_,
          stream_id](Result<std::optional<std::string>> chunk) {
    asio::post(executor, [weak, stream_id, chunk = std::move(chunk)]() mutable {
      auto self = weak.lock();
      if (!self || !self->session_ || self->state_ == ConnectionState::closed) return;
      auto accepted = self->session_->accept_body_chunk(stream_id, std::move(chunk));
      if (!accepted) self->fail_body(stream_id, accepted.error());
    });
  };
}

void ConnectionImpl::fail_body(std::int64_t stream_id, const Error& error) {
  if (Call* call = call_on_stream(stream_id)) {
    Error failure = error;
    failure.stream_id = static_cast<std::uint64_t>(stream_id);
    abandon(call->id, failure);
  }
}

}  // namespace quiver::h3

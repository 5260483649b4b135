// The worker's requests: acceptance, one exchange on the wire at a time (the request head, its body as
// content-length or chunked), the single answer, and the response events that decide it.
#include <algorithm>
#include <array>
#include <charconv>

#include <asio/post.hpp>
#include <fmt/format.h>

#include "h1/connection_impl.hpp"
#include "http/request_fields.hpp"

namespace quiver::h1 {

namespace {

// The most request body bytes written per step (a bytes body is sliced; TLS records are 16 KiB).
constexpr std::size_t kBodySlice = 64 * 1024;
// Writing stops while this much ciphertext waits for the socket; on_stream_writable goes on.
constexpr std::size_t kHighWater = 256 * 1024;

void reserve_body(Response& response) {
  constexpr std::size_t kMaxReserve = 64u << 20;  // a lying header cannot make us allocate more up front
  auto length = response.headers.get("content-length");
  std::size_t size = 0;
  if (!length || std::from_chars(length->data(), length->data() + length->size(), size).ec != std::errc()) return;
  response.body.reserve(std::min(size, kMaxReserve));
}

Error cancelled_error() { return Error(ErrorKind::cancelled, ErrorClass::unrecoverable, "request cancelled by the caller"); }

// RFC 9110 §9.2.2: the methods whose repetition has the effect of one request.
bool idempotent(std::string_view method) {
  constexpr std::array methods = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
  return std::ranges::find(methods, method) != methods.end();
}

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

// As the other workers: installed once, holds the worker weakly, finds the call by id.
void ConnectionImpl::listen_for_cancel(asio::cancellation_slot cancel, RequestId id) {
  if (!cancel.is_connected()) return;
  cancel.assign([weak = weak_from_this(), id](asio::cancellation_type type) {
    if (type == asio::cancellation_type::none) return;
    auto self = std::static_pointer_cast<ConnectionImpl>(weak.lock());
    if (self) self->abandon(id, cancelled_error());
  });
}

std::optional<Error> ConnectionImpl::refusal() const {
  if (state_ == ConnectionState::closed) {
    return Error(ErrorKind::transport_error, ErrorClass::transient,
                 fmt::format("connection to {} is closed", origin_.to_string()));
  }
  if (state_ == ConnectionState::draining || !reusable_) {
    Error error(ErrorKind::goaway, ErrorClass::transient,
                fmt::format("connection to {} is draining; request not sent", origin_.to_string()));
    error.unprocessed = true;
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
  if (state_ == ConnectionState::connected) send_next();
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

// Gives up on one request with `error`: a waiting one is dropped; the one on the wire gets `error` and,
// unless its exchange is over, the connection closes (HTTP/1.1 cannot abandon a message halfway).
void ConnectionImpl::abandon(RequestId id, const Error& error) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = it->second;
  fail(call, error);
  if (current_ == id) {
    close_unusable(fmt::format("its request was given up on mid-exchange ({})", to_string(error.kind())));
    return;
  }
  std::erase(waiting_, id);
  calls_.erase(it);
}

ConnectionImpl::Call* ConnectionImpl::current_call() {
  if (!current_) return nullptr;
  auto it = calls_.find(*current_);
  return it == calls_.end() ? nullptr : &it->second;
}

// ---- sending -------------------------------------------------------------------------------------

void ConnectionImpl::send_next() {
  if (state_ != ConnectionState::connected || current_ || waiting_.empty() || !stream_) return;
  RequestId id = waiting_.front();
  waiting_.pop_front();
  send(calls_.at(id));
}

// RFC 9112 §3 and §6: request line, Host, the caller's fields; a producer body without a content-length
// goes chunked. `te` is left out (it would need `Connection: TE`; trailers are taken anyway).
std::string ConnectionImpl::request_head(const Call& call) {
  std::string head = fmt::format("{} {} HTTP/1.1\r\nhost: {}\r\n", call.fields[0].value, call.fields[3].value,
                                 call.fields[2].value);
  bool has_length = false;
  for (std::size_t i = 4; i < call.fields.size(); ++i) {
    const Header& field = call.fields[i];
    if (field.name == "te") continue;
    if (field.name == "content-length") has_length = true;
    head += fmt::format("{}: {}\r\n", field.name, field.value);
  }
  if (upload_.chunked) {
    head += "transfer-encoding: chunked\r\n";
  } else if (!has_length && call.body.kind() == RequestBody::Kind::none &&
             (call.method() == "POST" || call.method() == "PUT" || call.method() == "PATCH")) {
    head += "content-length: 0\r\n";  // some servers answer 411 to a body-less POST without it
  }
  head += "\r\n";
  return head;
}

void ConnectionImpl::send(Call& call) {
  current_ = call.id;
  call.sent = true;
  ++exchanges_;
  unread_ = 0;
  upload_ = Upload{};
  switch (call.body.kind()) {
    case RequestBody::Kind::none:
      break;
    case RequestBody::Kind::bytes:
      upload_.done = call.body.bytes().empty();
      break;
    case RequestBody::Kind::file:
    case RequestBody::Kind::producer:
    {
      upload_.done = false;
      upload_.source = std::make_unique<http::BodySource>(call.body);
      auto length = std::ranges::find(call.fields, std::string_view("content-length"), &Header::name);
      if (call.body.kind() == RequestBody::Kind::producer) {
        if (length == call.fields.end()) {
          upload_.chunked = true;
        } else {
          std::uint64_t declared = 0;
          std::from_chars(length->value.data(), length->value.data() + length->value.size(), declared);
          upload_.declared = declared;
        }
      }
      break;
    }
  }
  parser_.expect(call.method() == "HEAD");
  if (!write(request_head(call))) return;  // the stream reports its close
  if (upload_.done) return;
  // A file or producer is read from a posted step: never inside the caller's request() call.
  asio::post(executor_, [weak = std::weak_ptr(std::static_pointer_cast<ConnectionImpl>(shared_from_this()))] {
    if (auto self = weak.lock()) self->pump_upload();
  });
}

// Writes body chunks while the socket keeps up; on_stream_writable goes on after a pause.
void ConnectionImpl::pump_upload() {
  Call* call = current_call();
  while (call != nullptr && !upload_.done && !upload_.pending && stream_ && stream_->queued_bytes() < kHighWater &&
         state_ != ConnectionState::closed) {
    if (!upload_step(*call)) return;
    call = current_call();
  }
  if (call != nullptr && upload_.done && call->response_ended) end_exchange();
}

// One step of the upload; false when the connection went away during it.
bool ConnectionImpl::upload_step(Call& call) {
  if (call.body.kind() == RequestBody::Kind::bytes) {
    const std::string& bytes = call.body.bytes();
    std::size_t n = std::min(kBodySlice, bytes.size() - upload_.offset);
    if (!write(std::string_view(bytes).substr(upload_.offset, n))) return false;
    upload_.offset += n;
    upload_.done = upload_.offset == bytes.size();
    return true;
  }
  if (upload_.source->asynchronous()) {
    upload_.pending = true;
    upload_.source->request_next(body_chunk_delivery(call.id));
    return true;
  }
  auto chunk = upload_.source->next(std::max<std::size_t>(options_.send_buffer, 1));
  if (!chunk) {
    fail_upload(chunk.error());
    return false;
  }
  if (!*chunk) {
    finish_upload();
    return stream_ != nullptr;
  }
  if ((*chunk)->empty()) {
    retry_upload_after(upload_.source->nothing_yet_pause());
    return true;
  }
  write_body_chunk(**chunk);
  return stream_ != nullptr;
}

void ConnectionImpl::write_body_chunk(std::string_view chunk) {
  upload_.sent += chunk.size();
  if (upload_.declared && upload_.sent > *upload_.declared) {
    return fail_upload(Error(ErrorKind::body_failed, ErrorClass::invalid,
                             fmt::format("the request body is longer than its content-length of {} bytes",
                                         *upload_.declared)));
  }
  if (upload_.chunked) {
    if (!write(fmt::format("{:x}\r\n", chunk.size()))) return;
    if (!write(chunk)) return;
    write("\r\n");
    return;
  }
  write(chunk);
}

void ConnectionImpl::finish_upload() {
  if (upload_.declared && upload_.sent != *upload_.declared) {
    return fail_upload(Error(ErrorKind::body_failed, ErrorClass::invalid,
                             fmt::format("the request body ended after {} bytes; its content-length says {}",
                                         upload_.sent, *upload_.declared)));
  }
  if (upload_.chunked && !write("0\r\n\r\n")) return;
  upload_.done = true;
}

// A producer with nothing yet is asked again after a pause (a timer: the io thread never spins).
void ConnectionImpl::retry_upload_after(std::chrono::milliseconds pause) {
  upload_.pending = true;
  auto timer = std::make_shared<asio::steady_timer>(executor_, pause);
  timer->async_wait([weak = std::weak_ptr(std::static_pointer_cast<ConnectionImpl>(shared_from_this())), timer,
                     id = *current_](std::error_code) {
    auto self = weak.lock();
    if (!self || self->current_ != id) return;
    self->upload_.pending = false;
    self->pump_upload();
  });
}

// An asynchronous producer's answer, from any thread: back to the executor. The exchange may be over by
// then (the answer is dropped).
RequestBody::ChunkCallback ConnectionImpl::body_chunk_delivery(RequestId id) {
  return [weak = std::weak_ptr(std::static_pointer_cast<ConnectionImpl>(shared_from_this())), executor = executor_,
          id](Result<std::optional<std::string>> chunk) {
    asio::post(executor, [weak, id, chunk = std::move(chunk)]() mutable {
      auto self = weak.lock();
      if (!self || self->state_ == ConnectionState::closed || self->current_ != id) return;
      self->on_body_chunk(std::move(chunk));
    });
  };
}

void ConnectionImpl::on_body_chunk(Result<std::optional<std::string>> chunk) {
  upload_.pending = false;
  if (!chunk) return fail_upload(chunk.error());
  if (!*chunk) {
    finish_upload();
  } else if (!(*chunk)->empty()) {
    write_body_chunk(**chunk);
  }
  pump_upload();
}

// The body could not be sent whole: the request fails with why, and the connection (holding half a
// message) closes.
void ConnectionImpl::fail_upload(const Error& error) {
  if (current_) abandon(*current_, error);
}

// The exchange on the wire is over (response ended, body sent): the connection takes the next request,
// or closes if it may not.
void ConnectionImpl::end_exchange() {
  if (!current_) return;
  calls_.erase(*current_);
  current_.reset();
  unread_ = 0;
  if (reading_paused_ && stream_) stream_->resume_reading();
  reading_paused_ = false;
  notify_observer([](ConnectionObserver& o, Connection& c) { o.on_stream_done(c); });
  if (!reusable_) {
    enter_draining(fmt::format("{} closes the connection (Connection: close); request not sent", origin_.to_string()));
    close_if_drained();
    return;
  }
  send_next();
}

// ---- answers -------------------------------------------------------------------------------------

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

void ConnectionImpl::answer_headers(Call& call) {
  if (call.answered) return;
  call.answered = true;
  std::weak_ptr<BodyReaderOwner> owner =
      std::static_pointer_cast<BodyReaderOwner>(std::static_pointer_cast<ConnectionImpl>(shared_from_this()));
  auto reader = std::make_shared<BodyReaderImpl>(ReaderResources{executor_, body_blocks_, answers_}, owner, call.id,
                                                 static_cast<std::int64_t>(call.id), options_.stream_idle_timeout);
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
    emit(call, RequestEvent::Type::exception, &error);
    return;
  }
  auto reader = call.reader.lock();
  if (reader && !call.body_done && !call.response_ended) {
    emit(call, RequestEvent::Type::exception, &error);
    reader->fail(error);
  }
}

// A request that never went on the wire was not processed, whatever ended the connection.
Error ConnectionImpl::unsent_failure(const Error& error) const {
  if (error.unprocessed || error.kind() == ErrorKind::handshake_failed || error.kind() == ErrorKind::resolve_failed ||
      error.kind() == ErrorKind::connection_refused) {
    return error;
  }
  Error unsent = error.restated(error.kind(), ErrorClass::transient, fmt::format("{}; request not sent", error.message()));
  unsent.unprocessed = true;
  return unsent;
}

// The stale keep-alive race (RFC 9112 §9.3.1): a server may close an idle persistent connection just as
// a request goes out on it. If nothing of a response arrived on a reused connection, an idempotent
// request whose body can be sent again is retried on a new connection (unprocessed); any other request
// may have been processed and is not retried automatically.
Error ConnectionImpl::stale_failure(const Call& call, const Error& error) const {
  if (call.answered || !call.sent || !call.reused || parser_.started()) return error;
  bool replayable = call.body.kind() != RequestBody::Kind::producer;
  if (idempotent(call.method()) && replayable) {
    Error stale(ErrorKind::transport_error, ErrorClass::transient,
                fmt::format("{} closed the reused HTTP/1.1 connection before any response byte (stale keep-alive; "
                            "the {} is sent again on a new connection): {}",
                            origin_.to_string(), call.method(), error.message()));
    stale.unprocessed = true;
    return stale;
  }
  return Error(ErrorKind::transport_error, ErrorClass::unrecoverable,
               fmt::format("{} closed the reused HTTP/1.1 connection before any response byte; the {} may have been "
                           "processed and is not sent again ({}): {}",
                           origin_.to_string(), call.method(),
                           replayable ? "the method is not idempotent" : "its body is a producer", error.message()));
}

// ---- body reader events --------------------------------------------------------------------------

// Reading resumes once the consumer has taken half of the window (stream ids are call ids; a reader of
// an exchange already over owes nothing).
void ConnectionImpl::on_body_consumed(std::int64_t stream_id, std::size_t bytes) {
  if (!current_ || static_cast<std::int64_t>(*current_) != stream_id) return;
  unread_ -= std::min<std::uint64_t>(unread_, bytes);
  if (reading_paused_ && unread_ <= options_.stream_window / 2 && stream_) {
    reading_paused_ = false;
    stream_->resume_reading();
  }
}

// The consumer dropped a body before its end: HTTP/1.1 cannot skip the rest, so the connection closes.
void ConnectionImpl::on_body_abandoned(RequestId id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  it->second.body_done = true;
  if (current_ == id && state_ != ConnectionState::closed) {
    close_unusable("a streamed response was abandoned before its end");
  }
}

void ConnectionImpl::on_body_finished(RequestId id, const std::optional<Error>&) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  it->second.body_done = true;
  it->second.deadline.reset();
}

// ---- response events (inside http-parser's callbacks) --------------------------------------------

void ConnectionImpl::on_response_headers(int status, Headers headers, bool keep_alive) {
  Call* call = current_call();
  if (call == nullptr) return;
  if (!keep_alive) reusable_ = false;  // drains once the exchange is over (end_exchange)
  call->response.status = status;
  call->response.headers = std::move(headers);
  note_transfer(*call);
  if (call->answered) return;  // cancelled or timed out meanwhile: the bytes are read and dropped
  if (!call->streaming) reserve_body(call->response);
  emit(*call, RequestEvent::Type::headers, nullptr);
  if (call->streaming) answer_headers(*call);
}

void ConnectionImpl::on_response_data(std::span<const std::uint8_t> data) {
  Call* call = current_call();
  if (call == nullptr) return;
  call->bytes_received += data.size();
  if (call->streaming) {
    if (auto reader = call->reader.lock()) {
      unread_ += data.size();
      reader->push(data);
    }
    return;
  }
  if (!call->answered) call->response.body.append(reinterpret_cast<const char*>(data.data()), data.size());
}

void ConnectionImpl::on_response_trailers(Headers trailers) {
  Call* call = current_call();
  if (call == nullptr) return;
  if (auto reader = call->reader.lock()) {
    reader->set_trailers(std::move(trailers));
  } else {
    call->response.trailers = std::move(trailers);
  }
}

// The response ended (after the parser returned). An upload still running (the server answered early)
// cannot be finished or skipped: the connection is not reused.
void ConnectionImpl::on_response_complete(bool keep_alive) {
  Call* call = current_call();
  if (call == nullptr) return;
  call->response_ended = true;
  if (!keep_alive) reusable_ = false;
  if (!upload_.done) {
    reusable_ = false;
    upload_.done = true;  // stop sending: the server has answered
  }
  if (!call->streaming) {
    call->response.transfer.instants.end = std::chrono::steady_clock::now();
    answer(*call, std::move(call->response));
  } else {
    emit(*call, RequestEvent::Type::stop, nullptr);
    if (auto reader = call->reader.lock()) reader->finish();
  }
  end_exchange();
}

}  // namespace quiver::h1

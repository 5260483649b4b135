// The exchange: hops through redirects, decoding, and the buffered read of an answer.
#include "client/exchange.hpp"

#include <asio/post.hpp>
#include <fmt/format.h>

#include "client/redirects.hpp"
#include "http/content_decoding.hpp"
#include "http/decoding_body_reader.hpp"

namespace quiver::client {

namespace {

using Clock = std::chrono::steady_clock;

Error cancelled_error() { return Error(ErrorKind::cancelled, ErrorClass::unrecoverable, "request cancelled by the caller"); }

// Cancels `reader` from any thread (on its executor); nothing if it is gone.
std::function<void()> reader_cancel(const asio::any_io_executor& executor, const std::shared_ptr<http::BodyReader>& reader) {
  return [executor, weak = std::weak_ptr(reader)] {
    asio::post(executor, [weak] {
      if (auto reader = weak.lock()) reader->cancel();
    });
  };
}

// One exchange in flight. Holds itself through the handler of the hop it waits for.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(SendHop send, ExchangeSettings settings, std::shared_ptr<ExchangeCancel> cancel, HeadHandler done)
      : send_(std::move(send)), settings_(settings), cancel_(std::move(cancel)), done_(std::move(done)) {}

  void start(Request request) {
    if (settings_.decompression.enabled && !request.headers.contains("accept-encoding")) {
      request.headers.add("accept-encoding", std::string(http::BodyDecoder::kAcceptEncoding));
    }
    hop(std::move(request));
  }

 private:
  void hop(Request request) {
    if (cancel_->requested()) return finish(std::unexpected(cancelled_error()));
    // A redirect may need the request again (its body too: bytes are copied, a file is read again).
    if (settings_.redirects.follow) {
      sent_ = request;
    } else {
      sent_.url = request.url;
    }
    send_(std::move(request), cancel_, [self = shared_from_this()](Result<Head> head) { self->on_head(std::move(head)); });
  }

  void on_head(Result<Head> head) {
    if (!head) return finish(std::unexpected(head.error()));
    auto& response = head->response;
    if (auto next = next_request(sent_, response.status, response.headers, settings_.redirects, followed_)) {
      response.body.reset();  // the redirect's own body is not wanted: its stream is cancelled
      if (!*next) return finish(std::unexpected(next->error()));
      ++followed_;
      return hop(std::move(**next));
    }
    response.transfer.url = sent_.url;
    response.transfer.redirects = followed_;
    response.transfer.instants.start = start_;
    compute_timings(response.transfer);
    if (settings_.decompression.enabled) {
      if (auto decoded = decode(*head); !decoded) {
        response.body.reset();
        return finish(std::unexpected(decoded.error()));
      }
    }
    finish(std::move(head));
  }

  // Puts a decoding reader in front of the body when its content-encoding asks for one.
  Result<void> decode(Head& head) {
    auto encoding = head.response.headers.get("content-encoding");
    if (!encoding || !head.response.body) return {};
    auto decoder = http::BodyDecoder::for_encoding(*encoding, settings_.decompression);
    if (!decoder) return std::unexpected(decoder.error());
    if (!*decoder) return {};
    head.response.body = std::make_shared<http::DecodingBodyReader>(head.executor, std::move(head.response.body),
                                                                    std::move(*decoder));
    return {};
  }

  void finish(Result<Head> result) {
    if (done_) std::exchange(done_, nullptr)(std::move(result));
  }

  SendHop send_;
  ExchangeSettings settings_;
  std::shared_ptr<ExchangeCancel> cancel_;
  HeadHandler done_;
  Request sent_;  // the hop in flight (its URL only, unless redirects are followed)
  int followed_ = 0;
  Clock::time_point start_ = Clock::now();
};

// Reads an answer's body to its end. Holds itself through the pending read.
class Collector : public std::enable_shared_from_this<Collector> {
 public:
  static constexpr std::size_t kReadSize = 256 * 1024;

  Collector(Head head, std::move_only_function<void(Result<Response>)> done)
      : executor_(std::move(head.executor)), reader_(std::move(head.response.body)), done_(std::move(done)) {
    response_.status = head.response.status;
    response_.headers = std::move(head.response.headers);
    response_.transfer = std::move(head.response.transfer);
  }

  void read() {
    if (!reader_) return end();  // no body
    reader_->async_read(kReadSize, [self = shared_from_this()](Result<std::optional<std::string>> chunk) {
      if (!chunk) return self->fail(chunk.error());
      if (!*chunk) return self->end();
      self->response_.body += **chunk;
      self->read();
    });
  }

  const std::shared_ptr<http::BodyReader>& reader() const { return reader_; }
  const asio::any_io_executor& executor() const { return executor_; }

 private:
  void end() {
    if (reader_) response_.trailers = reader_->trailers();
    response_.transfer.instants.end = Clock::now();
    compute_timings(response_.transfer);
    reader_.reset();
    std::exchange(done_, nullptr)(std::move(response_));
  }
  void fail(const Error& error) {
    reader_.reset();
    std::exchange(done_, nullptr)(std::unexpected(error));
  }

  asio::any_io_executor executor_;
  std::shared_ptr<http::BodyReader> reader_;
  std::move_only_function<void(Result<Response>)> done_;
  Response response_;
};

std::chrono::nanoseconds since(Clock::time_point start, Clock::time_point instant) {
  if (instant == Clock::time_point{} || instant < start) return std::chrono::nanoseconds{0};
  return instant - start;
}

}  // namespace

ExchangeSettings exchange_settings(const ClientOptions& options, const Request& request) {
  return ExchangeSettings{request.redirects.value_or(options.redirects),
                          request.decompression.value_or(options.decompression)};
}

void ExchangeCancel::cancel() {
  std::function<void()> step;
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
    step = current_;
  }
  if (step) step();
}

bool ExchangeCancel::requested() const {
  std::lock_guard lock(mutex_);
  return requested_;
}

void ExchangeCancel::set_current(std::function<void()> cancel_step) {
  bool now = false;
  {
    std::lock_guard lock(mutex_);
    current_ = cancel_step;
    now = requested_;
  }
  if (now && cancel_step) cancel_step();
}

void run_exchange(SendHop send, Request request, ExchangeSettings settings, std::shared_ptr<ExchangeCancel> cancel,
                  HeadHandler done) {
  auto exchange = std::make_shared<Exchange>(std::move(send), settings, std::move(cancel), std::move(done));
  exchange->start(std::move(request));
}

void collect_response(Head head, std::shared_ptr<ExchangeCancel> cancel,
                      std::move_only_function<void(Result<Response>)> done) {
  auto collector = std::make_shared<Collector>(std::move(head), std::move(done));
  if (collector->reader()) cancel->set_current(reader_cancel(collector->executor(), collector->reader()));
  collector->read();
}

void compute_timings(TransferInfo& transfer) {
  const auto& at = transfer.instants;
  auto& timings = transfer.timings;
  timings.name_lookup = since(at.start, at.name_lookup);
  timings.connect = since(at.start, at.connect);
  timings.tls = since(at.start, at.tls);
  timings.first_byte = since(at.start, at.first_byte);
  timings.total = since(at.start, at.end);
}

}  // namespace quiver::client

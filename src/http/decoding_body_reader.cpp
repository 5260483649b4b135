// Decoding a streamed body read by read: decode what is buffered, fetch a compressed chunk when the
// decoder needs more, report the end once the underlying body ended and every coding's stream did.
#include "http/decoding_body_reader.hpp"

#include <asio/post.hpp>

namespace quiver::http {

DecodingBodyReader::DecodingBodyReader(asio::any_io_executor executor, std::shared_ptr<BodyReader> inner,
                                       std::unique_ptr<BodyDecoder> decoder)
    : executor_(std::move(executor)), inner_(std::move(inner)), decoder_(std::move(decoder)) {}

DecodingBodyReader::~DecodingBodyReader() {
  if (handler_) {
    asio::post(executor_, [handler = std::move(handler_)]() mutable {
      handler(std::unexpected(Error(ErrorKind::cancelled, "the response body was abandoned")));
    });
  }
}

void DecodingBodyReader::async_read(std::size_t max_bytes, ChunkHandler handler) {
  auto chunk = std::make_shared<std::string>(std::max<std::size_t>(max_bytes, 1), '\0');
  read_into(*chunk, [chunk, handler = std::move(handler)](Result<std::size_t> read) mutable {
    if (!read) return handler(std::unexpected(read.error()));
    if (*read == 0) return handler(std::optional<std::string>());
    chunk->resize(*read);
    handler(std::optional<std::string>(std::move(*chunk)));
  });
}

void DecodingBodyReader::async_read_some(std::span<char> buffer, SizeHandler handler) {
  read_into(buffer, std::move(handler));
}

void DecodingBodyReader::cancel() {
  inner_->cancel();
  if (!failure_) failure_ = Error(ErrorKind::cancelled, ErrorClass::unrecoverable, "request cancelled by the caller");
  if (handler_) {  // answered from the executor, not inside cancel()
    asio::post(executor_, [weak = weak_from_this()] {
      if (auto self = weak.lock(); self && self->handler_) self->advance();
    });
  }
}

void DecodingBodyReader::read_into(std::span<char> buffer, SizeHandler handler) {
  buffer_ = buffer;
  handler_ = std::move(handler);
  // Posted: a read never completes inside the call that starts it.
  asio::post(executor_, [weak = weak_from_this()] {
    if (auto self = weak.lock(); self && self->handler_) self->advance();
  });
}

void DecodingBodyReader::advance() {
  if (failure_) return complete(std::unexpected(*failure_));
  if (ended_) return complete(std::size_t{0});
  std::span<const std::uint8_t> pending(reinterpret_cast<const std::uint8_t*>(input_.data()) + input_used_,
                                        input_.size() - input_used_);
  auto step = decoder_->decode(pending, {reinterpret_cast<std::uint8_t*>(buffer_.data()), buffer_.size()});
  if (!step) {
    failure_ = step.error();
    inner_->cancel();  // a corrupt body or a bomb: stop the transfer now
    return complete(std::unexpected(*failure_));
  }
  input_used_ += step->consumed;
  if (step->produced > 0) return complete(step->produced);
  if (input_used_ < input_.size() && step->consumed == 0) {
    failure_ = Error(ErrorKind::decompression_failed, "the compressed body could not be decoded (no progress)");
    inner_->cancel();
    return complete(std::unexpected(*failure_));
  }
  if (input_used_ < input_.size()) return advance();  // it took input without output yet
  if (input_ended_) {
    if (auto finished = decoder_->finish(); !finished) {
      failure_ = finished.error();
      return complete(std::unexpected(*failure_));
    }
    ended_ = true;
    return complete(std::size_t{0});
  }
  inner_->async_read(kInputChunk, [weak = weak_from_this()](Result<std::optional<std::string>> chunk) {
    if (auto self = weak.lock()) self->on_input(std::move(chunk));
  });
}

void DecodingBodyReader::on_input(Result<std::optional<std::string>> chunk) {
  if (!handler_) return;  // cancelled meanwhile (already answered)
  if (!chunk) {
    if (!failure_) failure_ = chunk.error();
    return complete(std::unexpected(*failure_));
  }
  if (!*chunk) {
    input_ended_ = true;
    input_.clear();
  } else {
    input_ = std::move(**chunk);
  }
  input_used_ = 0;
  advance();
}

void DecodingBodyReader::complete(Result<std::size_t> result) {
  if (!handler_) return;
  auto handler = std::move(handler_);
  handler_ = nullptr;
  handler(std::move(result));
}

}  // namespace quiver::http

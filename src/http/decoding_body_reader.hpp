#pragma once
// A BodyReader that decodes a compressed body (content_decoding.hpp) as it is read: each read pulls
// compressed bytes from the underlying reader only while it needs them, so at most one compressed chunk
// (kInputChunk) and the caller's buffer are held, whatever the decoded size. Lives on the underlying
// reader's executor, as every BodyReader. Its completions are posted there, never run inside the call
// that starts the read.

#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>

#include "http/body_reader.hpp"
#include "http/content_decoding.hpp"

namespace quiver::http {

class DecodingBodyReader final : public BodyReader, public std::enable_shared_from_this<DecodingBodyReader> {
 public:
  static constexpr std::size_t kInputChunk = 16 * 1024;

  DecodingBodyReader(asio::any_io_executor executor, std::shared_ptr<BodyReader> inner,
                     std::unique_ptr<BodyDecoder> decoder);
  // A read still pending completes with cancelled.
  ~DecodingBodyReader() override;

  void async_read(std::size_t max_bytes, ChunkHandler handler) override;
  void async_read_some(std::span<char> buffer, SizeHandler handler) override;
  const Headers& trailers() const override { return inner_->trailers(); }
  std::size_t buffered_bytes() const override { return inner_->buffered_bytes() + (input_.size() - input_used_); }
  void cancel() override;

  // Compressed bytes received so far (curl's size_download counts these).
  std::uint64_t bytes_received() const noexcept { return decoder_->bytes_in(); }

 private:
  void read_into(std::span<char> buffer, SizeHandler handler);
  void advance();                      // decode into the pending buffer, or fetch more input
  void on_input(Result<std::optional<std::string>> chunk);
  void complete(Result<std::size_t> result);

  asio::any_io_executor executor_;
  std::shared_ptr<BodyReader> inner_;
  std::unique_ptr<BodyDecoder> decoder_;
  std::string input_;          // the compressed chunk being decoded
  std::size_t input_used_ = 0;  // how much of input_ the decoder took
  bool input_ended_ = false;   // the underlying body ended
  bool ended_ = false;         // the end was reported
  std::optional<Error> failure_;
  // The read in progress (one at a time): where its bytes go, and whom to tell.
  std::span<char> buffer_;
  SizeHandler handler_;
};

}  // namespace quiver::http

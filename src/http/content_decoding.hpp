#pragma once
// Response body decoding (RFC 9110 §8.4): gzip and deflate (zlib), br (brotli), zstd, and chains of them
// ("gzip, br" is decoded br first). Protocol-neutral: fed bytes, it writes decoded bytes into the
// caller's buffer, so memory stays bounded by the buffers, never by the decoded size. The limits of
// quiver::Decompression are enforced as the bytes are decoded (a bomb stops at the limit).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/error.hpp"
#include "quiver/transfer_options.hpp"

namespace quiver::http {

// One content coding's streaming decoder.
class CodingDecoder {
 public:
  struct Step {
    std::size_t consumed = 0;  // input bytes used
    std::size_t produced = 0;  // output bytes written
  };
  virtual ~CodingDecoder() = default;
  // Decodes what it can of `input` into `output`. Input left unconsumed must be offered again.
  // decompression_failed if the input is not valid for the coding, or continues past its end.
  virtual Result<Step> decode(std::span<const std::uint8_t> input, std::span<std::uint8_t> output) = 0;
  // The coding's stream ended (every byte of it was decoded and output).
  virtual bool finished() const noexcept = 0;
  virtual std::string_view name() const noexcept = 0;
};

// The decoders for a whole content-encoding value, with the size and ratio limits.
class BodyDecoder {
 public:
  using Step = CodingDecoder::Step;

  // nullptr when nothing needs decoding (no content-encoding, or only "identity");
  // decompression_failed naming an unknown coding.
  static Result<std::unique_ptr<BodyDecoder>> for_encoding(std::string_view content_encoding,
                                                           const Decompression& limits);
  // The accept-encoding value naming every coding this decoder knows.
  static constexpr std::string_view kAcceptEncoding = "gzip, deflate, br, zstd";

  // Decodes what it can of `input` into `output` (as CodingDecoder::decode); body_too_large once the
  // decoded bytes pass a limit, decompression_failed on a corrupt body.
  Result<Step> decode(std::span<const std::uint8_t> input, std::span<std::uint8_t> output);
  // At the end of the body: ok if every coding's stream ended (or the body was empty), else
  // decompression_failed (truncated).
  Result<void> finish() const;

  std::uint64_t bytes_in() const noexcept { return bytes_in_; }
  std::uint64_t bytes_out() const noexcept { return bytes_out_; }

 private:
  // One decoder and the buffer of its decoded bytes not yet taken by the next decoder.
  struct Stage {
    std::unique_ptr<CodingDecoder> decoder;
    std::vector<std::uint8_t> buffer;  // intermediate stages only
    std::size_t begin = 0, end = 0;    // the unread part of `buffer`
  };
  BodyDecoder(std::vector<Stage> stages, const Decompression& limits);
  Result<Step> decode_chain(std::span<const std::uint8_t> input, std::span<std::uint8_t> output);
  Result<void> check_limits() const;

  std::vector<Stage> stages_;  // in decoding order (the last coding applied is decoded first)
  Decompression limits_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace quiver::http

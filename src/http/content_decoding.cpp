// Streaming decoders for gzip/deflate (zlib), br (brotli) and zstd, and the chain that applies a whole
// content-encoding value within the Decompression limits.
#include "http/content_decoding.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>

#include <brotli/decode.h>
#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>

#include "core/text.hpp"

namespace quiver::http {

namespace {

constexpr std::size_t kStageBuffer = 16 * 1024;  // between two decoders of a chain
// The largest zstd window accepted: 8 MiB, the most RFC 8878 §3.1.1.1.2 lets an HTTP decoder require.
constexpr int kZstdWindowLogMax = 23;

Error decode_error(std::string message) { return Error(ErrorKind::decompression_failed, std::move(message)); }

std::unexpected<Error> trailing_data(std::string_view coding) {
  return std::unexpected(decode_error(fmt::format("the {} body continues past the end of its stream", coding)));
}

// gzip (RFC 1952; concatenated members are decoded one after the other) and deflate (RFC 9110 §8.4.1.2:
// the zlib format; a raw deflate stream, which some servers send instead, is accepted as curl does).
class ZlibDecoder final : public CodingDecoder {
 public:
  explicit ZlibDecoder(bool gzip) : gzip_(gzip) {}
  ~ZlibDecoder() override {
    if (initialized_) inflateEnd(&stream_);
  }
  ZlibDecoder(const ZlibDecoder&) = delete;
  ZlibDecoder& operator=(const ZlibDecoder&) = delete;

  Result<Step> decode(std::span<const std::uint8_t> input, std::span<std::uint8_t> output) override {
    if (finished_) {
      if (input.empty()) return Step{};
      if (!gzip_) return trailing_data(name());
      inflateReset(&stream_);  // the next gzip member
      finished_ = false;
    }
    if (!initialized_) {
      if (auto started = start(gzip_ ? 15 + 16 : 15); !started) return std::unexpected(started.error());
    }
    auto step = inflate_into(input, output);
    if (!step && !gzip_ && !raw_ && stream_.total_out == 0 && stream_.total_in <= input.size()) {
      // Not the zlib format at its first bytes: try raw deflate on the same input.
      inflateEnd(&stream_);
      initialized_ = false;
      raw_ = true;
      if (auto started = start(-15); !started) return std::unexpected(started.error());
      step = inflate_into(input, output);
    }
    return step;
  }
  bool finished() const noexcept override { return finished_; }
  std::string_view name() const noexcept override { return gzip_ ? "gzip" : "deflate"; }

 private:
  Result<void> start(int window_bits) {
    std::memset(&stream_, 0, sizeof stream_);
    if (inflateInit2(&stream_, window_bits) != Z_OK) return std::unexpected(decode_error("zlib could not start"));
    initialized_ = true;
    return {};
  }

  Result<Step> inflate_into(std::span<const std::uint8_t> input, std::span<std::uint8_t> output) {
    const auto in = static_cast<uInt>(std::min<std::size_t>(input.size(), UINT_MAX));
    const auto out = static_cast<uInt>(std::min<std::size_t>(output.size(), UINT_MAX));
    stream_.next_in = const_cast<Bytef*>(input.data());  // zlib does not write through next_in
    stream_.avail_in = in;
    stream_.next_out = output.data();
    stream_.avail_out = out;
    const int rc = inflate(&stream_, Z_NO_FLUSH);
    Step step{in - stream_.avail_in, out - stream_.avail_out};
    switch (rc) {
      case Z_STREAM_END:
        finished_ = true;
        return step;
      case Z_OK:
      case Z_BUF_ERROR:  // no progress possible now (needs input or output): not an error
        return step;
      case Z_MEM_ERROR:
        return std::unexpected(decode_error(fmt::format("out of memory decoding the {} body", name())));
      default:
        return std::unexpected(decode_error(fmt::format("the {} body is corrupt: {}", name(),
                                                        stream_.msg ? stream_.msg : "invalid data")));
    }
  }

  const bool gzip_;
  z_stream stream_{};
  bool initialized_ = false;
  bool raw_ = false;
  bool finished_ = false;
};

class BrotliDecoder final : public CodingDecoder {
 public:
  BrotliDecoder() : state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliDecoder() override {
    if (state_) BrotliDecoderDestroyInstance(state_);
  }
  BrotliDecoder(const BrotliDecoder&) = delete;
  BrotliDecoder& operator=(const BrotliDecoder&) = delete;

  Result<Step> decode(std::span<const std::uint8_t> input, std::span<std::uint8_t> output) override {
    if (!state_) return std::unexpected(decode_error("brotli could not start"));
    if (finished_) {
      if (input.empty()) return Step{};
      return trailing_data(name());
    }
    std::size_t avail_in = input.size(), avail_out = output.size();
    const std::uint8_t* next_in = input.data();
    std::uint8_t* next_out = output.data();
    auto result = BrotliDecoderDecompressStream(state_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    if (result == BROTLI_DECODER_RESULT_ERROR) {
      return std::unexpected(decode_error(fmt::format(
          "the br body is corrupt: {}", BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state_)))));
    }
    if (result == BROTLI_DECODER_RESULT_SUCCESS) finished_ = true;
    return Step{input.size() - avail_in, output.size() - avail_out};
  }
  bool finished() const noexcept override { return finished_; }
  std::string_view name() const noexcept override { return "br"; }

 private:
  BrotliDecoderState* state_;
  bool finished_ = false;
};

// zstd (RFC 8878); several frames one after the other are one body.
class ZstdDecoder final : public CodingDecoder {
 public:
  ZstdDecoder() : context_(ZSTD_createDCtx()) {
    if (context_) ZSTD_DCtx_setParameter(context_, ZSTD_d_windowLogMax, kZstdWindowLogMax);
  }
  ~ZstdDecoder() override { ZSTD_freeDCtx(context_); }
  ZstdDecoder(const ZstdDecoder&) = delete;
  ZstdDecoder& operator=(const ZstdDecoder&) = delete;

  Result<Step> decode(std::span<const std::uint8_t> input, std::span<std::uint8_t> output) override {
    if (!context_) return std::unexpected(decode_error("zstd could not start"));
    if (finished_ && input.empty()) return Step{};
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    ZSTD_outBuffer out{output.data(), output.size(), 0};
    const std::size_t hint = ZSTD_decompressStream(context_, &out, &in);
    if (ZSTD_isError(hint)) {
      return std::unexpected(decode_error(fmt::format("the zstd body is corrupt: {}", ZSTD_getErrorName(hint))));
    }
    finished_ = hint == 0;  // a frame ended and everything it holds was output
    return Step{in.pos, out.pos};
  }
  bool finished() const noexcept override { return finished_; }
  std::string_view name() const noexcept override { return "zstd"; }

 private:
  ZSTD_DCtx* context_;
  bool finished_ = false;
};

Result<std::unique_ptr<CodingDecoder>> decoder_for(std::string_view coding) {
  const auto name = detail::to_lower(coding);
  if (name == "gzip" || name == "x-gzip") return std::make_unique<ZlibDecoder>(true);
  if (name == "deflate") return std::make_unique<ZlibDecoder>(false);
  if (name == "br") return std::make_unique<BrotliDecoder>();
  if (name == "zstd") return std::make_unique<ZstdDecoder>();
  return std::unexpected(decode_error(
      fmt::format("unknown content-encoding '{}' (quiver decodes {})", coding, BodyDecoder::kAcceptEncoding)));
}

}  // namespace

Result<std::unique_ptr<BodyDecoder>> BodyDecoder::for_encoding(std::string_view content_encoding,
                                                               const Decompression& limits) {
  std::vector<Stage> stages;
  for (std::string_view rest = content_encoding; !rest.empty();) {
    const auto comma = rest.find(',');
    const auto coding = detail::trim_ows(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (coding.empty() || detail::to_lower(coding) == "identity") continue;
    auto decoder = decoder_for(coding);
    if (!decoder) return std::unexpected(decoder.error());
    stages.insert(stages.begin(), Stage{std::move(*decoder), {}, 0, 0});  // the last applied is undone first
  }
  if (stages.empty()) return std::unique_ptr<BodyDecoder>();
  for (std::size_t i = 0; i + 1 < stages.size(); ++i) stages[i].buffer.resize(kStageBuffer);
  return std::unique_ptr<BodyDecoder>(new BodyDecoder(std::move(stages), limits));
}

BodyDecoder::BodyDecoder(std::vector<Stage> stages, const Decompression& limits)
    : stages_(std::move(stages)), limits_(limits) {}

Result<BodyDecoder::Step> BodyDecoder::decode(std::span<const std::uint8_t> input, std::span<std::uint8_t> output) {
  auto step = decode_chain(input, output);
  if (!step) return step;
  bytes_in_ += step->consumed;
  bytes_out_ += step->produced;
  if (auto within = check_limits(); !within) return std::unexpected(within.error());
  return step;
}

// Runs every stage in turn (stage 0 reads `input`, the last writes `output`, the others go through their
// buffers) until the output is full or no stage moves.
Result<BodyDecoder::Step> BodyDecoder::decode_chain(std::span<const std::uint8_t> input, std::span<std::uint8_t> output) {
  Step total;
  const std::size_t last = stages_.size() - 1;
  for (;;) {
    bool moved = false;
    for (std::size_t i = 0; i <= last; ++i) {
      Stage& stage = stages_[i];
      std::span<const std::uint8_t> source = input.subspan(total.consumed);
      if (i > 0) {
        Stage& previous = stages_[i - 1];
        source = {previous.buffer.data() + previous.begin, previous.end - previous.begin};
      }
      std::span<std::uint8_t> target = output.subspan(total.produced);
      if (i < last) {
        if (stage.begin > 0) {  // keep the unread bytes at the front
          std::memmove(stage.buffer.data(), stage.buffer.data() + stage.begin, stage.end - stage.begin);
          stage.end -= stage.begin;
          stage.begin = 0;
        }
        target = {stage.buffer.data() + stage.end, stage.buffer.size() - stage.end};
      }
      if (target.empty()) continue;
      auto step = stage.decoder->decode(source, target);
      if (!step) return std::unexpected(step.error());
      if (i == 0) {
        total.consumed += step->consumed;
      } else {
        stages_[i - 1].begin += step->consumed;
      }
      if (i == last) {
        total.produced += step->produced;
      } else {
        stage.end += step->produced;
      }
      moved = moved || step->consumed > 0 || step->produced > 0;
    }
    if (!moved || total.produced == output.size()) return total;
  }
}

Result<void> BodyDecoder::check_limits() const {
  if (limits_.max_decoded_bytes > 0 && bytes_out_ > limits_.max_decoded_bytes) {
    return std::unexpected(Error(
        ErrorKind::body_too_large,
        fmt::format("the response body decodes to more than {} bytes (Decompression::max_decoded_bytes); "
                    "transfer abandoned",
                    limits_.max_decoded_bytes)));
  }
  if (limits_.max_ratio > 0 && bytes_out_ > limits_.ratio_grace_bytes && bytes_out_ / limits_.max_ratio > bytes_in_) {
    return std::unexpected(Error(
        ErrorKind::body_too_large,
        fmt::format("the response body expands more than {}:1 ({} bytes decoded from {} received): refused as a "
                    "decompression bomb (Decompression::max_ratio); transfer abandoned",
                    limits_.max_ratio, bytes_out_, bytes_in_)));
  }
  return {};
}

Result<void> BodyDecoder::finish() const {
  if (bytes_in_ == 0) return {};  // no body at all (HEAD, 204, 304, empty)
  for (const auto& stage : stages_) {
    if (!stage.decoder->finished() || stage.begin != stage.end) {
      return std::unexpected(decode_error(
          fmt::format("the {} body is truncated: the body ended before its compressed stream did",
                      stage.decoder->name())));
    }
  }
  return {};
}

}  // namespace quiver::http

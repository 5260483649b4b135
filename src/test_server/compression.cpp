#include "test_server/compression.hpp"

#include <algorithm>
#include <array>
#include <memory>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

namespace quiver::server {

namespace {

constexpr std::size_t kPiece = 64 * 1024;

// Feeds `size` bytes of `fill` (or `body` when set) to an encoder step function piece by piece.
// `step(input, last)` appends its output and returns false on failure.
template <class Step>
bool feed(std::string_view body, std::uint64_t zeros, Step step) {
  if (zeros == 0) return step(body, true);
  static const std::array<char, kPiece> kZeros{};
  while (zeros > 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros, kPiece));
    zeros -= n;
    if (!step(std::string_view(kZeros.data(), n), zeros == 0)) return false;
  }
  return true;
}

std::string zlib_encode(bool gzip, std::string_view body, std::uint64_t zeros) {
  z_stream stream{};
  if (deflateInit2(&stream, zeros > 0 ? Z_DEFAULT_COMPRESSION : Z_BEST_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out;
  std::array<unsigned char, kPiece> buffer{};
  bool ok = feed(body, zeros, [&](std::string_view input, bool last) {
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream.avail_in = static_cast<uInt>(input.size());
    int rc = Z_OK;
    do {
      stream.next_out = buffer.data();
      stream.avail_out = buffer.size();
      rc = deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH);
      if (rc == Z_STREAM_ERROR) return false;
      out.append(reinterpret_cast<const char*>(buffer.data()), buffer.size() - stream.avail_out);
    } while (stream.avail_out == 0 || (last && rc != Z_STREAM_END));
    return true;
  });
  deflateEnd(&stream);
  return ok ? out : std::string();
}

std::string brotli_encode(std::string_view body, std::uint64_t zeros) {
  std::unique_ptr<BrotliEncoderState, void (*)(BrotliEncoderState*)> state(
      BrotliEncoderCreateInstance(nullptr, nullptr, nullptr), BrotliEncoderDestroyInstance);
  if (!state) return {};
  BrotliEncoderSetParameter(state.get(), BROTLI_PARAM_QUALITY, zeros > 0 ? 5 : 11);
  std::string out;
  bool ok = feed(body, zeros, [&](std::string_view input, bool last) {
    std::size_t avail_in = input.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
    const auto op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
    while (avail_in > 0 || (last && !BrotliEncoderIsFinished(state.get())) || BrotliEncoderHasMoreOutput(state.get())) {
      std::size_t avail_out = 0;
      if (!BrotliEncoderCompressStream(state.get(), op, &avail_in, &next_in, &avail_out, nullptr, nullptr)) return false;
      std::size_t size = 0;
      const std::uint8_t* bytes = BrotliEncoderTakeOutput(state.get(), &size);
      out.append(reinterpret_cast<const char*>(bytes), size);
    }
    return true;
  });
  return ok ? out : std::string();
}

std::string zstd_encode(std::string_view body, std::uint64_t zeros) {
  std::unique_ptr<ZSTD_CCtx, std::size_t (*)(ZSTD_CCtx*)> context(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!context) return {};
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_compressionLevel, zeros > 0 ? 3 : 19);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_windowLog, 20);  // well within what HTTP decoders accept
  std::string out;
  std::array<char, kPiece> buffer{};
  bool ok = feed(body, zeros, [&](std::string_view input, bool last) {
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    for (;;) {
      ZSTD_outBuffer chunk{buffer.data(), buffer.size(), 0};
      const std::size_t left = ZSTD_compressStream2(context.get(), &chunk, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(left)) return false;
      out.append(buffer.data(), chunk.pos);
      if (last ? left == 0 : in.pos == in.size) return true;
    }
  });
  return ok ? out : std::string();
}

std::string encode(std::string_view coding, std::string_view body, std::uint64_t zeros) {
  if (coding == "gzip") return zlib_encode(true, body, zeros);
  if (coding == "deflate") return zlib_encode(false, body, zeros);
  if (coding == "br") return brotli_encode(body, zeros);
  if (coding == "zstd") return zstd_encode(body, zeros);
  return {};
}

}  // namespace

std::optional<std::string> content_coding(std::string_view name) {
  if (name == "gzip" || name == "deflate" || name == "zstd" || name == "br") return std::string(name);
  if (name == "brotli") return std::string("br");
  return std::nullopt;
}

std::string compress(std::string_view coding, std::string_view body) { return encode(coding, body, 0); }

std::string compressed_zeros(std::string_view coding, std::uint64_t size) {
  if (size == 0) return encode(coding, {}, 0);
  return encode(coding, {}, size);
}

}  // namespace quiver::server

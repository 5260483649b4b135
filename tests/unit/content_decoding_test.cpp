// Response body decoding (src/http/content_decoding.hpp): every coding round-trips through the test
// server's encoders, piece by piece into small buffers; bad bodies and bombs fail with their own kinds.
#include <gtest/gtest.h>

#include <zlib.h>

#include "http/content_decoding.hpp"
#include "test_server/compression.hpp"

namespace quiver::http {
namespace {

std::string sample_text(std::size_t size) {
  std::string text;
  for (std::size_t i = 0; text.size() < size; ++i) text += "line " + std::to_string(i * 7919 % 1000) + " of the sample\n";
  text.resize(size);
  return text;
}

std::unique_ptr<BodyDecoder> decoder_for(std::string_view encoding, Decompression limits = {.enabled = true}) {
  auto decoder = BodyDecoder::for_encoding(encoding, limits);
  EXPECT_TRUE(decoder) << decoder.error().to_string();
  return decoder ? std::move(*decoder) : nullptr;
}

// Feeds `body` in pieces of `piece` bytes, decoding into a buffer of `out` bytes each time; returns the
// decoded bytes or the first error (finish() included).
Result<std::string> decode_all(BodyDecoder& decoder, std::string_view body, std::size_t piece, std::size_t out) {
  std::string decoded;
  std::vector<std::uint8_t> buffer(out);
  std::size_t offset = 0;
  for (;;) {
    const auto take = std::min(piece, body.size() - offset);
    std::span<const std::uint8_t> input(reinterpret_cast<const std::uint8_t*>(body.data()) + offset, take);
    auto step = decoder.decode(input, buffer);
    if (!step) return std::unexpected(step.error());
    offset += step->consumed;
    decoded.append(reinterpret_cast<const char*>(buffer.data()), step->produced);
    if (step->consumed == 0 && step->produced == 0 && offset == body.size()) break;
    if (step->consumed == 0 && step->produced == 0 && take > 0) {
      return std::unexpected(Error(ErrorKind::io_error, "no progress"));
    }
  }
  if (auto finished = decoder.finish(); !finished) return std::unexpected(finished.error());
  return decoded;
}

TEST(ContentDecodingTest, EveryCodingRoundTripsInSmallPieces) {
  const auto text = sample_text(200 * 1024);
  for (const char* coding : {"gzip", "deflate", "br", "zstd"}) {
    const auto body = server::compress(coding, text);
    ASSERT_FALSE(body.empty()) << coding;
    ASSERT_LT(body.size(), text.size()) << coding;
    auto decoder = decoder_for(coding);
    ASSERT_TRUE(decoder);
    auto decoded = decode_all(*decoder, body, 7, 1000);
    ASSERT_TRUE(decoded) << coding << ": " << decoded.error().to_string();
    EXPECT_EQ(*decoded, text) << coding;
    EXPECT_EQ(decoder->bytes_in(), body.size()) << coding;
    EXPECT_EQ(decoder->bytes_out(), text.size()) << coding;
  }
}

TEST(ContentDecodingTest, ChainedCodingsAreUndoneLastFirst) {
  const auto text = sample_text(50 * 1024);
  const auto body = server::compress("br", server::compress("gzip", text));  // "gzip, br"
  auto decoder = decoder_for("gzip, br");
  ASSERT_TRUE(decoder);
  auto decoded = decode_all(*decoder, body, 100, 333);
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(*decoded, text);
}

TEST(ContentDecodingTest, NamesAreCaseInsensitiveAndIdentityNeedsNoDecoder) {
  EXPECT_TRUE(decoder_for("GZip"));
  EXPECT_TRUE(decoder_for("x-gzip"));
  auto identity = BodyDecoder::for_encoding("identity", {});
  ASSERT_TRUE(identity);
  EXPECT_EQ(*identity, nullptr);
}

TEST(ContentDecodingTest, AnUnknownCodingIsNamed) {
  auto decoder = BodyDecoder::for_encoding("gzip, compress", {});
  ASSERT_FALSE(decoder);
  EXPECT_EQ(decoder.error().kind(), ErrorKind::decompression_failed);
  EXPECT_NE(decoder.error().message().find("'compress'"), std::string::npos) << decoder.error().message();
}

TEST(ContentDecodingTest, RawDeflateIsAcceptedAsCurlDoes) {
  const auto text = sample_text(10 * 1024);
  std::string raw(compressBound(text.size()), '\0');
  z_stream stream{};
  ASSERT_EQ(deflateInit2(&stream, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(raw.data());
  stream.avail_out = static_cast<uInt>(raw.size());
  ASSERT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  raw.resize(stream.total_out);
  deflateEnd(&stream);
  auto decoder = decoder_for("deflate");
  auto decoded = decode_all(*decoder, raw, 4096, 4096);
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(*decoded, text);
}

TEST(ContentDecodingTest, ConcatenatedGzipMembersAreOneBody) {
  const auto body = server::compress("gzip", "first ") + server::compress("gzip", "second");
  auto decoded = decode_all(*decoder_for("gzip"), body, 5, 64);
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(*decoded, "first second");
}

TEST(ContentDecodingTest, ACorruptBodyFailsWithDecompressionFailed) {
  for (const char* coding : {"gzip", "deflate", "zstd"}) {  // each carries a checksum
    auto body = server::compress(coding, sample_text(20 * 1024));
    for (std::size_t i = body.size() / 2; i < body.size() / 2 + 8; ++i) body[i] = static_cast<char>(~body[i]);
    auto decoded = decode_all(*decoder_for(coding), body, 512, 4096);
    ASSERT_FALSE(decoded) << coding;
    EXPECT_EQ(decoded.error().kind(), ErrorKind::decompression_failed) << coding;
    EXPECT_NE(decoded.error().message().find("corrupt"), std::string::npos) << decoded.error().message();
  }
}

TEST(ContentDecodingTest, ATruncatedBodyFailsAtItsEnd) {
  for (const char* coding : {"gzip", "deflate", "br", "zstd"}) {
    auto body = server::compress(coding, sample_text(20 * 1024));
    body.resize(body.size() / 2);
    auto decoded = decode_all(*decoder_for(coding), body, 512, 4096);
    ASSERT_FALSE(decoded) << coding;
    EXPECT_EQ(decoded.error().kind(), ErrorKind::decompression_failed) << coding;
    EXPECT_NE(decoded.error().message().find("truncated"), std::string::npos) << decoded.error().message();
  }
}

TEST(ContentDecodingTest, BytesAfterTheEndOfTheStreamAreAnError) {
  for (const char* coding : {"br", "zstd", "deflate"}) {
    auto body = server::compress(coding, "hello") + "junk";
    auto decoded = decode_all(*decoder_for(coding), body, 64, 64);
    ASSERT_FALSE(decoded) << coding;
    EXPECT_EQ(decoded.error().kind(), ErrorKind::decompression_failed) << coding;
  }
}

TEST(ContentDecodingTest, AnEmptyBodyIsFine) {
  auto decoded = decode_all(*decoder_for("gzip"), "", 64, 64);
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(*decoded, "");
}

TEST(ContentDecodingTest, ABombStopsAtTheRatioLimitLongBeforeItsSize) {
  constexpr std::uint64_t kBombSize = 64u << 20;
  for (const char* coding : {"gzip", "br", "zstd"}) {
    const auto bomb = server::compressed_zeros(coding, kBombSize);
    ASSERT_FALSE(bomb.empty()) << coding;
    auto decoder = decoder_for(coding, Decompression{.enabled = true, .max_ratio = 100, .ratio_grace_bytes = 1 << 20});
    auto decoded = decode_all(*decoder, bomb, 4096, 64 * 1024);
    ASSERT_FALSE(decoded) << coding;
    EXPECT_EQ(decoded.error().kind(), ErrorKind::body_too_large) << coding;
    EXPECT_NE(decoded.error().message().find("decompression bomb"), std::string::npos) << decoded.error().message();
    EXPECT_LT(decoder->bytes_out(), 8u << 20) << coding << ": stopped soon after the grace";
  }
}

TEST(ContentDecodingTest, TheDecodedSizeLimitHolds) {
  const auto text = sample_text(3 << 20);
  const auto body = server::compress("zstd", text);
  auto decoder = decoder_for("zstd", Decompression{.enabled = true, .max_decoded_bytes = 1 << 20, .max_ratio = 0});
  auto decoded = decode_all(*decoder, body, 16 * 1024, 16 * 1024);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().kind(), ErrorKind::body_too_large);
  EXPECT_NE(decoded.error().message().find("max_decoded_bytes"), std::string::npos) << decoded.error().message();
  EXPECT_LE(decoder->bytes_out(), (1u << 20) + 16 * 1024);
}

}  // namespace
}  // namespace quiver::http

// http::CapsuleReader (RFC 9297 §3.2): DATAGRAM capsules out of a stream cut anywhere, unknown capsules
// skipped without buffering, malformed streams refused with H3_DATAGRAM_ERROR.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/capsule.hpp"
#include "util/varint.hpp"

namespace quiver::http {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

Bytes capsule(std::uint64_t type, const Bytes& value) {
  Bytes out;
  util::append_varint(out, type);
  util::append_varint(out, value.size());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

// Reads `stream` in pieces of `piece` bytes; returns the datagrams, or the first error.
Result<std::vector<std::string>> read_in_pieces(const Bytes& stream, std::size_t piece) {
  CapsuleReader reader;
  std::vector<std::string> datagrams;
  auto collect = [&](std::span<const std::uint8_t> datagram) { datagrams.emplace_back(datagram.begin(), datagram.end()); };
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    auto part = std::span<const std::uint8_t>(stream).subspan(at, std::min(piece, stream.size() - at));
    if (auto read = reader.read(part, collect); !read) return std::unexpected(read.error());
  }
  if (auto ended = reader.finish(); !ended) return std::unexpected(ended.error());
  return datagrams;
}

TEST(CapsuleReader, DatagramsSurviveAnyCutOfTheStream) {
  Bytes stream;
  Bytes big(20000, 'z');  // a four-byte length
  for (const auto& part : {capsule(kDatagramCapsule, bytes("one")), capsule(0x1234, bytes("ignored")),
                           capsule(kDatagramCapsule, {}), capsule(kDatagramCapsule, big),
                           capsule(kDatagramCapsule, bytes("last"))}) {
    stream.insert(stream.end(), part.begin(), part.end());
  }
  for (std::size_t piece : {1u, 2u, 3u, 7u, 64u, 100000u}) {
    auto datagrams = read_in_pieces(stream, piece);
    ASSERT_TRUE(datagrams) << datagrams.error().to_string() << " in pieces of " << piece;
    ASSERT_EQ(datagrams->size(), 4u) << piece;
    EXPECT_EQ((*datagrams)[0], "one");
    EXPECT_EQ((*datagrams)[1], "");
    EXPECT_EQ((*datagrams)[2], std::string(big.begin(), big.end()));
    EXPECT_EQ((*datagrams)[3], "last");
  }
}

TEST(CapsuleReader, UnknownCapsuleOfAnyLengthIsSkippedUnbuffered) {
  // A 1 GiB unknown capsule announced, 64 KiB of it delivered: skipped as it streams, then more to skip.
  Bytes header;
  util::append_varint(header, 0x2a);
  util::append_varint(header, std::uint64_t{1} << 30);
  CapsuleReader reader;
  int datagrams = 0;
  auto count = [&](std::span<const std::uint8_t>) { ++datagrams; };
  ASSERT_TRUE(reader.read(header, count));
  Bytes chunk(65536, 0);
  ASSERT_TRUE(reader.read(chunk, count));
  EXPECT_EQ(datagrams, 0);
  auto ended = reader.finish();  // the stream ends inside it: malformed
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().h3_code, h3_code::datagram_error);
}

TEST(CapsuleReader, DatagramCapsuleOverTheLimitIsMalformed) {
  Bytes header;
  util::append_varint(header, kDatagramCapsule);
  util::append_varint(header, kMaxDatagramCapsule + 1);
  CapsuleReader reader;
  auto read = reader.read(header, [](std::span<const std::uint8_t>) { FAIL() << "no datagram expected"; });
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().kind(), ErrorKind::protocol_error);
  EXPECT_EQ(read.error().h3_code, h3_code::datagram_error);
  EXPECT_NE(read.error().message().find("DATAGRAM capsule"), std::string::npos) << read.error().message();
  EXPECT_TRUE(reader.failed());
  EXPECT_FALSE(reader.read(bytes("more"), [](std::span<const std::uint8_t>) {}));  // nothing more is read
}

TEST(CapsuleReader, StreamEndingInsideAHeaderOrValueIsMalformed) {
  auto whole = capsule(kDatagramCapsule, bytes("payload"));
  for (std::size_t cut = 1; cut < whole.size(); ++cut) {
    auto datagrams = read_in_pieces(Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut)), 3);
    ASSERT_FALSE(datagrams) << "cut at " << cut;
    EXPECT_EQ(datagrams.error().h3_code, h3_code::datagram_error);
  }
  EXPECT_TRUE(read_in_pieces({}, 1));  // an empty stream is no capsule cut short
}

TEST(CapsuleReader, AppendedCapsuleReadsBack) {
  Bytes stream;
  append_datagram_capsule(stream, bytes("round trip"));
  auto datagrams = read_in_pieces(stream, 4);
  ASSERT_TRUE(datagrams);
  ASSERT_EQ(datagrams->size(), 1u);
  EXPECT_EQ(datagrams->front(), "round trip");
}

}  // namespace
}  // namespace quiver::http

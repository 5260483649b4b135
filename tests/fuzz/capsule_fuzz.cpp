// libFuzzer target: http::CapsuleReader (RFC 9297 §3.2 capsules on a channel's stream).
//
// Input format: the first byte sets the piece size (1 + byte % 64) the stream is fed in; the rest is the
// stream's bytes.
//
// Checks:
//  - reading never crashes, leaks or trips a sanitizer; an error is protocol_error with H3_DATAGRAM_ERROR,
//    and after it the reader stays failed;
//  - the result does not depend on how the stream is cut: in pieces and whole give the same datagrams
//    and the same outcome;
//  - no datagram is over kMaxDatagramCapsule;
//  - the datagrams written back as capsules (append_datagram_capsule) read back the same.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "http/capsule.hpp"

namespace {

struct Outcome {
  std::vector<std::string> datagrams;
  bool ok = true;
};

Outcome read(std::span<const std::uint8_t> stream, std::size_t piece) {
  quiver::http::CapsuleReader reader;
  Outcome outcome;
  auto collect = [&](std::span<const std::uint8_t> datagram) {
    FUZZ_CHECK(datagram.size() <= quiver::http::kMaxDatagramCapsule, "datagram over the limit");
    outcome.datagrams.emplace_back(datagram.begin(), datagram.end());
  };
  for (std::size_t at = 0; at < stream.size() && outcome.ok; at += piece) {
    auto read = reader.read(stream.subspan(at, std::min(piece, stream.size() - at)), collect);
    if (!read) {
      FUZZ_CHECK(read.error().kind() == quiver::ErrorKind::protocol_error, read.error().to_string());
      FUZZ_CHECK(read.error().h3_code == quiver::h3_code::datagram_error, read.error().to_string());
      FUZZ_CHECK(reader.failed(), "an error left the reader usable");
      outcome.ok = false;
    }
  }
  if (outcome.ok) outcome.ok = reader.finish().has_value();
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const std::span<const std::uint8_t> stream(data + 1, size - 1);
  const Outcome in_pieces = read(stream, piece);
  const Outcome whole = read(stream, stream.size() + 1);
  FUZZ_CHECK(in_pieces.ok == whole.ok, "the outcome depends on the cut");
  if (!whole.ok) return 0;
  FUZZ_CHECK(in_pieces.datagrams == whole.datagrams, "the datagrams depend on the cut");

  std::vector<std::uint8_t> rewritten;
  for (const auto& datagram : whole.datagrams) {
    quiver::http::append_datagram_capsule(
        rewritten, {reinterpret_cast<const std::uint8_t*>(datagram.data()), datagram.size()});
  }
  const Outcome again = read(rewritten, piece);
  FUZZ_CHECK(again.ok && again.datagrams == whole.datagrams, "rewritten capsules read back differently");
  return 0;
}

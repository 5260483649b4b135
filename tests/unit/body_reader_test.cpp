// http::BodyReaderImpl on its own: where arriving bytes go (the consumer's buffer or blocks), the order
// the consumer sees them in, and the flow-control credit handed back as they are read. The worker's
// pushes are played by the test on the reader's executor, as a receive burst would make them.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <fmt/format.h>

#include "http/body_reader_impl.hpp"

namespace quiver {
namespace {

class CreditLog final : public http::BodyReaderOwner {
 public:
  void on_body_consumed(std::int64_t, std::size_t bytes) override { credit += bytes; }
  void on_body_abandoned(http::RequestId) override { ++abandoned; }
  void on_body_finished(http::RequestId, const std::optional<Error>&) override { ++finished; }
  std::size_t credit = 0;
  int abandoned = 0;
  int finished = 0;
};

struct Reader {
  asio::io_context io;
  std::shared_ptr<CreditLog> owner = std::make_shared<CreditLog>();
  std::shared_ptr<http::BodyReaderImpl> body = std::make_shared<http::BodyReaderImpl>(
      http::ReaderResources{io.get_executor(), std::make_shared<http::BlockPool>(),
                            std::make_shared<http::PostedAnswers>()},
      owner, /*id=*/1, /*stream_id=*/0, std::chrono::milliseconds(0));

  void push(const std::string& bytes) {
    body->push({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  // Starts a buffer read into `into` (resized to `capacity`); the result lands in `read` once io runs.
  void read_some(std::string& into, std::size_t capacity, std::optional<Result<std::size_t>>& read) {
    into.assign(capacity, '\0');
    body->async_read_some({into.data(), into.size()}, [&read](Result<std::size_t> result) { read = result; });
  }
};

std::string run_of(char c, std::size_t n) { return std::string(n, c); }

// Bytes as runs of one character, e.g. "a×3000 b×1000": readable when a comparison fails.
std::string runs(std::string_view bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t j = bytes.find_first_not_of(bytes[i], i);
    if (j == std::string_view::npos) j = bytes.size();
    out += fmt::format("{}{}×{}", out.empty() ? "" : " ", bytes[i] == '\0' ? '0' : bytes[i], j - i);
    i = j;
  }
  return out;
}

// A read that finds bytes in blocks answers from a posted step; bytes arriving before that step runs go
// into the same buffer, after the buffered ones, instead of into blocks: one answer, one copy each.
TEST(BodyReaderTest, BytesArrivingWhileAReadIsAnsweredJoinItsBuffer) {
  Reader reader;
  reader.push(run_of('a', 3000));  // no read waits: kept in a block
  EXPECT_EQ(reader.body->buffered_bytes(), 3000u);
  EXPECT_EQ(reader.owner->credit, 0u);

  std::string buffer;
  std::optional<Result<std::size_t>> read;
  reader.read_some(buffer, 64 * 1024, read);
  EXPECT_FALSE(read.has_value()) << "answered inside the initiating call";
  reader.push(run_of('b', 1000));  // the next packet, before the answer's step has run

  reader.io.run();
  ASSERT_TRUE(read.has_value());
  ASSERT_TRUE(read->has_value()) << read->error().message();
  EXPECT_EQ(**read, 4000u) << "the bytes that arrived meanwhile went elsewhere";
  EXPECT_EQ(runs(buffer.substr(0, 4000)), "a×3000 b×1000");
  EXPECT_EQ(reader.body->buffered_bytes(), 0u);
  EXPECT_EQ(reader.owner->credit, 4000u);
}

// When the buffer cannot take every buffered byte, later bytes queue behind them: order is kept.
TEST(BodyReaderTest, ASmallBufferKeepsTheOrderOfBufferedAndArrivingBytes) {
  Reader reader;
  reader.push(run_of('a', 3000));

  std::string first;
  std::optional<Result<std::size_t>> read;
  reader.read_some(first, 2000, read);
  reader.push(run_of('b', 500));
  reader.io.run();
  ASSERT_TRUE(read.has_value() && read->has_value());
  EXPECT_EQ(**read, 2000u);
  EXPECT_EQ(runs(first), "a×2000");
  EXPECT_EQ(reader.owner->credit, 2000u);

  std::string second;
  read.reset();
  reader.read_some(second, 64 * 1024, read);
  reader.io.restart();
  reader.io.run();
  ASSERT_TRUE(read.has_value() && read->has_value());
  EXPECT_EQ(**read, 1500u);
  EXPECT_EQ(runs(second.substr(0, 1500)), "a×1000 b×500");
  EXPECT_EQ(reader.owner->credit, 3500u);
}

// A read waiting with an empty queue takes arriving bytes straight into its buffer and is answered once
// for the whole burst; the end of the body then comes as a read of 0.
TEST(BodyReaderTest, AWaitingReadTakesABurstInOneAnswerThenTheEnd) {
  Reader reader;
  std::string buffer;
  std::optional<Result<std::size_t>> read;
  reader.read_some(buffer, 64 * 1024, read);
  reader.io.run();
  EXPECT_FALSE(read.has_value()) << "answered with nothing to give";

  reader.push(run_of('x', 1200));
  reader.push(run_of('y', 1200));
  EXPECT_EQ(reader.body->buffered_bytes(), 0u) << "copied into blocks while a read waited";
  EXPECT_EQ(reader.owner->credit, 2400u);
  reader.io.restart();
  reader.io.run();
  ASSERT_TRUE(read.has_value() && read->has_value());
  EXPECT_EQ(**read, 2400u);
  EXPECT_EQ(runs(buffer.substr(0, 2400)), "x×1200 y×1200");

  reader.body->finish();
  read.reset();
  reader.read_some(buffer, 64 * 1024, read);
  reader.io.restart();
  reader.io.run();
  ASSERT_TRUE(read.has_value() && read->has_value());
  EXPECT_EQ(**read, 0u);
  EXPECT_EQ(reader.owner->finished, 1);
}

}  // namespace
}  // namespace quiver

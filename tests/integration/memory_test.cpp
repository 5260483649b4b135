// Memory stays bounded by the flow-control windows, however large the body and however slow the consumer.
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "test_server/routes.hpp"
#include "support/connection_fixture.hpp"

namespace quiver::test {
namespace {

// Resident set size of this process (client and in-process server together), in bytes.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// FNV-1a over the bytes (the server's own digest), so 200 MB can be compared without keeping them.
struct Digest {
  std::uint64_t value = server::kFnv1aBasis;
  void add(std::string_view bytes) {
    value = server::fnv1a({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, value);
  }
};

TEST_F(ConnectionTest, TwoHundredMegabytesReadSlowlyKeepMemoryBounded) {
  start_server();
  auto options = test_client_options();
  options.stream_window = 1 << 20;
  options.connection_window = 4 << 20;
  connect(options);
  std::optional<Result<h3::StreamingResponse>> head;
  constexpr std::size_t kSize = 200u << 20;
  connection_->stream(get(fmt::format("/bytes/{}", kSize)), [&](Result<h3::StreamingResponse> r) { head = std::move(r); });
  ASSERT_TRUE(run_until(io_, [&] { return head.has_value(); }));
  ASSERT_TRUE(*head);
  auto& body = *(*head)->body;

  std::size_t baseline = resident_bytes(), peak = baseline, received = 0, reads = 0;
  Digest got, expected;
  bool ended = false;
  std::optional<Error> error;
  while (!ended && !error) {
    std::optional<Result<std::optional<std::string>>> chunk;
    body.async_read(64 * 1024, [&](Result<std::optional<std::string>> r) { chunk = std::move(r); });
    ASSERT_TRUE(run_until(io_, [&] { return chunk.has_value(); }, 10s));
    if (!*chunk) {
      error = chunk->error();
    } else if (!**chunk) {
      ended = true;
    } else {
      got.add(***chunk);
      expected.add(deterministic_bytes(received, (**chunk)->size()));
      received += (**chunk)->size();
      EXPECT_LE(body.buffered_bytes(), options.stream_window);
      if (++reads % 64 == 0) peak = std::max(peak, resident_bytes());
      if (reads % 256 == 0) std::this_thread::sleep_for(1ms);  // a consumer slower than the network
    }
  }
  ASSERT_FALSE(error) << error->to_string();
  EXPECT_EQ(received, kSize);
  EXPECT_EQ(got.value, expected.value);
  // Windows (1 MB stream, 4 MB connection) plus the server's send buffers: far below the body size.
  EXPECT_LT(peak - baseline, 48u << 20) << "resident memory grew by " << ((peak - baseline) >> 20) << " MB";
}

// Uploads 200 MB to the server's /slow-upload route, which consumes at `rate`, while sampling memory.
class UploadMemoryTest : public ConnectionTest {
 protected:
  static constexpr std::size_t kSize = 200u << 20;
  static constexpr std::size_t kChunk = 64u << 10;

  void upload_and_check(RequestBody body) {
    start_server();
    auto options = test_client_options();
    options.send_buffer = 256u << 10;
    connect(options);
    Request request = get("/slow-upload?rate=400000000");
    request.method = "POST";
    request.body = std::move(body);
    std::optional<Result<Response>> reply;
    connection_->request(std::move(request), [&](Result<Response> r) { reply = std::move(r); });
    std::size_t baseline = resident_bytes(), peak = baseline;
    ASSERT_TRUE(run_until(io_, [&] {
      peak = std::max(peak, resident_bytes());
      return reply.has_value();
    }, 60s));
    ASSERT_TRUE(*reply) << reply->error().to_string();
    Digest expected;
    for (std::size_t offset = 0; offset < kSize; offset += kChunk) expected.add(deterministic_bytes(offset, kChunk));
    EXPECT_EQ((*reply)->body, fmt::format("received {} bytes fnv1a-{:016x}", kSize, expected.value));
    // The send buffer plus the server's receive windows; the body is 200 MB.
    EXPECT_LT(peak - baseline, 48u << 20) << "resident memory grew by " << ((peak - baseline) >> 20) << " MB";
  }
};

TEST_F(UploadMemoryTest, TwoHundredMegabytesFromAProducerToASlowReaderKeepMemoryBounded) {
  auto offset = std::make_shared<std::size_t>(0);
  upload_and_check(RequestBody::from_producer([offset]() -> std::optional<std::string> {
    if (*offset >= kSize) return std::nullopt;
    std::string chunk = deterministic_bytes(*offset, kChunk);
    *offset += kChunk;
    return chunk;
  }));
}

TEST_F(UploadMemoryTest, TwoHundredMegabytesFromAFileToASlowReaderKeepMemoryBounded) {
  auto path = std::filesystem::temp_directory_path() / fmt::format("quiver-upload-{}.bin", ::getpid());
  {
    std::ofstream file(path, std::ios::binary);
    for (std::size_t offset = 0; offset < kSize; offset += kChunk) file << deterministic_bytes(offset, kChunk);
  }
  upload_and_check(RequestBody::from_file(path.string()));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace quiver::test

// Memory and load (issue 7): a consumer that stops reading holds no more than the flow-control windows,
// and an upload to a slow reader keeps no more than the send buffer ahead of what the reader accepted.
#include <asio/io_context.hpp>

#include "faults/fault_support.hpp"

namespace quiver::test {
namespace {

constexpr std::size_t kKiB = 1024, kMiB = 1024 * 1024;

TEST(MemoryAndLoad, ConsumerThatStopsReadingAHundredMegabytesHoldsNoMoreThanTheWindows) {
  server::Server server(test_server_options());
  start_or_throw(server);
  asio::io_context io;
  auto options = test_client_options();
  options.stream_window = 1 * kMiB;
  options.connection_window = 4 * kMiB;
  auto connection = h3::Connection::create(io.get_executor(), quiver::Origin{"127.0.0.1", server.port()}, options);
  connection->start();
  constexpr std::size_t kSize = 100 * kMiB;
  Request request;
  request.url = *Url::parse(fmt::format("https://127.0.0.1:{}/bytes/{}", server.port(), kSize));
  std::optional<Result<h3::StreamingResponse>> head;
  connection->stream(request, [&](Result<h3::StreamingResponse> r) { head = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return head.has_value(); }, 10s));
  ASSERT_TRUE(*head) << head->error().to_string();
  auto& body = *(*head)->body;

  // Stop reading for 2 s while the connection keeps running. Memory is measured as heap in use (client and
  // in-process server together) and as the resident set.
  std::size_t heap_baseline = heap_in_use(), heap_peak = heap_baseline;
  std::size_t rss_baseline = resident_bytes(), rss_peak = rss_baseline, peak_buffered = 0;
  auto stall_end = Clock::now() + 2s;
  run_until(io, [&] {
    heap_peak = std::max(heap_peak, heap_in_use());
    rss_peak = std::max(rss_peak, resident_bytes());
    peak_buffered = std::max(peak_buffered, body.buffered_bytes());
    return Clock::now() >= stall_end;
  }, 3s);
  EXPECT_LE(peak_buffered, options.stream_window);
  EXPECT_GE(peak_buffered, options.stream_window / 2) << "the window never filled: the test measured nothing";
  std::size_t growth = heap_peak - heap_baseline, rss_growth = rss_peak - rss_baseline;
  auto limit = static_cast<std::size_t>(1.1 * static_cast<double>(options.stream_window + options.connection_window));
  EXPECT_LE(growth, limit) << "criterion: the configured windows + 10%";
  EXPECT_LE(rss_growth, limit) << "criterion: the configured windows + 10%";

  // Reading again resumes the transfer: 8 MB more arrive intact.
  std::size_t received = 0;
  bool intact = true;
  while (received < 8 * kMiB) {
    std::optional<Result<std::optional<std::string>>> chunk;
    body.async_read(256 * kKiB, [&](Result<std::optional<std::string>> r) { chunk = std::move(r); });
    ASSERT_TRUE(run_until(io, [&] { return chunk.has_value(); }, 10s));
    ASSERT_TRUE(*chunk && **chunk) << "the body stopped";
    intact = intact && ***chunk == deterministic_bytes(received, (**chunk)->size());
    received += (**chunk)->size();
  }
  EXPECT_TRUE(intact);
  body.cancel();
  connection->close();
  run_until(io, [] { return false; }, 20ms);
  report(fmt::format("stalled 2 s on a 100 MiB body: {} KiB buffered (stream window {} KiB); growth while stalled: "
                     "heap {} KiB, resident {} KiB (limit {} KiB = 1.1 x (stream + connection windows)); reading "
                     "resumed intact",
                     peak_buffered / kKiB, options.stream_window / kKiB, growth / kKiB, rss_growth / kKiB,
                     limit / kKiB));
}

constexpr double kRate = 1'000'000;  // /slow-upload's reading rate, bytes per second
constexpr std::size_t kTotal = 2'000'000, kChunk = 16 * kKiB;

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

// /slow-upload?rate=R reads R bytes per second and returns stream credit only for what it has read, so the
// server can have accepted at most (its stream window + R x elapsed) bytes. Whatever the producer has handed
// the library beyond that is buffered in the library, and must stay within ConnectionOptions::send_buffer
// (one chunk of slack: the library asks for a chunk while there is room, and a chunk may overshoot it).
TEST(MemoryAndLoad, UploadToASlowReaderBuffersNoMoreThanTheSendBuffer) {
  auto server_options = test_server_options();
  server_options.stream_window = 64 * kKiB;
  server::Server server(server_options);
  start_or_throw(server);
  ClientOptions options;
  options.defaults.connection = test_client_options();
  options.defaults.connection.send_buffer = 128 * kKiB;
  options.shutdown_deadline = 500ms;
  Client client(options);

  struct Producer {
    std::size_t produced = 0;
    std::optional<Clock::time_point> first_call;
    double max_ahead = -1e18;  // produced - (what the reader can have accepted), at its worst
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    int calls = 0;
  };
  auto state = std::make_shared<Producer>();  // touched only on the client's io thread until the reply
  auto producer = [state, window = static_cast<double>(server_options.stream_window)]() -> std::optional<std::string> {
    auto now = Clock::now();
    if (!state->first_call) state->first_call = now;
    ++state->calls;
    if (state->produced >= kTotal) return std::nullopt;
    std::string chunk = deterministic_bytes(state->produced, std::min(kChunk, kTotal - state->produced));
    state->produced += chunk.size();
    state->hash = fnv1a(chunk, state->hash);
    double accepted = window + kRate * std::chrono::duration<double>(now - *state->first_call).count();
    state->max_ahead = std::max(state->max_ahead, static_cast<double>(state->produced) - accepted);
    return chunk;
  };
  auto started = Clock::now();
  auto response = client.request(post(fmt::format("https://127.0.0.1:{}/slow-upload?rate={}", server.port(),
                                                  static_cast<std::uint64_t>(kRate)))
                                     .body_from_producer(producer)
                                     .timeout(20s));
  double took = seconds_since(started);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, fmt::format("received {} bytes fnv1a-{:016x}", kTotal, state->hash));
  // The reader really was the bottleneck.
  EXPECT_GE(took, (kTotal - server_options.stream_window) / kRate * 0.9);
  auto limit = static_cast<double>(options.defaults.connection.send_buffer + kChunk);
  EXPECT_LE(state->max_ahead, limit) << "criterion: send buffer (+ one chunk)";
  report(fmt::format("2 MB at 1 MB/s in {:.2f} s: at worst {:.0f} KiB produced beyond what the reader could have "
                     "accepted (send buffer {} KiB + one {} KiB chunk allowed); {} producer calls",
                     took, state->max_ahead / kKiB, options.defaults.connection.send_buffer / kKiB, kChunk / kKiB,
                     state->calls));
}

}  // namespace
}  // namespace quiver::test

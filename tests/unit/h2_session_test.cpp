// h2::H2Session against an nghttp2 server session in memory: what the client's SETTINGS let a server do.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "h2/h2_session.hpp"
#include "http/request_fields.hpp"

namespace quiver::h2 {
namespace {

// Records what the client session reports; the test reads it.
class RecordingEvents final : public SessionEvents {
 public:
  void on_settings() override {}
  void on_response_headers(std::int32_t, int status_code, Headers) override { status = status_code; }
  void on_response_data(std::int32_t, std::span<const std::uint8_t> data) override {
    body.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  void on_response_trailers(std::int32_t, Headers) override {}
  void on_response_end(std::int32_t) override { ended = true; }
  void on_stream_reset(std::int32_t, std::uint32_t) override {}
  void on_stream_closed(std::int32_t, std::uint32_t) override {}
  void on_goaway(std::int32_t, std::uint32_t) override {}
  void on_header_section_too_large(std::int32_t, bool, std::uint64_t) override {}
  void on_body_wanted(std::int32_t) override {}

  int status = 0;
  std::string body;
  bool ended = false;
};

// A server that answers every request with `body`, in DATA frames as large as the client allows (the
// read-length callback asks for everything the windows and the client's SETTINGS_MAX_FRAME_SIZE permit).
class MemoryServer {
 public:
  explicit MemoryServer(std::string body) : body_(std::move(body)) {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
    nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks, read_length);
    nghttp2_session* raw = nullptr;
    nghttp2_session_server_new(&raw, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    session_.reset(raw);
    nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, nullptr, 0);
  }

  void receive(std::span<const std::uint8_t> bytes) {
    ASSERT_EQ(nghttp2_session_mem_recv(session_.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  std::string output() {
    std::string out;
    const std::uint8_t* data = nullptr;
    for (ssize_t n; (n = nghttp2_session_mem_send(session_.get(), &data)) > 0;) {
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    return out;
  }
  std::uint32_t client_max_frame_size() const {
    return nghttp2_session_get_remote_settings(session_.get(), NGHTTP2_SETTINGS_MAX_FRAME_SIZE);
  }
  std::size_t largest_data_frame = 0;

 private:
  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& self = *static_cast<MemoryServer*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS || (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    const nghttp2_nv status{reinterpret_cast<std::uint8_t*>(const_cast<char*>(":status")),
                            reinterpret_cast<std::uint8_t*>(const_cast<char*>("200")), 7, 3, NGHTTP2_NV_FLAG_NONE};
    nghttp2_data_provider provider{};
    provider.read_callback = read_body;
    self.sent_[frame->hd.stream_id] = 0;
    return nghttp2_submit_response(session, frame->hd.stream_id, &status, 1, &provider);
  }
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& self = *static_cast<MemoryServer*>(user);
    if (frame->hd.type == NGHTTP2_DATA) self.largest_data_frame = std::max(self.largest_data_frame, frame->hd.length);
    return 0;
  }
  static ssize_t read_length(nghttp2_session*, std::uint8_t, std::int32_t, std::int32_t connection_window,
                             std::int32_t stream_window, std::uint32_t max_frame_size, void*) {
    return std::min<ssize_t>({connection_window, stream_window, max_frame_size});
  }
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source*, void* user) {
    auto& self = *static_cast<MemoryServer*>(user);
    std::size_t& sent = self.sent_[stream_id];
    const std::size_t n = std::min(length, self.body_.size() - sent);
    std::copy_n(self.body_.data() + sent, n, buf);
    sent += n;
    if (sent == self.body_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  struct Delete {
    void operator()(nghttp2_session* s) const noexcept { nghttp2_session_del(s); }
  };
  std::unique_ptr<nghttp2_session, Delete> session_;
  std::string body_;
  std::map<std::int32_t, std::size_t> sent_;
};

std::vector<Header> get_fields() {
  Request request;
  request.url = *Url::parse("https://memory.example/large");
  return *http::build_request_fields(request);
}

std::string client_output(H2Session& client) {
  std::string out;
  for (;;) {
    auto next = client.next_output();
    if (!next || next->empty()) return out;
    out.append(reinterpret_cast<const char*>(next->data()), next->size());
  }
}

std::span<const std::uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

constexpr SessionOptions kOptions{.stream_window = 4 << 20, .connection_window = 16 << 20,
                                  .max_response_header_bytes = 64 << 10, .send_buffer = 64 << 10};

TEST(H2SessionTest, AllowsDataFramesLargerThanTheDefaultSixteenKilobytes) {
  std::string body(1 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 + i / 4096);
  RecordingEvents events;
  H2Session client(events, kOptions);
  ASSERT_TRUE(client.start());
  MemoryServer server(body);
  ASSERT_TRUE(client.submit_request(get_fields(), {}));
  server.receive(bytes_of(client_output(client)));
  // A few exchanges: the server answers, the client acknowledges, until the body is complete.
  for (int turn = 0; turn < 8 && !events.ended; ++turn) {
    ASSERT_TRUE(client.receive(bytes_of(server.output())));
    server.receive(bytes_of(client_output(client)));
  }
  EXPECT_GT(server.client_max_frame_size(), 16u * 1024);
  EXPECT_GT(server.largest_data_frame, 16u * 1024) << "the server could send only default-sized frames";
  EXPECT_EQ(events.status, 200);
  EXPECT_TRUE(events.ended);
  EXPECT_TRUE(events.body == body) << "the body arrived altered (" << events.body.size() << " bytes)";
}

TEST(H2SessionTest, AFrameOverTheAdvertisedMaximumIsAConnectionError) {
  RecordingEvents events;
  H2Session client(events, kOptions);
  ASSERT_TRUE(client.start());
  MemoryServer server("");
  server.receive(bytes_of(client_output(client)));
  ASSERT_TRUE(client.receive(bytes_of(server.output())));
  const std::uint32_t too_long = server.client_max_frame_size() + 1;
  // A PING frame header announcing more than the maximum: rejected before any payload is buffered.
  const std::uint8_t header[] = {static_cast<std::uint8_t>(too_long >> 16), static_cast<std::uint8_t>(too_long >> 8),
                                 static_cast<std::uint8_t>(too_long), NGHTTP2_PING, 0, 0, 0, 0, 0};
  const bool failed = !client.receive(header);
  client_output(client);  // the GOAWAY nghttp2 queued for it
  EXPECT_TRUE(failed || !client.alive()) << "an oversized frame was accepted";
}

}  // namespace
}  // namespace quiver::h2

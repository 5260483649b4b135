// The test controls: what they make a connection do besides serving, through the connection's hooks —
// the role of each new request stream (Server::hold_streams_from, refuse_new_streams,
// goaway_after_requests), the request limit's GOAWAY and resets, reject_first_per_path, the first-flight
// GOAWAY, and /misbehave's raw bytes (written by misbehave.cpp).
#include "test_server/test_controls.hpp"

#include <unordered_map>

#include <nghttp3/nghttp3.h>

#include "test_server/misbehave.hpp"
#include "test_server/routes.hpp"

namespace quiver::server {
namespace {

class TestControls final : public ConnectionHooks {
 public:
  TestControls(const ServerOptions& options, ServerShared& shared) : options_(options), shared_(shared) {}

  // ServerOptions::goaway_in_first_flight. No request stream can have reached nghttp3 yet (the client
  // has no 1-RTT keys), so the GOAWAY's id is 0.
  void on_http3_started(ConnectionControl& control) override {
    if (options_.goaway_in_first_flight) control.goaway_and_close_when_idle(NGHTTP3_H3_NO_ERROR);
  }

  StreamRole on_request_stream_open(std::int64_t stream_id, ConnectionControl& control) override;
  std::optional<std::uint64_t> on_request_headers(std::int64_t stream_id, const RouteRequest& request,
                                                  ConnectionControl& control) override;
  void on_request_stream_closed(std::int64_t stream_id, ConnectionControl& control) override;

  // /misbehave/CASE: the plan's raw bytes instead of a response.
  bool take_over_response(std::int64_t stream_id, ResponsePlan& plan, ConnectionControl& control) override {
    if (!plan.raw) return false;
    write_raw_response(stream_id, std::move(*plan.raw), control);
    return true;
  }

 private:
  // A request stream the request limit cares about (goaway_after_requests > 0 only): the served ones
  // below 4N until they count, and the over-limit ones at or above 4N until they close.
  struct LimitedStream {
    bool over_limit = false;  // id >= 4N: held; reset with H3_INTERNAL_ERROR in the reset modes
    bool counted = false;     // served: counted towards the limit (headers in, or closed before them)
    bool reset_sent = false;  // over_limit: reset already
  };

  bool limited() const noexcept { return options_.goaway_after_requests > 0; }
  std::uint64_t limit_id() const noexcept { return 4 * options_.goaway_after_requests; }
  void count_request(LimitedStream& stream, ConnectionControl& control);
  void on_request_limit(ConnectionControl& control);
  void reset_over_limit(std::int64_t stream_id, LimitedStream& stream, ConnectionControl& control);

  const ServerOptions& options_;
  ServerShared& shared_;
  std::unordered_map<std::int64_t, LimitedStream> limited_streams_;  // open ones, by id
  std::uint64_t requests_arrived_ = 0;  // served streams counted towards goaway_after_requests
  bool resetting_over_limit_ = false;   // reset modes, once the limit is reached: over-limit streams are reset
};

// The role is fixed here, from the server's controls at this moment. Precedence: refused, over the
// request limit, held.
StreamRole TestControls::on_request_stream_open(std::int64_t stream_id, ConnectionControl& control) {
  const auto id = static_cast<std::uint64_t>(stream_id);
  if (shared_.refuse_new_streams.load()) {
    ++shared_.streams_refused;
    control.reset_request_stream(stream_id, NGHTTP3_H3_REQUEST_REJECTED);
    return StreamRole::held;
  }
  if (limited() && id >= limit_id()) {
    ++shared_.streams_over_limit;
    auto& stream = limited_streams_[stream_id] = {.over_limit = true};
    if (resetting_over_limit_) reset_over_limit(stream_id, stream, control);
    return StreamRole::held;
  }
  if (id >= shared_.hold_from.load()) {
    ++shared_.streams_held;
    return StreamRole::held;
  }
  if (limited()) limited_streams_[stream_id] = {};
  return StreamRole::served;
}

std::optional<std::uint64_t> TestControls::on_request_headers(std::int64_t stream_id, const RouteRequest& request,
                                                              ConnectionControl& control) {
  if (auto it = limited_streams_.find(stream_id); it != limited_streams_.end()) count_request(it->second, control);
  if (options_.reject_first_per_path > 0 && shared_.reject_request_for(request.target, options_.reject_first_per_path)) {
    ++shared_.requests_rejected;
    return NGHTTP3_H3_REQUEST_REJECTED;
  }
  return std::nullopt;
}

// A served stream that closes before its headers ended (a cancelled request) counts too.
void TestControls::on_request_stream_closed(std::int64_t stream_id, ConnectionControl& control) {
  auto it = limited_streams_.find(stream_id);
  if (it == limited_streams_.end()) return;
  count_request(it->second, control);
  limited_streams_.erase(it);
}

// A served stream counts once. Once N have counted, every stream below 4N reached nghttp3, so the
// GOAWAY's id is 4N.
void TestControls::count_request(LimitedStream& stream, ConnectionControl& control) {
  if (stream.over_limit || stream.counted) return;
  stream.counted = true;
  if (++requests_arrived_ == options_.goaway_after_requests) on_request_limit(control);
}

void TestControls::on_request_limit(ConnectionControl& control) {
  const auto mode = options_.goaway_after_requests_mode;
  control.goaway_and_close_when_idle(mode == GoawayAfterRequests::reset_above ? NGHTTP3_H3_EXCESSIVE_LOAD
                                                                              : NGHTTP3_H3_NO_ERROR);
  if (mode == GoawayAfterRequests::graceful) return;
  if (mode == GoawayAfterRequests::reset_above_and_close_now) control.close_after_next_write(NGHTTP3_H3_EXCESSIVE_LOAD);
  resetting_over_limit_ = true;  // streams opening from now on are reset as they open
  for (auto& [id, stream] : limited_streams_) reset_over_limit(id, stream, control);
}

void TestControls::reset_over_limit(std::int64_t stream_id, LimitedStream& stream, ConnectionControl& control) {
  if (!stream.over_limit || stream.reset_sent) return;
  stream.reset_sent = true;
  control.reset_request_stream(stream_id, NGHTTP3_H3_INTERNAL_ERROR);
}

}  // namespace

std::unique_ptr<ConnectionHooks> make_test_controls(const ServerOptions& options, ServerShared& shared) {
  return std::make_unique<TestControls>(options, shared);
}

}  // namespace quiver::server

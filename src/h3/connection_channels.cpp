// The worker's channels (http::Connection::channel): extended CONNECT gated on the server's SETTINGS
// (RFC 9220), HTTP datagrams routed by stream (RFC 9297). A channel is a streaming call that also has a
// datagram endpoint; it uses a stream of the credit like any request.
#include <asio/post.hpp>
#include <fmt/format.h>

#include "h3/connection_impl.hpp"

namespace quiver::h3 {

ChannelSupport ConnectionImpl::channel_support() const noexcept {
  if (!peer_settings_) return {};
  bool datagrams = peer_settings_->h3_datagram && transport_ && transport_->max_datagram_payload() > 0;
  return ChannelSupport{.settings_known = true, .extended_connect = peer_settings_->extended_connect,
                        .datagrams = datagrams};
}

// Inside nghttp3 (the control stream's SETTINGS): recorded; channels that waited for them go out from a
// posted step.
void ConnectionImpl::on_peer_settings(const PeerSettings& settings) {
  peer_settings_ = settings;
  asio::post(executor_, [self = std::static_pointer_cast<ConnectionImpl>(shared_from_this())] {
    if (self->state_ == ConnectionState::connected) self->send_waiting();
  });
}

// An extended CONNECT waits for the server's SETTINGS: only they say whether :protocol may be sent.
bool ConnectionImpl::waits_for_settings(const Call& call) const { return call.extended && !peer_settings_; }

std::optional<Error> ConnectionImpl::channel_refusal(const Call& call) const {
  if (!call.extended || !peer_settings_ || peer_settings_->extended_connect) return std::nullopt;
  return Error(ErrorKind::extended_connect_disabled,
               fmt::format("{} did not enable extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 9220): "
                           "a channel with a :protocol cannot be opened there",
                           origin_.to_string()));
}

// At the response head (inside nghttp3): a 2xx opens the datagram side, which sends through the session
// from the executor; any other status ends it (the head and body still reach the caller).
void ConnectionImpl::open_channel_endpoint(Call& call, const Headers& response_headers) {
  const std::int64_t stream_id = *call.stream_id;
  if (call.response.status < 200 || call.response.status > 299) {
    end_channel(call, Error(ErrorKind::channel_closed,
                            fmt::format("the channel was not opened: the server answered {}", call.response.status)));
    return;
  }
  std::weak_ptr<ConnectionImpl> weak = std::static_pointer_cast<ConnectionImpl>(shared_from_this());
  http::ChannelEndpoint::Link link{
      .send = [weak, stream_id](std::span<const std::uint8_t> payload) -> Result<void> {
        auto self = weak.lock();
        if (!self || !self->session_ || self->state_ == ConnectionState::closed) {
          return std::unexpected(Error(ErrorKind::channel_closed, "the channel's connection is closed"));
        }
        return self->session_->send_datagram(stream_id, payload);
      },
      .backlog = [weak]() -> std::size_t {
        auto self = weak.lock();
        return self && self->transport_ ? self->transport_->queued_datagrams() : 0;
      },
      .max_size = [weak, stream_id]() -> std::size_t {
        auto self = weak.lock();
        return self && self->session_ ? self->session_->max_datagram_size(stream_id) : 0;
      }};
  call.channel->attach(std::move(link), channel_support().datagrams);
  // RFC 9297 §3.4: `capsule-protocol: ?1` (a structured-field boolean) says the stream carries capsules.
  if (response_headers.get("capsule-protocol") == "?1") call.capsules = std::make_unique<http::CapsuleReader>();
}

// Inside nghttp3: the channel's stream data, read as capsules. The bytes are ours, so their credit goes
// back at once; what a capsule carries goes to the endpoint (queued or dropped there, never blocking).
void ConnectionImpl::read_capsules(Call& call, std::span<const std::uint8_t> data) {
  session_->consume(*call.stream_id, data.size());
  if (call.capsules->failed()) return;
  auto read = call.capsules->read(data, [&call](std::span<const std::uint8_t> datagram) {
    call.channel->deliver(datagram);
  });
  if (!read) fail_capsules(call, read.error());
}

// A malformed capsule stream ends the channel (RFC 9297 §3.3): its stream is reset with H3_DATAGRAM_ERROR,
// from a posted step because this runs inside nghttp3, and the call fails with the error.
void ConnectionImpl::fail_capsules(Call& call, const Error& error) {
  const std::int64_t stream_id = *call.stream_id;
  Error failure = error;
  failure.stream_id = static_cast<std::uint64_t>(stream_id);
  asio::post(executor_, [weak = std::weak_ptr<ConnectionImpl>(std::static_pointer_cast<ConnectionImpl>(shared_from_this())),
                         stream_id] {
    auto self = weak.lock();
    if (self && self->session_) self->session_->reset_stream(stream_id, h3_code::datagram_error);
  });
  fail(call, failure);
}

void ConnectionImpl::end_channel(Call& call, const Error& reason) {
  if (call.channel) call.channel->close(reason);
}

// Inside ngtcp2: a datagram for an open channel goes to its endpoint; one for any other stream (unknown,
// closed, not a channel, not yet 2xx) is dropped and counted (RFC 9297 §2.1: no error).
void ConnectionImpl::on_datagram(std::int64_t stream_id, std::span<const std::uint8_t> payload) {
  Call* call = call_on_stream(stream_id);
  if (call == nullptr || !call->channel || !call->answered || !call->channel->datagrams_enabled()) {
    ++datagrams_unrouted_;
    return;
  }
  call->channel->deliver(payload);
}

}  // namespace quiver::h3

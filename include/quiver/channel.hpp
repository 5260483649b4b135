#pragma once
// quiver::Channel — a request stream kept open both ways, with HTTP datagrams (RFC 9297): an extended
// CONNECT (RFC 9220, Request::protocol, e.g. "connect-udp" or "webtransport") or a plain CONNECT.
//
//   quiver::Client client(options);  // ConnectionOptions::http_datagrams = true for datagrams
//   quiver::Request request{.method = "CONNECT", .url = *quiver::Url::parse("https://host/datagram-echo")};
//   request.protocol = "echo";
//   auto channel = client.open_channel(request);          // or async_open_channel(request, token)
//   channel->send_datagram("ping");                        // unreliable, unordered, one QUIC DATAGRAM
//   auto reply = channel->receive_datagram();              // blocking; async_receive_datagram(token)
//   channel->write("stream bytes");                        // reliable, ordered: the request stream
//   channel->stream().next_chunk();                        // the response stream's data
//   channel->close();
//
// A channel takes one stream of its connection's credit, as a request does, until it closes. It opens
// when the response head arrives: status() and headers() are the server's answer; datagrams flow only
// after a 2xx (never before it). Its stream's data is read through stream() (a ResponseStream: flow
// controlled, bounded memory) and written with write() (in order; close_write() ends it).
//
// Received datagrams wait in a queue of ConnectionOptions::channel_datagram_queue; a reader too slow for
// them loses the newest (they are unreliable) and datagram_stats().dropped counts them.
//
// Errors of send_datagram, checked at once: datagrams_disabled (not negotiated both ways), datagram_too_large
// (class invalid; over max_datagram_size()), congestion_limited (transient: too many wait for the congestion
// controller), channel_closed (the stream or its connection ended, or the response was not 2xx).
//
// Threading: thread-safe to use from one thread at a time; completions run on the handler's associated
// executor (the client's io executor by default), never inside the library. A Channel may outlive its
// Client: the client's shutdown waits for an open channel up to ClientOptions::shutdown_deadline, then
// closes its connection; reads end with that error, sends and writes with channel_closed. Dropping a
// Channel closes it (close()).

#include "quiver/client.hpp"

#include <string_view>

namespace quiver {

namespace detail {
using DatagramCompletion = std::move_only_function<void(Result<std::string>)>;
class ChannelAccess;
}  // namespace detail

class Channel {
 public:
  Channel(Channel&&) noexcept;
  Channel& operator=(Channel&&) noexcept;
  ~Channel();

  int status() const noexcept { return stream_.status(); }
  const Headers& headers() const noexcept { return stream_.headers(); }
  // The response stream's data (the channel's incoming byte stream), trailers and cancel().
  ResponseStream& stream() noexcept { return stream_; }

  // Stream data out, in order and flow controlled (queued here until the peer's window takes it).
  // channel_closed once close_write() or close() was called.
  Result<void> write(std::string data);
  // Ends our direction of the stream (FIN) once what was written has gone out.
  void close_write();

  // Whether HTTP datagrams were negotiated (ConnectionOptions::http_datagrams, and the server's
  // SETTINGS_H3_DATAGRAM and QUIC max_datagram_frame_size) and the channel is open (2xx).
  bool datagrams_enabled() const noexcept;
  // The largest datagram payload for the current path, as of the last datagram sent (0: disabled).
  std::size_t max_datagram_size() const noexcept;
  // Sends one datagram (the quarter stream id prefix is added inside); see the errors above.
  Result<void> send_datagram(std::string_view payload);
  // The next received datagram; completion signature void(Result<std::string>). After the channel ends,
  // the queued datagrams, then the error that ended it (channel_closed, or the connection's). One
  // receive at a time; cancellation (an Asio slot) completes it with cancelled.
  template <class Token = asio::use_future_t<>>
  auto async_receive_datagram(Token&& token = {});
  // Blocking receive_datagram; refused on one of the client's io threads.
  Result<std::string> receive_datagram();

  struct DatagramStats {
    std::uint64_t sent = 0;      // handed to QUIC
    std::uint64_t received = 0;  // arrived for this channel (dropped ones included)
    std::uint64_t dropped = 0;   // arrived while the receive queue was full: lost
    std::uint64_t failed = 0;    // accepted by send_datagram, then refused by QUIC (e.g. the path shrank)
  };
  DatagramStats datagram_stats() const noexcept;

  // Ends the channel now: the stream is reset both ways (H3_REQUEST_CANCELLED), sends fail with
  // channel_closed and a waiting receive completes with it. Idempotent.
  void close();

 private:
  friend class detail::ChannelAccess;
  friend class UdpTunnel;
  Channel(ResponseStream stream, std::shared_ptr<detail::ChannelCore> core);
  void receive(detail::DatagramCompletion completion, asio::cancellation_slot slot);
  asio::any_io_executor default_executor() const { return stream_.default_executor(); }

  ResponseStream stream_;
  std::shared_ptr<detail::ChannelCore> core_;
};

// ---- templates ------------------------------------------------------------------------------------

template <class Token>
auto Client::async_open_channel(Request request, Token&& token) {
  return asio::async_initiate<Token, void(Result<Channel>)>(
      [this](auto handler, Request request) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        submit_channel(std::move(request),
                       detail::Completion<Handler, Result<Channel>>(std::move(handler), executor()), slot);
      },
      token, std::move(request));
}

template <class Token>
auto Channel::async_receive_datagram(Token&& token) {
  return asio::async_initiate<Token, void(Result<std::string>)>(
      [this](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        receive(detail::Completion<Handler, Result<std::string>>(std::move(handler), default_executor()), slot);
      },
      token);
}

}  // namespace quiver

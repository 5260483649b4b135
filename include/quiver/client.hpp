#pragma once
// quiver::Client — the library's front door: thread-safe, owns its io threads (or runs on the caller's
// io_context) and one connection pool per origin, and offers the same operations in three styles:
//
//   blocking      client.request(req)                 -> Result<Response>
//                 client.stream(req)                  -> Result<ResponseStream>
//   asynchronous  client.async_request(req, token)    token: a callback, asio::use_future (the
//                 client.async_stream(req, token)            default), asio::use_awaitable, ...
//
// Errors never throw: every operation yields a Result (std::expected<T, quiver::Error>); the error says
// what happened (kind), whether a retry could help (class) and why (message). Async completions run on
// the handler's associated executor (the client's io executor by default), never inside the library, and
// honour Asio cancellation slots (asio::bind_cancellation_slot, asio::experimental::..., co_spawn).
// The blocking calls refuse to run on one of the client's io threads, where they would deadlock.
// Lifetime and shutdown rules (what outlives what, what each call does after shutdown()): docs/api.md,
// "Lifetime and shutdown".

#include "quiver/config.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include "quiver/error.hpp"
#include "quiver/options.hpp"
#include "quiver/request.hpp"
#include "quiver/request_builder.hpp"
#include "quiver/response.hpp"
#include "quiver/stats.hpp"
#include "quiver/transfer_options.hpp"

namespace quiver {

// Pool options for the origins a pattern matches: "https://host:port" (one origin), "*.example.com"
// (every host under example.com, any port), or "example.com" (that host, any port).
struct OriginRule {
  std::string pattern;
  PoolOptions options;
};

struct ClientOptions {
  std::size_t io_threads = 1;
  PoolOptions defaults;            // for origins no rule matches
  std::vector<OriginRule> rules;   // the first matching rule wins
  // How long the destructor lets connections drain (requests in flight finish) before closing them.
  std::chrono::milliseconds shutdown_deadline{5000};
  // TLS session resumption: the session tickets servers send are kept (at most this many, least
  // recently received dropped first; 0 turns resumption off) and a new connection to the same origin
  // with the same TLS settings offers one (each ticket is used once; expired ones never). Shared by
  // every origin's pool. A resumed connection skips the certificate exchange; ConnectionEvent::resumed
  // says when it happened.
  std::size_t session_cache_size = 256;
  // Keep the tickets in this file too (curl's --ssl-sessions): read when the client starts, written
  // after every change (atomically: a temporary file, mode 0600, renamed over it). A file that is not
  // a session file, or corrupt or truncated, is ignored as a whole with a warning (on_warning) and
  // replaced at the next change. "" = memory only.
  std::string session_file;
  // 0-RTT (curl's --tls-earlydata): on a resumed connection whose ticket allows it, requests that may
  // (Request::early_data; by default GET/HEAD/OPTIONS/TRACE without a body) are sent in TLS early data
  // with the first flight, saving a round trip. Others wait for the handshake as usual. If the server
  // rejects the early data, those requests are sent again after the handshake, transparently.
  // ConnectionEvent (ready) says whether early data was offered and accepted. Off by default: a request
  // in early data can be replayed by an attacker.
  bool early_data = false;
  // Alt-Svc (RFC 7838): HTTP/3 alternatives servers announce (`alt-svc: h3=":443"; ma=86400`) are kept
  // per origin (at most this many origins, least recently announced dropped first; `clear` removes one;
  // each expires after its `ma`, 24 hours by default). With HttpVersion::http3 (auto), a new
  // connection to such an origin tries HTTP/3 at the announced authority (same host, that port) first.
  std::size_t alt_svc_cache_size = 1000;
  // Keep the Alt-Svc cache in this file too (curl's --alt-svc): read when the client starts, written
  // after every change (atomically, mode 0600). A file that cannot be read as an Alt-Svc file is ignored
  // with a warning (on_warning) and replaced at the next change. "" = memory only.
  std::string alt_svc_file;
  // Where warnings go that have no request to fail (an unusable session_file or alt_svc_file). Default: one line on
  // stderr. Called on the constructing thread or an io thread; must not block.
  std::function<void(const std::string&)> on_warning;
  // Redirects and body decompression for requests that do not set their own (both off by default).
  RedirectPolicy redirects;
  Decompression decompression;
};

namespace detail {
class ClientCore;
class StreamCore;
using ResponseCompletion = std::move_only_function<void(Result<Response>)>;
using ChunkCompletion = std::move_only_function<void(Result<std::optional<std::string>>)>;
using ReadCompletion = std::move_only_function<void(Result<std::size_t>)>;
class ResponseStreamAccess;
class ChannelCore;
}  // namespace detail
class Channel;    // quiver/channel.hpp
class UdpTunnel;  // quiver/connect_udp.hpp

// A response whose body is read as it arrives. Move-only; dropping it before the end abandons the body
// (its stream is reset) without affecting other requests. Thread-safe to use from one thread at a time.
// It may outlive its Client: it keeps what it needs, and once the Client is destroyed every read
// completes with ErrorKind::shut_down (a body still arriving ends with the client's connections).
class ResponseStream {
 public:
  ResponseStream(ResponseStream&&) noexcept;
  ResponseStream& operator=(ResponseStream&&) noexcept;
  ~ResponseStream();

  int status() const noexcept;
  const Headers& headers() const noexcept;
  // The trailers: empty until a read has reported the end of the body, then complete (safe to call at
  // any time, from any thread).
  const Headers& trailers() const noexcept;
  // How the response was obtained: final URL, redirects followed, peer, protocol, connection reuse and
  // timings (Response::transfer). timings.total is zero until a read has reported the end of the body.
  TransferInfo transfer() const;

  // Blocking: the next chunk (at most `max_bytes`), an empty optional at the end, or the error.
  Result<std::optional<std::string>> next_chunk(std::size_t max_bytes = 64 * 1024);
  // Blocking: copies the next bytes into `buffer` (at least 1, up to its size); 0 at the end.
  Result<std::size_t> read(std::span<char> buffer);
  // Blocking: the rest of the body.
  Result<std::string> read_all();

  // Asynchronous next_chunk; completion signature void(Result<std::optional<std::string>>).
  template <class Token>
  auto async_next_chunk(Token&& token, std::size_t max_bytes = 64 * 1024);

  // Asynchronous read; completion signature void(Result<std::size_t>). Bytes arriving while the read
  // waits are copied from the packet straight into `buffer`, the one copy of the body there is: the
  // cheapest way to consume a large body. `buffer` must stay valid and untouched until completion.
  template <class Token>
  auto async_read_some(std::span<char> buffer, Token&& token);

  // Abandons the body now (thread-safe); a pending read completes with ErrorKind::cancelled.
  void cancel();

 private:
  friend class detail::ResponseStreamAccess;
  explicit ResponseStream(std::shared_ptr<detail::StreamCore> core);
  void read_chunk(std::size_t max_bytes, detail::ChunkCompletion completion, asio::cancellation_slot slot);
  void read_some(std::span<char> buffer, detail::ReadCompletion completion, asio::cancellation_slot slot);
  void on_cancellation(asio::cancellation_slot slot);
  friend class Channel;
  asio::any_io_executor default_executor() const;

  std::shared_ptr<detail::StreamCore> core_;
};

namespace detail {
using StreamCompletion = std::move_only_function<void(Result<ResponseStream>)>;
using ChannelCompletion = std::move_only_function<void(Result<Channel>)>;
using UdpTunnelCompletion = std::move_only_function<void(Result<UdpTunnel>)>;
}

class Client {
 public:
  // The client runs on io threads of its own (ClientOptions::io_threads).
  explicit Client(ClientOptions options = {});
  // The client runs on the caller's io_context instead (io_threads is ignored): its connections, pools
  // and completions are handlers there, each origin's on a strand of its own, so `io` may be run by one
  // thread or several. `io` must outlive the client and every stream and channel it made. The client
  // keeps no work of its own on `io`: io.run() returns once every request, connection and drain is over
  // (an idle connection counts until it closes: call shutdown() when done). Blocking calls on a thread
  // running `io` are refused, as on the client's own io threads.
  Client(asio::io_context& io, ClientOptions options = {});
  // Own io threads: shutdown(options.shutdown_deadline), then stops the io threads once what was posted
  // has run: every request made before has had its one completion. Never hangs. May run inside one of
  // the client's own handlers: it then cannot wait, the drain goes on in the background and the io
  // threads end by themselves when it is over.
  // A caller's io_context: starts the same drain and returns at once; the drain, and every completion
  // still due, run on `io` as the caller runs it.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<Response> request(Request request);
  Result<Response> request(const RequestBuilder& builder);
  Result<ResponseStream> stream(Request request);
  Result<ResponseStream> stream(const RequestBuilder& builder);

  // Completion signature void(Result<Response>). Without a token: a std::future (asio::use_future).
  template <class Token = asio::use_future_t<>>
  auto async_request(Request request, Token&& token = {});
  // Completion signature void(Result<ResponseStream>): as soon as the response headers arrive.
  template <class Token = asio::use_future_t<>>
  auto async_stream(Request request, Token&& token = {});
  // The same from a builder (`client.async_request(quiver::get(url).header(...), token)`): a request the
  // builder cannot make completes with the builder's error (invalid_url, invalid_request), never inside
  // this call.
  template <class Token = asio::use_future_t<>>
  auto async_request(const RequestBuilder& builder, Token&& token = {});
  template <class Token = asio::use_future_t<>>
  auto async_stream(const RequestBuilder& builder, Token&& token = {});

  // Channels (include quiver/channel.hpp): opens `request` (method CONNECT; Request::protocol for an
  // extended CONNECT) as a Channel once the response head arrives. Fails with extended_connect_disabled
  // at once when the server did not enable extended CONNECT (or the connection is not HTTP/3).
  Result<Channel> open_channel(Request request);
  // Completion signature void(Result<Channel>); defined in quiver/channel.hpp.
  template <class Token = asio::use_future_t<>>
  auto async_open_channel(Request request, Token&& token = {});

  // CONNECT-UDP (RFC 9298; include quiver/connect_udp.hpp): a UdpTunnel to `target_host`:`target_port`
  // through the HTTP/3 proxy whose URI template is `url_template` (with {target_host} and {target_port}).
  // Needs ConnectionOptions::http_datagrams. A non-2xx answer fails with proxy_refused.
  Result<UdpTunnel> connect_udp(std::string_view url_template, std::string_view target_host,
                                std::uint16_t target_port);
  // Completion signature void(Result<UdpTunnel>); defined in quiver/connect_udp.hpp.
  template <class Token = asio::use_future_t<>>
  auto async_connect_udp(std::string_view url_template, std::string_view target_host, std::uint16_t target_port,
                         Token&& token = {});

  // A snapshot of every origin's pool (also after shutdown(): the pools' final state). Empty when
  // called on one of the client's io threads, where it cannot wait.
  std::vector<PoolStats> stats() const;
  // Drains every connection gracefully (GOAWAY; requests in flight finish); what is still open at
  // `deadline` is closed. Requests made afterwards fail with ErrorKind::shut_down; their completions
  // still run (the io threads keep running until the destructor). Waits for the drain, except on one
  // of the client's io threads, where it only starts it, and on a caller's io_context, where it only
  // starts it too (that context runs the drain when the caller runs it). Idempotent: a later call
  // waits for the same drain.
  void shutdown(std::chrono::milliseconds deadline);
  // The executor async completions use when the handler has none of its own.
  asio::any_io_executor executor() const;

 private:
  void submit(Request request, detail::ResponseCompletion completion, asio::cancellation_slot slot);
  void submit_stream(Request request, detail::StreamCompletion completion, asio::cancellation_slot slot);
  void submit_built(Result<Request> built, detail::ResponseCompletion completion, asio::cancellation_slot slot);
  void submit_stream_built(Result<Request> built, detail::StreamCompletion completion, asio::cancellation_slot slot);
  void submit_channel(Request request, detail::ChannelCompletion completion, asio::cancellation_slot slot);
  void submit_connect_udp(Result<Request> built, detail::UdpTunnelCompletion completion, asio::cancellation_slot slot);

  std::shared_ptr<detail::ClientCore> core_;
};

// ---- templates ------------------------------------------------------------------------------------

namespace detail {

// Wraps an Asio completion handler: keeps its executor busy while the operation runs, and delivers the
// result there.
template <class Handler, class Value>
class Completion {
 public:
  Completion(Handler handler, const asio::any_io_executor& fallback)
      : work_(asio::make_work_guard(asio::get_associated_executor(handler, fallback))),
        handler_(std::move(handler)) {}

  void operator()(Value value) {
    auto executor = work_.get_executor();
    asio::dispatch(executor, [handler = std::move(handler_), value = std::move(value)]() mutable {
      asio::get_associated_cancellation_slot(handler).clear();
      std::move(handler)(std::move(value));
    });
    work_.reset();
  }

 private:
  asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work_;
  Handler handler_;
};

}  // namespace detail

template <class Token>
auto Client::async_request(Request request, Token&& token) {
  return asio::async_initiate<Token, void(Result<Response>)>(
      [this](auto handler, Request request) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        submit(std::move(request),
               detail::Completion<Handler, Result<Response>>(std::move(handler), executor()), slot);
      },
      token, std::move(request));
}

template <class Token>
auto Client::async_stream(Request request, Token&& token) {
  return asio::async_initiate<Token, void(Result<ResponseStream>)>(
      [this](auto handler, Request request) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        submit_stream(std::move(request),
                      detail::Completion<Handler, Result<ResponseStream>>(std::move(handler), executor()), slot);
      },
      token, std::move(request));
}

template <class Token>
auto Client::async_request(const RequestBuilder& builder, Token&& token) {
  return asio::async_initiate<Token, void(Result<Response>)>(
      [this](auto handler, Result<Request> built) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        submit_built(std::move(built), detail::Completion<Handler, Result<Response>>(std::move(handler), executor()),
                     slot);
      },
      token, builder.build());
}

template <class Token>
auto Client::async_stream(const RequestBuilder& builder, Token&& token) {
  return asio::async_initiate<Token, void(Result<ResponseStream>)>(
      [this](auto handler, Result<Request> built) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        submit_stream_built(std::move(built),
                            detail::Completion<Handler, Result<ResponseStream>>(std::move(handler), executor()), slot);
      },
      token, builder.build());
}

template <class Token>
auto ResponseStream::async_next_chunk(Token&& token, std::size_t max_bytes) {
  return asio::async_initiate<Token, void(Result<std::optional<std::string>>)>(
      [this](auto handler, std::size_t max_bytes) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        read_chunk(max_bytes,
                   detail::Completion<Handler, Result<std::optional<std::string>>>(std::move(handler),
                                                                                  default_executor()),
                   slot);
      },
      token, max_bytes);
}

template <class Token>
auto ResponseStream::async_read_some(std::span<char> buffer, Token&& token) {
  return asio::async_initiate<Token, void(Result<std::size_t>)>(
      [this](auto handler, std::span<char> buffer) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        using Handler = decltype(handler);
        read_some(buffer, detail::Completion<Handler, Result<std::size_t>>(std::move(handler), default_executor()),
                  slot);
      },
      token, buffer);
}

}  // namespace quiver

#pragma once

#include "quiver/config.hpp"

#include <chrono>
#include <optional>
#include <string>

#include "quiver/body.hpp"
#include "quiver/headers.hpp"
#include "quiver/transfer_options.hpp"
#include "quiver/url.hpp"

namespace quiver {

// One HTTP request. Header names may be written in any case; they are sent lowercase. A "Host" header
// sets :authority instead of being sent as a field.
struct Request {
  std::string method = "GET";
  Url url;
  Headers headers;
  RequestBody body;
  // Deadline for the request once a connection takes it (send, wait for the response, receive the body);
  // none when unset. Time spent waiting for a connection is bounded by the pool's checkout timeout. It
  // counts from the first send and bounds the pool's transparent retries too (docs/pool.md).
  std::optional<std::chrono::milliseconds> timeout;
  // 0-RTT (ClientOptions::early_data): may this request ride in TLS early data on a resumed connection,
  // before the handshake completes? Early data can be replayed by an attacker, so by default (unset)
  // only replay-safe requests do: GET, HEAD, OPTIONS or TRACE without a body (RFC 9110 §9.2.1, RFC 8470).
  // true: send it early even so (a producer body never is: it could not be resent); false: never.
  // Early data the server rejects is resent after the handshake automatically (it was not processed).
  std::optional<bool> early_data;
  // This request's redirect and decompression settings; unset: the Client's (ClientOptions).
  std::optional<RedirectPolicy> redirects;
  std::optional<Decompression> decompression;
  // Channels only (Client::open_channel): the extended CONNECT's :protocol (RFC 9220), e.g. "connect-udp"
  // or "webtransport"; the method must be CONNECT. Unset with CONNECT: a plain CONNECT to the URL's
  // authority. A request() or stream() refuses both.
  std::optional<std::string> protocol;
};

}  // namespace quiver

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
  // This request's redirect and decompression settings; unset: the Client's (ClientOptions).
  std::optional<RedirectPolicy> redirects;
  std::optional<Decompression> decompression;
};

}  // namespace quiver

#pragma once
// The redirect policy (quiver::RedirectPolicy, documented in include/quiver/transfer_options.hpp) as pure
// functions: whether a response is a redirect to follow, and the request that follows it. No I/O; the
// exchange (client/exchange.hpp) sends what these decide.

#include <optional>
#include <string>
#include <string_view>

#include "quiver/error.hpp"
#include "quiver/headers.hpp"
#include "quiver/request.hpp"
#include "quiver/transfer_options.hpp"

namespace quiver::client {

// 301, 302, 303, 307, 308: the statuses that redirect (RFC 9110 §15.4).
bool is_redirect_status(int status) noexcept;

// `reference` (a `location` value) resolved against the absolute URI `base` (RFC 3986 §5.2, by
// uriparser): "../x?y" against "https://h/a/b/c" is "https://h/a/x?y". redirect_failed if either is not
// a valid URI (reference).
Result<std::string> resolve_reference(std::string_view base, std::string_view reference);

// What to do with a response to `sent` (which was redirect number `followed` + 1 of the exchange, or the
// first request when `followed` is 0):
//  - nullopt: it is the answer (not a redirect, no location, or the policy does not follow);
//  - a Request: follow it (method, body and fields adjusted as the policy says);
//  - an error: too_many_redirects or redirect_failed.
// `sent` keeps its body: a replayable body is copied into the next request.
std::optional<Result<Request>> next_request(const Request& sent, int status, const Headers& headers,
                                            const RedirectPolicy& policy, int followed);

}  // namespace quiver::client

#pragma once
// Which requests may ride in TLS 1.3 early data (0-RTT). Early data can be replayed by an attacker (RFC
// 8446 §8, RFC 8470), so by default only replay-safe requests may: the safe methods GET, HEAD, OPTIONS
// and TRACE (RFC 9110 §9.2.1) without a body. Request::early_data overrides it either way, except that a
// producer body never goes early: early data the server rejects must be sent again, and a producer is
// one-shot. Protocol-neutral: the pool and the workers ask the same question.

#include "quiver/request.hpp"

namespace quiver::http {

bool early_data_eligible(const Request& request);

}  // namespace quiver::http

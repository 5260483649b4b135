#pragma once
// --retry with curl's rules (tool_operate.c): what is retried, after how long, until when.
//
//   retried always       a timeout (exit 28) and an unresolvable host (exit 6)
//   with -f or without   a response of 408, 429, 500, 502, 503 or 504 (with -f it is the exit-22
//                        failure; without, a complete response that is retried all the same)
//   --retry-connrefused  a refused connection
//   --retry-all-errors   any failure (an exit code other than 0)
//
// The wait is --retry-delay, or 1 s doubling after each retry up to 10 minutes; a Retry-After of
// 408/429/500/502/503/504 lengthens it (and when it would pass --retry-max-time, no retry is made).
// No retry starts once --retry-max-time has passed since the first attempt.

#include <chrono>
#include <optional>
#include <string>

#include "cli_options.hpp"
#include "exit_codes.hpp"

namespace quiver::cli {

// How one attempt ended, as far as the retry decision needs.
struct AttemptOutcome {
  std::optional<Failure> failure;      // unset: a complete response
  int status = 0;                      // 0 when no response came
  std::optional<std::chrono::seconds> retry_after;  // the response's Retry-After, in seconds
  bool refused = false;                // the connection was refused (exit 7 for that reason)
};

// The decision for the next attempt.
struct RetryDecision {
  std::chrono::milliseconds delay{0};
  std::string reason;   // "timeout", "HTTP error", "connection refused", "retrying all errors"
  int retries_left = 0; // including this one, as curl's warning counts
};

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryOptions options);

  // Whether (and after how long) to try again after `outcome`, `elapsed` since the first attempt.
  // Counts the retry it grants.
  std::optional<RetryDecision> next(const AttemptOutcome& outcome, std::chrono::milliseconds elapsed);

  // "Will retry in 1 seconds. 2 retries left." as curl's warning line, without the "Warning: " prefix.
  static std::string describe(const RetryDecision& decision);

 private:
  RetryOptions options_;
  int remaining_;
  std::chrono::milliseconds sleep_;
};

// "Retry-After: 3" -> 3 s (the HTTP-date form is ignored, as curl ignores a date in the past).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

}  // namespace quiver::cli

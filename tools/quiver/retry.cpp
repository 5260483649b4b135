#include "retry.hpp"

#include <charconv>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

constexpr std::chrono::milliseconds default_sleep{1000};
constexpr std::chrono::milliseconds max_sleep{10 * 60 * 1000};

bool transient_status(int status) {
  switch (status) {
    case 408: case 429: case 500: case 502: case 503: case 504: return true;
    default: return false;
  }
}

// The reason to retry, or empty.
std::string retry_reason(const AttemptOutcome& outcome, const RetryOptions& options) {
  const int code = outcome.failure ? outcome.failure->exit_code : exit_code::ok;
  if (code == exit_code::timed_out || code == exit_code::resolve_failed) return "timeout";
  if (code == exit_code::connect_failed && outcome.refused && options.connection_refused) return "connection refused";
  if ((code == exit_code::ok || code == exit_code::http_error) && transient_status(outcome.status)) return "HTTP error";
  if (code != exit_code::ok && options.all_errors) return "(retrying all errors)";
  return {};
}

}  // namespace

RetryPolicy::RetryPolicy(RetryOptions options)
    : options_(options), remaining_(options.count), sleep_(options.delay.value_or(default_sleep)) {}

std::optional<RetryDecision> RetryPolicy::next(const AttemptOutcome& outcome, std::chrono::milliseconds elapsed) {
  if (remaining_ <= 0) return std::nullopt;
  if (options_.max_time && elapsed >= *options_.max_time) return std::nullopt;
  std::string reason = retry_reason(outcome, options_);
  if (reason.empty()) return std::nullopt;
  std::chrono::milliseconds delay = sleep_;
  if (reason == "HTTP error" && outcome.retry_after && *outcome.retry_after > std::chrono::seconds(0)) {
    delay = std::max<std::chrono::milliseconds>(delay, *outcome.retry_after);
    if (options_.max_time && elapsed + *outcome.retry_after > *options_.max_time) return std::nullopt;
  }
  RetryDecision decision{delay, std::move(reason), remaining_};  // curl counts this one as still left
  --remaining_;
  if (!options_.delay) sleep_ = std::min(sleep_ * 2, max_sleep);
  return decision;
}

std::string RetryPolicy::describe(const RetryDecision& decision) {
  const std::string problem = decision.reason.starts_with('(') ? decision.reason : ": " + decision.reason;
  return fmt::format("Problem {}. Will retry in {} seconds. {} retries left.", problem,
                     std::chrono::duration_cast<std::chrono::seconds>(decision.delay).count(), decision.retries_left);
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  std::int64_t seconds = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (error != std::errc() || end != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

}  // namespace quiver::cli

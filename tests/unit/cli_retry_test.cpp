// --retry's decisions (tools/quiver/retry.*), against curl's rules in tool_operate.c.
#include <gtest/gtest.h>

#include "retry.hpp"

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

AttemptOutcome failed(int code, bool refused = false) {
  AttemptOutcome outcome;
  outcome.failure = Failure{code, "kind", "cause"};
  outcome.refused = refused;
  return outcome;
}

AttemptOutcome response(int status) {
  AttemptOutcome outcome;
  outcome.status = status;
  return outcome;
}

RetryOptions retries(int count) {
  RetryOptions options;
  options.count = count;
  return options;
}

TEST(RetryPolicy, NothingWithoutRetry) {
  RetryPolicy policy(retries(0));
  EXPECT_FALSE(policy.next(failed(exit_code::timed_out), 0ms).has_value());
}

TEST(RetryPolicy, TimeoutsAndResolveFailuresAreRetried) {
  RetryPolicy policy(retries(5));
  EXPECT_TRUE(policy.next(failed(exit_code::timed_out), 0ms).has_value());
  EXPECT_TRUE(policy.next(failed(exit_code::resolve_failed), 0ms).has_value());
  EXPECT_FALSE(policy.next(failed(exit_code::certificate), 0ms).has_value());
  EXPECT_FALSE(policy.next(failed(exit_code::connect_failed, /*refused=*/true), 0ms).has_value());
}

TEST(RetryPolicy, TransientStatusesAreRetriedWithOrWithoutFail) {
  for (int status : {408, 429, 500, 502, 503, 504}) {
    RetryPolicy policy(retries(1));
    EXPECT_TRUE(policy.next(response(status), 0ms).has_value()) << status;
  }
  for (int status : {200, 404, 501, 505}) {
    RetryPolicy policy(retries(1));
    EXPECT_FALSE(policy.next(response(status), 0ms).has_value()) << status;
  }
  RetryPolicy with_fail(retries(1));
  AttemptOutcome fail_503 = failed(exit_code::http_error);
  fail_503.status = 503;
  EXPECT_TRUE(with_fail.next(fail_503, 0ms).has_value());
  RetryPolicy fail_404(retries(1));
  AttemptOutcome not_found = failed(exit_code::http_error);
  not_found.status = 404;
  EXPECT_FALSE(fail_404.next(not_found, 0ms).has_value());
}

TEST(RetryPolicy, RefusedOnlyWithConnrefusedAndAnythingWithAllErrors) {
  RetryOptions options = retries(3);
  options.connection_refused = true;
  RetryPolicy refused(options);
  EXPECT_TRUE(refused.next(failed(exit_code::connect_failed, true), 0ms).has_value());
  EXPECT_FALSE(refused.next(failed(exit_code::connect_failed, false), 0ms).has_value());  // a timeout-less 7

  RetryOptions all = retries(3);
  all.all_errors = true;
  RetryPolicy any(all);
  auto decision = any.next(failed(exit_code::certificate), 0ms);
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->reason, "(retrying all errors)");
  EXPECT_FALSE(any.next(response(404), 0ms).has_value());  // no failure without -f: nothing to retry
}

TEST(RetryPolicy, CountsDownAndBacksOffExponentially) {
  RetryPolicy policy(retries(3));
  std::vector<std::chrono::milliseconds> delays;
  while (auto decision = policy.next(failed(exit_code::timed_out), 0ms)) delays.push_back(decision->delay);
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{1000ms, 2000ms, 4000ms}));
}

TEST(RetryPolicy, FixedDelayAndRetryAfter) {
  RetryOptions options = retries(3);
  options.delay = 50ms;
  RetryPolicy policy(options);
  EXPECT_EQ(policy.next(failed(exit_code::timed_out), 0ms)->delay, 50ms);
  EXPECT_EQ(policy.next(failed(exit_code::timed_out), 0ms)->delay, 50ms);
  AttemptOutcome busy = response(503);
  busy.retry_after = 2s;
  auto decision = policy.next(busy, 0ms);
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->delay, 2000ms);
  EXPECT_EQ(decision->retries_left, 1);  // curl counts the retry it announces
  EXPECT_EQ(RetryPolicy::describe(*decision), "Problem : HTTP error. Will retry in 2 seconds. 1 retries left.");
  EXPECT_FALSE(policy.next(busy, 0ms).has_value());
}

TEST(RetryPolicy, MaxTimeStopsRetries) {
  RetryOptions options = retries(10);
  options.max_time = 1000ms;
  RetryPolicy policy(options);
  EXPECT_TRUE(policy.next(failed(exit_code::timed_out), 999ms).has_value());
  EXPECT_FALSE(policy.next(failed(exit_code::timed_out), 1000ms).has_value());
  RetryPolicy late(options);
  AttemptOutcome busy = response(429);
  busy.retry_after = 5s;  // would end past the limit
  EXPECT_FALSE(late.next(busy, 0ms).has_value());
}

TEST(RetryAfter, SecondsOnly) {
  EXPECT_EQ(parse_retry_after("120"), 120s);
  EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
  EXPECT_FALSE(parse_retry_after("-1").has_value());
}

}  // namespace
}  // namespace quiver::cli

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "http/posted_answers.hpp"
#include "util/write_hold.hpp"

namespace quiver {
namespace {

constexpr std::size_t kDeferrals = 4;  // as the transport's bound

// The transport's flush after a receive burst, as the worker drives it: the burst posted `count` answers
// (each holding the flush); each answer's handler reads its body (another posted answer), whose handler
// sends a follow-up request. The flush is posted last, as the transport's schedule_write does.
struct Burst {
  asio::io_context io;
  util::WriteHolds holds;  // the transport's
  std::shared_ptr<http::PostedAnswers> answers = std::make_shared<http::PostedAnswers>();
  int requests_queued = 0;
  int requests_in_write = -1;  // what the flush found queued when it ran
  std::vector<std::string> order;

  Burst() { answers->hold_writes_of(holds); }

  void post_answers(int count) {
    for (int i = 0; i < count; ++i) {
      answers->post(io.get_executor(), [this, i] {
        order.push_back("answer " + std::to_string(i));
        answers->post(io.get_executor(), [this, i] {
          order.push_back("body " + std::to_string(i));
          ++requests_queued;
        });
      });
    }
  }

  void post_flush(std::size_t max_deferrals) {
    holds.post_flush(io.get_executor(), max_deferrals, [this] {
      order.push_back("write");
      requests_in_write = requests_queued;
    });
  }
};

TEST(WriteHold, TheFlushAfterABurstOfAnswersCarriesTheRequestsTheirHandlersSend) {
  Burst burst;
  burst.post_answers(3);
  burst.post_flush(kDeferrals);
  burst.io.run();
  EXPECT_EQ(burst.requests_in_write, 3);
  EXPECT_EQ(burst.order.back(), "write");
  EXPECT_EQ(burst.holds.alive(), 0u);
}

// Also when the flush was scheduled before the answers were posted (a write during the receive burst).
TEST(WriteHold, AFlushPostedBeforeTheAnswersStillWaitsForThem) {
  Burst burst;
  burst.post_flush(kDeferrals);
  burst.post_answers(2);
  burst.io.run();
  EXPECT_EQ(burst.requests_in_write, 2);
}

TEST(WriteHold, WithoutDeferralsTheFlushRunsBeforeTheFollowUps) {
  Burst burst;
  burst.post_answers(3);
  burst.post_flush(0);
  burst.io.run();
  EXPECT_EQ(burst.requests_in_write, 0);
}

// A single exchange: the ACK goes at once, before the body is read (the transport's "more than one" rule).
TEST(WriteHold, ASingleAnswerDoesNotHoldTheFlushBack) {
  Burst burst;
  burst.post_answers(1);
  burst.post_flush(kDeferrals);
  burst.io.run();
  EXPECT_EQ(burst.order, (std::vector<std::string>{"answer 0", "write", "body 0"}));
}

// Leaked holds and a steady flow of work cannot hold the flush back for more than `max_deferrals` hops.
TEST(WriteHold, TheWaitIsBounded) {
  asio::io_context io;
  util::WriteHolds holds;
  util::WriteHold leaked_a = holds.take(), leaked_b = holds.take();
  bool flowing = true;
  int hops_before_flush = -1, hops = 0;
  std::function<void()> flow = [&] {
    ++hops;
    if (flowing) asio::post(io, flow);
  };
  asio::post(io, flow);
  holds.post_flush(io.get_executor(), kDeferrals, [&] {
    hops_before_flush = hops;
    flowing = false;
  });
  io.run();
  EXPECT_GE(hops_before_flush, 4);
  EXPECT_LE(hops_before_flush, 6);
}

TEST(WriteHold, AHoldCountsUntilReleasedOrDestroyedAndMovesOnce) {
  util::WriteHolds holds;
  util::WriteHolds same = holds;  // copies share the count
  {
    util::WriteHold a = holds.take();
    util::WriteHold b = same.take();
    EXPECT_EQ(holds.alive(), 2u);
    EXPECT_TRUE(holds.holding());
    util::WriteHold moved = std::move(a);
    EXPECT_EQ(holds.alive(), 2u);
    b.release();
    b.release();
    EXPECT_EQ(same.alive(), 1u);
    EXPECT_FALSE(holds.holding());
  }
  EXPECT_EQ(holds.alive(), 0u);
}

TEST(PostedAnswers, AnAnswerHoldsTheFlushUntilItHasRun) {
  asio::io_context io;
  util::WriteHolds holds;
  auto answers = std::make_shared<http::PostedAnswers>();
  answers->hold_writes_of(holds);
  std::vector<std::size_t> alive_seen;
  answers->post(io.get_executor(), [&] { alive_seen.push_back(holds.alive()); });
  answers->post(io.get_executor(), [&] { alive_seen.push_back(holds.alive()); });
  EXPECT_EQ(holds.alive(), 2u);
  io.run();
  // Each handler runs while still holding, with the answers behind it.
  EXPECT_EQ(alive_seen, (std::vector<std::size_t>{2, 1}));
  EXPECT_EQ(holds.alive(), 0u);
}

TEST(PostedAnswers, AnAnswerDroppedUnrunReleasesItsHold) {
  util::WriteHolds holds;
  {
    asio::io_context io;
    http::PostedAnswers answers;
    answers.hold_writes_of(holds);
    answers.post(io.get_executor(), [] {});
    EXPECT_EQ(holds.alive(), 1u);
  }  // the executor goes away with the answer queued
  EXPECT_EQ(holds.alive(), 0u);
}

TEST(PostedAnswers, WorkPostedByAnAnswerRunsAfterTheAnswersAlreadyQueued) {
  asio::io_context io;
  auto answers = std::make_shared<http::PostedAnswers>();
  std::vector<int> order;
  answers->post(io.get_executor(), [&] {
    order.push_back(1);
    answers->post(io.get_executor(), [&] { order.push_back(3); });
  });
  asio::post(io, [&] { order.push_back(2); });
  io.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(PostedAnswers, OutlivesItsOwnerWhileAnswersAreQueued) {
  asio::io_context io;
  bool ran = false;
  {
    auto answers = std::make_shared<http::PostedAnswers>();
    answers->post(io.get_executor(), [&] { ran = true; });
  }  // the connection is gone; its answer is still delivered
  io.run();
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace quiver

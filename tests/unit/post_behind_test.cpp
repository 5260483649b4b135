#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "h3/posted_answers.hpp"
#include "util/post_behind.hpp"

namespace quiver {
namespace {

// The transport's write after a receive burst, as the worker drives it: the burst posted `answers`
// answers; each answer's handler reads its body (another posted answer), whose handler sends a follow-up
// request. The write is posted last and waits while more than one answer is pending.
struct Burst {
  asio::io_context io;
  std::shared_ptr<h3::PostedAnswers> answers = std::make_shared<h3::PostedAnswers>();
  int requests_queued = 0;
  int requests_in_write = -1;  // what the write found queued when it ran
  std::vector<std::string> order;

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

  void post_write(std::size_t max_steps) {
    util::post_behind(io.get_executor(), max_steps, [this] { return answers->pending() > 1; }, [this] {
      order.push_back("write");
      requests_in_write = requests_queued;
    });
  }
};

TEST(PostBehind, TheWriteAfterABurstOfAnswersCarriesTheRequestsTheirHandlersSend) {
  Burst burst;
  burst.post_answers(3);
  burst.post_write(4);
  burst.io.run();
  EXPECT_EQ(burst.requests_in_write, 3);
  EXPECT_EQ(burst.order.back(), "write");
}

TEST(PostBehind, WithoutStepsTheWriteRunsBeforeTheFollowUps) {
  Burst burst;
  burst.post_answers(3);
  burst.post_write(0);
  burst.io.run();
  EXPECT_EQ(burst.requests_in_write, 0);
}

// A single exchange: the ACK goes at once, before the body is read.
TEST(PostBehind, ASingleAnswerDoesNotHoldTheWriteBack) {
  Burst burst;
  burst.post_answers(1);
  burst.post_write(4);
  burst.io.run();
  EXPECT_EQ(burst.order, (std::vector<std::string>{"answer 0", "write", "body 0"}));
}

// A steady flow of answers cannot hold the write back for more than `max_steps` hops.
TEST(PostBehind, TheWaitIsBounded) {
  asio::io_context io;
  bool flowing = true;
  int hops_before_action = -1, hops = 0;
  std::function<void()> flow = [&] {
    ++hops;
    if (flowing) asio::post(io, flow);
  };
  asio::post(io, flow);
  util::post_behind(io.get_executor(), 4, [] { return true; }, [&] {
    hops_before_action = hops;
    flowing = false;
  });
  io.run();
  EXPECT_GE(hops_before_action, 4);
  EXPECT_LE(hops_before_action, 6);
}

}  // namespace
}  // namespace quiver

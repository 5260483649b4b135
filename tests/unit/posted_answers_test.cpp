#include <gtest/gtest.h>

#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "h3/posted_answers.hpp"

namespace quiver::h3 {
namespace {

TEST(PostedAnswers, AnAnswerIsPendingUntilItRuns) {
  asio::io_context io;
  auto answers = std::make_shared<PostedAnswers>();
  std::vector<std::size_t> pending_seen;
  answers->post(io.get_executor(), [&] { pending_seen.push_back(answers->pending()); });
  answers->post(io.get_executor(), [&] { pending_seen.push_back(answers->pending()); });
  EXPECT_EQ(answers->pending(), 2u);
  io.run();
  // Each handler sees itself no longer pending, and the answers behind it still pending.
  EXPECT_EQ(pending_seen, (std::vector<std::size_t>{1, 0}));
  EXPECT_EQ(answers->pending(), 0u);
}

TEST(PostedAnswers, WorkPostedByAnAnswerRunsAfterTheAnswersAlreadyQueued) {
  asio::io_context io;
  auto answers = std::make_shared<PostedAnswers>();
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
    auto answers = std::make_shared<PostedAnswers>();
    answers->post(io.get_executor(), [&] { ran = true; });
  }  // the connection is gone; its answer is still delivered
  io.run();
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace quiver::h3
